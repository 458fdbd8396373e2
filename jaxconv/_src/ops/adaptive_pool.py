r"""Adaptive and global pooling: a fixed output size, bins computed from the input size.

Shapes: ``x`` is ``(N, C, *L)``, the output ``(N, C, *O)`` (``(N, C)`` for the global pools).
Bins follow PyTorch's rule, per axis: output ``i`` pools input positions
``[floor(i * L / O), ceil((i + 1) * L / O))``; neighbouring bins may share a position when ``O``
does not divide ``L``.

Every bin's elements are gathered (static indices) into a ``(N, C, *O, K)`` array, ``K`` the
largest bin; slots past a smaller bin's end hold ``0`` (average) or ``-inf`` (max).

* average: ``y[o] = (1/m[o]) sum_k x_bin[o, k]``; backward, each element receives
  ``delta[o] / m[o]`` from every bin that contains it (the ``1/m`` spread of
  derivation, Eq. 16 and 20);
* max: ``y[o] = max_k x_bin[o, k]``, the winner's slot ``idx[o]`` kept (first maximum on ties, the
  last NaN if any, as PyTorch); backward, ``delta[o]`` goes to that element only.

The backward passes are gathers too: for each input position, a static table lists the
``(bin, slot)`` pairs that read it, and their contributions are summed; no scatter, no atomics,
deterministic on every backend. Residuals: none (average), the winner's slot (max).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec


class Bins(NamedTuple):
    """Static description of the bins of one adaptive pooling (hashable: tuples only)."""
    in_sizes: tuple[int, ...]
    out_sizes: tuple[int, ...]
    gather: tuple[int, ...]     # flat (*O, K): flat input position per slot, -1 if none
    scatter: tuple[int, ...]    # flat (L_total, M): flat (bin, slot) per reader, -1 if none
    slots: int                  # K
    readers: int                # M
    counts: tuple[int, ...]     # flat (*O): elements per bin


def _axis_bins(size: int, out: int):
    starts = [(i * size) // out for i in range(out)]
    ends = [-(-((i + 1) * size) // out) for i in range(out)]
    return starts, ends


@functools.lru_cache(maxsize=256)
def make_bins(in_sizes: tuple[int, ...], out_sizes: tuple[int, ...]) -> Bins:
    per_axis = [_axis_bins(s, o) for s, o in zip(in_sizes, out_sizes)]
    widths = [max(e - s for s, e in zip(*ax)) for ax in per_axis]
    k = math.prod(widths)
    gather = np.full(tuple(out_sizes) + (k,), -1, np.int64)
    counts = np.zeros(tuple(out_sizes), np.int64)
    readers: dict[int, list[int]] = {}
    strides = [math.prod(in_sizes[a + 1:]) for a in range(len(in_sizes))]
    for o in np.ndindex(*out_sizes):
        spans = [range(per_axis[a][0][i], per_axis[a][1][i]) for a, i in enumerate(o)]
        counts[o] = math.prod(len(r) for r in spans)
        for slot, pos in enumerate(np.ndindex(*[len(r) for r in spans])):
            p = sum((spans[a][j]) * strides[a] for a, j in enumerate(pos))
            gather[o + (slot,)] = p
            readers.setdefault(p, []).append(np.ravel_multi_index(o + (slot,), gather.shape))
    m = max(len(v) for v in readers.values())
    scatter = np.full((math.prod(in_sizes), m), -1, np.int64)
    for p, lst in readers.items():
        scatter[p, :len(lst)] = lst
    return Bins(tuple(in_sizes), tuple(out_sizes), tuple(gather.ravel().tolist()),
                tuple(scatter.ravel().tolist()), k, m, tuple(counts.ravel().tolist()))


def gather_bins(x, bins: Bins, fill):
    """``(N, C, *L) -> (N, C, *O, K)``: every bin's elements, ``fill`` in empty slots."""
    nb, c = x.shape[:2]
    total = math.prod(bins.in_sizes)
    idx = np.asarray(bins.gather)
    idx = np.where(idx < 0, total, idx)                 # out of range: filled
    v = jnp.take(x.reshape(nb, c, total), idx, axis=2, mode="fill", fill_value=fill)
    return v.reshape((nb, c) + bins.out_sizes + (bins.slots,))


def scatter_bins(parts, bins: Bins):
    """Transpose of :func:`gather_bins`, as a gather: ``(N, C, *O, K) -> (N, C, *L)``, each
    input position the sum of the slots that read it."""
    nb, c = parts.shape[:2]
    size = math.prod(bins.out_sizes) * bins.slots
    idx = np.asarray(bins.scatter)
    idx = np.where(idx < 0, size, idx)
    g = jnp.take(parts.reshape(nb, c, size), idx, axis=2, mode="fill", fill_value=0)
    return g.reshape((nb, c) + bins.in_sizes + (bins.readers,)).sum(axis=-1)


def _counts(bins: Bins, dtype):
    return np.asarray(bins.counts, np.float64).reshape((1, 1) + bins.out_sizes).astype(dtype)


# ----- average ------------------------------------------------------------------------------

