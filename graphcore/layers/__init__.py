"""Keras-style layers over the static graph (channels-last API, NCHW inside)."""
import sys

from .. import compat
from ..lookup import missing_names
from .base import Input, InputLayer, Layer, learning_phase, session_for
from .layout import to_internal, to_user
from .core import (ELU, Activation, Add, Average, Concatenate, Dense, Dropout, Flatten, GlobalAveragePooling1D,
                   GlobalMaxPooling1D, Lambda, LeakyReLU, Maximum, Minimum, Multiply, ReLU, RepeatVector, Rescaling,
                   Reshape, Softmax, Subtract, UpSampling2D, add, average, concatenate, multiply, subtract)
from .core import maximum_ as maximum, minimum_ as minimum
from .conv import (AveragePooling2D, Conv2D, Conv2DTranspose, DepthwiseConv2D, GlobalAveragePooling2D,
                   GlobalMaxPooling2D, MaxPooling2D, SeparableConv2D, ZeroPadding2D)
from .normalization import BatchNormalization, LocalResponseNormalization
from .recurrent import GRU, LSTM, Bidirectional, Embedding, SimpleRNN, TimeDistributed

# Keras's aliases
MaxPool2D, AvgPool2D, AveragePool2D = MaxPooling2D, AveragePooling2D, AveragePooling2D
GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D

_SEQUENCES = compat.difference(
    "Keras", "keras.layers.Conv1D / MaxPooling1D / AveragePooling1D / Conv3D", "gc.layers.Conv2D",
    "only 2-D convolution and pooling: give sequences a height of 1, (batch, 1, steps, channels), and use Conv2D "
    "with kernel_size=(1, k) and MaxPooling2D((1, k))")
_ATTENTION = compat.difference(
    "Keras", "keras.layers.MultiHeadAttention / Attention / LayerNormalization / GroupNormalization",
    "gc.layers.BatchNormalization", "attention and layer normalisation layers are not supported")
_PREPROCESSING = compat.difference(
    "Keras", "keras.layers.TextVectorization / Normalization / StringLookup / RandomFlip / RandomRotation / "
    "Resizing", "gc.layers.Rescaling", "preprocessing layers are not supported: prepare the arrays with NumPy before "
    "fit (Rescaling is supported)")
_OTHERS = compat.difference(
    "Keras", "keras.layers.Masking / PReLU / Cropping2D / SpatialDropout2D / GaussianNoise / Permute / "
    "ConvLSTM2D / Dot", "gc.layers.Lambda", "this layer is not supported; a Lambda layer of gc ops can often "
    "stand in for it")
__getattr__ = missing_names(sys.modules[__name__], {
    **dict.fromkeys(["Conv1D", "Conv1DTranspose", "MaxPooling1D", "MaxPool1D", "AveragePooling1D", "AvgPool1D",
                     "Conv3D", "MaxPooling3D", "UpSampling1D", "ZeroPadding1D"], _SEQUENCES),
    **dict.fromkeys(["MultiHeadAttention", "Attention", "AdditiveAttention", "LayerNormalization",
                     "GroupNormalization", "UnitNormalization"], _ATTENTION),
    **dict.fromkeys(["TextVectorization", "Normalization", "StringLookup", "IntegerLookup", "Hashing",
                     "CategoryEncoding", "Discretization", "RandomFlip", "RandomRotation", "RandomZoom",
                     "RandomTranslation", "RandomCrop", "RandomContrast", "Resizing", "CenterCrop"], _PREPROCESSING),
    **dict.fromkeys(["Masking", "PReLU", "Cropping2D", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise",
                     "GaussianDropout", "AlphaDropout", "Permute", "ConvLSTM2D", "Dot", "ThresholdedReLU"], _OTHERS),
})
