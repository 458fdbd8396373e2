"""Layers as ``(init, apply)`` pairs over plain-dict params, and ``serial`` to compose them.

A :class:`Layer` holds two pure functions::

    init(key, in_shape)  -> (out_shape, params)      # shapes without the batch axis
    apply(params, x, *, ops, key, train) -> y         # x: (N, *in_shape)

``ops`` is the op namespace: :mod:`jaxconv` (hand-written rules, the default) or
:mod:`jaxconv.autodiff`, so the same layer trains either way. ``key`` matters to
:func:`Dropout`, ``train`` to :func:`Dropout` and :func:`BatchNorm`. Layers never jit
themselves; jit once, at the train step.

Layers with state (``layer.stateful``: :func:`BatchNorm`'s running statistics, and every
composite holding one) keep it in a pytree of its own, beside the params, which the optimizer
never sees::

    init(key, in_shape)  -> (out_shape, params, state)
    apply(params, state, x, *, ops, key, train) -> (y, new_state)

:func:`serial`, :func:`Residual` and :func:`Concat` compose both kinds; a composite is stateful
when one of its parts is, and its state is keyed like its params.

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
    """A layer: ``init(key, in_shape) -> (out_shape, params)`` and ``apply(params, x, *, ops,
    key, train) -> y`` over a params pytree (shapes without the batch axis). A ``stateful`` layer
    (batch norm) has ``init -> (out_shape, params, state)`` and ``apply(params, state, x, ...)
    -> (y, new_state)``. ``ops`` is :mod:`jaxconv` (hand-written rules, the default) or
    :mod:`jaxconv.autodiff`.

    Example:
      >>> layer = Dense(3)
      >>> layer.name, layer.stateful
      ('dense', False)
      >>> shape, params = layer.init(jax.random.key(0), (5,))
      >>> shape
      (3,)
    """
    init: Callable
    apply: Callable
    name: str
    stateful: bool = False          # True: init returns (shape, params, state); apply (y, state)


def _with_state(layer: Layer) -> tuple[Callable, Callable]:
    """``layer``'s ``(init, apply)`` in the stateful form, whichever form it has."""
    if layer.stateful:
        return layer.init, layer.apply

    def init(key, in_shape):
        return (*layer.init(key, in_shape), {})

    def apply(params, state, x, *, ops=jaxconv, key=None, train=False):
        return layer.apply(params, x, ops=ops, key=key, train=train), state

    return init, apply


def _composite(name: str, init_full: Callable, apply_full: Callable, stateful: bool) -> Layer:
    """A layer from stateful-form functions, in the stateless form when none of its parts
    has state."""
    if stateful:
        return Layer(init_full, apply_full, name, True)

    def init(key, in_shape):
        shape, params, _ = init_full(key, in_shape)
        return shape, params

    def apply(params, x, *, ops=jaxconv, key=None, train=False):
        return apply_full(params, {}, x, ops=ops, key=key, train=train)[0]

    return Layer(init, apply, name, False)


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

    Args:
      features: the output channels ``D``.
      kernel: kernel size; int or one per spatial axis.
      stride, padding, dilation, groups: as :func:`jaxconv.conv`'s.
      bias: whether to add a ``(features,)`` bias.
      init: the weight initialiser: ``"he"``, ``"glorot"``, ``"lecun"`` or ``"torch"``.
      dtype: of the params.

    Returns:
      A :class:`Layer` from ``(N, C, *L)`` to ``(N, features, *O)``; params ``{"w", "b"}``
      (no ``"b"`` without ``bias``).

    Example:
      >>> layer = Conv(4, 3, padding=1)
      >>> shape, params = layer.init(jax.random.key(0), (2, 8, 8))
      >>> shape, params["w"].shape, params["b"].shape
      ((4, 8, 8), (4, 2, 3, 3), (4,))
      >>> jax.jit(layer.apply)(params, jnp.ones((5, 2, 8, 8))).shape
      (5, 4, 8, 8)
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
    """:func:`jaxconv.dense` with an ``(in_features, features)`` weight; input ``(N, in)``.

    Args:
      features: the output features.
      bias: whether to add a ``(features,)`` bias.
      init: the weight initialiser: ``"he"``, ``"glorot"``, ``"lecun"`` or ``"torch"``.
      dtype: of the params.

    Returns:
      A :class:`Layer` from ``(N, in_features)`` to ``(N, features)``; params ``{"w", "b"}``
      (no ``"b"`` without ``bias``).

    Example:
      >>> layer = Dense(3)
      >>> shape, params = layer.init(jax.random.key(0), (5,))
      >>> shape, params["w"].shape, params["b"].shape
      ((3,), (5, 3), (3,))
      >>> layer.apply(params, jnp.ones((2, 5))).shape
      (2, 3)
    """
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
    """:func:`jaxconv.max_pool` as a layer without params.

    Args:
      window, stride, padding, ceil_mode: as :func:`jaxconv.max_pool`'s.

    Returns:
      A :class:`Layer` from ``(N, C, *L)`` to ``(N, C, *O)``.

    Example:
      >>> layer = MaxPool(2)
      >>> layer.init(jax.random.key(0), (1, 4, 4))
      ((1, 2, 2), {})
      >>> layer.apply({}, jnp.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
      [[5.0, 7.0], [13.0, 15.0]]
    """
    return _stateless("max_pool",
                      lambda ops, x: ops.max_pool(x, window, stride, padding, ceil_mode))


