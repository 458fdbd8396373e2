r"""Interpolation (resizing): nearest, nearest-exact and (bi/tri)linear, as PyTorch's
``F.interpolate``; the backward is the transpose of the interpolation weights, as gathers.

Shapes: ``x`` is ``(N, C, *S)`` with 1-3 spatial axes, the output ``y`` and the deltas are
``(N, C, *O)``, with ``O = size`` or ``O = floor(S * scale_factor)`` per axis.

Every mode is separable: one axis at a time, output ``o`` of that axis reads ``T`` input
positions ``i_t(o)`` with weights ``w_t(o)`` (``T = 1``, ``w = 1`` for the nearest modes;
``T = 2``, ``w = (1 - lambda, lambda)`` for linear), from the source coordinate of
derivation, Eq. 47 (``r = 1 / scale_factor`` when a factor is given, else
``S / O``; ``(S - 1) / (O - 1)`` with ``align_corners``), rounded by Eq. 48 (nearest) or split
into two neighbours by Eq. 49 (linear)::

    y[n, c, o] = sum_t w_t(o) * x[n, c, i_t(o)]                      (per axis; Eq. 49)

The tables ``i_t, w_t`` depend on the static sizes only: NumPy builds them at trace time and they
enter the program as constants.

Backward (Eq. 50), the transpose of each axis' ``(O, S)`` weight matrix ``M[o, i_t(o)] += w_t``,
applied axis by axis in reverse order. The outputs that read input position ``p`` form a
contiguous range (``i_t`` is nondecreasing in ``o``) of at most ``K`` entries
(``ceil(1/r)`` for nearest, ``2 ceil(1/r) + ceil(1/(2r))`` for linear, the last term the
outputs clamped to ``u = 0``), so a padded ``(S, K)`` table of ``(output, weight)`` pairs per
input position turns the transpose into a gather and a sum over ``k``::

    dE/dx[n, c, p] = sum_k W[p, k] * delta[n, c, o_k(p)]              (per axis; Eq. 50)

(padding slots point past the end: they gather 0 and weigh 0). No scatter-add, so no atomics:
deterministic on every backend. 16-bit inputs are computed in float32 and rounded once.

Lowering (:func:`jaxconv._src.core.lowering.interpolate_methods`, per axis): ``"gather"`` as
above, or ``"matmul"``: the same weights as one ``(O, S)`` matrix ``M``, the forward ``M x`` and
the backward ``M^T delta`` along the axis (XLA:CPU's inner-axis gathers are 4-20x slower than
these products; the default on CPU for ``S * O <= 2**21``). Both are scatter-free.

Residuals: none (the tables are static).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv._src.core import args as _args
from jaxconv._src.core import lowering as _lowering
from jaxconv._src.core import spec as _spec

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear")
_LINEAR_RANK = {"linear": 1, "bilinear": 2, "trilinear": 3}
_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


class InterpConfig(NamedTuple):
    """Static (hashable) description of one interpolation; built by :func:`interpolate_config`.
    The per-axis tables are derived from these fields by :func:`axis_tables` (cached)."""
    mode: str                                   # "nearest", "nearest-exact" or "linear"
    align_corners: bool                         # False for the nearest modes
    in_sizes: tuple[int, ...]                   # S
    out_sizes: tuple[int, ...]                  # O
    scale_factors: tuple[float | None, ...]     # the factor per axis, None when `size` was given
    methods: tuple[str, ...] = ()               # per axis on CPU: "gather" or "matmul"
    other: tuple[str, ...] = ()                 # per axis on other platforms (): gather


class AxisTables(NamedTuple):
    """One axis' interpolation weights, forward and transposed (NumPy constants)."""
    src: np.ndarray        # (T, O) int32: input position of tap t of output o
    weight: np.ndarray     # (T, O) float64: its weight
    readers: np.ndarray    # (S, K) int32: the outputs that read input p; O (past the end) if none
    reader_weight: np.ndarray   # (S, K) float64: their summed weights; 0 where none
    identity: bool         # nearest with i(o) = o: the axis is skipped both ways


