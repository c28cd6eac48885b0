"""The narrow formats ONNX files carry (ml_dtypes' bfloat16, float8, float4, int4/uint4, int2/uint2): graphcore's
Cast follows ONNX's rules — float8 targets saturate unless told not to, float8_e8m0 rounds its exponent as
asked — checked against onnx's reference implementation; gradients flow through narrow float casts."""
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import graphcore as gc
from graphcore import dtypes as _dt

VALUES = np.array([0.0, -0.0, 0.3, -1.7, 2.5, 3.5, 100.0, 448.0, 500.0, -1e6, 60000.0, np.inf, -np.inf, np.nan,
                   1e-9, 0.0625], np.float32)
TARGETS = [(_dt.bfloat16, TensorProto.BFLOAT16), (_dt.float8_e4m3fn, TensorProto.FLOAT8E4M3FN),
           (_dt.float8_e4m3fnuz, TensorProto.FLOAT8E4M3FNUZ), (_dt.float8_e5m2, TensorProto.FLOAT8E5M2),
           (_dt.float8_e5m2fnuz, TensorProto.FLOAT8E5M2FNUZ), (_dt.float4_e2m1fn, TensorProto.FLOAT4E2M1),
           (_dt.int4, TensorProto.INT4), (_dt.uint4, TensorProto.UINT4)]


def _reference_cast(x, to, **attrs):
    node = helper.make_node("Cast", ["x"], ["y"], to=to, **attrs)
    graph = helper.make_graph([node], "cast", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", to, x.shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)])
    return ReferenceEvaluator(model).run(None, {"x": x})[0]


def _graphcore_cast(x, dtype, **options):
    g = gc.Graph()
    with g.as_default():
        p = gc.placeholder(gc.float32, x.shape)
        y = gc.cast(p, dtype, **options)
    return gc.Session(g).run(y, {p: x})


def _same_bits(a, b):
    """Equal values, NaN where NaN (bit patterns of NaN may differ)."""
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    np.testing.assert_array_equal(np.isnan(fa), np.isnan(fb))
    np.testing.assert_array_equal(np.where(np.isnan(fa), 0, fa), np.where(np.isnan(fb), 0, fb))


@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("dtype,to", TARGETS, ids=[t[0].name for t in TARGETS])
def test_casts_to_narrow_formats_follow_onnx(dtype, to, saturate):
    x = VALUES if dtype not in _dt.NARROW_INTS else np.array([0.0, 1.0, 3.0, 7.0, 2.4, 6.6], np.float32)
    x = -x if dtype == _dt.int4 else x
    ours = _graphcore_cast(x, dtype, saturate=bool(saturate))
    assert ours.dtype == dtype
    _same_bits(ours, _reference_cast(x, to, **({"saturate": saturate} if dtype in _dt.SATURATING else {})))


def test_float8_saturates_by_default_and_overflows_when_told_not_to():
    x = np.array([500.0, -1e6, np.inf, np.nan], np.float32)
    saturated = _graphcore_cast(x, _dt.float8_e4m3fn).astype(np.float32)
    np.testing.assert_array_equal(saturated[:3], [448.0, -448.0, 448.0])
    assert np.isnan(saturated[3])
    assert np.isnan(_graphcore_cast(x, _dt.float8_e4m3fn, saturate=False).astype(np.float32)[:3]).all()
    assert np.isinf(_graphcore_cast(x, _dt.float8_e5m2, saturate=False).astype(np.float32)[1:3]).all()


@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
def test_float8_e8m0_rounds_its_exponent_as_asked(round_mode):
    x = np.array([1.0, 1.5, 3.0, 0.75, 5.0, 1e-3, 3e38, np.inf], np.float32)
    ours = _graphcore_cast(x, _dt.float8_e8m0fnu, round_mode=round_mode)
    _same_bits(ours, _reference_cast(x, TensorProto.FLOAT8E8M0, round_mode=round_mode))
    if round_mode != "nearest":
        want = {"up": [1, 2, 4, 1, 8], "down": [1, 1, 2, 0.5, 4]}[round_mode]
        np.testing.assert_array_equal(ours[:5].astype(np.float32), want)


def test_a_bfloat16_computation_stays_bfloat16_and_differentiates():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (2, 3))
        w = gc.Variable(np.full((3, 2), 0.5, np.float32))
        h = gc.matmul(gc.cast(x, _dt.bfloat16), gc.cast(w, _dt.bfloat16))
        loss = gc.reduce_sum(gc.cast(h, gc.float32))
        (grad,) = gc.gradients(loss, [w])
    x_value = np.arange(6, dtype=np.float32).reshape(2, 3)
    with gc.Session(g) as sess:
        h_value, g_value = sess.run([h, grad], {x: x_value})
    assert h.dtype == _dt.bfloat16 and h_value.dtype == _dt.bfloat16
    np.testing.assert_array_equal(g_value, np.repeat(x_value.sum(0)[:, None], 2, 1))   # exact in bfloat16