def AvgPool(window, stride=None, padding="VALID", ceil_mode=False, count_include_pad=True) -> Layer:
    """:func:`jaxconv.avg_pool` as a layer without params.

    Args:
      window, stride, padding, ceil_mode, count_include_pad: as :func:`jaxconv.avg_pool`'s.

    Returns:
      A :class:`Layer` from ``(N, C, *L)`` to ``(N, C, *O)``.

    Example:
      >>> layer = AvgPool(2)
      >>> layer.init(jax.random.key(0), (1, 4, 4))
      ((1, 2, 2), {})
      >>> layer.apply({}, jnp.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
      [[2.5, 4.5], [10.5, 12.5]]
    """
    return _stateless("avg_pool", lambda ops, x: ops.avg_pool(x, window, stride, padding, ceil_mode,
                                                              count_include_pad))


def LpPool(window, p=2.0, stride=None, padding="VALID", ceil_mode=False) -> Layer:
    """:func:`jaxconv.lp_pool` as a layer without params.

    Args:
      window, p, stride, padding, ceil_mode: as :func:`jaxconv.lp_pool`'s.

    Returns:
      A :class:`Layer` from ``(N, C, *L)`` to ``(N, C, *O)``.

    Example:
      >>> layer = LpPool(2, p=2.0)
      >>> layer.init(jax.random.key(0), (1, 4))
      ((1, 2), {})
      >>> layer.apply({}, jnp.array([[[3.0, 4.0, 0.0, 1.0]]])).tolist()
      [[[5.0, 1.0]]]
    """
    return _stateless("lp_pool",
                      lambda ops, x: ops.lp_pool(x, window, p, stride, padding, ceil_mode))


def Flatten() -> Layer:
    """``(N, C, *spatial) -> (N, C * prod(spatial))``: a layer without params.

    Example:
      >>> Flatten().init(jax.random.key(0), (2, 3, 4))
      ((24,), {})
      >>> Flatten().apply({}, jnp.zeros((5, 2, 3, 4))).shape
      (5, 24)
    """
    return _stateless("flatten", lambda ops, x: x.reshape(x.shape[0], -1))


#: ``relu`` as a layer (no params): ``apply(params, x, ops=...) = ops.relu(x)``.
Relu = _stateless("relu", lambda ops, x: ops.relu(x))
#: ``sigmoid`` as a layer (no params).
Sigmoid = _stateless("sigmoid", lambda ops, x: ops.sigmoid(x))
#: ``tanh`` as a layer (no params).
Tanh = _stateless("tanh", lambda ops, x: ops.tanh(x))


#: ``silu`` as a layer (no params).
Silu = _stateless("silu", lambda ops, x: ops.silu(x))
#: ``hardswish`` as a layer (no params).
Hardswish = _stateless("hardswish", lambda ops, x: ops.hardswish(x))


def LeakyRelu(negative_slope: float = 0.01) -> Layer:
    """:func:`jaxconv.leaky_relu` as a layer without params.

    Args:
      negative_slope: the slope for negative inputs.

    Returns:
      A :class:`Layer` keeping the input shape.

    Example:
      >>> LeakyRelu(0.25).apply({}, jnp.array([-2.0, 3.0])).tolist()
      [-0.5, 3.0]
    """
    return _stateless("leaky_relu", lambda ops, x: ops.leaky_relu(x, negative_slope))