def _floorf(u: np.ndarray) -> np.ndarray:
    """PyTorch's ``floorf(u)`` of a double ``u``: rounded to float32 first, then floored."""
    return np.floor(u.astype(np.float32)).astype(np.int64)


def source_scale(in_size: int, out_size: int, mode: str, align_corners: bool,
                 scale_factor: float | None) -> float:
    """The ``r`` of Eq. 47: ``(S - 1) / (O - 1)`` (0 for ``O = 1``) with ``align_corners``,
    else ``1 / scale_factor`` when a factor is given, else ``S / O`` (double precision). A
    linear axis whose size is unchanged is the identity (``r = 1``) whatever the factor, as in
    PyTorch's kernels; the nearest modes keep ``1 / scale_factor`` there."""
    if align_corners:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    if scale_factor is None or (mode == "linear" and in_size == out_size):
        return in_size / out_size
    return 1.0 / scale_factor


@functools.lru_cache(maxsize=256)
def axis_tables(in_size: int, out_size: int, mode: str, align_corners: bool,
                scale_factor: float | None) -> AxisTables:
    """Eq. 47-49 for one axis as ``(T, O)`` tables, and their transpose as ``(S, K)`` tables."""
    r = source_scale(in_size, out_size, mode, align_corners, scale_factor)
    o = np.arange(out_size, dtype=np.float64)
    last = in_size - 1
    if mode == "nearest":                                         # Eq. 48: floor(o * r)
        src = np.minimum(_floorf(r * o), last)[None]
        weight = np.ones((1, out_size))
    elif mode == "nearest-exact":                                 # Eq. 48: floor((o + 1/2) r)
        u = np.maximum(r * (o + 0.5) - 0.5, 0.0)
        src = np.minimum(_floorf(u + 0.5), last)[None]
        weight = np.ones((1, out_size))
    else:                                                         # Eq. 47 and 49
        u = r * o if align_corners else np.maximum(r * (o + 0.5) - 0.5, 0.0)
        i0 = np.minimum(_floorf(u), last)
        lam = np.clip(u - i0, 0.0, 1.0)
        src = np.stack([i0, i0 + (i0 < last)])
        weight = np.stack([1.0 - lam, lam])
    # transpose: merge the taps of one (o, p) pair, group the pairs by p (Eq. 50)
    taps = src.shape[0]
    key = src.ravel() * out_size + np.tile(np.arange(out_size), taps)
    pairs, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weight.ravel(), minlength=pairs.size)
    p, reader = pairs // out_size, pairs % out_size
    counts = np.bincount(p, minlength=in_size)
    k = max(int(counts.max(initial=0)), 1)
    slot = np.arange(pairs.size) - (np.cumsum(counts) - counts)[p]
    readers = np.full((in_size, k), out_size, np.int32)
    reader_weight = np.zeros((in_size, k))
    readers[p, slot] = reader
    reader_weight[p, slot] = summed
    identity = mode != "linear" and in_size == out_size and bool((src[0] == o).all())
    tables = (src.astype(np.int32), weight, readers, reader_weight)
    for a in tables:
        a.setflags(write=False)                 # cached and shared: constants
    return AxisTables(*tables, identity)


@functools.lru_cache(maxsize=64)
def weight_matrix(in_size: int, out_size: int, mode: str, align_corners: bool,
                  scale_factor: float | None) -> np.ndarray:
    """One axis' weights (Eq. 49) as the ``(O, S)`` matrix ``M[o, i_t(o)] += w_t(o)``: the
    matmul lowering, built only for the axes it lowers (cached, read-only)."""
    t = axis_tables(in_size, out_size, mode, align_corners, scale_factor)
    matrix = np.zeros((out_size, in_size))
    np.add.at(matrix, (np.tile(np.arange(out_size), t.src.shape[0]), t.src.ravel()),
              t.weight.ravel())
    matrix.setflags(write=False)
    return matrix


def _matrix(cfg: InterpConfig, axis: int) -> np.ndarray:
    return weight_matrix(cfg.in_sizes[axis], cfg.out_sizes[axis], cfg.mode, cfg.align_corners,
                         cfg.scale_factors[axis])


def _method(cfg: InterpConfig, axis: int) -> str:
    return cfg.methods[axis] if cfg.methods else "gather"


