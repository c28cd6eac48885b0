"""Keep freed array memory in the process (glibc only).

An interpreter step allocates and frees arrays of a few megabytes. By default glibc returns such blocks to
the operating system (memory trimming and mmap'd chunks), so the next step's arrays fault their pages in
again and the kernel zeroes them: measured on the small-VGG training step, that costs about a third of the
step time. PyTorch avoids it with its own caching allocator; we ask glibc to keep the memory instead
(M_TRIM_THRESHOLD 1 GiB, M_MMAP_THRESHOLD 32 MiB). The process keeps its peak heap; set
GRAPHCORE_MALLOC_TUNING=0 to leave the allocator alone.
"""
import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_done = []


def tune_allocator():
    """Apply the settings once per process; a no-op off glibc or when disabled."""
    if _done or os.environ.get("GRAPHCORE_MALLOC_TUNING", "1") == "0":
        return
    _done.append(True)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    except (OSError, AttributeError):
        pass  # not glibc (macOS, musl, Windows): nothing to tune
