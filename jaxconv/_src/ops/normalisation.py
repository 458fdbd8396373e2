r"""Batch, layer and group normalisation: one forward, one backward, three reductions.

All three normalise ``x`` over a set of axes ``R`` and apply a per-feature affine map
(derivation, Eq. 42)::

    mu = mean_R(x),   var = mean_R((x - mu)^2),   sigma = sqrt(var + eps)
    x_hat = (x - mu) / sigma,   y = scale * x_hat + bias

==========  ==================  ===============================  ==========================
op          x                   R (one mu, sigma per ...)        scale, bias
==========  ==================  ===============================  ==========================
batch_norm  ``(N, C, *S)``      ``N`` and ``S`` (per channel)    ``(C,)``
layer_norm  ``(..., *F)``       the last ``num_axes`` axes ``F``  ``F`` (the same shape)
group_norm  ``(N, C, *S)``      ``C / G`` channels and ``S``      ``(C,)``
                                (per example and group)
==========  ==================  ===============================  ==========================

Group norm is computed on the view ``(N, G, C / G, *S)``; instance norm is ``G = C``.

Backward, shared by all three (Eq. 43-44; ``g = scale * delta``, means over ``R``)::

    dE/dx     = (g - mean_R(g) - x_hat * mean_R(g * x_hat)) / sigma
    dE/dscale = sum_{not F} delta * x_hat,      dE/dbias = sum_{not F} delta

Batch norm in evaluation mode normalises with the running statistics instead, a fixed affine
map of ``x`` (Eq. 46): ``dE/dx = scale * delta / sigma``. Training-mode batch norm also returns
the running statistics updated as PyTorch does (Eq. 45); they, and the running statistics given,
carry no gradient. With ``axis_name`` the two batch means of the forward and the two of the
backward are averaged over that named axis (``lax.pmean``: synchronised batch norm inside
``shard_map``, ``pmap`` or a named ``vmap``; every shard holds the same number of examples).

Statistics are computed in two passes (the variance from ``x - mu``, never
``E[x^2] - E[x]^2``), so a constant channel has variance 0 and ``sigma = sqrt(eps)``: finite
outputs and gradients. 16-bit inputs are normalised in float32 and rounded once.

Residuals: ``x`` and the per-group ``mu`` and ``1 / sigma`` (``x_hat`` is recomputed), and
``scale``; evaluation mode: ``x`` (for ``dE/dscale``) and ``1 / sigma`` per channel.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec


class NormConfig(NamedTuple):
    view: tuple[int, ...]          # the shape x is normalised in (group norm: (N, G, C/G, *S))
    axes: tuple[int, ...]          # R: the reduced axes of that view
    affine: tuple[int, ...]        # scale / bias broadcast to the view (1 on non-feature axes)
    eps: float
    axis_name: Hashable | None     # batch norm: the named axis the batch is split over


def _mean(v, cfg: NormConfig):
    """``mean_R(v)`` (kept dims), averaged over ``cfg.axis_name`` when there is one."""
    m = jnp.mean(v, axis=cfg.axes, keepdims=True)
    return m if cfg.axis_name is None else lax.pmean(m, cfg.axis_name)


def _moments(x, cfg: NormConfig):
    """``(mu, var)`` over ``R`` in two passes, in ``x``'s (accumulation) dtype."""
    mu = _mean(x, cfg)
    return mu, _mean(jnp.square(x - mu), cfg)


def _affine(v, scale, bias, cfg: NormConfig):
    if scale is not None:
        v = v * scale.astype(v.dtype).reshape(cfg.affine)
    if bias is not None:
        v = v + bias.astype(v.dtype).reshape(cfg.affine)
    return v