def _tables(cfg: InterpConfig):
    return [axis_tables(s, o, cfg.mode, cfg.align_corners, f)
            for s, o, f in zip(cfg.in_sizes, cfg.out_sizes, cfg.scale_factors)]


def _along(table: np.ndarray, axis: int, ndim: int, dtype):
    """A ``(A,)`` or ``(A, B)`` table as a constant of rank ``ndim`` whose axes ``axis, ...``
    are the table's (it broadcasts over ``(N, C, ..., A, B, ...)``)."""
    shape = (1,) * axis + table.shape
    return np.asarray(table, dtype).reshape(shape + (1,) * (ndim - len(shape)))


def _apply_matrix(v, matrix: np.ndarray, ax: int):
    """``v`` with axis ``ax`` contracted against the columns of ``matrix`` ``(A, B)``: the axis
    of size ``B`` becomes one of size ``A`` (a matrix product, exact in float32: HIGHEST)."""
    m = jnp.asarray(matrix, v.dtype)
    out = lax.dot_general(v, m, (((ax,), (1,)), ((), ())), precision=lax.Precision.HIGHEST)
    return jnp.moveaxis(out, -1, ax)


def forward(x, cfg: InterpConfig):
    """Eq. 49, one axis after the other: ``(N, C, *S) -> (N, C, *O)``, in float32 for 16-bit
    inputs. This is also the forward of :mod:`jaxconv.autodiff`."""
    acc = _args.acc_dtype(x.dtype)
    y = x.astype(acc)
    for a, t in enumerate(_tables(cfg)):
        if t.identity:
            continue
        ax = 2 + a
        if _method(cfg, a) == "matmul":             # y = M x along the axis
            y = _apply_matrix(y, _matrix(cfg, a), ax)
            continue
        parts = [jnp.take(y, t.src[j], axis=ax, mode="clip") for j in range(t.src.shape[0])]
        if cfg.mode != "linear":            # one tap of weight 1: a plain gather
            y = parts[0]
            continue
        y = (parts[0] * _along(t.weight[0], ax, y.ndim, acc)
             + parts[1] * _along(t.weight[1], ax, y.ndim, acc))
    return y.astype(x.dtype)


def transpose(delta, cfg: InterpConfig):
    """Eq. 50, the axes in reverse order: ``(N, C, *O) -> (N, C, *S)``; per axis a gather of the
    deltas that read each input position and a weighted sum over the ``K`` slots."""
    acc = _args.acc_dtype(delta.dtype)
    g = delta.astype(acc)
    for a, t in reversed(list(enumerate(_tables(cfg)))):
        if t.identity:
            continue
        ax = 2 + a
        if _method(cfg, a) == "matmul":             # dx = M^T delta along the axis
            g = _apply_matrix(g, _matrix(cfg, a).T, ax)
            continue
        parts = jnp.take(g, t.readers, axis=ax, mode="fill", fill_value=0)   # (.., S, K, ..)
        if cfg.mode == "linear":
            parts = parts * _along(t.reader_weight, ax, parts.ndim, acc)
        g = jnp.sum(parts, axis=ax + 1)
    return g.astype(delta.dtype)


def _on_platform(fn, cfg: InterpConfig, a):
    """``fn(a, cfg)`` with the per-axis methods of the platform lowered for."""
    return _lowering.per_platform(lambda methods, a: fn(a, cfg._replace(methods=methods)),
                                  cfg.methods, cfg.other, a)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _interpolate(x, cfg):
    return _on_platform(forward, cfg, x)


# _interpolate_fwd :: x -> (y, ())
def _interpolate_fwd(x, cfg):
    return _on_platform(forward, cfg, x), ()


# _interpolate_bwd :: (cfg, (), CT y) -> (CT x,): the transposed weights, as gathers
def _interpolate_bwd(cfg, _, delta):
    return (_on_platform(transpose, cfg, delta),)


_interpolate.defvjp(_interpolate_fwd, _interpolate_bwd)


