r"""Max pooling: the forward pass remembers the winning unit, the backward pass routes to it.

Shapes: ``x`` is ``(N, C, *L)``, the output ``y`` and the deltas are ``(N, C, *O)``; a window has
``K = prod(window)`` taps in row-major order (see :mod:`jaxconv._windows`).

Forward (derivation, Eq. 11): the pass keeps the index of the winning unit of
each window::

    y[n, c, o]   = max_t   x_pad[n, c, o*s + t*d]
    idx[n, c, o] = argmax_t x_pad[n, c, o*s + t*d]        (an int8 tap number for K <= 127)

Ties: the first maximum in row-major window order wins (a later tap replaces the running winner
only if strictly greater), as PyTorch. NaN: a NaN tap always replaces the running winner, so the
output is NaN and the delta goes to the last NaN of the window, as PyTorch's kernels do. Padding
taps are ``-inf`` and never win; a window whose real elements are all ``-inf`` gives ``-inf`` and
its delta goes to its first real element (PyTorch again).

Backward (Eq. 12): each delta goes to its window's winning unit only, and
overlapping windows accumulate::

    dE/dx[n, c, p] = sum_{o, t : o*s + t*d - lo = p}  [idx[n, c, o] == t] * delta[n, c, o]

computed without scatter or atomics: for each tap ``t`` the deltas whose winner is ``t`` are put
back where tap ``t`` was read (:func:`jaxconv._src.core.windows.fold`), deterministic on every
backend.

Residual: ``idx`` only (one byte per output element), never the input.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec
from jaxconv._src.core import windows as _windows


def forward_with_index(x, cfg: _windows.Window):
    """``(N, C, *L) -> ((N, C, *O) max, (N, C, *O) winning tap index)``."""
    xp = _windows.pad(x, cfg, -np.inf)
    first = _windows.first_real_tap(cfg)
    idt = _windows.index_dtype(cfg)
    best, idx = None, None
    for t, v in enumerate(_windows.taps(xp, cfg)):
        if best is None and isinstance(first, int):      # no padding: tap 0 is real
            best, idx = v, jnp.zeros(v.shape, idt)
            continue
        if best is None:                                 # padding: start below every value
            best = jnp.full(v.shape, -np.inf, v.dtype)
            idx = jnp.broadcast_to(jnp.asarray(first, idt), v.shape)
        take = (v > best) | jnp.isnan(v)
        best = jnp.where(take, v, best)
        idx = jnp.where(take, jnp.asarray(t, idt), idx)
    return _windows.materialize(best), _windows.materialize(idx)


def route(delta, idx, cfg: _windows.Window):
    """``(N, C, *O) deltas, (N, C, *O) winners -> (N, C, *L)``: each delta to its winner.

    Tiling windows: one select per input element (``idx == its tap``) on the blocks laid side
    by side (no sums). Otherwise: per tap the deltas it won, folded back
    (:func:`jaxconv._src.core.windows.fold`); an input that wins several windows sums their
    deltas, in float32 for 16-bit inputs, rounded once.
    """
    if _windows.tiles(cfg):
        hit = _windows.tiled(idx) == _windows.tap_grid(cfg, idx.dtype)
        return _windows.untile(jnp.where(hit, _windows.tiled(delta), jnp.zeros((), delta.dtype)),
                               cfg)
    acc = _args.acc_dtype(delta.dtype)
    d = delta.astype(acc)
    parts = (jnp.where(idx == t, d, jnp.zeros((), acc)) for t in range(cfg.taps))
    return _windows.fold(parts, cfg).astype(delta.dtype)


def forward_with_ties(x, cfg: _windows.Window):
    """``(N, C, *L) -> ((N, C, *O) max, (N, C, *O) bitmask of the winning taps)``: every real
    tap equal to the maximum (every NaN tap, if the maximum is NaN) has its bit set."""
    y, _ = forward_with_index(x, cfg)
    mdt = _mask_dtype(cfg)
    xp = _windows.pad(x, cfg, -np.inf)
    real = _windows.real_taps(cfg)
    mask = jnp.zeros(y.shape, mdt)
    for t, v in enumerate(_windows.taps(xp, cfg)):
        hit = (v == y) | (jnp.isnan(v) & jnp.isnan(y))
        if real is not None:
            hit = hit & real[t]
        mask = mask | jnp.where(hit, mdt.type(1 << t), mdt.type(0))
    return y, _windows.materialize(mask)


def _mask_dtype(cfg: _windows.Window):
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if cfg.taps <= np.iinfo(dt).bits:
            return np.dtype(dt)
    raise ValueError(f"jaxconv.max_pool: ties='split' supports windows of up to 64 taps; this "
                     f"window has {cfg.taps}. Use ties='first'.")


def share(delta, mask, cfg: _windows.Window):
    """``ties='split'``: each delta shared equally by the winners in its bitmask."""
    acc = _args.acc_dtype(delta.dtype)
    count = lax.population_count(mask).astype(acc)
    each = jnp.where(count > 0, delta.astype(acc) / jnp.maximum(count, 1), 0)
    one = jnp.ones((), mask.dtype)
    if _windows.tiles(cfg):
        bits = _windows.tap_grid(cfg, mask.dtype)
        hit = (lax.shift_right_logical(_windows.tiled(mask), bits) & one) == one
        return _windows.untile(jnp.where(hit, _windows.tiled(each), 0), cfg).astype(delta.dtype)
    parts = (jnp.where((lax.shift_right_logical(mask, mask.dtype.type(t)) & one) == one, each, 0)
             for t in range(cfg.taps))
    return _windows.fold(parts, cfg).astype(delta.dtype)


class MaxPoolConfig(NamedTuple):
    window: _windows.Window
    ties: str


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _max_pool(x, cfg):
    return _max_pool_fwd(x, cfg)[0]


# _max_pool_fwd :: x -> ((y, winner), winner): winner = tap index (first) or bitmask (split)
def _max_pool_fwd(x, cfg):
    if cfg.ties == "split":
        y, winner = forward_with_ties(x, cfg.window)
    else:
        y, winner = forward_with_index(x, cfg.window)
    return (y, winner), winner


# _max_pool_bwd :: (cfg, winner, (CT y, CT winner)) -> (CT x,)
def _max_pool_bwd(cfg, winner, cts):
    delta = cts[0]
    if cfg.ties == "split":
        return (share(delta, winner, cfg.window),)
    return (route(delta, winner, cfg.window),)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def _autodiff_forward(x, cfg: MaxPoolConfig):
    """The plain lax forward users would write; ``jax.grad`` derives its backward. Returns
    ``(y, winner)``; the winner is computed apart, as an integer (no gradient)."""
    win = cfg.window
    xp = _windows.pad(x, win, -np.inf)
    if cfg.ties == "split":      # jax.grad of a max over the taps shares ties equally
        y = jnp.max(jnp.stack(list(_windows.taps(xp, win))), axis=0)
        return y, lax.stop_gradient(forward_with_ties(x, win)[1])
    winner = lax.stop_gradient(forward_with_index(x, win)[1])
    if all(d == 1 for d in win.dilation):
        return lax.reduce_window(xp, np.array(-np.inf, x.dtype), lax.max, (1, 1) + win.window,
                                 (1, 1) + win.stride, "VALID"), winner
    # JAX has no max-pool VJP for window dilation: a select chain over the taps instead.
    best = None
    for v in _windows.taps(xp, win):
        best = v if best is None else jnp.where((v > best) | jnp.isnan(v), v, best)
    return best, winner


def flat_indices(idx, cfg: _windows.Window):
    """PyTorch's ``return_indices``: the winner's position in the flattened (unpadded) input
    plane of its ``(n, c)``, e.g. ``h * W + w`` in 2-D; int32 ``(N, C, *O)``."""
    n = len(cfg.window)
    t = idx.astype(jnp.int32)
    flat = jnp.zeros(idx.shape, jnp.int32)
    for ax in range(n):
        inner = int(np.prod(cfg.window[ax + 1:], dtype=np.int64))
        tap = (t // inner) % cfg.window[ax]
        o = lax.broadcasted_iota(jnp.int32, idx.shape, ax + 2)
        pos = o * cfg.stride[ax] + tap * cfg.dilation[ax] - cfg.padding[ax][0]
        flat = flat * cfg.in_sizes[ax] + pos
    return flat


def max_pool_config(x, window, stride, padding, ceil_mode, dilation, return_indices,
                    ties) -> MaxPoolConfig:
    """Validate the arguments of :func:`max_pool` and normalise them to a config."""
    op = "max_pool"
    win = _windows.pool_config(op, x, window, stride, padding, ceil_mode, dilation)
    _args.check_choice(op, "ties", ties, ("first", "split"))
    _args.check_bool(op, "return_indices", return_indices)
    if return_indices and ties == "split":
        raise ValueError("jaxconv.max_pool: `return_indices`=True needs ties='first' (one "
                         "winner per window), as PyTorch.")
    if ties == "split":
        _mask_dtype(win)
    return MaxPoolConfig(win, ties)


def max_pool(x, window, stride=None, padding="VALID", ceil_mode=False, *, dilation=1,
             return_indices=False, ties="first"):
    r"""N-d max pooling, channels first; the backward routes each delta to its window's max.

    .. math::
        y[n, c, o] = \max_{t} x_{pad}[n, c, o s + t d]

    (derivation, Eq. 11-12.) Ties go to the first maximum in row-major window
    order; NaN propagates (the delta goes to the last NaN in the window), as in PyTorch. The
    hand-written backward keeps only the winner's tap index (int8) as residual; see the module
    docstring.

    Args:
      x: ``(N, C, *L)`` with 1, 2 or 3 spatial axes, floating dtype.
      window: window size; int or one per spatial axis.
      stride: int or one per axis; defaults to ``window``.
      padding: ``"VALID"``, ``"SAME"``, int, one int per axis, or ``(low, high)`` pairs;
        padded taps are ``-inf``.
      ceil_mode: round the output size up (PyTorch rule).
      dilation: spacing between window taps; int or one per axis.
      return_indices: also return PyTorch-style flat indices of the winners (int32), the
        input of :func:`jaxconv.max_unpool`.
      ties: ``"first"`` (PyTorch) gives each delta to the first maximum; ``"split"`` shares
        it equally among all tied maxima (Eq. 13; residual: a bitmask of the winners).

    Returns:
      ``(N, C, *O)``, or ``(y, indices)`` with ``return_indices``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.max_pool(jnp.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
      Array([[ 5.,  7.],
             [13., 15.]], dtype=float32)
    """
    cfg = max_pool_config(x, window, stride, padding, ceil_mode, dilation, return_indices, ties)
    y, winner = _max_pool(x, cfg)
    return (y, flat_indices(winner, cfg.window)) if return_indices else y


# jaxconv.autodiff.max_pool: the same function with the rule replaced by the plain forward
AUTODIFF = {"_max_pool": _autodiff_forward}


# ----- the registry entry ------------------------------------------------------------------------

def _textbook(tb, case, inputs, delta):
    kw = {k: v for k, v in case.kwargs.items() if k != "ties"}  # distinct inputs: one winner
    return (tb.max_pool_backward(inputs[0], delta, **kw),)


SPECS = (_spec.OpSpec(
    max_pool, kind="pooling", textbook=_textbook, condition=_spec.distinct,
    pytorch="F.max_pool1d/2d/3d",
    rule=("`y = max` over each (dilated) window (Eq. 11)",
          "each delta added to its window's winner (the first maximum on ties, the last NaN, "
          "as PyTorch); overlapping windows accumulate (Eq. 12); `ties=\"split\"` shares it "
          "among the tied maxima (Eq. 13)",
          "the winner's tap index (int8); with `ties=\"split\"` a bitmask of the winners"),
    cases=lambda exhaustive: _spec.pool_cases("max_pool", [
        (("window", 2), ("stride", 1), ("dilation", 2)),
        (("window", 3), ("stride", 2), ("padding", 1), ("dilation", 2)),
        (("window", 3), ("stride", 2), ("padding", 1), ("ties", "split"))], exhaustive),
    examples=(_spec.Example("max_pool", lambda ops, x: ops.max_pool(x, 3, 2, 1),
                            ((2, 3, 6, 6),)),)),)
