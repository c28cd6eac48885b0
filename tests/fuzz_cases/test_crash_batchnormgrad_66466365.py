"""Found by tools/fuzz.py (--seed 0, graph 621); shrunk to 1 step(s).

crash: TypeError: 'NoneType' object cannot be interpreted as an integer
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
import fuzz  # noqa: E402

RECIPE = {'dtype': 'float32',
 'seed': 621,
 'steps': [{'dtype': 'float32',
            'in_scan': False,
            'inputs': [['feed', False],
                       ['feed', False],
                       ['feed', True],
                       ['feed', False],
                       ['feed', False],
                       ['const']],
            'op': 'BatchNormGrad',
            'sample': 0}]}


def test_crash_batchnormgrad_66466365():
    fuzz.check(RECIPE, second_order=False)