def _feature_sum(v, like, cfg: NormConfig):
    """``sum_{not F} v`` in the shape and dtype of ``like`` (a scale or bias).

    The axes after the last feature axis are summed first (contiguous, fast); what remains of
    the leading axes is contracted with a vector of ones, a matrix product: XLA:CPU's
    reduction over a major axis runs 30x slower (64 rows of 65,536: 34 ms vs 0.9 ms)."""
    feats = [a for a, size in enumerate(cfg.affine) if size != 1]
    last = max(feats, default=-1)
    v = jnp.sum(v, axis=tuple(range(last + 1, v.ndim))) if last + 1 < v.ndim else v
    lead = [a for a in range(v.ndim) if cfg.affine[a] == 1]
    if lead and lead == list(range(len(lead))):
        rows = _args.prod(v.shape[:len(lead)])
        flat = v.reshape(rows, _args.prod(v.shape[len(lead):]))
        v = lax.dot_general(jnp.ones((rows,), v.dtype), flat, (((0,), (0,)), ((), ())),
                            precision=lax.Precision.HIGHEST)
    elif lead:
        v = jnp.sum(v, axis=tuple(lead))
    return v.reshape(like.shape).astype(like.dtype)


# ----- training mode (and layer / group norm): Eq. 42-44 ----------------------------------------

def forward(x, scale, bias, cfg: NormConfig):
    """``(y, mu, var)``: ``x`` in ``cfg.view``, normalised over ``R``; ``mu`` and ``var`` kept
    (broadcastable) in the accumulation dtype, for batch norm's running statistics."""
    acc = _args.acc_dtype(x.dtype)
    xa = x.astype(acc)
    mu, var = _moments(xa, cfg)
    y = _affine((xa - mu) * lax.rsqrt(var + cfg.eps), scale, bias, cfg)
    return y.astype(x.dtype), mu, var


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _normalise(x, scale, bias, cfg: NormConfig):
    return forward(x, scale, bias, cfg)


# _normalise_fwd :: (x, scale, bias) -> ((y, mu, var), (x, mu, 1/sigma, scale, bias))
def _normalise_fwd(x, scale, bias, cfg: NormConfig):
    y, mu, var = forward(x, scale, bias, cfg)
    return (y, mu, var), (x, mu, lax.rsqrt(var + cfg.eps), scale, bias)


# _normalise_bwd :: (cfg, res, (CT y, CT mu, CT var)) -> (CT x, CT scale, CT bias)
# mu and var feed only the running statistics, which carry no gradient (the public functions
# stop_gradient them), so their cotangents are zero and not read.
def _normalise_bwd(cfg: NormConfig, res, cts):
    x, mu, rstd, scale, bias = res
    acc = mu.dtype
    delta = cts[0].astype(acc)
    x_hat = (x.astype(acc) - mu) * rstd
    gamma = None if scale is None else scale.astype(acc).reshape(cfg.affine)
    if _per_set_affine(cfg):
        # batch norm: scale is constant over each set R, so Eq. 43's two means are Eq. 44's
        # sums (per channel) times scale / M: two reductions serve all four
        sum_d = jnp.sum(delta, axis=cfg.axes, keepdims=True)
        sum_dx = jnp.sum(delta * x_hat, axis=cfg.axes, keepdims=True)
        m = _args.prod(cfg.view[a] for a in cfg.axes)
        mean_d, mean_dx = sum_d / m, sum_dx / m
        if cfg.axis_name is not None:
            mean_d, mean_dx = lax.pmean((mean_d, mean_dx), cfg.axis_name)
        dx = (delta - mean_d - x_hat * mean_dx) * (rstd if gamma is None else rstd * gamma)
        dscale = None if scale is None else sum_dx.reshape(scale.shape).astype(scale.dtype)
        dbias = None if bias is None else sum_d.reshape(bias.shape).astype(bias.dtype)
        return dx.astype(x.dtype), dscale, dbias
    g = delta if gamma is None else delta * gamma
    dx = (g - _mean(g, cfg) - x_hat * _mean(g * x_hat, cfg)) * rstd        # Eq. 43
    dscale = None if scale is None else _feature_sum(delta * x_hat, scale, cfg)   # Eq. 44
    dbias = None if bias is None else _feature_sum(delta, bias, cfg)
    return dx.astype(x.dtype), dscale, dbias


