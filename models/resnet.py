"""Residual networks (He et al. 2015), laid out like torchvision's: convolutions without bias, each
followed by batch normalisation; a 1×1 projection on the shortcut where the shape changes. Blocks live in
name scopes ``stage2/block1`` …, so diagrams group them."""
import graphcore as gc
from graphcore import layers

from .common import functional, scaled


def _conv_bn(x, filters, kernel, strides, name, relu=True, gamma="ones"):
    x = layers.Conv2D(filters, kernel, strides=strides, padding=kernel // 2, use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_initializer=gamma, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _basic_block(x, filters, strides, last_gamma):
    """Two 3×3 convolutions around an identity (or projected) shortcut."""
    shortcut = x
    y = _conv_bn(x, filters, 3, strides, "a")
    y = _conv_bn(y, filters, 3, 1, "b", relu=False, gamma=last_gamma)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, strides, "shortcut", relu=False)
    return layers.Activation("relu", name="out")(layers.Add(name="add")([y, shortcut]))


def _bottleneck(x, filters, strides, last_gamma):
    """1×1 reduce, 3×3 (carrying the stride, as torchvision's v1.5), 1×1 expand ×4."""
    shortcut = x
    y = _conv_bn(x, filters, 1, 1, "a")
    y = _conv_bn(y, filters, 3, strides, "b")
    y = _conv_bn(y, filters * 4, 1, 1, "c", relu=False, gamma=last_gamma)
    if strides != 1 or x.shape[-1] != filters * 4:
        shortcut = _conv_bn(x, filters * 4, 1, strides, "shortcut", relu=False)
    return layers.Activation("relu", name="out")(layers.Add(name="add")([y, shortcut]))


def _resnet(name, block, blocks_per_stage, input_shape, num_classes, width, zero_init_residual):
    last_gamma = "zeros" if zero_init_residual else "ones"

    def body(x):
        with gc.name_scope("stem"):
            x = _conv_bn(x, scaled(64, width), 7, 2, "conv1")
            x = layers.MaxPooling2D(3, 2, padding=1, name="pool")(x)
        for stage, blocks in enumerate(blocks_per_stage):
            filters = scaled(64 * 2 ** stage, width)
            with gc.name_scope(f"stage{stage + 2}"):
                for i in range(blocks):
                    with gc.name_scope(f"block{i + 1}"):
                        x = block(x, filters, 2 if i == 0 and stage > 0 else 1, last_gamma)
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return layers.Dense(num_classes, activation="softmax", name="fc")(x)
    return functional(name, input_shape, body)


def resnet18(input_shape=(224, 224, 3), num_classes=1000, width=1.0, zero_init_residual=False):
    """ResNet-18: basic blocks [2, 2, 2, 2]; 11,689,512 trainable parameters at 224×224×3, 1000 classes."""
    return _resnet("resnet18", _basic_block, (2, 2, 2, 2), input_shape, num_classes, width, zero_init_residual)


def resnet34(input_shape=(224, 224, 3), num_classes=1000, width=1.0, zero_init_residual=False):
    """ResNet-34: basic blocks [3, 4, 6, 3]; 21,797,672 trainable parameters at 224×224×3, 1000 classes."""
    return _resnet("resnet34", _basic_block, (3, 4, 6, 3), input_shape, num_classes, width, zero_init_residual)


def resnet50(input_shape=(224, 224, 3), num_classes=1000, width=1.0, zero_init_residual=False):
    """ResNet-50: bottleneck blocks [3, 4, 6, 3]; 25,557,032 trainable parameters at 224×224×3, 1000 classes."""
    return _resnet("resnet50", _bottleneck, (3, 4, 6, 3), input_shape, num_classes, width, zero_init_residual)
