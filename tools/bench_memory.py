"""Peak memory of one training step, graphcore against PyTorch CPU, each in a fresh process.

    python tools/bench_memory.py                 # LeNet-5 b64, small VGG b32, LSTM b32 T = 1000 64→128
    python tools/bench_memory.py lstm_t1000

Method: tracemalloc does not see PyTorch's allocations, so both engines are measured the same way, by the
resident set. A child process builds the workload (model, weights, batch: both engines' versions, so the
two children hold the same things), resets the kernel's RSS high-water mark (``/proc/self/clear_refs``,
Linux ≥ 4.0), runs one training step and reports ``VmHWM`` (peak RSS during the step) minus ``VmRSS`` before
it: the memory the step itself needed at its peak. The first step of a fresh process is measured, so memory
that an allocator kept from an earlier step cannot hide the peak. Linux only.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ["lenet5", "small_vgg", "lstm_t1000"]


def _build(name):
    sys.path.insert(0, HERE)
    if name == "lstm_t1000":
        import bench_recurrent
        return bench_recurrent.case("lstm", batch=32, steps=1000, features=64, units=128)
    import benchmark
    return benchmark.CASES[name]()


def _status(field):
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(name, engine):
    """Bytes of resident memory one training step of ``engine`` adds at its peak (in this process)."""
    import torch
    torch.set_num_threads(2)
    ours, theirs = _build(name)
    step = ours if engine == "graphcore" else theirs
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")   # reset VmHWM to the current RSS
    before = _status("VmRSS")
    step()
    return _status("VmHWM") - before


def _child(name, engine):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name, engine], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["bytes"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*", help=f"default: {' '.join(WORKLOADS)}")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per engine; the median is shown")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps({"bytes": measure(*args.child)}))
        return
    print(f"{'workload':<12} {'graphcore MiB':>14} {'pytorch MiB':>12} {'ratio':>7}")
    for name in args.workloads or WORKLOADS:
        peaks = {engine: sorted(_child(name, engine) for _ in range(args.repeat))[args.repeat // 2]
                 for engine in ("graphcore", "pytorch")}
        ours, theirs = peaks["graphcore"] / 2 ** 20, peaks["pytorch"] / 2 ** 20
        print(f"{name:<12} {ours:>14.1f} {theirs:>12.1f} {ours / theirs:>7.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