def _per_set_affine(cfg: NormConfig) -> bool:
    """Whether scale and bias are constant over each normalisation set (batch norm: the sets
    are the channels, R every other axis)."""
    return all(cfg.affine[a] == 1 for a in cfg.axes) and all(
        cfg.affine[a] == cfg.view[a] for a in range(len(cfg.view)) if a not in cfg.axes)


_normalise.defvjp(_normalise_fwd, _normalise_bwd)


# ----- batch norm in evaluation mode: Eq. 46 ----------------------------------------------------

def eval_forward(x, scale, bias, mean, var, cfg: NormConfig):
    """``scale * (x - mean) / sqrt(var + eps) + bias`` with the given (running) statistics."""
    acc = _args.acc_dtype(x.dtype)
    mu = mean.astype(acc).reshape(cfg.affine)
    rstd = lax.rsqrt(var.astype(acc).reshape(cfg.affine) + cfg.eps)
    return _affine((x.astype(acc) - mu) * rstd, scale, bias, cfg).astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _normalise_eval(x, scale, bias, mean, var, cfg: NormConfig):
    return eval_forward(x, scale, bias, mean, var, cfg)


# _normalise_eval_fwd :: (x, scale, bias, mean, var) -> (y, (x, mean, 1/sigma, scale, bias))
def _normalise_eval_fwd(x, scale, bias, mean, var, cfg: NormConfig):
    acc = _args.acc_dtype(x.dtype)
    rstd = lax.rsqrt(var.astype(acc) + cfg.eps)
    return eval_forward(x, scale, bias, mean, var, cfg), (x, mean, rstd, scale, bias)


# _normalise_eval_bwd :: (cfg, res, CT y) -> (CT x, CT scale, CT bias, 0, 0)
def _normalise_eval_bwd(cfg: NormConfig, res, delta):
    x, mean, rstd, scale, bias = res
    acc = rstd.dtype
    d = delta.astype(acc)
    r = rstd.reshape(cfg.affine)
    factor = r if scale is None else r * scale.astype(acc).reshape(cfg.affine)
    dx = (d * factor).astype(x.dtype)
    dscale = None
    if scale is not None:
        x_hat = (x.astype(acc) - mean.astype(acc).reshape(cfg.affine)) * r
        dscale = _feature_sum(d * x_hat, scale, cfg)
    dbias = None if bias is None else _feature_sum(d, bias, cfg)
    zeros = jnp.zeros(mean.shape, mean.dtype)
    return dx, dscale, dbias, zeros, jnp.zeros_like(zeros)


_normalise_eval.defvjp(_normalise_eval_fwd, _normalise_eval_bwd)


# ----- argument checks ---------------------------------------------------------------------------

def _varying_like(x, param, axis_name):
    """Inside ``shard_map``, ``param`` cast to vary over ``axis_name`` like ``x`` does (its
    gradient, one partial sum per shard, then varies too; the cast's transpose sums them).
    Elsewhere (``pmap``, named ``vmap``, no axis) ``param`` itself."""
    if param is None or axis_name is None or axis_name not in _varying_axes(x):
        return param
    if axis_name in _varying_axes(param):
        return param
    return lax.pcast(param, axis_name, to="varying")


def _varying_axes(v) -> frozenset:
    """The ``shard_map`` mesh axes ``v`` varies over (empty outside ``shard_map``)."""
    kind = getattr(jax.typeof(v), "manual_axis_type", None)
    return frozenset(getattr(kind, "varying", None) or ())


def _check_eps(op, eps) -> float:
    return _args.check_number(op, "eps", eps, low=0, low_open=True, expect="a positive number",
                              hint="the usual value is 1e-5")