def Gelu(approximate: str = "none") -> Layer:
    """:func:`jaxconv.gelu` (``approximate="tanh"``: the tanh form) as a layer without params.

    Args:
      approximate: ``"none"`` (the exact, erf form) or ``"tanh"``.

    Returns:
      A :class:`Layer` keeping the input shape.

    Example:
      >>> y = Gelu().apply({}, jnp.array([-1.0, 0.0, 1.0]))
      >>> [round(v, 4) for v in y.tolist()]
      [-0.1587, 0.0, 0.8413]
    """
    return _stateless("gelu", lambda ops, x: ops.gelu(x, approximate))


def Elu(alpha: float = 1.0) -> Layer:
    """:func:`jaxconv.elu` as a layer without params.

    Args:
      alpha: the scale of the negative part, ``alpha * (exp(x) - 1)``.

    Returns:
      A :class:`Layer` keeping the input shape.

    Example:
      >>> y = Elu().apply({}, jnp.array([-1.0, 0.0, 2.0]))
      >>> [round(v, 4) for v in y.tolist()]
      [-0.6321, 0.0, 2.0]
    """
    return _stateless("elu", lambda ops, x: ops.elu(x, alpha))


def Softplus(beta: float = 1.0, threshold: float = 20.0) -> Layer:
    """:func:`jaxconv.softplus` as a layer without params.

    Args:
      beta, threshold: as :func:`jaxconv.softplus`'s (linear where ``beta * x > threshold``).

    Returns:
      A :class:`Layer` keeping the input shape.

    Example:
      >>> y = Softplus().apply({}, jnp.array([0.0, 30.0]))
      >>> [round(v, 4) for v in y.tolist()]
      [0.6931, 30.0]
    """
    return _stateless("softplus", lambda ops, x: ops.softplus(x, beta, threshold))


def GlobalAvgPool() -> Layer:
    """:func:`jaxconv.global_avg_pool`: ``(N, C, *S) -> (N, C)``, a layer without params.

    Example:
      >>> GlobalAvgPool().init(jax.random.key(0), (2, 4, 4))
      ((2,), {})
      >>> GlobalAvgPool().apply({}, jnp.arange(8.0).reshape(1, 2, 4)).tolist()
      [[1.5, 5.5]]
    """
    return _stateless("global_avg_pool", lambda ops, x: ops.global_avg_pool(x))


def Upsample(size=None, scale_factor=None, mode="nearest", align_corners=None) -> Layer:
    """:func:`jaxconv.interpolate` to ``size`` or by ``scale_factor``, a layer without params.

    Args:
      size, scale_factor, mode, align_corners: as :func:`jaxconv.interpolate`'s.

    Returns:
      A :class:`Layer` from ``(N, C, *L)`` to ``(N, C, *O)``: ``O`` is ``size``, or
      ``floor(L * scale_factor)``.

    Example:
      >>> layer = Upsample(scale_factor=2)
      >>> layer.init(jax.random.key(0), (1, 3, 3))
      ((1, 6, 6), {})
      >>> layer.apply({}, jnp.array([[[1.0, 2.0]]])).tolist()
      [[[1.0, 1.0, 2.0, 2.0]]]
    """
    return _stateless("upsample", lambda ops, x: ops.interpolate(x, size, scale_factor, mode,
                                                                 align_corners))


def ZeroPadShortcut(features: int, stride: int = 2) -> Layer:
    """The parameter-free residual shortcut of He et al. (Sec. 4.2, "option A"): every
    ``stride``-th position of each spatial axis, the channels zero-padded to ``features``.

    Args:
      features: the output channels, at least the input's ``C`` (the zeros split between
        both ends of the channel axis).
      stride: the step along each spatial axis.

    Returns:
      A :class:`Layer` without params from ``(N, C, *L)`` to ``(N, features, *O)``.

    Example:
      >>> layer = ZeroPadShortcut(4, stride=2)
      >>> layer.init(jax.random.key(0), (2, 4, 4))
      ((4, 2, 2), {})
      >>> layer.apply({}, jnp.ones((1, 2, 4, 4)))[0, :, 0, 0].tolist()
      [0.0, 1.0, 1.0, 0.0]
    """
    def fn(ops, x):
        c = x.shape[1]
        if features < c:
            raise ValueError(f"jaxconv.layers.ZeroPadShortcut: `features` (={features}) is "
                             f"smaller than the input's {c} channels; it only adds channels.")
        x = x[(slice(None), slice(None)) + (slice(None, None, stride),) * (x.ndim - 2)]
        lo = (features - c) // 2
        return jnp.pad(x, [(0, 0), (lo, features - c - lo)] + [(0, 0)] * (x.ndim - 2))
    return _stateless("shortcut", fn)


