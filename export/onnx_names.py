"""The names graphcore and ONNX share one-to-one, read by both directions of the bridge.

``ELEMENTWISE`` pairs each graphcore op type with the ONNX op that takes the same inputs (in the same order),
has no attributes and computes the same function, so that exporting one is emitting the other (``convert_math``)
and importing one is applying the other (``import_math``). Ops that map in one direction only stay with their
own direction: graphcore's ``Maximum`` exports as ONNX's ``Max``, but ONNX's ``Max`` is variadic; ONNX's ``Xor``
imports as ``NotEqual``; ``And``/``Or`` cast non-boolean inputs on export; ``Div`` and ``Pow`` import integer
division and powers with their own rules.

The recurrent tables name the cells both ways: graphcore's cell (a recurrent Scan's ``meta["cell"]``) ↔ the
native ONNX op, and the SimpleRNN activations that ONNX's RNN has under its own names.
"""

ELEMENTWISE = {   # graphcore op type → ONNX op type
    "Neg": "Neg", "Abs": "Abs", "Sign": "Sign", "Sqrt": "Sqrt", "Reciprocal": "Reciprocal", "Exp": "Exp",
    "Log": "Log", "Sin": "Sin", "Cos": "Cos", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Softplus": "Softplus",
    "Relu": "Relu", "Floor": "Floor", "Not": "Not", "Erf": "Erf", "Asin": "Asin", "Acos": "Acos", "Atan": "Atan",
    "Asinh": "Asinh", "Acosh": "Acosh", "Atanh": "Atanh",
    "Add": "Add", "Sub": "Sub", "Mul": "Mul", "Less": "Less", "LessEqual": "LessOrEqual", "Greater": "Greater",
    "GreaterEqual": "GreaterOrEqual", "Equal": "Equal", "Where": "Where",
    "BitwiseAnd": "BitwiseAnd", "BitwiseOr": "BitwiseOr", "BitwiseXor": "BitwiseXor", "BitwiseNot": "BitwiseNot",
}
ELEMENTWISE_FROM_ONNX = {onnx_type: op_type for op_type, onnx_type in ELEMENTWISE.items()}

RECURRENT_OPS = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}   # graphcore cell → ONNX op
RNN_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}   # SimpleRNN's activation → ONNX's name
RNN_ACTIVATIONS_FROM_ONNX = {onnx_name: name for name, onnx_name in RNN_ACTIVATIONS.items()}