def _check_param(op: str, name: str, value, shape, what: str, x=None):
    if value is None:
        return None
    value = _args.as_float_array(op, name, value)
    if tuple(value.shape) != tuple(shape):
        hint = "" if x is None or value.ndim != 1 else _args.channels_last_hint(x, value.shape[0])
        raise ValueError(f"jaxconv.{op}: `{name}` must have shape {tuple(shape)} ({what}); got "
                         f"shape {tuple(value.shape)}. Pass one value per {what.split()[-1]}, "
                         f"or None.{hint}")
    return value


def _check_channels_first(op: str, x):
    x = _args.as_float_array(op, "x", x)
    if not 2 <= x.ndim <= 5:
        raise ValueError(f"jaxconv.{op}: `x` must be (N, C, *spatial) with 0-3 spatial axes; got "
                         f"shape {tuple(x.shape)}. Add the missing axes (e.g. x[None] for one "
                         "example).")
    return x


def _channel_config(x, eps, axis_name) -> NormConfig:
    c = x.shape[1]
    return NormConfig(tuple(x.shape), (0,) + tuple(range(2, x.ndim)),
                      (1, c) + (1,) * (x.ndim - 2), eps, axis_name)


def batch_norm_config(x, scale, bias, mean, var, training, momentum, eps, axis_name):
    op = "batch_norm"
    x = _check_channels_first(op, x)
    _args.check_bool(op, "training", training)
    _args.check_number(op, "momentum", momentum, low=0, high=1)
    eps = _check_eps(op, eps)
    c = x.shape[1]
    scale = _check_param(op, "scale", scale, (c,), "the channels C", x)
    bias = _check_param(op, "bias", bias, (c,), "the channels C", x)
    mean = _check_param(op, "mean", mean, (c,), "the running mean per channel C", x)
    var = _check_param(op, "var", var, (c,), "the running variance per channel C", x)
    if (mean is None) != (var is None):
        raise ValueError(f"jaxconv.{op}: pass both running statistics `mean` and `var`, or "
                         f"neither (training only); got mean={'None' if mean is None else 'array'}"
                         f", var={'None' if var is None else 'array'}.")
    if not training and mean is None:
        raise ValueError(f"jaxconv.{op}: training=False normalises with the running statistics; "
                         "pass `mean` and `var` (C,) arrays, or training=True.")
    per_channel = x.shape[0] * _args.prod(x.shape[2:])
    if training and per_channel == 1 and axis_name is None:
        raise ValueError(f"jaxconv.{op}: training needs more than one value per channel to "
                         f"compute a variance; got input shape {tuple(x.shape)} (N * spatial = "
                         "1). Use a batch of more than one example, or training=False.")
    return x, scale, bias, mean, var, _channel_config(x, eps, axis_name)


