"""The benchmark tools' own machinery: replaying kernels (tools/bench_floor.py) and naming the BLAS kernel
(tools/timing.py). Their timings are not tested here; what they time must be what they say."""
import os
import sys

import numpy as np

import graphcore as gc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
from bench_floor import ReplayedKernels  # noqa: E402
from timing import blas_description  # noqa: E402


def _loop_graph():
    """A scan whose body multiplies by a captured matrix, then a reduction outside the loop."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float64, (4, 2, 3), name="x")
        w = gc.constant(np.eye(3) * 2.0)
        _, ys = gc.scan(lambda xt, h: (gc.tanh(xt @ w + h), xt @ w), x, gc.constant(np.zeros((2, 3))))
        total = gc.reduce_sum(ys)
    return g, x, total


def test_replay_hands_back_recorded_values_without_running_kernels():
    g, x, total = _loop_graph()
    first, second = np.ones((4, 2, 3)), np.full((4, 2, 3), 5.0)
    with gc.Session(g) as sess, ReplayedKernels() as kernels:
        recorded = sess.run(total, {x: first})
        assert recorded == 48.0                                # 4·2·3 values of 2
        kernels.replay = True
        assert sess.run(total, {x: second}) == recorded       # body and outer kernels were not run
        kernels.replay = False
        assert sess.run(total, {x: second}) == 240.0
    with gc.Session(g) as sess:                               # uninstalled: the session's own loop again
        assert sess.run(total, {x: second}) == 240.0


def test_blas_description_names_the_kernel_and_threads():
    # threadpoolctl comes with scikit-learn (the test extra); NumPy's wheels carry OpenBLAS.
    text = blas_description()
    assert text.startswith("openblas") and text.endswith("threads"), text