def avg_forward(x, bins: Bins):
    acc = _args.acc_dtype(x.dtype)
    s = jnp.sum(gather_bins(x.astype(acc), bins, 0), axis=-1)
    return (s / _counts(bins, acc)).astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _adaptive_avg(x, bins):
    return avg_forward(x, bins)


# _adaptive_avg_fwd :: x -> (y, ())
def _adaptive_avg_fwd(x, bins):
    return avg_forward(x, bins), ()


# _adaptive_avg_bwd :: (bins, (), CT y) -> (CT x,): delta / m to every element of each bin
def _adaptive_avg_bwd(bins, _, delta):
    acc = _args.acc_dtype(delta.dtype)
    share = delta.astype(acc) / _counts(bins, acc)
    parts = jnp.broadcast_to(share[..., None], share.shape + (bins.slots,))
    return (scatter_bins(parts, bins).astype(delta.dtype),)


_adaptive_avg.defvjp(_adaptive_avg_fwd, _adaptive_avg_bwd)


# ----- max ----------------------------------------------------------------------------------

def _argmax_pytorch(v):
    """``(max, slot)`` over the last axis: the first maximum, or the last NaN if there is one."""
    nan = jnp.isnan(v)
    first_max = jnp.argmax(jnp.where(nan, -jnp.inf, v), axis=-1)
    last_nan = v.shape[-1] - 1 - jnp.argmax(nan[..., ::-1], axis=-1)
    slot = jnp.where(jnp.any(nan, axis=-1), last_nan, first_max)
    slot = slot.astype(np.int8 if v.shape[-1] <= 127 else np.int32)
    return jnp.take_along_axis(v, slot[..., None].astype(jnp.int32), axis=-1)[..., 0], slot


def max_forward_with_slot(x, bins: Bins):
    return _argmax_pytorch(gather_bins(x, bins, -jnp.inf))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _adaptive_max(x, bins):
    return max_forward_with_slot(x, bins)[0]


# _adaptive_max_fwd :: x -> (y, winning slot)
def _adaptive_max_fwd(x, bins):
    return max_forward_with_slot(x, bins)


# _adaptive_max_bwd :: (bins, slot, CT y) -> (CT x,): each delta to its bin's winner
def _adaptive_max_bwd(bins, slot, delta):
    hit = slot[..., None] == np.arange(bins.slots, dtype=slot.dtype).reshape(
        (1,) * slot.ndim + (bins.slots,))
    acc = _args.acc_dtype(delta.dtype)     # overlapping bins sum deltas: in float32 for 16-bit
    parts = jnp.where(hit, delta.astype(acc)[..., None], jnp.zeros((), acc))
    return (scatter_bins(parts, bins).astype(delta.dtype),)


_adaptive_max.defvjp(_adaptive_max_fwd, _adaptive_max_bwd)


def _max_autodiff(x, bins):
    """A plain gather plus a gather of the winner: ``jax.grad`` routes the delta to it."""
    v = gather_bins(x, bins, -jnp.inf)
    slot = jax.lax.stop_gradient(_argmax_pytorch(v)[1]).astype(jnp.int32)
    return jnp.take_along_axis(v, slot[..., None], axis=-1)[..., 0]


# ----- public ---------------------------------------------------------------------------------

def adaptive_bins(op, x, output_size) -> Bins:
    """Validate ``x`` and ``output_size`` (``None``: the global pools' one bin per axis)."""
    _args.check_float(op, "x", x)
    n = _args.spatial_rank(op, x)
    if 0 in x.shape[2:]:
        raise ValueError(f"jaxconv.{op}: `x` has no elements on a spatial axis (shape "
                         f"{tuple(x.shape)}); adaptive and global pooling need at least one "
                         "per axis, as in PyTorch.")
    out = (1,) * n if output_size is None else _args.int_tuple(op, "output_size", output_size, n)
    return make_bins(tuple(int(s) for s in x.shape[2:]), out)


def adaptive_avg_pool(x, output_size):
    """Adaptive average pooling (PyTorch's bins); the backward spreads ``delta / m`` over each
    bin (derivation, Eq. 19-20).

    Args:
      x: ``(N, C, *L)`` with 1, 2 or 3 spatial axes, floating dtype.
      output_size: int or one per spatial axis.

    Returns:
      ``(N, C, *output_size)``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.adaptive_avg_pool(jnp.arange(6.0).reshape(1, 1, 6), 2)
      Array([[[1., 4.]]], dtype=float32)
    """
    return _adaptive_avg(x, adaptive_bins("adaptive_avg_pool", x, output_size))


def adaptive_max_pool(x, output_size):
    """Adaptive max pooling (PyTorch's bins and tie/NaN rules); the backward routes each delta
    to its bin's winner (derivation, Eq. 19-20).

    Args:
      x: ``(N, C, *L)`` with 1, 2 or 3 spatial axes, floating dtype.
      output_size: int or one per spatial axis.

    Returns:
      ``(N, C, *output_size)``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.adaptive_max_pool(jnp.arange(6.0).reshape(1, 1, 6), 2)
      Array([[[2., 5.]]], dtype=float32)
    """
    return _adaptive_max(x, adaptive_bins("adaptive_max_pool", x, output_size))