def batch_norm(x, scale, bias, mean, var, *, training, momentum=0.1, eps=1e-5, axis_name=None):
    """Batch normalisation (Ioffe & Szegedy), PyTorch's ``F.batch_norm``.

    ``training=True``: normalises each channel with the batch mean and biased variance over
    ``N`` and the spatial axes (derivation, Eq. 42) and returns the running
    statistics updated as PyTorch does (Eq. 45): ``(1 - momentum) * mean + momentum *
    batch_mean``, the variance with the unbiased batch variance. Backward Eq. 43-44.
    ``training=False``: normalises with ``mean`` and ``var`` and returns them unchanged;
    backward ``scale * delta / sigma`` (Eq. 46). No gradient flows into ``mean``/``var`` or out
    of the returned statistics.

    Args:
      x: ``(N, C, *S)``, 0-3 spatial axes, floating dtype (16-bit: statistics in float32).
      scale, bias: ``(C,)`` or None (no scale: 1; no bias: 0).
      mean, var: the running statistics ``(C,)``; may both be None when ``training``.
      training: bool (keyword).
      momentum: in [0, 1]; eps: positive, added to the variance.
      axis_name: a named axis (``shard_map``, ``pmap``, named ``vmap``) to average the batch
        statistics and the backward's two means over: synchronised batch norm (every shard
        the same size; a shard of one value per channel is then allowed, the statistics being
        the whole batch's).

    Returns:
      ``(y, new_mean, new_var)``: ``y`` of ``x``'s shape and dtype; the statistics ``(C,)`` in
      ``mean``'s dtype (None when no running statistics were given).

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> x = jnp.array([[[1.0, 3.0]], [[5.0, 7.0]]])                    # (N=2, C=1, L=2)
      >>> y, m, v = jc.batch_norm(x, None, None, jnp.zeros(1), jnp.ones(1), training=True)
      >>> [round(v, 3) for v in y.ravel().tolist()]
      [-1.342, -0.447, 0.447, 1.342]
      >>> round(m.item(), 3), round(v.item(), 3)     # 0.9 * (0, 1) + 0.1 * (4, 20 / 3)
      (0.4, 1.567)
    """
    x, scale, bias, mean, var, cfg = batch_norm_config(x, scale, bias, mean, var, training,
                                                       momentum, eps, axis_name)
    if mean is not None:
        mean, var = lax.stop_gradient(mean), lax.stop_gradient(var)
    scale, bias = _varying_like(x, scale, axis_name), _varying_like(x, bias, axis_name)
    if not training:
        return _normalise_eval(x, scale, bias, mean, var, cfg), mean, var
    y, mu, v = _normalise(x, scale, bias, cfg)
    if mean is None:
        return y, None, None
    count = x.shape[0] * _args.prod(x.shape[2:])
    if axis_name is not None:
        count = count * lax.psum(1, axis_name)
    mu, v = lax.stop_gradient(mu.reshape(-1)), lax.stop_gradient(v.reshape(-1))
    unbiased = v * (count / jnp.maximum(count - 1, 1))
    new_mean = ((1 - momentum) * mean.astype(mu.dtype) + momentum * mu).astype(mean.dtype)
    new_var = ((1 - momentum) * var.astype(mu.dtype) + momentum * unbiased).astype(var.dtype)
    return y, new_mean, new_var


def layer_norm_config(x, scale, bias, num_axes, eps):
    op = "layer_norm"
    x = _args.as_float_array(op, "x", x)
    _args.check_int(op, "num_axes", num_axes, minimum=1)
    if num_axes > x.ndim:
        raise ValueError(f"jaxconv.{op}: `num_axes` (={num_axes}) must be between 1 and x.ndim "
                         f"(={x.ndim}, shape {tuple(x.shape)}): the number of trailing axes to "
                         "normalise over.")
    eps = _check_eps(op, eps)
    feat = tuple(x.shape[x.ndim - num_axes:])
    scale = _check_param(op, "scale", scale, feat, f"x.shape[-{num_axes}:], the features")
    bias = _check_param(op, "bias", bias, feat, f"x.shape[-{num_axes}:], the features")
    lead = x.ndim - num_axes
    cfg = NormConfig(tuple(x.shape), tuple(range(lead, x.ndim)), (1,) * lead + feat, eps, None)
    return x, scale, bias, cfg


def layer_norm(x, scale=None, bias=None, *, num_axes=1, eps=1e-5):
    """Layer normalisation (Ba et al.): PyTorch's ``F.layer_norm(x, x.shape[-num_axes:], scale,
    bias, eps)``. Each leading index is normalised over the last ``num_axes`` axes
    (derivation, Eq. 42); backward Eq. 43-44.

    Args:
      x: any shape with at least ``num_axes`` axes, floating dtype.
      scale, bias: of shape ``x.shape[-num_axes:]``, or None.
      num_axes: how many trailing axes to normalise over (1 to ``x.ndim``).
      eps: positive, added to the variance.

    Returns:
      ``x``'s shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.layer_norm(jnp.array([[1.0, 2.0, 3.0]])).round(3)
      Array([[-1.225,  0.   ,  1.225]], dtype=float32)
    """
    x, scale, bias, cfg = layer_norm_config(x, scale, bias, num_axes, eps)
    return _normalise(x, scale, bias, cfg)[0]


