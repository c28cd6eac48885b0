#!/usr/bin/env bash
# One entry point for a fresh machine: sets everything up (idempotent), then runs the chosen job.
#   bash tools/run.sh main    # train LeNet-5 on the bundled digits, export ONNX, check parity, render
#   bash tools/run.sh test    # the test suite
#   bash tools/run.sh bench   # the PyTorch-relative benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-main}"; shift || true

# graphviz's `dot` renders the diagrams (the pip package is only a wrapper around it); the tests also drive
# Debian's headless chromium (with its chromedriver) through the interactive diagram page.
missing=""
command -v dot >/dev/null 2>&1 || missing="graphviz"
if [ "$job" = "test" ] && ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then
    missing="$missing chromium chromium-driver"
fi
if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

extras="data"; [ "$job" = "main" ] || extras="test,data"
stamp=".venv/.installed-$extras-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
    .venv/bin/python -m pip install -q -e ".[$extras]" 2>&1 | grep -v "is ignored" || true
    .venv/bin/python -c "import graphcore, graphcore.models, graphcore.export"
    touch "$stamp"
fi

case "$job" in
    main)  exec .venv/bin/graphcore train lenet5 "$@" ;;
    test)  exec .venv/bin/python -m pytest -q "$@" ;;
    # Some shared machines force OpenBLAS's AVX2 kernel on AVX-512 processors (OPENBLAS_CORETYPE=Haswell,
    # OPENBLAS_L2_SIZE, for old OpenBLAS builds): NumPy's products then run at half speed while PyTorch's are
    # untouched. The benchmark lifts both so NumPy runs the kernel OpenBLAS picks for this processor, as on a
    # user's machine, and prints which one it ran (docs/performance.md).
    bench) exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python tools/benchmark.py "$@" ;;
    *)     echo "usage: bash tools/run.sh [main|test|bench] [args...]" >&2; exit 2 ;;
esac
