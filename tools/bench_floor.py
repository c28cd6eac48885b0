"""How low can the interpreter's ratio to PyTorch go? Its kernels' own time against PyTorch's whole step.

    python tools/bench_floor.py                   # lstm and small_vgg
    python tools/bench_floor.py mlp gru --rounds 9

A training step's time is the kernels' (the NumPy work each node does) plus the interpreter's own (the plan
loop, slots, a Scan's per-step bookkeeping and stacking). This tool runs each workload of ``benchmark.py``
three ways, interleaved: as it is; with every kernel replaced by the value it returned on a recording run
(the loops, Scan bodies included, still run, so what is left is the interpreter's own time); and PyTorch's
step. ``kernels = step − interpreter``, and ``kernels / PyTorch`` is the ratio an interpreter with no
overhead at all would reach with the same kernels: a target below it needs faster kernels, not a faster
interpreter.
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchmark  # noqa: E402
from timing import blas_description, seconds_per_call  # noqa: E402

from graphcore import plan as planner  # noqa: E402
from graphcore.control.scan import Scan  # noqa: E402


class ReplayedKernels(planner.Observer):
    """A run observer whose plans run kernels (``replay = False``, recording what each returns) or hand back
    the recorded values without running them (``replay = True``). Loop kernels (Scan) always run: their
    bodies' plans are observed the same way. Both modes pay for the same wrappers, so their difference is the
    kernels' time alone."""

    def __init__(self):
        self.replay = False
        self.recorded = {}
        self._wrapped = {}      # plan → its copy with recording/replaying kernels

    def _replayable(self, kernel, key):
        def run(*arrays):
            if self.replay:
                return self.recorded[key]
            value = self.recorded[key] = kernel(*arrays)
            return value
        return run

    def session_plan(self, plan):
        wrapped = self._wrapped.get(plan)
        if wrapped is None:
            wrapped = self._wrapped[plan] = plan.with_kernels(
                lambda index, kernel, node: kernel if isinstance(node.op, Scan)
                else self._replayable(kernel, (id(plan), index)))
        return wrapped

    def body_plans(self):
        return self.session_plan

    def __enter__(self):
        planner.observers.append(self)
        return self

    def __exit__(self, *exc):
        planner.observers.remove(self)


def measure(name, rounds, steps):
    """Median seconds per step: (graphcore, its interpreter alone, PyTorch)."""
    ours, theirs = benchmark.CASES[name]()
    with ReplayedKernels() as kernels:
        ours(), ours()          # plan, then record every kernel's value
        whole, interpreter, torch_times = [], [], []
        for _ in range(rounds):
            kernels.replay = False
            whole.append(seconds_per_call(ours, steps))
            kernels.replay = True
            interpreter.append(seconds_per_call(ours, steps))
            torch_times.append(seconds_per_call(theirs, steps))
    return statistics.median(whole), statistics.median(interpreter), statistics.median(torch_times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", default=["lstm", "small_vgg"], help=f"of {sorted(benchmark.CASES)}")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(2)
    print(f"NumPy's BLAS: {blas_description()}; PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':<12}{'step':>10}{'interpreter':>13}{'kernels':>10}{'PyTorch':>10}{'ratio':>8}{'floor':>8}")
    for name in args.cases:
        whole, interpreter, theirs = measure(name, args.rounds, args.steps)
        kernels = whole - interpreter
        print(f"{name:<12}{whole * 1e3:>7.2f} ms{interpreter * 1e3:>10.2f} ms{kernels * 1e3:>7.2f} ms"
              f"{theirs * 1e3:>7.2f} ms{whole / theirs:>8.2f}{kernels / theirs:>8.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
