"""The ImageNet-era plain CNNs: AlexNet, ZFNet and VGG."""
from graphcore import layers

from .common import functional, scaled


def _classifier(x, num_classes, fc_units, dropout, kernel_initializer="glorot_uniform"):
    """Flatten, two dropout-regularised fully connected ReLU layers, softmax."""
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{i}")(x)
        x = layers.Dense(fc_units, activation="relu", kernel_initializer=kernel_initializer, name=f"fc{i}")(x)
    return layers.Dense(num_classes, activation="softmax", name="predictions")(x)


def alexnet(input_shape=(227, 227, 3), num_classes=1000, width=1.0, fc_units=4096, dropout=0.5):
    """AlexNet (Krizhevsky et al. 2012) as in the notes: the one-tower variant (no two-GPU channel groups),
    227×227×3 input, ReLU, local response normalisation after conv1 and conv2, three max pools, two dropout
    layers. 62,378,344 parameters at 227×227×3 and 1000 classes (the notes' "around 60 million")."""
    def body(x):
        x = layers.Conv2D(scaled(96, width), 11, strides=4, activation="relu", name="conv1")(x)
        x = layers.LocalResponseNormalization(name="norm1")(x)
        x = layers.MaxPooling2D(3, 2, name="pool1")(x)
        x = layers.Conv2D(scaled(256, width), 5, padding="same", activation="relu", name="conv2")(x)
        x = layers.LocalResponseNormalization(name="norm2")(x)
        x = layers.MaxPooling2D(3, 2, name="pool2")(x)
        for i, filters in ((3, 384), (4, 384), (5, 256)):
            x = layers.Conv2D(scaled(filters, width), 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(3, 2, name="pool5")(x)
        return _classifier(x, num_classes, fc_units, dropout)
    return functional("alexnet", input_shape, body)


def zfnet(input_shape=(224, 224, 3), num_classes=1000, width=1.0, fc_units=4096, dropout=0.5):
    """ZFNet (Zeiler & Fergus 2013): AlexNet with a 7×7 stride-2 first layer and a stride-2 conv2, which keeps
    more detail early. 224×224×3 input (conv1 padding 1 → 110×110, pools 'same' → 55 and 13, as in the
    paper's figure). 62,357,608 parameters at 224×224×3 and 1000 classes."""
    def body(x):
        x = layers.Conv2D(scaled(96, width), 7, strides=2, padding=1, activation="relu", name="conv1")(x)
        x = layers.LocalResponseNormalization(name="norm1")(x)
        x = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
        x = layers.Conv2D(scaled(256, width), 5, strides=2, activation="relu", name="conv2")(x)
        x = layers.LocalResponseNormalization(name="norm2")(x)
        x = layers.MaxPooling2D(3, 2, padding="same", name="pool2")(x)
        for i, filters in ((3, 384), (4, 384), (5, 256)):
            x = layers.Conv2D(scaled(filters, width), 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(3, 2, name="pool5")(x)
        return _classifier(x, num_classes, fc_units, dropout)
    return functional("zfnet", input_shape, body)


def _vgg(name, convs_per_block, input_shape, num_classes, width, fc_units, dropout, kernel_initializer):
    def body(x):
        for block, convs in enumerate(convs_per_block, start=1):
            filters = scaled(min(64 * 2 ** (block - 1), 512), width)
            for i in range(1, convs + 1):
                x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=kernel_initializer,
                                  name=f"block{block}_conv{i}")(x)
            x = layers.MaxPooling2D(2, 2, name=f"block{block}_pool")(x)
        return _classifier(x, num_classes, fc_units, dropout, kernel_initializer)
    return functional(name, input_shape, body)


def vgg16(input_shape=(224, 224, 3), num_classes=1000, width=1.0, fc_units=4096, dropout=0.0,
          kernel_initializer="glorot_uniform"):
    """VGG16 (Simonyan & Zisserman 2014): 13 3×3 convolutions in 5 blocks and 3 dense layers; 138,357,544
    parameters at 224×224×3 and 1000 classes (as Keras's ``VGG16``). ``width`` scales the channels.
    ``kernel_initializer`` is Keras's default; "he_normal" (torchvision's choice) keeps the signal alive
    through the ReLU stack, where Glorot's halves its variance at each layer and a narrow VGG19 can start
    with outputs that hardly depend on the input."""
    return _vgg("vgg16", (2, 2, 3, 3, 3), input_shape, num_classes, width, fc_units, dropout, kernel_initializer)


def vgg19(input_shape=(224, 224, 3), num_classes=1000, width=1.0, fc_units=4096, dropout=0.0,
          kernel_initializer="glorot_uniform"):
    """VGG19: 16 3×3 convolutions; 143,667,240 parameters at 224×224×3 and 1000 classes (``kernel_initializer``
    as for ``vgg16``)."""
    return _vgg("vgg19", (2, 2, 4, 4, 4), input_shape, num_classes, width, fc_units, dropout, kernel_initializer)
