"""Timing one engine's steps when several engines take turns in one process.

Thread pools keep spinning after a call returns, waiting for the next one: OpenBLAS's workers (behind
NumPy's products) spin for about 0.1–0.2 s, onnxruntime's and PyTorch's OpenMP workers for shorter. When
engines alternate on a two-core machine, whoever runs next shares the cores with the last engine's spinning
threads: a PyTorch MLP step measured 5.7 ms after a pause but 10.8 ms straight after NumPy products (median of
10, 2026-12-01). Interleaved benchmarks therefore let the previous engine's threads park first, then run one
untimed step so the measured engine's own threads are awake, as they are in a training loop.
"""
import time

SETTLE_SECONDS = 0.3   # longer than OpenBLAS's spin (0.2 s was measured to be enough)


def seconds_per_call(fn, calls, clock=time.perf_counter):
    """Mean seconds of ``calls`` consecutive calls of fn, after the other engines' threads have parked."""
    time.sleep(SETTLE_SECONDS)
    fn()
    start = clock()
    for _ in range(calls):
        fn()
    return (clock() - start) / calls


def best_seconds(fn, repeat, clock=time.perf_counter):
    """Fastest of ``repeat`` calls, after a settling pause and one untimed call: what a kernel achieves when
    undisturbed (a shared machine's noise only ever adds time)."""
    time.sleep(SETTLE_SECONDS)
    fn()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def blas_description():
    """Which BLAS kernel NumPy's products run, e.g. "openblas 0.3.31 SkylakeX, 2 threads".

    OpenBLAS picks its kernel for the processor at load time unless ``OPENBLAS_CORETYPE`` names one. Some
    shared machines set it (Haswell's AVX2 kernel on AVX-512 processors, for old OpenBLAS builds); that halves
    NumPy's float32 matrix products and leaves PyTorch's (MKL, oneDNN) alone, so every benchmark states
    which kernel it measured."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl is not installed)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(f"{p['internal_api']} {p.get('version') or ''} {p.get('architecture') or ''}, "
                     f"{p['num_threads']} threads" for p in pools) or "no BLAS found"