def _scale_factors(op, scale_factor, n) -> tuple[float, ...]:
    expect = f"a positive number or a tuple of {n} positive numbers (one per spatial axis)"
    if isinstance(scale_factor, Sequence) and not isinstance(scale_factor, str):
        if len(scale_factor) != n:
            raise ValueError(f"jaxconv.{op}: `scale_factor` (={scale_factor!r}) must be {expect}; "
                             f"got {len(scale_factor)} entries for {n} spatial axes.")
        for v in scale_factor:
            _args.check_number(op, "scale_factor", v, low=0, low_open=True,
                               expect="a positive number", hint=f"an entry of {scale_factor!r}")
        return tuple(float(v) for v in scale_factor)
    return (_args.check_number(op, "scale_factor", scale_factor, low=0, low_open=True,
                               expect=expect),) * n


def interpolate_config(x, size, scale_factor, mode, align_corners) -> InterpConfig:
    """Validate the arguments of :func:`interpolate` (PyTorch's rules) and normalise them."""
    op = "interpolate"
    _args.check_float(op, "x", x)
    n = _args.spatial_rank(op, x)
    _args.check_choice(op, "mode", mode, MODES)
    if mode in _LINEAR_RANK and _LINEAR_RANK[mode] != n:
        right = {1: "linear", 2: "bilinear", 3: "trilinear"}[n]
        k = _LINEAR_RANK[mode]
        raise ValueError(f"jaxconv.{op}: `mode` (={mode!r}) needs {k} spatial "
                         f"ax{'is' if k == 1 else 'es'}, x of shape {_LAYOUT[k]}; got x of shape "
                         f"{tuple(x.shape)}. Use mode={right!r} for {n} spatial "
                         f"ax{'is' if n == 1 else 'es'}.")
    if mode in _LINEAR_RANK:
        if align_corners is not None:
            _args.check_bool(op, "align_corners", align_corners)
        align = bool(align_corners)
    else:
        if align_corners is not None:
            raise ValueError(f"jaxconv.{op}: `align_corners` (={align_corners!r}) applies to "
                             f"the linear modes only; leave it None with mode={mode!r} (PyTorch "
                             "raises too).")
        align = False
    if (size is None) == (scale_factor is None):
        got = "both" if size is not None else "neither"
        raise ValueError(f"jaxconv.{op}: give exactly one of `size` and `scale_factor`; got "
                         f"{got} (size={size!r}, scale_factor={scale_factor!r}).")
    in_sizes = tuple(int(s) for s in x.shape[2:])
    if 0 in in_sizes:
        raise ValueError(f"jaxconv.{op}: `x` has no elements on a spatial axis (shape "
                         f"{tuple(x.shape)}); interpolation needs at least one per axis, as in "
                         "PyTorch.")
    if size is not None:
        entries = size if isinstance(size, Sequence) else (size,)
        if all(_args.is_int(v) for v in entries) and min(entries, default=1) < 1:
            raise ValueError(f"jaxconv.{op}: `size` (={size!r}) must be positive on every "
                             "spatial axis: each output axis needs at least one position.")
        out_sizes = _args.int_tuple(op, "size", size, n)
        factors: tuple[float | None, ...] = (None,) * n
    else:
        factors = _scale_factors(op, scale_factor, n)
        out_sizes = tuple(math.floor(s * f) for s, f in zip(in_sizes, factors))
        for a, (s, f, o) in enumerate(zip(in_sizes, factors, out_sizes)):
            if o < 1:
                raise ValueError(f"jaxconv.{op}: `scale_factor` (={scale_factor!r}) gives an "
                                 f"output size of 0 on spatial axis {a} (floor({s} * {f:g}) = 0); "
                                 f"use a factor >= 1/{s} there, or give `size`.")
    methods = _lowering.interpolate_methods(in_sizes, out_sizes)
    return InterpConfig("linear" if mode in _LINEAR_RANK else mode, align, in_sizes, out_sizes,
                        factors, methods)


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    r"""Resize the spatial axes of ``x`` as PyTorch's ``F.interpolate``; the backward is the
    transpose of the interpolation weights, computed as gathers (no scatter).

    .. math::
        y[n, c, o] = \sum_{t} \Big(\prod_a w_a(o_a, t_a)\Big) \, x[n, c, i(o, t)]

    (derivation, Eq. 47-50): the source coordinate of each output (Eq. 47), rounded
    down for the nearest modes (Eq. 48) or split between two neighbours for linear (Eq. 49); the
    gradient sums, for each input position, the deltas of the outputs that read it (Eq. 50).

    Args:
      x: ``(N, C, *S)`` with 1, 2 or 3 spatial axes, floating dtype.
      size: output size ``O``; int or one per spatial axis. Give this or ``scale_factor``.
      scale_factor: int, float or one per axis; ``O = floor(S * scale_factor)``, and the source
        coordinates use ``1 / scale_factor`` (PyTorch's ``recompute_scale_factor=None``).
      mode: ``"nearest"`` (PyTorch's legacy ``floor(o * S / O)``), ``"nearest-exact"``
        (``floor((o + 1/2) * S / O)``), or ``"linear"`` / ``"bilinear"`` / ``"trilinear"`` for
        1 / 2 / 3 spatial axes.
      align_corners: linear modes only: ``True`` maps the corner samples onto each other
        (``r = (S - 1) / (O - 1)``); ``False`` or ``None`` (the default) uses pixel centres.

    Returns:
      ``(N, C, *O)``, the dtype of ``x``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.interpolate(jnp.array([[[0.0, 1.0, 2.0]]]), scale_factor=2, mode="linear")
      Array([[[0.  , 0.25, 0.75, 1.25, 1.75, 2.  ]]], dtype=float32)
    """
    cfg = interpolate_config(x, size, scale_factor, mode, align_corners)
    return _interpolate(x, cfg)


