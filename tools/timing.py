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