def global_avg_pool(x):
    """Global average pooling: ``(N, C, *L) -> (N, C)``, the mean over every position
    (derivation, Eq. 19-20 with one bin).

    Args:
      x: ``(N, C, *L)`` with 1, 2 or 3 spatial axes, floating dtype.

    Returns:
      ``(N, C)``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.global_avg_pool(jnp.arange(8.0).reshape(1, 2, 4))
      Array([[1.5, 5.5]], dtype=float32)
    """
    return _adaptive_avg(x, adaptive_bins("global_avg_pool", x, None)).reshape(x.shape[:2])


def global_max_pool(x):
    """Global max pooling: ``(N, C, *L) -> (N, C)``, the maximum over every position (first
    maximum on ties, last NaN, as PyTorch; derivation, Eq. 19-20 with one bin).

    Args:
      x: ``(N, C, *L)`` with 1, 2 or 3 spatial axes, floating dtype.

    Returns:
      ``(N, C)``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.global_max_pool(jnp.arange(8.0).reshape(1, 2, 4))
      Array([[3., 7.]], dtype=float32)
    """
    return _adaptive_max(x, adaptive_bins("global_max_pool", x, None)).reshape(x.shape[:2])


# jaxconv.autodiff.adaptive_* / global_*: the same functions with the rules replaced
AUTODIFF = {"_adaptive_avg": avg_forward, "_adaptive_max": _max_autodiff}


# ----- the registry entries ----------------------------------------------------------------------

def _adaptive_cases(op):
    return lambda exhaustive: [
        _spec.Case(op, ((2, 3) + s,), (("output_size", o),))
        for s, o in [((7,), 3), ((7, 8), (3, 4)), ((5, 6), (7, 2)), ((4, 5, 6), (2, 3, 4))]]


def _global_cases(op):
    return lambda exhaustive: [_spec.Case(op, ((2, 3) + s,)) for s in [(7,), (5, 6), (3, 4, 3)]]


def _adaptive_textbook(tb, case, inputs, delta):
    kind = case.op.split("_")[1]
    return (tb.adaptive_pool_backward(kind, inputs[0], delta, case.kwargs["output_size"]),)


def _global_textbook(tb, case, inputs, delta):        # one bin per channel
    d = np.asarray(delta).reshape(np.shape(delta) + (1,) * (len(case.shapes[0]) - 2))
    return (tb.adaptive_pool_backward(case.op.split("_")[1], inputs[0], d, 1),)


SPECS = (
    _spec.OpSpec(adaptive_avg_pool, kind="pooling", cases=_adaptive_cases("adaptive_avg_pool"),
                 textbook=_adaptive_textbook, pytorch="F.adaptive_avg_pool1d/2d/3d",
                 rule=("the mean of each of PyTorch's bins `[⌊iL/O⌋, ⌈(i+1)L/O⌉)` (Eq. 19)",
                       "`delta / |bin|` spread over the bin, overlapping bins summed (Eq. 20); "
                       "a gather, no scatter", "none"),
                 examples=(_spec.Example("adaptive_avg_pool",
                                         lambda ops, x: ops.adaptive_avg_pool(x, (3, 2)),
                                         ((2, 3, 7, 5),)),)),
    _spec.OpSpec(adaptive_max_pool, kind="pooling", cases=_adaptive_cases("adaptive_max_pool"),
                 textbook=_adaptive_textbook, condition=_spec.distinct,
                 pytorch="F.adaptive_max_pool1d/2d/3d",
                 rule=("the maximum of each bin (Eq. 19)",
                       "each delta to its bin's winner (Eq. 20); a gather, no scatter",
                       "the winner's slot in its bin"),
                 examples=(_spec.Example("adaptive_max_pool",
                                         lambda ops, x: ops.adaptive_max_pool(x, (3, 2)),
                                         ((2, 3, 7, 5),)),)),
    _spec.OpSpec(global_avg_pool, kind="pooling", cases=_global_cases("global_avg_pool"),
                 textbook=_global_textbook, pytorch="F.adaptive_avg_pool2d(x, 1)",
                 rule=("`y[n,c]`: the mean over the spatial axes (Eq. 19 with one bin)",
                       "`delta / S` on every element (Eq. 20)", "none"),
                 examples=(_spec.Example("global_avg_pool",
                                         lambda ops, x: ops.global_avg_pool(x),
                                         ((2, 3, 4, 4),)),)),
    _spec.OpSpec(global_max_pool, kind="pooling", cases=_global_cases("global_max_pool"),
                 textbook=_global_textbook, condition=_spec.distinct,
                 pytorch="F.adaptive_max_pool2d(x, 1)",
                 rule=("`y[n,c]`: the maximum over the spatial axes (Eq. 19 with one bin)",
                       "the delta to the winner (the first maximum, the last NaN) (Eq. 20)",
                       "the winner's position"),
                 examples=(_spec.Example("global_max_pool",
                                         lambda ops, x: ops.global_max_pool(x),
                                         ((2, 3, 4, 4),)),)),
)
