"""The architecture zoo (``graphcore.models``): every network of the course notes as a Keras-style model.

Each builder takes ``input_shape`` and ``num_classes`` (plus width/depth knobs where the architecture has
them) and returns a model in a fresh graph; ``available()`` lists the names and ``get(name, **kw)`` builds one.
"""
from graphcore.graph import register_internal_dir

register_internal_dir(__file__)

from .classic import Perceptron, lenet5, mlp, perceptron, seed_cnn  # noqa: E402
from .imagenet import alexnet, vgg16, vgg19, zfnet  # noqa: E402
from .resnet import resnet18, resnet34, resnet50  # noqa: E402
from .inception import googlenet  # noqa: E402
from .mobilenet import mobilenet  # noqa: E402
from .autoencoders import VariationalAutoencoder, autoencoder  # noqa: E402
from .rbm import RBM, dbn_classifier  # noqa: E402
from .gan import dcgan, dense_gan  # noqa: E402
from .dsn import DeepStackingNetwork  # noqa: E402

_BUILDERS = {
    "perceptron": perceptron, "mlp": mlp, "seed_cnn": seed_cnn, "lenet5": lenet5, "alexnet": alexnet,
    "zfnet": zfnet, "vgg16": vgg16, "vgg19": vgg19, "resnet18": resnet18, "resnet34": resnet34,
    "resnet50": resnet50, "googlenet": googlenet, "mobilenet": mobilenet,
    "autoencoder": autoencoder, "vae": VariationalAutoencoder, "rbm": RBM, "dbn": dbn_classifier, "gan": dense_gan,
    "dcgan": dcgan, "dsn": DeepStackingNetwork,
}


def available():
    """Names of the zoo's models."""
    return list(_BUILDERS)


def get(name, **kwargs):
    """Build the zoo model ``name`` with the builder's keyword arguments."""
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(_BUILDERS)}") from None
    return builder(**kwargs)
