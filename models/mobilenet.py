"""MobileNet v1 (Howard et al. 2017): depthwise-separable convolutions with a width multiplier α."""
import graphcore as gc
from graphcore import layers

from .common import functional, scaled

# (stride of the depthwise convolution, pointwise filters) for the 13 separable blocks.
BLOCKS = ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
          (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024))


def _bn_relu6(x, name, momentum):
    x = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(x)
    return layers.Activation("relu6", name=f"{name}_relu")(x)


def mobilenet(input_shape=(224, 224, 3), num_classes=1000, alpha=1.0, dropout=1e-3, bn_momentum=0.99):
    """MobileNet v1 as Keras builds it (3×3 depthwise + 1×1 pointwise, each without bias and followed by
    batch normalisation and ReLU6): 4,231,976 trainable parameters at α = 1, 224×224×3, 1000 classes
    (4,253,864 with the batch-norm moving statistics). ``bn_momentum`` is the moving statistics' decay (Keras's
    0.99; torchvision's 0.9 lets inference match training after a few hundred steps rather than thousands)."""
    def body(x):
        x = layers.Conv2D(scaled(32, alpha), 3, strides=2, padding="same", use_bias=False, name="conv1")(x)
        x = _bn_relu6(x, "conv1", bn_momentum)
        for i, (strides, filters) in enumerate(BLOCKS, start=1):
            with gc.name_scope(f"block{i}"):
                x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name="dw")(x)
                x = _bn_relu6(x, "dw", bn_momentum)
                x = layers.Conv2D(scaled(filters, alpha), 1, use_bias=False, name="pw")(x)
                x = _bn_relu6(x, "pw", bn_momentum)
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        return layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return functional("mobilenet", input_shape, body)
