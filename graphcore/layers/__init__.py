"""Keras-style layers over the static graph (channels-last API, NCHW inside)."""
from .base import Input, InputLayer, Layer, learning_phase, session_for, to_internal, to_user
from .core import Activation, Add, Concatenate, Dense, Dropout, Flatten, Reshape
from .conv import (AveragePooling2D, Conv2D, Conv2DTranspose, DepthwiseConv2D, GlobalAveragePooling2D,
                   MaxPooling2D, SeparableConv2D, ZeroPadding2D)
from .normalization import BatchNormalization, LocalResponseNormalization
from .recurrent import GRU, LSTM, Bidirectional, Embedding, SimpleRNN, TimeDistributed

# Keras's aliases
MaxPool2D, AvgPool2D, AveragePool2D = MaxPooling2D, AveragePooling2D, AveragePooling2D
