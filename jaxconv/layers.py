"""Layers: ``(init, apply)`` pairs over params pytrees, built on the ops namespace
they are given (:mod:`jaxconv` or :mod:`jaxconv.autodiff`)."""

from jaxconv._src.nn.layers import AvgPool as AvgPool
from jaxconv._src.nn.layers import BatchNorm as BatchNorm
from jaxconv._src.nn.layers import Concat as Concat
from jaxconv._src.nn.layers import Conv as Conv
from jaxconv._src.nn.layers import Dense as Dense
from jaxconv._src.nn.layers import Dropout as Dropout
from jaxconv._src.nn.layers import Elu as Elu
from jaxconv._src.nn.layers import Flatten as Flatten
from jaxconv._src.nn.layers import Gelu as Gelu
from jaxconv._src.nn.layers import GlobalAvgPool as GlobalAvgPool
from jaxconv._src.nn.layers import GroupNorm as GroupNorm
from jaxconv._src.nn.layers import Hardswish as Hardswish
from jaxconv._src.nn.layers import Layer as Layer
from jaxconv._src.nn.layers import LayerNorm as LayerNorm
from jaxconv._src.nn.layers import LeakyRelu as LeakyRelu
from jaxconv._src.nn.layers import LpPool as LpPool
from jaxconv._src.nn.layers import MaxPool as MaxPool
from jaxconv._src.nn.layers import Relu as Relu
from jaxconv._src.nn.layers import Residual as Residual
from jaxconv._src.nn.layers import Sigmoid as Sigmoid
from jaxconv._src.nn.layers import Silu as Silu
from jaxconv._src.nn.layers import Softplus as Softplus
from jaxconv._src.nn.layers import Tanh as Tanh
from jaxconv._src.nn.layers import Upsample as Upsample
from jaxconv._src.nn.layers import ZeroPadShortcut as ZeroPadShortcut
from jaxconv._src.nn.layers import serial as serial

__all__ = [
    "AvgPool",
    "BatchNorm",
    "Concat",
    "Conv",
    "Dense",
    "Dropout",
    "Elu",
    "Flatten",
    "Gelu",
    "GlobalAvgPool",
    "GroupNorm",
    "Hardswish",
    "Layer",
    "LayerNorm",
    "LeakyRelu",
    "LpPool",
    "MaxPool",
    "Relu",
    "Residual",
    "Sigmoid",
    "Silu",
    "Softplus",
    "Tanh",
    "Upsample",
    "ZeroPadShortcut",
    "serial",
]
