"""How diagrams look: one colour per op category, one shape per node kind, and the legend.

Categories are found from op types (graphcore's and ONNX's spellings) and from layer class names, so a
Conv2D layer, a Conv2D op and an ONNX Conv all share one colour. Gradient and optimizer-update boxes take
their phase's colour instead, which is what sets the backward pass apart at a glance.
"""
FONT = "Helvetica"

# Above BIG_DIAGRAM boxes, dot's crossing minimisation and spline routing take minutes: layout effort is
# capped and edges are straight (ResNet-50's op view with gradients, 4,200 nodes: about 20 s). Above
# CROSSINGS_LIMIT boxes, the edges between passes (forward → backward → update) are left out, with a note:
# each spans the whole picture, and with dot 2.43 they cost minutes or fail ("trouble in init_rank")
# on GoogLeNet's and MobileNet's gradient views.
BIG_DIAGRAM = 300
CROSSINGS_LIMIT = 100

# category → (fill colour, legend text); the order is the legend's order.
CATEGORIES = {
    "input": ("#b7e4c7", "input (placeholder)"),
    "variable": ("#fff3b0", "variable (weights)"),
    "frozen": ("#e9ecef", "frozen variable"),
    "state": ("#fcd5ce", "optimizer state (slots, step)"),
    "constant": ("#f8f9fa", "constant"),
    "conv": ("#8ecae6", "convolution"),
    "dense": ("#a0c4ff", "dense / matmul"),
    "pool": ("#caffbf", "pooling"),
    "norm": ("#cdb4db", "normalization"),
    "activation": ("#ffc6ff", "activation"),
    "regularization": ("#d8f3dc", "dropout / noise"),
    "shape": ("#f5ebe0", "reshape / layout"),
    "math": ("#e5e5e5", "elementwise / other"),
    "reduce": ("#ffd6a5", "reduction / loss"),
    "control": ("#bde0fe", "control flow"),
    "block": ("#ede7f6", "block of layers"),
    "gradient": ("#fdae6b", "gradient (backward)"),
    "update": ("#fc9272", "optimizer update"),
}

_OP_CATEGORIES = {
    "conv": "Conv2D Conv2DBackpropInput Conv2DBackpropFilter Conv ConvTranspose ConvInteger DepthwiseConv2D",
    "dense": "MatMul Gemm MatMulInteger Einsum",
    "pool": "MaxPool AvgPool MaxPoolGrad MaxPoolGradGrad AvgPoolGrad GlobalAveragePool GlobalMaxPool "
            "AveragePool LpPool MaxUnpool",
    "norm": "BatchNorm BatchNormalization LRN LayerNormalization InstanceNormalization GroupNormalization",
    "activation": "Relu Tanh Sigmoid Softmax LogSoftmax LeakyRelu Elu Selu Softplus Softsign Step HardSigmoid "
                  "PRelu Gelu HardSwish Mish Clip",
    "regularization": "Dropout Bernoulli RandomNormal RandomUniform RandomNormalLike RandomUniformLike",
    "shape": "Reshape ReshapeLike Transpose Concat Split StridedSlice SliceGrad Slice Gather GatherGrad Pad "
             "Tile ExpandDims Squeeze Unsqueeze Flatten Expand Shape OneHot Cast Identity Resize Upsample",
    "reduce": "Sum ReduceSum ReduceMean ReduceMax ReduceMin ReduceProd ArgMax ArgMin SumTo "
              "SparseSoftmaxCrossEntropyWithLogits SoftmaxCrossEntropyWithLogits SigmoidCrossEntropyWithLogits "
              "SoftmaxCrossEntropyLoss NegativeLogLikelihoodLoss",
    "control": "NoOp Loop Scan If",
    "update": "Assign AssignAdd",
}
OP_CATEGORY = {op: category for category, ops in _OP_CATEGORIES.items() for op in ops.split()}

LAYER_CATEGORY = {
    "InputLayer": "input", "Conv2D": "conv", "DepthwiseConv2D": "conv", "SeparableConv2D": "conv",
    "Conv2DTranspose": "conv", "Dense": "dense", "MaxPooling2D": "pool", "AveragePooling2D": "pool",
    "GlobalAveragePooling2D": "pool", "BatchNormalization": "norm", "LocalResponseNormalization": "norm",
    "Activation": "activation", "Dropout": "regularization", "Flatten": "shape", "Reshape": "shape",
    "ZeroPadding2D": "shape", "Add": "math", "Concatenate": "shape", "Model": "block", "Sequential": "block",
    "Loss": "reduce", "Metrics": "reduce",
}
SKIP_NOTE = "blue edges: skip connections (⊕ adds a shortcut to a branch)"

KIND_CATEGORY = {"placeholder": "input", "variable": "variable", "constant": "constant"}

# kind → node attributes (besides the fill colour).
SHAPES = {
    "op": {"shape": "box", "style": "rounded,filled"},
    "layer": {"shape": "box", "style": "rounded,filled"},
    "block": {"shape": "box3d", "style": "filled"},
    "placeholder": {"shape": "ellipse", "style": "filled"},
    "variable": {"shape": "cylinder", "style": "filled"},
    "constant": {"shape": "note", "style": "filled"},
}

PHASE_CLUSTER = {
    "forward": {"color": "#adb5bd", "style": "rounded", "bgcolor": "#ffffff"},
    "gradient": {"color": "#e6550d", "style": "rounded,filled", "fillcolor": "#fff5eb", "penwidth": "2"},
    "update": {"color": "#de2d26", "style": "rounded,filled", "fillcolor": "#fff0f0", "penwidth": "2"},
}

EDGE_STYLES = {
    "data": {},
    "skip": {"color": "#1c7ed6", "penwidth": "1.6", "fontcolor": "#1864ab"},
    "control": {"style": "dashed", "color": "#888888", "arrowhead": "odot"},
    "init": {"style": "dotted", "color": "#888888"},
}


# Edges between passes (forward → backward → update): they do not pull ranks, and are drawn faint.
CROSSING_EDGE = {"constraint": "false", "color": "#ced4da", "arrowsize": "0.4"}


def category_for_op(op_type, kind):
    if kind in KIND_CATEGORY:
        return KIND_CATEGORY[kind]
    if op_type.startswith("Apply"):
        return "update"
    return OP_CATEGORY.get(op_type, "math")


def fill(category):
    return CATEGORIES[category][0]


def legend_rows(categories):
    """(colour, text) for the categories present, in the legend's fixed order."""
    present = set(categories)
    return [(colour, text) for name, (colour, text) in CATEGORIES.items() if name in present]