def group_norm_config(x, num_groups, scale, bias, eps):
    op = "group_norm"
    x = _check_channels_first(op, x)
    _args.check_int(op, "num_groups", num_groups, minimum=1)
    c = x.shape[1]
    if c % num_groups:
        raise ValueError(f"jaxconv.{op}: `num_groups` (={num_groups}) must divide the channels "
                         f"C (={c}, input shape {tuple(x.shape)}); choose a divisor of {c} "
                         "(num_groups=C is instance norm).")
    eps = _check_eps(op, eps)
    scale = _check_param(op, "scale", scale, (c,), "the channels C", x)
    bias = _check_param(op, "bias", bias, (c,), "the channels C", x)
    n, g, s = x.shape[0], num_groups, tuple(x.shape[2:])
    view = (n, g, c // g) + s
    cfg = NormConfig(view, tuple(range(2, len(view))), (1, g, c // g) + (1,) * len(s), eps, None)
    return x, scale, bias, cfg


def group_norm(x, num_groups, scale=None, bias=None, *, eps=1e-5):
    """Group normalisation (Wu & He): PyTorch's ``F.group_norm``. Each example's channels are
    split into ``num_groups`` groups, each normalised over its ``C / num_groups`` channels and
    the spatial axes (derivation, Eq. 42); ``num_groups = C`` is instance norm,
    ``num_groups = 1`` layer norm over ``(C, *S)`` with per-channel affine. Backward Eq. 43-44.

    Args:
      x: ``(N, C, *S)``, 0-3 spatial axes, floating dtype.
      num_groups: a divisor of ``C``.
      scale, bias: ``(C,)`` or None.
      eps: positive, added to the variance.

    Returns:
      ``x``'s shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> x = jnp.array([[[1.0, 3.0], [0.0, 4.0]]])                      # (N=1, C=2, L=2)
      >>> jc.group_norm(x, 2).round(3)
      Array([[[-1.,  1.],
              [-1.,  1.]]], dtype=float32)
    """
    x, scale, bias, cfg = group_norm_config(x, num_groups, scale, bias, eps)
    return _normalise(x.reshape(cfg.view), scale, bias, cfg)[0].reshape(x.shape)


# jaxconv.autodiff.batch_norm / layer_norm / group_norm: the same functions, rules replaced
AUTODIFF = {"_normalise": forward, "_normalise_eval": eval_forward}


# ----- the registry entries ----------------------------------------------------------------------

def _scale_bias(params):
    """``(scale, bias)`` from the differentiable affine inputs given (none, scale, or both)."""
    return tuple(params) + (None,) * (2 - len(params))


def running_stats(case) -> tuple[np.ndarray, np.ndarray]:
    """Batch norm's fixed running ``(mean, var)`` for the channels of a case's input."""
    rng = np.random.default_rng(3)
    c = case.shapes[0][1]
    return rng.standard_normal(c) * 0.5, rng.random(c) + 0.5


def _call(ops, case):
    kw = case.kwargs
    if case.op == "batch_norm":        # the running statistics are not differentiable
        mean, var = running_stats(case)
        return lambda x, *affine: ops.batch_norm(x, *_scale_bias(affine), mean, var, **kw)[0]
    if case.op == "group_norm":
        groups = kw.pop("num_groups")
        return lambda x, *affine: ops.group_norm(x, groups, *_scale_bias(affine), **kw)
    return lambda x, *affine: ops.layer_norm(x, *_scale_bias(affine), **kw)


def _textbook(tb, case, inputs, delta):
    x, scale, bias = (list(inputs) + [None, None])[:3]
    opts = {k: v for k, v in case.kwargs.items() if k != "momentum"}
    if case.op == "batch_norm":
        opts["mean"], opts["var"] = running_stats(case)
    return tb.norm_backward(case.op, x, scale, bias, delta, **opts)[:len(inputs)]


def _batch_norm_cases(exhaustive):
    op, t = "batch_norm", ("training", True)
    return [_spec.Case(op, ((4, 3), (3,), (3,)), (t,)),
            _spec.Case(op, ((3, 2, 5), (2,), (2,)), (t, ("momentum", 0.3))),
            _spec.Case(op, ((2, 3, 4, 3), (3,), (3,)), (t,)),
            _spec.Case(op, ((2, 2, 3, 2, 3),), (t, ("eps", 0.1))),
            _spec.Case(op, ((2, 3, 4, 3), (3,), (3,)), (("training", False),)),
            _spec.Case(op, ((3, 2, 5), (2,)), (("training", False), ("eps", 0.1)))]


def _group_norm_cases(exhaustive):
    op = "group_norm"
    return [_spec.Case(op, ((2, 6, 5), (6,), (6,)), (("num_groups", 3),)),
            _spec.Case(op, ((2, 4, 3, 3), (4,), (4,)), (("num_groups", 1),)),
            _spec.Case(op, ((2, 4, 3, 3),), (("num_groups", 4),)),             # instance norm
            _spec.Case(op, ((2, 2, 2, 3, 2), (2,), (2,)), (("num_groups", 2), ("eps", 0.01)))]


def _layer_norm_cases(exhaustive):
    op = "layer_norm"
    return [_spec.Case(op, ((3, 4, 5), (5,), (5,))),
            _spec.Case(op, ((3, 4, 5), (4, 5), (4, 5)), (("num_axes", 2),)),
            _spec.Case(op, ((2, 3, 4, 3),), (("num_axes", 3), ("eps", 1e-3))),
            _spec.Case(op, ((6,), (6,)), (("num_axes", 1),))]


SPECS = (
    _spec.OpSpec(batch_norm, kind="normalisation", cases=_batch_norm_cases, call=_call,
                 textbook=_textbook, pytorch="F.batch_norm",
                 rule=("`x̂ = (x - μ)/σ` over `N` and the spatial axes per channel, "
                       "`y = scale·x̂ + bias`; running statistics updated with the unbiased "
                       "variance (Eq. 42, 45); eval mode: the running statistics",
                       "`(g - mean(g) - x̂·mean(g x̂))/σ`, `g = scale·delta`; `Σ delta x̂`, "
                       "`Σ delta` (Eq. 43-44); eval mode `scale·delta/σ` (Eq. 46); with "
                       "`axis_name`, the means over every device",
                       "`x`, per-channel `μ`, `1/σ`"),
                 examples=(_spec.Example(
                     "batch_norm", lambda ops, x, s, b: ops.batch_norm(   # NumPy statistics
                         x, s, b, np.zeros(3), np.ones(3), training=True)[0],
                     ((4, 3, 5), (3,), (3,))),)),
    _spec.OpSpec(group_norm, kind="normalisation", cases=_group_norm_cases, call=_call,
                 textbook=_textbook, pytorch="F.group_norm",
                 rule=("the same over each example's groups of `C/G` channels and the "
                       "spatial axes (Eq. 42)",
                       "the same rule, one implementation for all three norms (Eq. 43-44)",
                       "`x`, per-group `μ`, `1/σ`"),
                 examples=(_spec.Example("group_norm",
                                         lambda ops, x, s, b: ops.group_norm(x, 2, s, b),
                                         ((2, 4, 5), (4,), (4,))),)),
    _spec.OpSpec(layer_norm, kind="normalisation", cases=_layer_norm_cases, call=_call,
                 textbook=_textbook, pytorch="F.layer_norm",
                 rule=("the same over the last `num_axes` axes of each example (Eq. 42)",
                       "the same rule (Eq. 43-44)", "`x`, per-example `μ`, `1/σ`"),
                 examples=(_spec.Example("layer_norm",
                                         lambda ops, x, s, b: ops.layer_norm(x, s, b),
                                         ((3, 4), (4,), (4,))),)),
)
