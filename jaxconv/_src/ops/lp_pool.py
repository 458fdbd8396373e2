r"""Lp-norm pooling (L2 pooling for ``p = 2``; derivation, Eq. 17-18).

Shapes: ``x`` is ``(N, C, *L)``, the output ``y`` and the deltas are ``(N, C, *O)``.

Forward, the p-norm of each window (zero padding adds nothing)::

    y[n, c, o] = (sum_t |x_pad[n, c, o*s + t]|^p)^(1/p)

Computed as ``y = m (sum_t (|x_t| / m)^p)^(1/p)`` with ``m`` the window's largest magnitude, so
that no power over- or underflows where the norm itself is representable (1e-30 and 1e30 alike).

Backward (Eq. 18; ``d y / d x = x |x|^(p-2) / y^(p-1)`` for each element of the window)::

    dE/dx[n, c, q] = sum_{o, t : tap t of window o reads q}
                         delta[n, c, o] sign(x[q]) (|x[q]| / y[n, c, o])^(p-1)

each ratio ``|x| / y`` at most 1 (so the power cannot overflow), one part per tap folded back
where that tap was read (``sign(x) |x|^(p-1) = x |x|^(p-2)``, and ``x = 0`` gives 0 for every
``p >= 1``). Where ``y = 0`` (an all-zero window) the gradient is defined as 0: that window
contributes nothing, and no NaN appears.

For ``x >= 0`` (or even ``p``) this equals PyTorch's ``lp_pool``, which uses ``x^p`` rather than
``|x|^p`` and is therefore not a norm for odd ``p`` on negative inputs; and with ``ceil_mode``,
PyTorch rescales a window that hangs over the edge by ``K / m`` (it computes ``avg_pool * K``),
where this keeps the p-norm of the ``m`` elements present.

Residuals: ``x`` and ``y`` (``y`` unrounded, in float32, for 16-bit inputs).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec
from jaxconv._src.core import windows as _windows


class LpConfig(NamedTuple):
    window: _windows.Window
    p: float


def _norms(x, cfg: LpConfig):
    """``(N, C, *L) -> (N, C, *O)`` window norms in the accumulation dtype (float32 for 16-bit),
    scaled by each window's largest magnitude ``m``: ``y = m (sum_t (|x_t| / m)^p)^(1/p)``, so
    that no power over- or underflows where the norm itself is representable. ``m`` enters as a
    constant (``y`` does not depend on it), so ``jax.grad`` of this forward is Eq. 18 too."""
    win = cfg.window
    xp = _windows.pad(jnp.abs(x.astype(_args.acc_dtype(x.dtype))), win, 0)
    m = lax.stop_gradient(_windows.window_max(xp, win))
    nonzero = m > 0
    scale = jnp.where(nonzero, m, 1)
    s = _windows.sum_terms([(tap / scale) ** cfg.p for tap in _windows.taps(xp, win)])
    s = jnp.where(nonzero, s, 1)                       # all-zero windows: y = 0, finite grads
    root = jnp.sqrt(s) if cfg.p == 2 else s ** (1.0 / cfg.p)
    return jnp.where(nonzero, m * root, 0)


def forward(x, cfg: LpConfig):
    """``(N, C, *L) -> (N, C, *O)``, accumulated in float32 for 16-bit inputs."""
    return _norms(x, cfg).astype(x.dtype)


def backward(x, y, delta, cfg: LpConfig):
    """``x (N, C, *L), y (N, C, *O), delta (N, C, *O) -> (N, C, *L)``: per tap ``t``, the part
    ``delta * sign(x_t) (|x_t| / y)^(p-1)`` (each ratio at most 1: no overflow), folded back
    where tap ``t`` was read."""
    acc = _args.acc_dtype(x.dtype)
    win, p = cfg.window, cfg.p
    ya = y.astype(acc)
    nonzero = ya != 0                                  # y = 0: zero gradient, no 0/0
    inv = jnp.where(nonzero, 1 / jnp.where(nonzero, ya, 1), 0)
    d = delta.astype(acc)
    parts = []
    for tap in _windows.taps(_windows.pad(x.astype(acc), win, 0), win):
        if p == 2:
            parts.append(d * (tap * inv))              # sign(x) |x| / y = x / y
        else:
            parts.append(d * jnp.sign(tap) * (jnp.abs(tap) * inv) ** (p - 1))
    return _windows.fold(parts, win).astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _lp_pool(x, cfg):
    return forward(x, cfg)


# _lp_pool_fwd :: x -> (y, (x, y in float32 for 16-bit inputs))
def _lp_pool_fwd(x, cfg):
    y = _norms(x, cfg)
    return y.astype(x.dtype), (x, y)


# _lp_pool_bwd :: (cfg, (x, y), CT y) -> (CT x,)
def _lp_pool_bwd(cfg, res, delta):
    x, y = res
    return (backward(x, y, delta, cfg),)


_lp_pool.defvjp(_lp_pool_fwd, _lp_pool_bwd)


def lp_config(x, window, p, stride, padding, ceil_mode) -> LpConfig:
    """Validate the arguments of :func:`lp_pool` and normalise them to a config."""
    p = _args.check_number("lp_pool", "p", p, low=1,
                           expect="a finite number >= 1 (a norm)", hint="use max_pool for p = inf")
    win = _windows.pool_config("lp_pool", x, window, stride, padding, ceil_mode)
    return LpConfig(win, p)


def lp_pool(x, window, p=2.0, stride=None, padding="VALID", ceil_mode=False):
    r"""N-d Lp-norm pooling, channels first (L2 pooling for ``p = 2``).

    .. math::
        y[n, c, o] = \Big(\sum_t |x_{pad}[n, c, o s + t]|^p\Big)^{1/p}, \qquad
        \frac{\partial E}{\partial x} = \delta \, \frac{x |x|^{p-2}}{y^{p-1}}

    (derivation, Eq. 17-18), with a zero gradient where ``y = 0``.

    Args:
      x: ``(N, C, *L)`` with 1, 2 or 3 spatial axes, floating dtype.
      window: window size; int or one per spatial axis.
      p: the norm's order, ``p >= 1``.
      stride: int or one per axis; defaults to ``window``.
      padding: ``"VALID"``, ``"SAME"``, int, one int per axis, or ``(low, high)`` pairs.
      ceil_mode: round the output size up (PyTorch rule).

    Returns:
      ``(N, C, *O)``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.lp_pool(jnp.array([[[3.0, 4.0]]]), 2)
      Array([[[5.]]], dtype=float32)
    """
    return _lp_pool(x, lp_config(x, window, p, stride, padding, ceil_mode))


# jaxconv.autodiff.lp_pool: the same function with the rule replaced by the plain forward
AUTODIFF = {"_lp_pool": forward}


# ----- the registry entry ------------------------------------------------------------------------

def _condition(case, arrays, rng):
    return _spec.away_from(arrays) if case.kwargs.get("p") == 1.0 else arrays   # |x|'s kink


SPECS = (_spec.OpSpec(
    lp_pool, kind="pooling", condition=_condition, pytorch="F.lp_pool1d/2d/3d",
    rule=("`y = (Σ |x|^p)^(1/p)` over each window, scaled by its largest magnitude (Eq. 17)",
          "`delta · x|x|^(p-2) / y^(p-1)`; 0 where `y = 0` (Eq. 18)", "`x`, `y`"),
    textbook=lambda tb, case, inputs, delta: (tb.lp_pool_backward(inputs[0], delta,
                                                                  **case.kwargs),),
    cases=lambda exhaustive: _spec.pool_cases("lp_pool", [
        (("p", 3.0), ("window", 3), ("stride", 2)), (("p", 1.0), ("window", 2))], exhaustive),
    examples=(_spec.Example("lp_pool", lambda ops, x: ops.lp_pool(x, 2, 3.0),
                            ((2, 3, 6, 6),)),)),)