def _feature_params(num, dtype, scale: bool, bias: bool):
    params = {}
    if scale:
        params["scale"] = jnp.ones(num, dtype)
    if bias:
        params["bias"] = jnp.zeros(num, dtype)
    return params


def BatchNorm(*, momentum: float = 0.1, eps: float = 1e-5, axis_name=None, scale: bool = True,
              bias: bool = True, dtype=jnp.float32) -> Layer:
    """:func:`jaxconv.batch_norm` over ``(N, C, *S)`` inputs, a stateful layer: params
    ``{"scale": ones(C), "bias": zeros(C)}``, state ``{"mean": zeros(C), "var": ones(C)}``.
    ``train=True`` normalises with the batch statistics and returns the updated running ones;
    ``train=False`` uses the running statistics and returns them unchanged.

    Args:
      momentum: the weight of the batch statistics in the running ones' update.
      eps: added to the variance.
      axis_name: a mapped axis to average the batch statistics over, or None.
      scale, bias: whether to learn a per-channel ``scale`` / ``bias``.
      dtype: of the params and the state.

    Returns:
      A stateful :class:`Layer` keeping the input shape.

    Example:
      >>> layer = BatchNorm()
      >>> shape, params, state = layer.init(jax.random.key(0), (2, 3))
      >>> layer.stateful, shape, sorted(params), sorted(state)
      (True, (2, 3), ['bias', 'scale'], ['mean', 'var'])
      >>> x = jnp.arange(12.0).reshape(2, 2, 3)        # channel means 4 and 7
      >>> y, state = layer.apply(params, state, x, train=True)
      >>> y.shape, [round(v, 4) for v in state["mean"].tolist()]
      ((2, 2, 3), [0.4, 0.7])
    """
    _args.check_number("layers.BatchNorm", "momentum", momentum, low=0, high=1)
    _args.check_number("layers.BatchNorm", "eps", eps, low=0, low_open=True,
                       expect="a positive number")

    def apply(params, state, x, *, ops=jaxconv, key=None, train=False):
        y, mean, var = ops.batch_norm(x, params.get("scale"), params.get("bias"), state["mean"],
                                      state["var"], training=train, momentum=momentum, eps=eps,
                                      axis_name=axis_name)
        return y, {"mean": mean, "var": var}

    def init_fn(key, in_shape):
        if len(in_shape) < 1:
            raise ValueError("jaxconv.layers.BatchNorm: the input needs a channel axis, "
                             f"(C, *spatial); got shape {tuple(in_shape)}.")
        c = in_shape[0]
        state = {"mean": jnp.zeros(c, dtype), "var": jnp.ones(c, dtype)}
        return tuple(in_shape), _feature_params(c, dtype, scale, bias), state

    return Layer(init_fn, apply, "batch_norm", True)


def LayerNorm(num_axes: int = 1, *, eps: float = 1e-5, affine: bool = True,
              dtype=jnp.float32) -> Layer:
    """:func:`jaxconv.layer_norm` over the last ``num_axes`` axes, with ``scale``/``bias`` of
    their shape when ``affine``.

    Args:
      num_axes: how many trailing axes to normalise over.
      eps: added to the variance.
      affine: whether to learn ``scale`` and ``bias``.
      dtype: of the params.

    Returns:
      A :class:`Layer` keeping the input shape.

    Example:
      >>> layer = LayerNorm()
      >>> shape, params = layer.init(jax.random.key(0), (2, 4))
      >>> shape, params["scale"].shape
      ((2, 4), (4,))
      >>> y = layer.apply(params, jnp.arange(8.0).reshape(1, 2, 4))
      >>> [round(v, 4) for v in y[0, 0].tolist()]
      [-1.3416, -0.4472, 0.4472, 1.3416]
    """
    def apply(params, x, *, ops=jaxconv, key=None, train=False):
        return ops.layer_norm(x, params.get("scale"), params.get("bias"), num_axes=num_axes,
                              eps=eps)

    def init_fn(key, in_shape):
        if not 1 <= num_axes <= len(in_shape):
            raise ValueError(f"jaxconv.layers.LayerNorm: `num_axes` (={num_axes}) must be "
                             f"between 1 and the {len(in_shape)} axes of the input shape "
                             f"{tuple(in_shape)}.")
        feat = tuple(in_shape[len(in_shape) - num_axes:])
        params = ({"scale": jnp.ones(feat, dtype), "bias": jnp.zeros(feat, dtype)} if affine
                  else {})
        return tuple(in_shape), params

    return Layer(init_fn, apply, "layer_norm")


