"""Layers: ``(init, apply)`` pairs over params pytrees, built on the ops namespace
they are given (:mod:`jaxconv` or :mod:`jaxconv.autodiff`).

The implementation lives in :mod:`jaxconv._src.nn.layers`;
this module is its public face."""

from jaxconv._src.nn.layers import AvgPool as AvgPool
from jaxconv._src.nn.layers import Conv as Conv
from jaxconv._src.nn.layers import Dense as Dense
from jaxconv._src.nn.layers import Dropout as Dropout
from jaxconv._src.nn.layers import Flatten as Flatten
from jaxconv._src.nn.layers import Layer as Layer
from jaxconv._src.nn.layers import LpPool as LpPool
from jaxconv._src.nn.layers import MaxPool as MaxPool
from jaxconv._src.nn.layers import serial as serial

__all__ = [
    "AvgPool",
    "Conv",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "LpPool",
    "MaxPool",
    "serial",
]
