r"""Max unpooling: the partial inverse of ``max_pool(..., return_indices=True)``.

Shapes: ``x`` (the pooled values) and ``indices`` are ``(N, C, *O)``; the output is ``(N, C, *L)``.

Forward (derivation, Eq. 14): a zero plane per ``(n, c)`` with each value written at
its flat index; where several values share an index the last one in flat order is kept, and
indices outside the plane write nothing::

    y[n, c, idx[n, c, o]] = x[n, c, o]        (for the kept positions o)

Backward, the exact transpose: a gather of the deltas at the kept indices, zero elsewhere::

    dE/dx[n, c, o] = delta[n, c, idx[n, c, o]]  if o was kept, else 0

Residual: the kept indices (int32, ``(N, C, prod(O))``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec


class UnpoolConfig(NamedTuple):
    out_sizes: tuple[int, ...]        # the unpooled spatial sizes L
    in_sizes: tuple[int, ...]         # the pooled spatial sizes O


def _kept_indices(indices, cfg: UnpoolConfig):
    """``(N, C, *O)`` indices -> ``(N, C, M)`` flat indices with every position whose value is not
    written replaced by ``plane`` (out of range).

    A value is written when its index lies in ``[0, plane)`` and no later position of the same
    ``(n, c)`` plane (in flat order of ``x``) carries the same index: duplicates keep the last
    value, as PyTorch's CPU loop does, and out-of-range indices write nothing. Deciding this once
    (a scatter-max of positions, which is order-free) makes the forward a scatter with unique
    indices, deterministic on every backend, and its exact transpose a plain gather."""
    nb, c = indices.shape[:2]
    plane = int(np.prod(cfg.out_sizes, dtype=np.int64))
    idx = indices.reshape(nb, c, _args.prod(cfg.in_sizes)).astype(jnp.int32)
    idx = jnp.where((idx >= 0) & (idx < plane), idx, plane)
    pos = jnp.broadcast_to(jnp.arange(idx.shape[2], dtype=jnp.int32), idx.shape)
    last = jnp.full((nb, c, plane), -1, jnp.int32)
    last = last.at[jnp.arange(nb)[:, None, None], jnp.arange(c)[None, :, None], idx].max(
        pos, mode="drop")
    written = jnp.take_along_axis(last, idx, axis=2, mode="fill", fill_value=-1) == pos
    return jnp.where(written, idx, plane)


def _scatter(x, kept, cfg: UnpoolConfig):
    """``(N, C, *O) values, (N, C, M) kept indices -> (N, C, *L)``: a scatter with unique
    in-range indices (the dropped ones point past the plane)."""
    nb, c = x.shape[:2]
    plane = int(np.prod(cfg.out_sizes, dtype=np.int64))
    flat = jnp.zeros((nb, c, plane), x.dtype)
    flat = flat.at[jnp.arange(nb)[:, None, None], jnp.arange(c)[None, :, None], kept].set(
        x.reshape(nb, c, _args.prod(cfg.in_sizes)), mode="drop", unique_indices=True)
    return flat.reshape((nb, c) + cfg.out_sizes)


def _unpool_forward(x, indices, cfg: UnpoolConfig):
    """``(N, C, *O) values, (N, C, *O) flat indices -> (N, C, *L)``: each value written at its
    index of a zero plane; duplicates keep the last value, out-of-range indices are dropped
    (:func:`_kept_indices`)."""
    return _scatter(x, _kept_indices(indices, cfg), cfg)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _max_unpool(x, indices, cfg):
    return _unpool_forward(x, indices, cfg)


# _max_unpool_fwd :: (x, indices) -> (y, kept indices)
def _max_unpool_fwd(x, indices, cfg):
    kept = _kept_indices(indices, cfg)
    return _scatter(x, kept, cfg), kept


# _max_unpool_bwd :: (cfg, kept, CT y) -> (CT x, CT indices): a gather at the written indices,
# zero for the values that were not written
def _max_unpool_bwd(cfg, kept, delta):
    nb, c = delta.shape[:2]
    plane = _args.prod(cfg.out_sizes)
    dx = jnp.take_along_axis(delta.reshape(nb, c, plane), kept, axis=2, mode="fill",
                             fill_value=0)
    return dx.reshape(delta.shape[:2] + cfg.in_sizes), None


_max_unpool.defvjp(_max_unpool_fwd, _max_unpool_bwd)


def unpool_config(x, indices, window, stride, padding, output_size):
    op = "max_unpool"
    _args.check_float(op, "x", x)
    n = _args.spatial_rank(op, x)
    if getattr(indices, "shape", None) != x.shape or not jnp.issubdtype(indices.dtype,
                                                                          jnp.integer):
        raise ValueError(f"jaxconv.{op}: `indices` must be integers of `x`'s shape "
                         f"{tuple(x.shape)} (from max_pool(..., return_indices=True)); got "
                         f"{getattr(indices, 'dtype', type(indices).__name__)} "
                         f"{tuple(getattr(indices, 'shape', ()))}.")
    window = _args.int_tuple(op, "window", window, n)
    stride = window if stride is None else _args.int_tuple(op, "stride", stride, n)
    pads = _args.padding_pairs(op, padding, x.shape[2:], window, stride)
    default = tuple((o - 1) * s - lo - hi + k for o, s, (lo, hi), k in
                    zip(x.shape[2:], stride, pads, window))
    if output_size is None:
        return UnpoolConfig(default, tuple(x.shape[2:]))
    size = tuple(int(v) for v in output_size)[-n:]
    if len(size) != n or any(abs(v - d) >= s for v, d, s in zip(size, default, stride)):
        raise ValueError(f"jaxconv.{op}: `output_size` (={tuple(output_size)!r}) must give {n} "
                         f"spatial sizes within a stride of {default}.")
    return UnpoolConfig(size, tuple(x.shape[2:]))


def max_unpool(x, indices, window, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`jaxconv.max_pool`: each value of ``x`` put back at its flat index
    (from ``max_pool(..., return_indices=True)``), zeros elsewhere, as PyTorch's
    (derivation, Eq. 14).

    Where several values carry the same index (overlapping windows with a shared winner),
    the last one in flat order is kept, as on PyTorch's CPU; indices outside the plane
    write nothing (PyTorch raises). The backward pass gathers the deltas at the indices
    that were written and gives zero to the values that were not.

    Args:
      x: pooled values ``(N, C, *O)``.
      indices: their int flat indices, same shape.
      window: the pooling's window; int or one per spatial axis.
      stride: the pooling's stride (defaults to ``window``).
      padding: the pooling's padding.
      output_size: the unpooled spatial size, if not ``(O - 1) * s - 2p + k``.

    Returns:
      ``(N, C, *L)``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> y, idx = jc.max_pool(jnp.arange(16.0).reshape(1, 1, 4, 4), 2, return_indices=True)
      >>> jc.max_unpool(y, idx, 2)[0, 0]
      Array([[ 0.,  0.,  0.,  0.],
             [ 0.,  5.,  0.,  7.],
             [ 0.,  0.,  0.,  0.],
             [ 0., 13.,  0., 15.]], dtype=float32)
    """
    return _max_unpool(x, indices, unpool_config(x, indices, window, stride, padding,
                                                 output_size))


