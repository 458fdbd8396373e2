r"""Losses, each with its hand-written gradient.

MSE (derivation, Eq. 28), ``y`` and ``t`` of any one shape ``(*S)``::

    E = 1/2 sum_p (t_p - y_p)^2                     reduction="sum" (Eq. 28 literally)
    E = 1/(2P) sum_p (t_p - y_p)^2                  reduction="mean", P = number of elements
    dE/dy = (y - t) [/ P],   dE/dt = (t - y) [/ P]  residual: y - t (float32 for 16-bit)

Softmax cross-entropy, logits ``z`` ``(N, K)``, labels either integer class ids ``(N,)`` or
probabilities ``(N, K)`` (``t``; a one-hot row for an integer label)::

    E_n = logsumexp(z_n) * sum_k t_nk - sum_k t_nk z_nk = -sum_k t_nk log softmax(z_n)_k
    dE_n/dz_n = softmax(z_n) * sum_k t_nk - t_n     (= softmax(z_n) - onehot(t_n), Eq. 31)
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

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    _args.check_choice(op, "reduction", reduction, _REDUCTIONS)


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
# Losses of the difference d = y - t: MSE (Eq. 28) and Huber (Eq. 29), one rule

class DiffConfig(NamedTuple):
    reduction: str
    dtype: str                    # the inputs' dtype (the residual is float32 for 16-bit inputs)
    delta: float | None = None    # None: MSE; else Huber's threshold


def _difference(y, t):
    acc = _args.acc_dtype(y.dtype)
    return y.astype(acc) - t.astype(acc)


def difference_forward(y, t, cfg: DiffConfig):
    """``(*S), (*S) -> ()`` or ``(*S)``: the reduced ``d^2 / 2`` (MSE, Eq. 28), or Huber's
    ``d^2 / 2`` where ``|d| < delta``, else ``delta (|d| - delta/2)``; ``d = y - t``."""
    d = _difference(y, t)
    if cfg.delta is None:
        per = 0.5 * d * d
    else:
        ad = jnp.abs(d)
        per = jnp.where(ad < cfg.delta, 0.5 * d * d, cfg.delta * (ad - 0.5 * cfg.delta))
    return _reduce(per, cfg.reduction, y.size).astype(y.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _difference_loss(y, t, cfg):
    return difference_forward(y, t, cfg)


# _difference_fwd :: (y, t) -> (E, y - t)
def _difference_fwd(y, t, cfg):
    return difference_forward(y, t, cfg), _difference(y, t)


# _difference_bwd :: (cfg, y - t, CT E) -> (CT y, CT t): dE/dy = d (MSE) or clip(d, -delta,
# delta) (Huber), times the reduction's scale; dE/dt = -dE/dy
def _difference_bwd(cfg, d, g):
    g = jnp.asarray(g).astype(d.dtype) * _scale(cfg.reduction, d.size)
    slope = d if cfg.delta is None else jnp.where(jnp.abs(d) < cfg.delta, d,
                                                   cfg.delta * jnp.sign(d))
    dy = slope * g
    return dy.astype(cfg.dtype), (-dy).astype(cfg.dtype)


_difference_loss.defvjp(_difference_fwd, _difference_bwd)


def _elementwise_loss(op, y, t, reduction, names=("y", "t"), hint="reshape one of them"):
    """The checks every element-wise loss shares: floating ``y`` and ``t`` (arrays or Python
    floats) of one dtype and one shape (no broadcasting), a known reduction; returns them as
    arrays."""
    yn, tn = names
    y = _args.as_float_array(op, yn, y)
    t = _args.as_float_array(op, tn, t)
    _args.check_same_dtype(op, **{yn: y, tn: t})
    if y.shape != t.shape:
        raise ValueError(f"jaxconv.{op}: `{yn}` {tuple(y.shape)} and `{tn}` {tuple(t.shape)} must "
                         f"have the same shape (no broadcasting); {hint}.")
    _check_reduction(op, reduction)
    return y, t


def mse(y, t, reduction="sum"):
    r"""Squared error :math:`E = \tfrac12 \sum_p (t_p - y_p)^2` (derivation, Eq. 28).

    Backward ``dE/dy = y - t`` (divided by the element count for ``"mean"``).

    Args:
      y: predictions, any shape, floating dtype.
      t: targets, same shape and dtype as ``y``.
      reduction: ``"sum"`` (Eq. 28), ``"mean"`` (divided by ``y.size``) or ``"none"``.

    Returns:
      A scalar, or ``y``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.mse(jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0]))
      Array(2.5, dtype=float32)
    """
    y, t = _elementwise_loss("mse", y, t, reduction,
                             hint="one-hot encode class labels or reshape the targets")
    return _difference_loss(y, t, DiffConfig(reduction, jnp.dtype(y.dtype).name))


def huber(y, t, reduction="mean", *, delta=1.0):
    r"""Huber loss (PyTorch's ``HuberLoss``): quadratic within ``delta``, linear beyond.

    .. math::
        E = \begin{cases} \tfrac12 d^2 & |d| < \delta \\
             \delta (|d| - \tfrac12 \delta) & \text{else} \end{cases}, \quad
        \frac{\partial E}{\partial y} = \mathrm{clip}(d, -\delta, \delta), \quad d = y - t

    (derivation, Eq. 29.)

    Args:
      y: predictions, any shape, floating dtype.
      t: targets, same shape and dtype as ``y``.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.
      delta: the threshold, > 0.

    Returns:
      A scalar, or ``y``'s shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.huber(jnp.array([0.5, 3.0]), jnp.array([0.0, 0.0]), "sum")
      Array(2.625, dtype=float32)
    """
    y, t = _elementwise_loss("huber", y, t, reduction)
    delta = _args.check_number("huber", "delta", delta, low=0, low_open=True,
                               expect="a positive number")
    return _difference_loss(y, t, DiffConfig(reduction, jnp.dtype(y.dtype).name, delta))


# ----------------------------------------------------------------------------------------------
# Softmax cross-entropy

class XentConfig(NamedTuple):
    reduction: str
    dtype: str                # the logits' dtype (float32 residuals for 16-bit logits)
    smoothing: float          # label smoothing epsilon
    ignore_index: int | None  # integer labels equal to it contribute nothing
    weighted: bool            # per-example weights given


def _finite_where_unused(t, ls):
    """``ls`` with ``-inf`` replaced by 0 where ``t == 0``: a class of probability 0 adds
    nothing, even when its logit is -inf (``0 * log 0 = 0``, as in PyTorch)."""
    return jnp.where((t == 0) & jnp.isneginf(ls), jnp.zeros((), ls.dtype), ls)


def _log_softmax(z):
    s = z - jnp.max(z, axis=1, keepdims=True)
    return s - jnp.log(jnp.sum(jnp.exp(s), axis=1, keepdims=True))


def _targets(labels, k, dtype, cfg: XentConfig):
    """``(t, kept, bad)``: smoothed probability rows ``(N, K)``; rows that count (not ignored);
    rows with an out-of-range class id (their loss and gradient are NaN). None: all / none."""
    kept = bad = None
    if jnp.issubdtype(labels.dtype, jnp.integer):
        t = jax.nn.one_hot(labels, k, dtype=dtype)
        bad = (labels < 0) | (labels >= k)
        if cfg.ignore_index is not None:
            kept = labels != cfg.ignore_index
            bad = bad & kept
    else:
        t = labels.astype(dtype)
    if cfg.smoothing:
        t = t * (1 - cfg.smoothing) + cfg.smoothing / k
    return t, kept, bad


def _example_weights(n, weights, kept, dtype):
    """Per-example weights with ignored rows at 0: ``(N,)``."""
    w = jnp.ones((n,), dtype) if weights is None else weights.astype(dtype)
    return w if kept is None else jnp.where(kept, w, jnp.zeros((), dtype))


def _xent_parts(z, labels, weights, cfg: XentConfig):
    """``(E, log_softmax(z), per-example losses, weights, normaliser)``."""
    ls = _log_softmax(z.astype(_args.acc_dtype(z.dtype)))
    n, k = ls.shape
    t, kept, bad = _targets(labels, k, ls.dtype, cfg)
    per = -jnp.sum(t * _finite_where_unused(t, ls), axis=1)
    if kept is not None:
        per = jnp.where(kept, per, jnp.zeros((), per.dtype))
    if bad is not None:
        per = jnp.where(bad, jnp.nan, per)
    w = _example_weights(n, weights, kept, ls.dtype)
    total = jnp.sum(w)
    if cfg.reduction == "none":
        loss = w * per
    elif cfg.reduction == "sum":
        loss = jnp.sum(w * per)
    else:       # PyTorch: the weighted mean, over the examples that are not ignored
        loss = jnp.sum(w * per) / total
    return loss.astype(z.dtype), ls, per, w, total


def xent_forward(z, labels, weights, cfg: XentConfig):
    return _xent_parts(z, labels, weights, cfg)[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _xent(z, labels, weights, cfg):
    return xent_forward(z, labels, weights, cfg)


# _xent_fwd :: (z, labels, weights) -> (E, (log_softmax, labels, per-example losses, weights))
def _xent_fwd(z, labels, weights, cfg):
    loss, ls, per, w, total = _xent_parts(z, labels, weights, cfg)
    return loss, (ls, labels, per if cfg.weighted else None, w, total)


# _xent_bwd :: (cfg, residuals, CT E) -> (CT z, CT labels, CT weights)
def _xent_bwd(cfg, res, g):
    ls, labels, per, w, total = res
    n, k = ls.shape
    t, kept, bad = _targets(labels, k, ls.dtype, cfg)
    g = jnp.asarray(g).astype(ls.dtype)
    if cfg.reduction == "none":
        gn = g
    elif cfg.reduction == "sum":
        gn = jnp.broadcast_to(g, (n,))
    else:
        gn = jnp.broadcast_to(g / total, (n,))
    scale = (w * gn)[:, None]                           # dE/d(per_n) = w_n * g_n
    dz = (jnp.exp(ls) * jnp.sum(t, axis=1, keepdims=True) - t) * scale
    if bad is not None:
        dz = jnp.where(bad[:, None], jnp.nan, dz)
    dw = None
    if cfg.weighted:                                    # d(w_n per_n)/dw_n, and the mean's 1/sum w
        if cfg.reduction == "mean":
            dw = (per - jnp.sum(w * per) / total) * gn
        else:
            dw = per * gn
        if kept is not None:
            dw = jnp.where(kept, dw, jnp.zeros((), dw.dtype))
        dw = dw.astype(cfg.dtype)
    if jnp.issubdtype(labels.dtype, jnp.integer):       # class ids: no cotangent
        return dz.astype(cfg.dtype), None, dw
    dt = -(1 - cfg.smoothing) * _finite_where_unused(t, ls) * scale
    return dz.astype(cfg.dtype), dt.astype(labels.dtype), dw


_xent.defvjp(_xent_fwd, _xent_bwd)


def xent_config(logits, labels, reduction, label_smoothing=0.0, ignore_index=None,
                weights=None) -> XentConfig:
    op = "softmax_cross_entropy"
    _args.check_float(op, "logits", logits)
    _args.check_ndim(op, "logits", logits, 2, "(N, num_classes)")
    _check_reduction(op, reduction)
    n, k = logits.shape
    dtype = getattr(labels, "dtype", None)
    if dtype is None:
        raise TypeError(f"jaxconv.{op}: `labels` must be an array of class ids (N,) or of "
                        f"probabilities (N, K); got {type(labels).__name__}.")
    label_smoothing = _args.check_number(op, "label_smoothing", label_smoothing, low=0, high=1)
    ignore_index = _args.check_int(op, "ignore_index", ignore_index, optional=True,
                                   expect="None or an int class id")
    if jnp.issubdtype(dtype, jnp.integer):
        if tuple(labels.shape) != (n,):
            raise ValueError(f"jaxconv.{op}: integer `labels` must have shape ({n},) (one class id "
                             f"per row of logits {tuple(logits.shape)}); "
                             f"got {tuple(labels.shape)}.")
        if not isinstance(labels, jax.core.Tracer) and labels.size:
            used = np.asarray(labels)
            if ignore_index is not None:
                used = used[used != ignore_index]
            if used.size and (used.min() < 0 or used.max() >= k):
                raise ValueError(f"jaxconv.{op}: `labels` must be class ids in [0, {k}) for "
                                 f"{k} classes" + (f" (or ignore_index={ignore_index})"
                                                   if ignore_index is not None else "")
                                 + f"; got values in [{int(used.min())}, {int(used.max())}].")
    elif jnp.issubdtype(dtype, jnp.floating):
        if tuple(labels.shape) != (n, k):
            raise ValueError(f"jaxconv.{op}: probability `labels` must have the logits' shape "
                             f"({n}, {k}); got {tuple(labels.shape)}. Pass integer class ids "
                             "of shape (N,) instead if they are not probabilities.")
        if ignore_index is not None:
            raise ValueError(f"jaxconv.{op}: `ignore_index` applies to integer class ids only; "
                             "give ignored rows zero `weights` instead.")
        _args.check_same_dtype(op, logits=logits, labels=labels)
    else:
        raise TypeError(f"jaxconv.{op}: `labels` has dtype {dtype}; expected integer class ids "
                        "or floating probabilities.")
    if weights is not None:
        _args.check_float(op, "weights", weights)
        if tuple(weights.shape) != (n,):
            raise ValueError(f"jaxconv.{op}: `weights` must have shape ({n},), one per example; "
                             f"got {tuple(weights.shape)}. For PyTorch's per-class weights pass "
                             "class_weights[labels].")
    return XentConfig(reduction, jnp.dtype(logits.dtype).name, float(label_smoothing),
                      None if ignore_index is None else int(ignore_index), weights is not None)


def softmax_cross_entropy(logits, labels, reduction="mean", *, label_smoothing=0.0,
                          ignore_index=None, weights=None):
    r"""Softmax cross-entropy, numerically stable for large logits (derivation,
    Eq. 30-31).

    .. math::
        E_n = -\sum_k t_{nk} \log \mathrm{softmax}(z_n)_k, \qquad
        \frac{\partial E_n}{\partial z_n} = \mathrm{softmax}(z_n) \sum_k t_{nk} - t_n

    Args:
      logits: ``(N, K)``, floating dtype.
      labels: integer class ids ``(N,)`` in ``[0, K)``, or probabilities ``(N, K)``
        (then also differentiable).
      reduction: ``"mean"``, ``"sum"`` or ``"none"`` (the ``(N,)`` weighted losses).
      label_smoothing: ``t = (1 - eps) t + eps / K``, as PyTorch.
      ignore_index: integer labels equal to it add nothing and are not counted in the mean.
      weights: per-example weights ``(N,)`` (differentiable); ``"mean"`` is then
        ``sum(w_n E_n) / sum(w_n)`` over the examples not ignored, as PyTorch's weighted
        mean.

    Returns:
      A scalar, or ``(N,)`` for ``"none"``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.softmax_cross_entropy(jnp.zeros((2, 4)), jnp.array([0, 3]))
      Array(1.3862944, dtype=float32)
    """
    cfg = xent_config(logits, labels, reduction, label_smoothing, ignore_index, weights)
    return _xent(logits, labels, weights, cfg)


# ----------------------------------------------------------------------------------------------
# Sigmoid binary cross-entropy and Huber: elementwise losses of one shape ``(*S)``

class ElementConfig(NamedTuple):
    reduction: str
    dtype: str


def bce_forward(z, t, cfg: ElementConfig):
    """``max(z, 0) - z t + log(1 + exp(-|z|))``, the stable form of
    ``-(t log s(z) + (1 - t) log(1 - s(z)))``."""
    acc = _args.acc_dtype(z.dtype)
    za, ta = z.astype(acc), t.astype(acc)
    per = jnp.maximum(za, 0) - za * ta + jnp.log1p(jnp.exp(-jnp.abs(za)))
    return _reduce(per, cfg.reduction, z.size).astype(z.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _bce(z, t, cfg):
    return bce_forward(z, t, cfg)


# _bce_fwd :: (z, t) -> (E, (z, t))
def _bce_fwd(z, t, cfg):
    return bce_forward(z, t, cfg), (z, t)


# _bce_bwd :: (cfg, (z, t), CT E) -> (CT z, CT t):  dE/dz = s(z) - t,  dE/dt = -z
def _bce_bwd(cfg, res, g):
    z, t = res
    acc = _args.acc_dtype(z.dtype)
    g = jnp.asarray(g).astype(acc) * _scale(cfg.reduction, z.size)
    za = z.astype(acc)
    dz = (jax.nn.sigmoid(za) - t.astype(acc)) * g
    return dz.astype(cfg.dtype), (-za * g).astype(cfg.dtype)


_bce.defvjp(_bce_fwd, _bce_bwd)


def sigmoid_binary_cross_entropy(logits, targets, reduction="mean"):
    r"""Binary cross-entropy on logits (PyTorch's ``binary_cross_entropy_with_logits``).

    .. math::
        E = \max(z, 0) - z t + \log(1 + e^{-|z|}), \qquad
        \frac{\partial E}{\partial z} = \sigma(z) - t

    (derivation, Eq. 32.)

    Args:
      logits: any shape, floating dtype.
      targets: same shape, values in [0, 1] (differentiable: ``dE/dt = -z``).
      reduction: ``"mean"`` (over every element), ``"sum"`` or ``"none"``.

    Returns:
      A scalar, or ``logits``' shape for ``"none"``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.sigmoid_binary_cross_entropy(jnp.zeros(2), jnp.ones(2))
      Array(0.6931472, dtype=float32)
    """
    logits, targets = _elementwise_loss("sigmoid_binary_cross_entropy", logits, targets,
                                        reduction, names=("logits", "targets"))
    return _bce(logits, targets, ElementConfig(reduction, jnp.dtype(logits.dtype).name))


# jaxconv.autodiff's losses: the same functions with the rules replaced by the plain forwards
AUTODIFF = {"_difference_loss": difference_forward, "_xent": xent_forward, "_bce": bce_forward}


# ----- the registry entries ----------------------------------------------------------------------

def _reductions(op, extra=()):
    return lambda exhaustive: [_spec.Case(op, ((4, 3), (4, 3)), (("reduction", r),) + extra)
                               for r in ("sum", "mean", "none")]


def _mse_condition(case, arrays, rng):
    arrays[1] = arrays[1] * 0.5
    return arrays


def _mse_textbook(tb, case, inputs, delta):
    g = tb.mse_backward(*inputs, reduction=case.kwargs["reduction"]) * np.asarray(delta)
    return (g, -g)


def _huber_textbook(tb, case, inputs, delta):
    dy, dt = tb.huber_backward(*inputs, **case.kwargs)
    return (dy * np.asarray(delta), dt * np.asarray(delta))


def _bce_condition(case, arrays, rng):
    arrays[1] = 1 / (1 + np.exp(-arrays[1]))         # targets in (0, 1)
    return arrays


def _bce_textbook(tb, case, inputs, delta):
    dz, dt = tb.sigmoid_binary_cross_entropy_backward(*inputs, **case.kwargs)
    return (dz * np.asarray(delta), dt * np.asarray(delta))


def int_labels(case) -> np.ndarray:
    """The fixed integer labels of an ``"int"`` cross-entropy case."""
    n, k = case.shapes[0]
    return np.random.default_rng(1).integers(0, k, size=n)


def _xent_cases(exhaustive):
    def case(shapes, labels, **kw):
        return _spec.Case("softmax_cross_entropy", shapes, tuple(kw.items()), labels)
    z, zz, zw = ((6, 5),), ((6, 5), (6, 5)), ((6, 5), (6,))
    return ([case(z, "int", reduction=r) for r in ("mean", "sum", "none")]
            + [case(zz, "prob", reduction=r) for r in ("mean", "none")]
            + [case(z, "int", reduction="mean", label_smoothing=0.1),
               case(z, "int", reduction="mean", ignore_index=2),
               case(zw, "int", reduction="mean", ignore_index=2),       # per-example weights
               case(zw, "int", reduction="sum"),
               case(zz, "prob", reduction="mean", label_smoothing=0.2)])


def _xent_condition(case, arrays, rng):
    if case.labels == "int" and len(arrays) == 2:
        arrays[1] = np.abs(arrays[1]) + 0.5              # per-example weights, positive
    if case.labels == "prob":
        e = np.exp(arrays[1])
        arrays[1] = e / e.sum(axis=1, keepdims=True)
    return arrays


def _xent_call(ops, case):
    kw = case.kwargs
    if case.labels != "int":
        return lambda z, p: ops.softmax_cross_entropy(z, p, **kw)
    labels = int_labels(case)
    if len(case.shapes) == 2:                       # logits and per-example weights
        return lambda z, w: ops.softmax_cross_entropy(z, labels, **kw, weights=w)
    return lambda z: ops.softmax_cross_entropy(z, labels, **kw)


def _xent_judged(case):    # no oracle for label and weight gradients; autodiff covers them
    return case.labels == "int" and len(case.shapes) == 1


def _xent_textbook(tb, case, inputs, delta):
    d = np.asarray(delta, np.float64)
    dz = tb.softmax_cross_entropy_backward(inputs[0], int_labels(case), **case.kwargs)
    return (dz * (d[:, None] if case.kwargs["reduction"] == "none" else d),)


SPECS = (
    _spec.OpSpec(mse, kind="loss", cases=_reductions("mse"), condition=_mse_condition,
                 textbook=_mse_textbook, pytorch="F.mse_loss",
                 rule=("`E = ½ Σ (t - y)²` (Eq. 28)", "`dE/dy = y - t`, `dE/dt = t - y` (Eq. 28)",
                       "`y - t`"),
                 examples=(_spec.Example("mse", lambda ops, y, t: ops.mse(y, t, reduction="mean"),
                                         ((2, 5), (2, 5))),)),
    _spec.OpSpec(huber, kind="loss", cases=_reductions("huber", (("delta", 0.7),)),
                 textbook=_huber_textbook, pytorch="F.huber_loss",
                 rule=("`E = Σ ½ d²` where `|d| < δ`, else `δ (|d| - ½ δ)`, `d = y - t` "
                       "(Eq. 29)", "`dE/dy = clip(d, -δ, δ) = -dE/dt` (Eq. 29)", "`y - t`"),
                 examples=(_spec.Example("huber", lambda ops, y, t: ops.huber(y, t),
                                         ((3, 4), (3, 4))),)),
    _spec.OpSpec(sigmoid_binary_cross_entropy, kind="loss",
                 cases=_reductions("sigmoid_binary_cross_entropy"), condition=_bce_condition,
                 textbook=_bce_textbook, pytorch="F.binary_cross_entropy_with_logits",
                 rule=("`E = max(z, 0) - z t + log(1 + e^(-|z|))` (Eq. 32)",
                       "`dE/dz = s(z) - t`, `dE/dt = -z` (Eq. 32)", "`z`, `t`"),
                 examples=(_spec.Example(
                     "sigmoid_binary_cross_entropy",
                     lambda ops, z: ops.sigmoid_binary_cross_entropy(z, np.full(z.shape, 0.3)),
                     ((3, 4),)),)),
    _spec.OpSpec(softmax_cross_entropy, kind="loss", cases=_xent_cases, call=_xent_call,
                 condition=_xent_condition, textbook=_xent_textbook, judged=_xent_judged,
                 pytorch="F.cross_entropy",
                 rule=("`E = -Σ_k t_k log softmax(z)_k`, `t` one-hot or probabilities, "
                       "smoothed by `label_smoothing` (Eq. 30)",
                       "`softmax(z)·Σ_k t_k - t` (`= softmax(z) - onehot` for class ids), "
                       "`dE/dt = -(1 - ε) log softmax(z)`, per-example `weights` and "
                       "`ignore_index` (Eq. 31)",
                       "the log-softmax and the labels"),
                 examples=(
                     _spec.Example(
                         "softmax_cross_entropy",
                         lambda ops, z, t: ops.softmax_cross_entropy(z, ops.softmax(t)),
                         ((2, 5), (2, 5))),
                     _spec.Example(                          # NumPy integer labels
                         "softmax_cross_entropy_int",
                         lambda ops, z: ops.softmax_cross_entropy(
                             z, np.arange(z.shape[0]) % z.shape[1]),
                         ((3, 4),)))),
)
