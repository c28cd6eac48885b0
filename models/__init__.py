"""The architecture zoo (``graphcore.models``): every network of the course notes as a Keras-style model.

Each builder takes ``input_shape`` and ``num_classes`` (plus width/depth knobs where the architecture has
them) and returns a model in a fresh graph; ``available()`` lists the names and ``get(name, **kw)`` builds one.
"""
from graphcore.sites import register_internal_dir

register_internal_dir(__file__)

from .classic import Perceptron, lenet5, mlp, perceptron, seed_cnn  # noqa: E402
from .imagenet import alexnet, vgg16, vgg19, zfnet  # noqa: E402
from .resnet import resnet18, resnet34, resnet50  # noqa: E402
from .inception import googlenet  # noqa: E402
from .mobilenet import mobilenet  # noqa: E402
from .recurrent import row_classifier  # noqa: E402
from .autoencoders import VariationalAutoencoder, autoencoder, train_autoencoder  # noqa: E402
from .boltzmann import RBM, dbn_classifier, train_dbn, train_rbm  # noqa: E402
from .adversarial import dcgan, dense_gan, train_gan  # noqa: E402
from .stacking import DeepStackingNetwork, train_dsn  # noqa: E402

# Every name ``available()`` lists is a builder of this package, as in torchvision and keras.applications:
# ``models.rnn()``, ``models.gan()``, and ``graphcore train rnn`` on the command line.
rnn = row_classifier
vae = VariationalAutoencoder
rbm = RBM
dbn = dbn_classifier
gan = dense_gan
dsn = DeepStackingNetwork

# Classifiers: builder(input_shape=..., num_classes=..., knobs) → a compile/fit-able Model.
CLASSIFIERS = {
    "perceptron": perceptron, "mlp": mlp, "seed_cnn": seed_cnn, "lenet5": lenet5, "alexnet": alexnet,
    "zfnet": zfnet, "vgg16": vgg16, "vgg19": vgg19, "resnet18": resnet18, "resnet34": resnet34,
    "resnet50": resnet50, "googlenet": googlenet, "mobilenet": mobilenet, "rnn": rnn,
}

# Unsupervised and generative families: custom training graphs (penalties, sampling chains, alternating
# updates, closed-form solves); each has a builder and a ``train_*`` function returning a metrics dict.
UNSUPERVISED = {
    "autoencoder": autoencoder, "vae": vae, "rbm": rbm, "dbn": dbn, "gan": gan, "dcgan": dcgan, "dsn": dsn,
}
TRAINERS = {
    "autoencoder": train_autoencoder,
    "vae": lambda **kw: train_autoencoder("variational", **kw),
    "rbm": train_rbm, "dbn": train_dbn,
    "gan": lambda **kw: train_gan("gan", **kw), "dcgan": lambda **kw: train_gan("dcgan", **kw),
    "dsn": train_dsn,
}

# Small configurations of every classifier: fast enough for tests, galleries and the export table, with the
# full architectures (layer structure, exported graphs) of the published ones.
SMALL = {
    "perceptron": dict(input_shape=(4,)),
    "mlp": dict(input_shape=(16,), hidden=(8,), dropout=0.5),
    "seed_cnn": dict(input_shape=(16, 16, 3)),
    "lenet5": dict(input_shape=(32, 32, 1)),
    "alexnet": dict(input_shape=(67, 67, 3), width=0.1, fc_units=16),
    "zfnet": dict(input_shape=(64, 64, 3), width=0.1, fc_units=16),
    "vgg16": dict(input_shape=(32, 32, 3), width=0.125, fc_units=16),
    "vgg19": dict(input_shape=(32, 32, 3), width=0.125, fc_units=16),
    "resnet18": dict(input_shape=(32, 32, 3), width=0.125),
    "resnet34": dict(input_shape=(32, 32, 3), width=0.125),
    "resnet50": dict(input_shape=(32, 32, 3), width=0.125),
    "googlenet": dict(input_shape=(32, 32, 3), width=0.1),
    "mobilenet": dict(input_shape=(32, 32, 3), alpha=0.25),
    "rnn": dict(input_shape=(8, 8), units=16),
}

# What the digits need on top of SMALL (``graphcore train`` and tools/half_precision_accuracy.py train with
# ``{**SMALL[name], **DIGITS[name]}``): SMALL keeps the narrowest model for the tests, these make each one learn
# the 8×8 digits in a few epochs of Adam. Measured (docs/onnx.md, "half_precision_accuracy"; PyTorch the same
# for the MLP, the LSTM and ResNet-50): an MLP of 8 units behind dropout 0.5 and an LSTM of 16 units reach
# 40-50 % after 5 epochs; two dropout 0.5 layers over 16 fully connected units starve AlexNet and ZFNet;
# Glorot's initialisation halves the signal at each ReLU of VGG's and GoogLeNet's plain stacks, so their
# outputs start all but independent of the input (He's does not); ResNet-50's 16 bottlenecks at 1×1 feature
# maps diverge unless each block starts as the identity (its last batch norm's gamma zero, torchvision's
# ``zero_init_residual``); MobileNet's moving statistics at Keras's momentum 0.99 still hold 12 % of their
# initial values after 210 steps, so inference divides by the wrong variance and predicts one class, and at
# α = 0.25 it learns slowly; at 32×32 its last eight blocks run on 2×2 and 1×1 maps (83-90 % in 10 epochs),
# at 48×48 on 3×3 and 2×2 (89-92 % in 10 epochs, seeds 0-2; Keras's dropout of 0.001 off).
DIGITS = {
    "mlp": dict(hidden=(64,), dropout=0.0),
    "rnn": dict(units=64),
    "alexnet": dict(dropout=0.0),
    "zfnet": dict(dropout=0.0),
    "vgg16": dict(kernel_initializer="he_normal"),
    "vgg19": dict(kernel_initializer="he_normal"),
    "googlenet": dict(kernel_initializer="he_normal"),
    "resnet50": dict(zero_init_residual=True),
    "mobilenet": dict(input_shape=(48, 48, 3), alpha=0.5, bn_momentum=0.9, dropout=0.0),
}


def available(kind=None):
    """Names of the zoo's models: all, or only ``"classifier"`` or ``"unsupervised"`` ones."""
    tables = {"classifier": CLASSIFIERS, "unsupervised": UNSUPERVISED, None: {**CLASSIFIERS, **UNSUPERVISED}}
    if kind not in tables:
        raise ValueError(f"kind must be 'classifier', 'unsupervised' or None, got {kind!r}")
    return list(tables[kind])


def get(name, **kwargs):
    """Build the zoo model ``name`` with the builder's keyword arguments."""
    builder = CLASSIFIERS.get(name) or UNSUPERVISED.get(name)
    if builder is None:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())}")
    return builder(**kwargs)


def small(name, **overrides):
    """A classifier at its small configuration (``SMALL``), with ``overrides`` (e.g. ``num_classes=5``)."""
    if name not in CLASSIFIERS:
        raise ValueError(f"{name!r} is not a classifier of the zoo")
    return get(name, **{**SMALL[name], **overrides})
