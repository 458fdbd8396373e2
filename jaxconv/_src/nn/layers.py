"""Layers as ``(init, apply)`` pairs over plain-dict params, and ``serial`` to compose them.

A :class:`Layer` holds two pure functions::

    init(key, in_shape)  -> (out_shape, params)      # shapes without the batch axis
    apply(params, x, *, ops, key, train) -> y         # x: (N, *in_shape)

``ops`` is the op namespace: :mod:`jaxconv` (hand-written rules, the default) or
:mod:`jaxconv.autodiff`, so the same layer trains either way. ``key`` and ``train`` matter to
:func:`Dropout` only. Layers never jit themselves; jit once, at the train step.

Initialisers (``init=``): ``"he"`` (normal, variance ``2 / fan_in``, for layers followed by ReLU),
``"glorot"`` (normal, variance ``2 / (fan_in + fan_out)``), ``"lecun"`` (variance ``1 / fan_in``)
and ``"torch"`` (PyTorch's default: weights and bias uniform in ``±1 / sqrt(fan_in)``). Fan-in is
read from the kernel shape: ``C // groups * prod(kernel)`` for a conv kernel
``(D, C // groups, *K)``, ``in_features`` for a dense ``(in, out)``. Biases start at zero except
for ``"torch"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv._src.core import args as _args

Params = dict[str, Any]


class Layer(NamedTuple):
    init: Callable
    apply: Callable
    name: str


_INITS = {
    "he": lambda in_axis, out_axis: jax.nn.initializers.he_normal(in_axis, out_axis),
    "glorot": lambda in_axis, out_axis: jax.nn.initializers.glorot_normal(in_axis, out_axis),
    "lecun": lambda in_axis, out_axis: jax.nn.initializers.lecun_normal(in_axis, out_axis),
    "torch": lambda in_axis, out_axis: jax.nn.initializers.variance_scaling(
        1 / 3, "fan_in", "uniform", in_axis, out_axis),
}


def _initialiser(layer: str, init: str):
    _args.check_choice(f"layers.{layer}", "init", init, tuple(_INITS))
    return _INITS[init]


def _weights(key, shape, init, in_axis, out_axis, fan_in, dtype, bias):
    kw, kb = jax.random.split(key)
    params = {"w": _INITS[init](in_axis, out_axis)(kw, shape, dtype)}
    if bias:
        limit = 1.0 / np.sqrt(fan_in)
        params["b"] = (jax.random.uniform(kb, (shape[out_axis],), dtype, -limit, limit)
                       if init == "torch" else jnp.zeros((shape[out_axis],), dtype))
    return params


def _out_shape(apply, params, in_shape, dtype):
    x = jax.ShapeDtypeStruct((1,) + tuple(in_shape), dtype)
    return tuple(jax.eval_shape(lambda p, v: apply(p, v, ops=jaxconv, key=None, train=False),
                                params, x).shape[1:])


def Conv(features: int, kernel, stride=1, padding="VALID", dilation=1, groups=1, *,
         bias: bool = True, init: str = "he", dtype=jnp.float32) -> Layer:
    """:func:`jaxconv.conv` with a ``(features, C // groups, *kernel)`` kernel.

    ``padding`` may also be a function of the input's spatial shape returning a padding form
    (how :func:`jaxconv.models.lenet5` fits 28x28 and 8x8 inputs with one definition).
    """
    _initialiser("Conv", init)

    def resolve(spatial):
        return padding(tuple(spatial)) if callable(padding) else padding

    def apply(params, x, *, ops=jaxconv, key=None, train=False):
        return ops.conv(x, params["w"], params.get("b"), stride=stride,
                        padding=resolve(x.shape[2:]), dilation=dilation, groups=groups)

    def init_fn(key, in_shape):
        in_shape = tuple(in_shape)
        ks = (kernel,) * (len(in_shape) - 1) if isinstance(kernel, int) else tuple(kernel)
        if in_shape[0] % groups:
            raise ValueError(f"jaxconv.layers.Conv: the input has {in_shape[0]} channels (shape "
                             f"{in_shape}), not divisible by `groups` (={groups}).")
        shape = (features, in_shape[0] // groups) + ks
        params = _weights(key, shape, init, 1, 0, int(np.prod(shape[1:])), dtype, bias)
        return _out_shape(apply, params, in_shape, dtype), params

    return Layer(init_fn, apply, "conv")


def Dense(features: int, *, bias: bool = True, init: str = "he", dtype=jnp.float32) -> Layer:
    """:func:`jaxconv.dense` with an ``(in_features, features)`` weight; input ``(N, in)``."""
    _initialiser("Dense", init)

    def apply(params, x, *, ops=jaxconv, key=None, train=False):
        return ops.dense(x, params["w"], params.get("b"))

    def init_fn(key, in_shape):
        if len(in_shape) != 1:
            raise ValueError(f"jaxconv.layers.Dense: expects flat (in_features,) inputs; got shape "
                             f"{tuple(in_shape)}. Put Flatten() before it.")
        params = _weights(key, (in_shape[0], features), init, 0, 1, in_shape[0], dtype, bias)
        return (features,), params

    return Layer(init_fn, apply, "dense")


def _stateless(name: str, fn: Callable) -> Layer:
    """A layer without params: ``fn(ops, x)``; its output shape is traced once at init."""
    def apply(params, x, *, ops=jaxconv, key=None, train=False):
        return fn(ops, x)

    def init_fn(key, in_shape):
        return _out_shape(apply, {}, in_shape, jnp.float32), {}

    return Layer(init_fn, apply, name)


def MaxPool(window, stride=None, padding="VALID", ceil_mode=False) -> Layer:
    """:func:`jaxconv.max_pool`."""
    return _stateless("max_pool",
                      lambda ops, x: ops.max_pool(x, window, stride, padding, ceil_mode))


def AvgPool(window, stride=None, padding="VALID", ceil_mode=False, count_include_pad=True) -> Layer:
    """:func:`jaxconv.avg_pool`."""
    return _stateless("avg_pool", lambda ops, x: ops.avg_pool(x, window, stride, padding, ceil_mode,
                                                              count_include_pad))


def LpPool(window, p=2.0, stride=None, padding="VALID", ceil_mode=False) -> Layer:
    """:func:`jaxconv.lp_pool`."""
    return _stateless("lp_pool",
                      lambda ops, x: ops.lp_pool(x, window, p, stride, padding, ceil_mode))


def Flatten() -> Layer:
    """``(N, C, *spatial) -> (N, C * prod(spatial))``."""
    return _stateless("flatten", lambda ops, x: x.reshape(x.shape[0], -1))


Relu = _stateless("relu", lambda ops, x: ops.relu(x))
Sigmoid = _stateless("sigmoid", lambda ops, x: ops.sigmoid(x))
Tanh = _stateless("tanh", lambda ops, x: ops.tanh(x))


def Dropout(rate: float) -> Layer:
    """:func:`jaxconv.dropout` when ``train=True`` (``key`` required then); identity otherwise."""
    def apply(params, x, *, ops=jaxconv, key=None, train=False):
        if not train or rate == 0:
            return x
        if key is None:
            raise ValueError("jaxconv.layers.Dropout: training with dropout needs `key`; pass "
                             "apply(params, x, train=True, key=jax.random.key(step)).")
        return ops.dropout(x, rate, key)

    def init_fn(key, in_shape):
        return tuple(in_shape), {}

    return Layer(init_fn, apply, "dropout")


def serial(*layers: Layer) -> Layer:
    """Compose layers left to right. Params are ``{f"{name}{index}": layer_params}`` for the
    layers that have params (e.g. ``{"conv0": {"w", "b"}, "dense7": {"w", "b"}}``)."""
    names = [f"{layer.name}{i}" for i, layer in enumerate(layers)]

    def init_fn(key, in_shape):
        params = {}
        shape = tuple(in_shape)
        for name, layer, k in zip(names, layers, jax.random.split(key, len(layers))):
            try:
                shape, p = layer.init(k, shape)
            except ValueError as err:
                raise ValueError(f"layer {name} cannot take input shape {shape}: {err}") from None
            if p:
                params[name] = p
        return shape, params

    def apply(params, x, *, ops=jaxconv, key=None, train=False):
        for i, (name, layer) in enumerate(zip(names, layers)):
            sub = None if key is None else jax.random.fold_in(key, i)
            x = layer.apply(params.get(name, {}), x, ops=ops, key=sub, train=train)
        return x

    return Layer(init_fn, apply, "serial")
