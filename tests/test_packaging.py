"""The design card's layout: ``models/`` and ``export/`` are importable as ``graphcore.models`` and
``graphcore.export``, both from the editable install the suite runs on and from a built wheel."""
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import graphcore

ROOT = Path(__file__).resolve().parents[1]


def test_editable_install_maps_the_subpackages_to_their_directories():
    import graphcore.export
    import graphcore.models
    assert Path(graphcore.__file__).parent == ROOT / "graphcore"
    assert Path(graphcore.models.__file__).parent == ROOT / "models"
    assert Path(graphcore.export.__file__).parent == ROOT / "export"


def test_built_wheel_installs_into_a_fresh_venv(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(ROOT)], check=True, capture_output=True)
    wheel = next(wheels.glob("graphcore-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            check=True, capture_output=True, text=True).stdout.strip()
    # Install the wheel with this environment's pip; the dependencies (numpy, onnx, ...) are borrowed from
    # this environment through PYTHONPATH, which (unlike a site directory) does not run the editable hook.
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, str(wheel)],
                   check=True, capture_output=True)
    deps = sysconfig.get_paths()["purelib"]
    script = ("import graphcore, graphcore.models, graphcore.export, numpy as np\n"
              "from graphcore.models.recurrent import load_corpus\n"
              "m = graphcore.models.lenet5()\n"
              "print(graphcore.__file__); print(m.count_params()); print(len(load_corpus()) > 100)")
    out = subprocess.run([str(python), "-c", script], cwd=tmp_path, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": deps})
    lines = out.stdout.split()
    assert lines[0].startswith(target), f"imported {lines[0]}, not the wheel"
    assert lines[1] == "61706"
    assert lines[2] == "True", "the bundled text corpus is missing from the wheel"
    assert graphcore.__version__ == "0.1.0"
