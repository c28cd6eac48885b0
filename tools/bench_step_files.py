"""Two exported training-step files of one model, timed against each other in one process.

    python tools/bench_step_files.py before.onnx after.onnx [--batch 64] [--rounds 11] [--steps 3]

Both run in ``export.OnnxTrainer`` on the CPU on the same random batch (float inputs normal, integer inputs
zero: class 0), in interleaved rounds, each block timed after the other's threads park (tools/timing.py);
prints the median step times, the node counts and the median of the per-round ratios after/before. It
compares exporters (say, a file written by an older graphcore, which ``OnnxTrainer`` still reads) without
the noise of comparing runs made minutes apart on a shared machine.
"""
import argparse
import os
import statistics
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import seconds_per_call  # noqa: E402

from graphcore import export  # noqa: E402
from graphcore.export.runtime import numpy_type  # noqa: E402


def batch_for(trainer, size):
    """A batch of ``size`` rows for the trainer's data inputs (a static file's own batch size wins)."""
    rng = np.random.default_rng(0)
    declared = {i.name: i for i in trainer.session.get_inputs()}
    batch = []
    for name in trainer.input_names:
        spec = declared[name]
        shape = [d if isinstance(d, int) else size for d in spec.shape]
        dtype = numpy_type(spec.type)
        batch.append(rng.normal(size=shape).astype(dtype) if np.dtype(dtype).kind == "f" else np.zeros(shape, dtype))
    return batch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--batch", type=int, default=64, help="rows, where a file's batch is symbolic")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    trainers = {path: export.OnnxTrainer(path, device="cpu") for path in (args.before, args.after)}
    batch = batch_for(trainers[args.after], args.batch)
    for trainer in trainers.values():
        trainer.step(batch)   # warm up; step() reruns on the batch in the trainer's buffers
    times = {path: [] for path in trainers}
    for _ in range(args.rounds):
        for path, trainer in trainers.items():
            times[path].append(seconds_per_call(trainer.step, args.steps))
    for path in trainers:
        print(f"{path}: {statistics.median(times[path]) * 1e3:.2f} ms, {len(onnx.load(path).graph.node)} nodes")
    ratio = statistics.median(a / b for a, b in zip(times[args.after], times[args.before]))
    print(f"after / before: {ratio:.2f}")


if __name__ == "__main__":
    main()