# jaxconv.autodiff.max_unpool: the same function with the rule replaced by the plain forward
AUTODIFF = {"_max_unpool": _unpool_forward}


# ----- the registry entry ------------------------------------------------------------------------

def winner_indices(pooled_shape, k: int) -> np.ndarray:
    """Flat winner indices of a max pool (window = stride = ``k``) of a fixed input whose output
    has ``pooled_shape`` (NumPy only: this may run while JAX traces)."""
    pooled_shape = tuple(pooled_shape)
    if 0 in pooled_shape:
        return np.zeros(pooled_shape, np.int32)
    out = pooled_shape[2:]
    size = tuple(o * k for o in out)
    x = np.random.default_rng(5).permutation(int(np.prod(pooled_shape[:2] + size)))
    x = x.reshape(pooled_shape[:2] + size)
    blocks = x.reshape(pooled_shape[:2] + tuple(v for o in out for v in (o, k)))
    n = len(out)
    blocks = blocks.transpose([0, 1] + [2 + 2 * a for a in range(n)]
                              + [3 + 2 * a for a in range(n)])
    win = np.unravel_index(blocks.reshape(blocks.shape[:2 + n] + (-1,)).argmax(-1), (k,) * n)
    pos = [np.arange(o).reshape([-1 if b == a else 1 for b in range(n)]) * k + win[a]
           for a, o in enumerate(out)]
    return np.ravel_multi_index(tuple(np.broadcast_arrays(*pos)), size).astype(np.int32)


def _call(ops, case):
    idx, kw = winner_indices(case.shapes[0], case.kwargs["window"]), case.kwargs
    return lambda x: ops.max_unpool(x, idx, **kw)


def _textbook(tb, case, inputs, delta):
    return (tb.max_unpool_backward(winner_indices(case.shapes[0], case.kwargs["window"]),
                                   delta),)


SPECS = (_spec.OpSpec(
    max_unpool, kind="pooling", call=_call, textbook=_textbook, pytorch="F.max_unpool1d/2d/3d",
    rule=("each value written at its flat index (from `max_pool(..., return_indices=True)`), "
          "zeros elsewhere (Eq. 14)",
          "a gather of the deltas at the indices written; an index shared by overlapping "
          "windows is written, and gets the delta, by its last copy",
          "the kept indices (int32)"),
    cases=lambda exhaustive: [_spec.Case("max_unpool", ((2, 3) + _spec.per_axis((3, 4), n),),
                                         (("window", 2),)) for n in (1, 2, 3)],
    examples=(_spec.Example(
        "max_unpool", lambda ops, x: ops.max_unpool(x, winner_indices(x.shape, 2), 2),
        ((2, 3, 3, 4),)),)),)