def GroupNorm(num_groups: int, *, eps: float = 1e-5, affine: bool = True,
              dtype=jnp.float32) -> Layer:
    """:func:`jaxconv.group_norm` over ``(N, C, *S)`` inputs; ``num_groups=C``: instance norm.

    Args:
      num_groups: how many groups to split the ``C`` channels into; must divide ``C``.
      eps: added to the variance.
      affine: whether to learn a per-channel ``scale`` and ``bias``.
      dtype: of the params.

    Returns:
      A :class:`Layer` keeping the input shape.

    Example:
      >>> layer = GroupNorm(2)                          # 2 groups of 1 channel: instance norm
      >>> shape, params = layer.init(jax.random.key(0), (2, 2))
      >>> shape, sorted(params)
      ((2, 2), ['bias', 'scale'])
      >>> y = layer.apply(params, jnp.array([[[0.0, 2.0], [1.0, 5.0]]]))
      >>> [[round(v, 4) for v in row] for row in y[0].tolist()]
      [[-1.0, 1.0], [-1.0, 1.0]]
    """
    def apply(params, x, *, ops=jaxconv, key=None, train=False):
        return ops.group_norm(x, num_groups, params.get("scale"), params.get("bias"), eps=eps)

    def init_fn(key, in_shape):
        params = _feature_params(in_shape[0], dtype, affine, affine)
        return _out_shape(apply, params, in_shape, dtype), params

    return Layer(init_fn, apply, "group_norm")


def Dropout(rate: float) -> Layer:
    """:func:`jaxconv.dropout` when ``train=True`` (``key`` required then); identity otherwise.

    Args:
      rate: the drop probability in ``[0, 1)``.

    Returns:
      A :class:`Layer` without params keeping the input shape.

    Example:
      >>> layer = Dropout(0.5)
      >>> x = jnp.ones((2, 8))
      >>> bool((layer.apply({}, x) == x).all())         # train=False: the identity
      True
      >>> y = layer.apply({}, x, train=True, key=jax.random.key(0))
      >>> sorted(set(y.ravel().tolist()))               # dropped, or kept and scaled by 2
      [0.0, 2.0]
    """
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


def _children(layers, prefix=""):
    return [f"{prefix}{layer.name}{i}" for i, layer in enumerate(layers)]


def _chain_init(names, layers, key, shape):
    params, state = {}, {}
    for name, layer, k in zip(names, layers, jax.random.split(key, max(len(layers), 1))):
        try:
            shape, p, s = _with_state(layer)[0](k, shape)
        except ValueError as err:
            raise ValueError(f"layer {name} cannot take input shape {shape}: {err}") from None
        if p:
            params[name] = p
        if s:
            state[name] = s
    return shape, params, state


def _chain_apply(names, layers, params, state, x, ops, key, train, salt=0):
    new_state = {}
    for i, (name, layer) in enumerate(zip(names, layers)):
        sub = None if key is None else jax.random.fold_in(key, salt + i)
        x, s = _with_state(layer)[1](params.get(name, {}), state.get(name, {}), x, ops=ops,
                                     key=sub, train=train)
        if s:
            new_state[name] = s
    return x, new_state


def serial(*layers: Layer) -> Layer:
    """Compose layers left to right. Params are ``{f"{name}{index}": layer_params}`` for the
    layers that have params (e.g. ``{"conv0": {"w", "b"}, "dense7": {"w", "b"}}``), and the
    state likewise (``{"batch_norm1": {"mean", "var"}}``).

    Args:
      *layers: the layers, applied in order.

    Returns:
      A :class:`Layer`, stateful when one of ``layers`` is.

    Example:
      >>> net = serial(Conv(4, 3), Relu, Flatten(), Dense(2))
      >>> shape, params = net.init(jax.random.key(0), (1, 5, 5))
      >>> shape, sorted(params)
      ((2,), ['conv0', 'dense3'])
      >>> jax.jit(net.apply)(params, jnp.ones((7, 1, 5, 5))).shape
      (7, 2)
    """
    names = _children(layers)

    def init_fn(key, in_shape):
        return _chain_init(names, layers, key, tuple(in_shape))

    def apply(params, state, x, *, ops=jaxconv, key=None, train=False):
        return _chain_apply(names, layers, params, state, x, ops, key, train)

    return _composite("serial", init_fn, apply, any(layer.stateful for layer in layers))


