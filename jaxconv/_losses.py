r"""Losses, each with its hand-written gradient.

MSE (000, Eq. 9), ``y`` and ``t`` of any one shape ``(*S)``::

    E = 1/2 sum_p (t_p - y_p)^2                     reduction="sum" (Eq. 9 literally)
    E = 1/(2P) sum_p (t_p - y_p)^2                  reduction="mean", P = number of elements
    dE/dy = (y - t) [/ P],   dE/dt = (t - y) [/ P]  residual: y - t (float32 for 16-bit)

Softmax cross-entropy, logits ``z`` ``(N, K)``, labels either integer class ids ``(N,)`` or
probabilities ``(N, K)`` (``t``; a one-hot row for an integer label)::

    E_n = logsumexp(z_n) * sum_k t_nk - sum_k t_nk z_nk = -sum_k t_nk log softmax(z_n)_k
    dE_n/dz_n = softmax(z_n) * sum_k t_nk - t_n     (= softmax(z_n) - onehot(t_n), 003/DESIGN)
    dE_n/dt_n = -log softmax(z_n)                   (probability labels only)

``"mean"`` divides by ``N``, ``"sum"`` does not, ``"none"`` returns the ``(N,)`` losses. The
log-softmax is computed as ``z - max(z) - log(sum(exp(z - max(z))))``, so logits of +-1e4 give
finite losses and gradients. Residuals: the log-softmax ``(N, K)`` and the labels.

An integer label outside ``[0, K)`` raises ``ValueError`` when the labels are concrete; under
``jit`` (traced labels) that example's loss and gradient are NaN instead, so it cannot pass
unnoticed.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _args

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"jaxconv.{op}: `reduction` (={reduction!r}) must be one of "
                         f"{', '.join(map(repr, _REDUCTIONS))}.")


def _reduce(per_item, reduction, count):
    """``"none"``, ``"sum"``, or ``"mean"`` over ``count`` items (NaN for none, as PyTorch)."""
    if reduction == "none":
        return per_item
    total = jnp.sum(per_item)
    if reduction == "sum":
        return total
    return total / count if count else jnp.full((), jnp.nan, total.dtype)


def _scale(reduction, count):
    """dE/d(per_item) for the reduction: ``1/count`` for "mean", else 1."""
    return 1.0 / count if reduction == "mean" and count else 1.0


# ----------------------------------------------------------------------------------------------
# MSE (Eq. 9)

class MseConfig(NamedTuple):
    reduction: str
    dtype: str          # the inputs' dtype (the residual is float32 for 16-bit inputs)


def mse_forward(y, t, cfg: MseConfig):
    d = y.astype(_args.acc_dtype(y.dtype)) - t.astype(_args.acc_dtype(t.dtype))
    return _reduce(0.5 * d * d, cfg.reduction, y.size).astype(y.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _mse(y, t, cfg):
    return mse_forward(y, t, cfg)


# _mse_fwd :: (y, t) -> (E, y - t)
def _mse_fwd(y, t, cfg):
    acc = _args.acc_dtype(y.dtype)
    return mse_forward(y, t, cfg), y.astype(acc) - t.astype(acc)


# _mse_bwd :: (cfg, y - t, CT E) -> (CT y, CT t)
def _mse_bwd(cfg, diff, g):
    g = g.astype(diff.dtype)
    g = g if cfg.reduction == "none" else g * _scale(cfg.reduction, diff.size)
    dy = g * diff
    return dy.astype(cfg.dtype), (-dy).astype(cfg.dtype)


_mse.defvjp(_mse_fwd, _mse_bwd)


def _mse_check(y, t, reduction):
    _args.check_float("mse", "y", y)
    _args.check_float("mse", "t", t)
    _args.check_same_dtype("mse", y=y, t=t)
    if y.shape != t.shape:
        raise ValueError(f"jaxconv.mse: `y` {tuple(y.shape)} and `t` {tuple(t.shape)} must have "
                         "the same shape (no broadcasting); one-hot encode class labels or reshape "
                         "the targets.")
    _check_reduction("mse", reduction)


def _make_mse(impl):
    def mse(y, t, reduction="sum"):
        r"""Squared error of 000 Eq. 9: :math:`E = \tfrac12 \sum_p (t_p - y_p)^2`.

        Backward ``dE/dy = y - t`` (divided by the element count for ``"mean"``).

        Args:
          y: predictions, any shape, floating dtype.
          t: targets, same shape and dtype as ``y``.
          reduction: ``"sum"`` (Eq. 9), ``"mean"`` (divided by ``y.size``) or ``"none"``.

        Returns:
          A scalar, or ``y``'s shape for ``"none"``.
        """
        _mse_check(y, t, reduction)
        return impl(y, t, MseConfig(reduction, jnp.dtype(y.dtype).name))
    return mse


# ----------------------------------------------------------------------------------------------
# Softmax cross-entropy

class XentConfig(NamedTuple):
    reduction: str
    dtype: str          # the logits' dtype (the log-softmax residual is kept in float32 for 16-bit)


def _finite_where_unused(t, ls):
    """``ls`` with ``-inf`` replaced by 0 where ``t == 0``: a class of probability 0 adds
    nothing, even when its logit is -inf (``0 * log 0 = 0``, as in PyTorch)."""
    return jnp.where((t == 0) & jnp.isneginf(ls), jnp.zeros((), ls.dtype), ls)


def _log_softmax(z):
    s = z - jnp.max(z, axis=1, keepdims=True)
    return s - jnp.log(jnp.sum(jnp.exp(s), axis=1, keepdims=True))


def _targets(labels, k, dtype):
    """``(t, valid)``: probability rows ``(N, K)`` and a per-example validity mask or None."""
    if jnp.issubdtype(labels.dtype, jnp.integer):
        valid = (labels >= 0) & (labels < k)
        return jax.nn.one_hot(labels, k, dtype=dtype), valid
    return labels.astype(dtype), None


def _xent_parts(z, labels, cfg: XentConfig):
    """``(E, log_softmax(z))`` for logits ``(N, K)`` and labels ``(N,)`` or ``(N, K)``."""
    ls = _log_softmax(z.astype(_args.acc_dtype(z.dtype)))
    t, valid = _targets(labels, z.shape[1], ls.dtype)
    per = -jnp.sum(t * _finite_where_unused(t, ls), axis=1)
    if valid is not None:
        per = jnp.where(valid, per, jnp.nan)
    return _reduce(per, cfg.reduction, z.shape[0]).astype(z.dtype), ls


def xent_forward(z, labels, cfg: XentConfig):
    return _xent_parts(z, labels, cfg)[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _xent(z, labels, cfg):
    return xent_forward(z, labels, cfg)


# _xent_fwd :: (z, labels) -> (E, (log_softmax(z), labels))
def _xent_fwd(z, labels, cfg):
    loss, ls = _xent_parts(z, labels, cfg)
    return loss, (ls, labels)


# _xent_bwd :: (cfg, (log_softmax, labels), CT E) -> (CT z, CT labels)
def _xent_bwd(cfg, res, g):
    ls, labels = res
    n, k = ls.shape
    t, valid = _targets(labels, k, ls.dtype)
    gn = (g if cfg.reduction == "none" else jnp.broadcast_to(g, (n,))).astype(ls.dtype)
    gn = gn * _scale(cfg.reduction, n)
    dz = (jnp.exp(ls) * jnp.sum(t, axis=1, keepdims=True) - t) * gn[:, None]
    if valid is not None:                    # integer labels: no cotangent for them
        return jnp.where(valid[:, None], dz, jnp.nan).astype(cfg.dtype), None
    dt = -_finite_where_unused(t, ls) * gn[:, None]
    return dz.astype(cfg.dtype), dt.astype(labels.dtype)


_xent.defvjp(_xent_fwd, _xent_bwd)


def xent_config(logits, labels, reduction) -> XentConfig:
    op = "softmax_cross_entropy"
    _args.check_float(op, "logits", logits)
    _args.check_ndim(op, "logits", logits, 2, "(N, num_classes)")
    _check_reduction(op, reduction)
    n, k = logits.shape
    dtype = getattr(labels, "dtype", None)
    if dtype is None:
        raise TypeError(f"jaxconv.{op}: `labels` must be an array of class ids (N,) or of "
                        f"probabilities (N, K); got {type(labels).__name__}.")
    if jnp.issubdtype(dtype, jnp.integer):
        if tuple(labels.shape) != (n,):
            raise ValueError(f"jaxconv.{op}: integer `labels` must have shape ({n},) (one class id "
                             f"per row of logits {tuple(logits.shape)}); "
                             f"got {tuple(labels.shape)}.")
        if not isinstance(labels, jax.core.Tracer) and labels.size:
            lo, hi = int(np.min(labels)), int(np.max(labels))
            if lo < 0 or hi >= k:
                raise ValueError(f"jaxconv.{op}: `labels` must be class ids in [0, {k}) for "
                                 f"{k} classes; got values in [{lo}, {hi}].")
    elif jnp.issubdtype(dtype, jnp.floating):
        if tuple(labels.shape) != (n, k):
            raise ValueError(f"jaxconv.{op}: probability `labels` must have the logits' shape "
                             f"({n}, {k}); got {tuple(labels.shape)}. Pass integer class ids "
                             "of shape (N,) instead if they are not probabilities.")
        _args.check_same_dtype(op, logits=logits, labels=labels)
    else:
        raise TypeError(f"jaxconv.{op}: `labels` has dtype {dtype}; expected integer class ids "
                        "or floating probabilities.")
    return XentConfig(reduction, jnp.dtype(logits.dtype).name)


def _make_xent(impl):
    def softmax_cross_entropy(logits, labels, reduction="mean"):
        r"""Softmax cross-entropy, numerically stable for large logits.

        .. math::
            E_n = -\sum_k t_{nk} \log \mathrm{softmax}(z_n)_k, \qquad
            rac{\partial E_n}{\partial z_n} = \mathrm{softmax}(z_n) - t_n

        Args:
          logits: ``(N, K)``, floating dtype.
          labels: integer class ids ``(N,)`` in ``[0, K)``, or probabilities ``(N, K)``
            (then also differentiable).
          reduction: ``"mean"`` (over ``N``), ``"sum"`` or ``"none"`` (the ``(N,)`` losses).

        Returns:
          A scalar, or ``(N,)`` for ``"none"``.
        """
        return impl(logits, labels, xent_config(logits, labels, reduction))
    return softmax_cross_entropy


mse = _make_mse(_mse)
mse_autodiff = _make_mse(mse_forward)
softmax_cross_entropy = _make_xent(_xent)
softmax_cross_entropy_autodiff = _make_xent(xent_forward)
