"""Found by tools/fuzz.py (--seed 0, graph 782); shrunk to 1 step(s).

crash: BuildError: the gradient of tile needs a fully known input shape
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import fuzz  # noqa: E402

RECIPE = {'dtype': 'float64',
 'seed': 782,
 'steps': [{'dtype': 'float64', 'inputs': [['feed', True]], 'op': 'Tile', 'sample': 0}]}


def test_crash_tile_a6512f10():
    fuzz.check(RECIPE, second_order=False)
