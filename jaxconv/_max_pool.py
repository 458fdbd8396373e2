r"""Max pooling: the forward pass remembers the winning unit, the backward pass routes to it.

Shapes: ``x`` is ``(N, C, *L)``, the output ``y`` and the deltas are ``(N, C, *O)``; a window has
``K = prod(window)`` taps in row-major order (see :mod:`jaxconv._windows`).

Forward (004: "during max pooling you have to maintain the index of max unit in forward
propagation")::

    y[n, c, o]   = max_t   x_pad[n, c, o*s + t*d]
    idx[n, c, o] = argmax_t x_pad[n, c, o*s + t*d]        (an int8 tap number for K <= 127)

Ties: the first maximum in row-major window order wins (a later tap replaces the running winner
only if strictly greater), as PyTorch. NaN: a NaN tap always replaces the running winner, so the
output is NaN and the delta goes to the last NaN of the window, as PyTorch's kernels do. Padding
taps are ``-inf`` and never win; a window whose real elements are all ``-inf`` gives ``-inf`` and
its delta goes to its first real element (PyTorch again).

Backward (000, "Pooling Layer"; 004): each delta goes to its window's winning unit only, and
overlapping windows accumulate::

    dE/dx[n, c, p] = sum_{o, t : o*s + t*d - lo = p}  [idx[n, c, o] == t] * delta[n, c, o]

computed without scatter or atomics: for each tap ``t`` the deltas whose winner is ``t`` are put
back where tap ``t`` was read (:func:`jaxconv._windows.fold`), deterministic on every backend.

Residual: ``idx`` only (one byte per output element), never the input.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _windows


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
    by side. Otherwise: per tap the deltas it won, folded back (:func:`jaxconv._windows.fold`).
    """
    zero = jnp.zeros((), delta.dtype)
    if _windows.tiles(cfg):
        hit = _windows.tiled(idx) == _windows.tap_grid(cfg, idx.dtype)
        return _windows.untile(jnp.where(hit, _windows.tiled(delta), zero), cfg)
    parts = (jnp.where(idx == t, delta, zero) for t in range(cfg.taps))
    return _windows.fold(parts, cfg)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _max_pool(x, cfg):
    return forward_with_index(x, cfg)[0]


# _max_pool_fwd :: x -> (y, idx)
def _max_pool_fwd(x, cfg):
    return forward_with_index(x, cfg)


# _max_pool_bwd :: (cfg, idx, CT y) -> (CT x,)
def _max_pool_bwd(cfg, idx, delta):
    return (route(delta, idx, cfg),)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def _autodiff_forward(x, cfg):
    """The plain lax forward users would write; ``jax.grad`` derives its backward."""
    xp = _windows.pad(x, cfg, -np.inf)
    if all(d == 1 for d in cfg.dilation):
        return lax.reduce_window(xp, np.array(-np.inf, x.dtype), lax.max, (1, 1) + cfg.window,
                                 (1, 1) + cfg.stride, "VALID")
    # JAX has no max-pool VJP for window dilation: a select chain over the taps instead.
    best = None
    for v in _windows.taps(xp, cfg):
        best = v if best is None else jnp.where((v > best) | jnp.isnan(v), v, best)
    return best


def _make(impl):
    def max_pool(x, window, stride=None, padding="VALID", ceil_mode=False, *, dilation=1):
        r"""N-d max pooling, channels first; the backward routes each delta to its window's max.

        .. math::
            y[n, c, o] = \max_{t} x_{pad}[n, c, o s + t d]

        Ties go to the first maximum in row-major window order; NaN propagates (the delta goes
        to the last NaN in the window), as in PyTorch. The hand-written backward keeps only the
        winner's tap index (int8) as residual; see :mod:`jaxconv._max_pool`.

        Args:
          x: ``(N, C, *L)`` with 1, 2 or 3 spatial axes, floating dtype.
          window: window size; int or one per spatial axis.
          stride: int or one per axis; defaults to ``window``.
          padding: ``"VALID"``, ``"SAME"``, int, one int per axis, or ``(low, high)`` pairs;
            padded taps are ``-inf``.
          ceil_mode: round the output size up (PyTorch rule).
          dilation: spacing between window taps; int or one per axis.

        Returns:
          ``(N, C, *O)``.
        """
        cfg = _windows.pool_config("max_pool", x, window, stride, padding, ceil_mode, dilation)
        return impl(x, cfg)
    return max_pool


max_pool = _make(_max_pool)
max_pool_autodiff = _make(_autodiff_forward)
