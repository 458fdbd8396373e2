r"""Non-zero padding modes for the convolution (PyTorch's ``padding_mode``), with their transpose.

Shapes: ``x`` is ``(N, C, *L)``; ``pads`` one ``(low, high)`` pair per spatial axis; the result is
``(N, C, *(L + low + high))``. Per axis, padded position ``j`` copies input position ``src(j)``:

==============  =======================================  ==========================================
mode            low side (``j = 0 .. low-1``)             high side (``k = 0 .. high-1`` past end)
==============  =======================================  ==========================================
``reflect``     ``src = low - j`` (mirror, edge once)     ``src = L - 2 - k``
``replicate``   ``src = 0``                               ``src = L - 1``
``circular``    ``src = L - low + j`` (wrap around)       ``src = k``
==============  =======================================  ==========================================

Backward (the transpose of these copies): each padded position's delta is added back onto its
source, ``dE/dx[p] = delta[low + p] + sum over padded j with src(j) = p of delta[j]``: the two
margins, flipped for ``reflect``, summed for ``replicate``, shifted for ``circular``, are folded
onto the interior. Axes are padded one after the other, and folded back in reverse order.
Residuals: none.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._src.core import args as _args

MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def forward(x, pads, mode):
    """Pad with ``mode`` (``jnp.pad``, whose modes are PyTorch's under other names)."""
    return jnp.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads], mode=_NUMPY_MODE[mode])


def _fold_axis(g, axis, lo, hi, size, mode):
    """Transpose of padding one axis: ``(..., lo + size + hi, ...) -> (..., size, ...)``."""
    def part(start, stop):
        return lax.slice_in_dim(g, start, stop, axis=axis)

    def place(a, before, after):
        cfg = [(0, 0, 0)] * g.ndim
        cfg[axis] = (before, after, 0)
        return lax.pad(a, jnp.zeros((), g.dtype), cfg)

    dx = part(lo, lo + size)
    low, high = part(0, lo), part(lo + size, lo + size + hi)
    if mode == "reflect":       # low j -> lo - j (positions lo..1), high k -> size - 2 - k
        if lo:
            dx = dx + place(lax.rev(low, (axis,)), 1, size - 1 - lo)
        if hi:
            dx = dx + place(lax.rev(high, (axis,)), size - 1 - hi, 1)
    elif mode == "replicate":   # every low position -> 0, every high position -> size - 1
        if lo:
            dx = dx + place(jnp.sum(low, axis=axis, keepdims=True), 0, size - 1)
        if hi:
            dx = dx + place(jnp.sum(high, axis=axis, keepdims=True), size - 1, 0)
    else:                       # circular: low j -> size - lo + j, high k -> k
        if lo:
            dx = dx + place(low, size - lo, 0)
        if hi:
            dx = dx + place(high, 0, size - hi)
    return dx


def backward(g, pads, mode, sizes):
    """``(N, C, *(L + low + high)) -> (N, C, *L)``: every padded delta back onto its source."""
    for ax in reversed(range(len(pads))):
        g = _fold_axis(g, ax + 2, pads[ax][0], pads[ax][1], sizes[ax], mode)
    return g


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def pad(x, pads, mode):
    return forward(x, pads, mode)


# _pad_fwd :: x -> (x_padded, ())
def _pad_fwd(x, pads, mode):
    return forward(x, pads, mode), ()


# _pad_bwd :: (pads, mode, (), CT x_padded) -> (CT x,)
def _pad_bwd(pads, mode, _, g):
    sizes = tuple(s - lo - hi for s, (lo, hi) in zip(g.shape[2:], pads))
    return (backward(g, pads, mode, sizes),)


pad.defvjp(_pad_fwd, _pad_bwd)


def check(op, mode, pads, sizes):
    """Validate ``padding_mode`` against the padding (PyTorch's limits)."""
    _args.check_choice(op, "padding_mode", mode, MODES)
    for ax, ((lo, hi), size) in enumerate(zip(pads, sizes)):
        if mode == "reflect" and max(lo, hi) >= size:
            raise ValueError(f"jaxconv.{op}: `padding_mode`='reflect' needs padding smaller than "
                             f"the input (size {size} on spatial axis {ax}); got ({lo}, {hi}).")
        if mode == "circular" and max(lo, hi) > size:
            raise ValueError(f"jaxconv.{op}: `padding_mode`='circular' needs padding at most the "
                             f"input size ({size} on spatial axis {ax}); got ({lo}, {hi}).")