# jaxconv.autodiff.interpolate: the same function with the rule replaced by the plain forward
AUTODIFF = {"_interpolate": forward}


# ----- the registry entry ------------------------------------------------------------------------

def _cases(exhaustive):
    """Every mode and rank, align_corners both ways, size and integer / non-integer factors,
    up and down (PyTorch's rules: derivation, Eq. 47-49)."""
    s1, s2, s3 = (2, 3, 7), (2, 3, 5, 4), (2, 2, 3, 4, 3)
    lin, ac = ("mode", "linear"), ("align_corners", True)
    return [_spec.Case("interpolate", (s,), opts) for s, opts in [
        (s1, (("scale_factor", 2),)),                                        # nearest, x2
        (s1, (("size", 4), ("mode", "nearest-exact"))),                      # down
        (s1, (("scale_factor", 1.5), lin)),
        (s1, (("size", 12), lin, ac)),
        (s2, (("scale_factor", (2, 0.7)),)),
        (s2, (("scale_factor", 1.5), ("mode", "nearest-exact"))),
        (s2, (("scale_factor", 0.5), ("mode", "bilinear"))),                 # down, default
        (s2, (("size", (8, 3)), ("mode", "bilinear"), ac)),
        (s2, (("scale_factor", (2, 0.7)), ("mode", "bilinear"), ("align_corners", False))),
        (s3, (("size", (6, 3, 5)),)),
        (s3, (("size", (5, 2, 4)), ("mode", "trilinear"), ac)),
        (s3, (("scale_factor", (2, 1.5, 0.7)), ("mode", "trilinear"))),
    ]]


SPECS = (_spec.OpSpec(
    interpolate, kind="interpolation", cases=_cases, pytorch="F.interpolate",
    rule=("per axis `y[o] = Σ_t w_t(o) x[i_t(o)]`, PyTorch's source coordinates "
          "(Eq. 47-49)",
          "the transpose of the weights, per axis: a gather over a static per-input table and "
          "a sum, or one product with the transposed weight matrix (Eq. 50); never a scatter",
          "none"),
    textbook=lambda tb, case, inputs, delta: (tb.interpolate_backward(inputs[0], delta,
                                                                      **case.kwargs),),
    examples=(
        _spec.Example("interpolate", lambda ops, x: ops.interpolate(x, scale_factor=(2, 0.7),
                                                                    mode="bilinear"),
                      ((2, 3, 5, 4),)),
        _spec.Example("interpolate_nearest", lambda ops, x: ops.interpolate(x, size=(3, 7, 2)),
                      ((2, 3, 2, 4, 3),)),
    )),)