def _branches(name: str, main, side, merge, describe: str) -> Layer:
    """``merge(main(x), side(x))`` for two lists of layers (``side`` empty: ``x`` itself);
    params and state under ``"main"`` / ``"side"``."""
    branches = {"main": (_children(main), main), "side": (_children(side), side)}

    def init_fn(key, in_shape):
        params, state, shapes = {}, {}, {}
        for (part, (names, layers)), k in zip(branches.items(), jax.random.split(key)):
            shapes[part], p, s = _chain_init(names, layers, k, tuple(in_shape))
            if p:
                params[part] = p
            if s:
                state[part] = s
        try:
            out = merge(jnp.zeros((1,) + shapes["main"]), jnp.zeros((1,) + shapes["side"])).shape
        except (ValueError, TypeError) as err:
            raise ValueError(f"jaxconv.layers.{name}: {describe}; the branches give shapes "
                             f"{shapes['main']} and {shapes['side']} ({err}).") from None
        return tuple(out[1:]), params, state

    def apply(params, state, x, *, ops=jaxconv, key=None, train=False):
        outs, new_state = {}, {}
        for salt, (part, (names, layers)) in enumerate(branches.items()):
            outs[part], s = _chain_apply(names, layers, params.get(part, {}),
                                         state.get(part, {}), x, ops, key, train, 1000 * salt)
            if s:
                new_state[part] = s
        return merge(outs["main"], outs["side"]), new_state

    layers = tuple(main) + tuple(side)
    return _composite(name.lower(), init_fn, apply, any(layer.stateful for layer in layers))


def _add(a, b):
    if a.shape != b.shape:
        raise ValueError(f"shapes {a.shape[1:]} and {b.shape[1:]} differ")
    return a + b


def Residual(*layers: Layer, shortcut=()) -> Layer:
    """``y = layers(x) + shortcut(x)``: a residual connection (He et al.). ``shortcut`` is a
    sequence of layers (empty: the identity), e.g. a strided 1x1 :func:`Conv` where the shape
    changes, or :func:`ZeroPadShortcut` (the parameter-free "option A").

    Args:
      *layers: the residual branch, applied in order.
      shortcut: the layers of the shortcut branch; empty: the identity.

    Returns:
      A :class:`Layer` with params (and state) under ``"main"`` and ``"side"``.

    Example:
      >>> block = Residual(Conv(2, 3, padding=1), Relu)
      >>> shape, params = block.init(jax.random.key(0), (2, 4, 4))
      >>> shape, list(params["main"])
      ((2, 4, 4), ['conv0'])
      >>> zero = jax.tree_util.tree_map(jnp.zeros_like, params)   # the branch adds nothing
      >>> x = jnp.ones((1, 2, 4, 4))
      >>> bool((jax.jit(block.apply)(zero, x) == x).all())
      True
      >>> down = Residual(Conv(4, 3, stride=2, padding=1), shortcut=[ZeroPadShortcut(4)])
      >>> down.init(jax.random.key(0), (2, 4, 4))[0]
      (4, 2, 2)
    """
    return _branches("Residual", layers, tuple(shortcut), _add,
                     "the residual branch and the shortcut must give the same shape")


def _concat(a, b):
    return jnp.concatenate([b, a], axis=1)


def Concat(*layers: Layer) -> Layer:
    """``y = concatenate([x, layers(x)], axis=1)``: a skip connection joined along the
    channels (U-Net), ``layers`` keeping the spatial shape.

    Args:
      *layers: the inner branch, applied in order.

    Returns:
      A :class:`Layer` with params (and state) under ``"main"``.

    Example:
      >>> skip = Concat(Conv(3, 1))
      >>> shape, params = skip.init(jax.random.key(0), (2, 4, 4))
      >>> shape                                         # 2 input channels + 3 from the conv
      (5, 4, 4)
      >>> x = jnp.ones((1, 2, 4, 4))
      >>> bool((jax.jit(skip.apply)(params, x)[:, :2] == x).all())
      True
    """
    return _branches("Concat", layers, (), _concat,
                     "the inner layers must keep the batch and spatial shape")
