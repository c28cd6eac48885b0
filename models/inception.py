"""GoogLeNet / Inception v1 (Szegedy et al. 2014)."""
import graphcore as gc
from graphcore import layers

from .common import functional, scaled

# (1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool projection) per module, from the paper's Table 1.
MODULES = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


def _conv(x, filters, kernel, name, strides=1, initializer="glorot_uniform"):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu",
                         kernel_initializer=initializer, name=name)(x)


def _inception(x, spec, width, init):
    """Four parallel branches — 1×1; 1×1→3×3; 1×1→5×5; 3×3 max pool→1×1 — concatenated on channels."""
    c1, r3, c3, r5, c5, pp = (scaled(c, width) for c in spec)
    with gc.name_scope("branch1x1"):
        b1 = _conv(x, c1, 1, "conv", initializer=init)
    with gc.name_scope("branch3x3"):
        b2 = _conv(_conv(x, r3, 1, "reduce", initializer=init), c3, 3, "conv", initializer=init)
    with gc.name_scope("branch5x5"):
        b3 = _conv(_conv(x, r5, 1, "reduce", initializer=init), c5, 5, "conv", initializer=init)
    with gc.name_scope("branch_pool"):
        b4 = _conv(layers.MaxPooling2D(3, 1, padding="same", name="pool")(x), pp, 1, "proj", initializer=init)
    return layers.Concatenate(name="concat")([b1, b2, b3, b4])


def googlenet(input_shape=(224, 224, 3), num_classes=1000, width=1.0, dropout=0.4,
              kernel_initializer="glorot_uniform"):
    """Inception v1 as in the paper, without the two auxiliary training classifiers: convolutions with bias
    and ReLU (no batch normalisation), local response normalisation in the stem, 9 inception modules,
    global average pooling, dropout 0.4, softmax. 6,998,552 parameters at 224×224×3 and 1000 classes.
    ``kernel_initializer`` (Keras's default) as for ``vgg16``: "he_normal" keeps the signal through the stack."""
    def body(x):
        with gc.name_scope("stem"):
            x = _conv(x, scaled(64, width), 7, "conv1", strides=2, initializer=kernel_initializer)
            x = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
            x = layers.LocalResponseNormalization(name="norm1")(x)
            x = _conv(x, scaled(64, width), 1, "conv2_reduce", initializer=kernel_initializer)
            x = _conv(x, scaled(192, width), 3, "conv2", initializer=kernel_initializer)
            x = layers.LocalResponseNormalization(name="norm2")(x)
            x = layers.MaxPooling2D(3, 2, padding="same", name="pool2")(x)
        for name, spec in MODULES.items():
            with gc.name_scope(f"inception_{name}"):
                x = _inception(x, spec, width, kernel_initializer)
            if name in ("3b", "4e"):
                x = layers.MaxPooling2D(3, 2, padding="same", name=f"pool{name[0]}")(x)
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        return layers.Dense(num_classes, activation="softmax", name="fc")(x)
    return functional("googlenet", input_shape, body)
