"""Argument normalisation and validation shared by every op.

Every public op turns its user-facing arguments into plain tuples here, once, at trace time:

* ``stride`` / ``dilation`` / ``window``: an int or one int per spatial axis -> ``tuple[int, ...]``;
* ``padding``: ``"VALID"``, ``"SAME"``, an int, one int per axis, or ``(low, high)`` pairs
  -> ``tuple[tuple[int, int], ...]`` of explicit ``(low, high)`` pairs.

Errors name the argument, the value, what was expected and how to fix it, e.g.
``jaxconv.conv: `stride` (=0) must be a positive int or a tuple of 2 positive ints; got 0.``
Nothing here is traced: shapes and options are static Python values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

Pads = tuple[tuple[int, int], ...]

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def int_tuple(op: str, name: str, value, n: int, minimum: int = 1) -> tuple[int, ...]:
    """``value`` as ``n`` ints ``>= minimum`` (an int is repeated on every spatial axis)."""
    kind = "positive" if minimum == 1 else f">= {minimum}"
    expect = f"a {kind} int or a tuple of {n} {kind} ints (one per spatial axis)"
    if _is_int(value):
        out = (int(value),) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"jaxconv.{op}: `{name}` (={value!r}) must be {expect}; "
                             f"got {len(value)} entries for {n} spatial axes.")
        if not all(_is_int(v) for v in value):
            raise TypeError(f"jaxconv.{op}: `{name}` (={value!r}) must be {expect}; "
                            "every entry must be an int.")
        out = tuple(int(v) for v in value)
    else:
        raise TypeError(f"jaxconv.{op}: `{name}` (={value!r}) must be {expect}.")
    if any(v < minimum for v in out):
        raise ValueError(f"jaxconv.{op}: `{name}` (={value!r}) must be {expect}; "
                         f"use {name}={minimum} for the default.")
    return out


def same_pads(in_sizes, window_extents, strides) -> Pads:
    """JAX/TF "SAME": output = ceil(in / stride), the odd remainder of padding on the high side."""
    pads = []
    for size, ext, s in zip(in_sizes, window_extents, strides):
        out = -(-size // s)
        total = max((out - 1) * s + ext - size, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def padding_pairs(op: str, padding, in_sizes, window_extents, strides, *, name="padding") -> Pads:
    """Normalise every padding form of DESIGN.md to explicit ``(low, high)`` pairs.

    ``window_extents`` are the dilated window sizes ``(k - 1) * r + 1`` (used by "SAME").
    """
    n = len(in_sizes)
    forms = ('"VALID", "SAME", an int, a tuple of one int per spatial axis, '
             'or a tuple of (low, high) pairs')
    if isinstance(padding, str):
        key = padding.upper()
        if key == "VALID":
            return ((0, 0),) * n
        if key == "SAME":
            return same_pads(in_sizes, window_extents, strides)
        raise ValueError(f"jaxconv.{op}: `{name}` (={padding!r}) is not understood; "
                         f"expected {forms}.")
    if _is_int(padding):
        pads = ((int(padding), int(padding)),) * n
    elif isinstance(padding, Sequence) and len(padding) == n and all(_is_int(p) for p in padding):
        pads = tuple((int(p), int(p)) for p in padding)
    elif (isinstance(padding, Sequence) and len(padding) == n
          and all(isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2
                  and all(_is_int(q) for q in p) for p in padding)):
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    else:
        raise ValueError(f"jaxconv.{op}: `{name}` (={padding!r}) is not understood for {n} spatial "
                         f"axes; expected {forms}.")
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        raise ValueError(f"jaxconv.{op}: `{name}` (={padding!r}) must not be negative; "
                         "crop the input with slicing instead.")
    return pads


def check_float(op: str, name: str, x) -> None:
    """Reject non-arrays and non-floating dtypes (gradients need floats)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        raise TypeError(f"jaxconv.{op}: `{name}` must be an array; got {type(x).__name__}. "
                        "Wrap it with jnp.asarray(..., dtype=jnp.float32).")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"jaxconv.{op}: `{name}` has dtype {dtype}, expected a floating dtype "
                        f"({', '.join(FLOAT_DTYPES)}); cast it with {name}.astype(jnp.float32).")


def check_same_dtype(op: str, **arrays) -> None:
    dtypes = {k: v.dtype for k, v in arrays.items() if v is not None}
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"`{k}` {d}" for k, d in dtypes.items())
        raise TypeError(f"jaxconv.{op}: inputs must share one dtype; got {listing}. "
                        "Cast them to one dtype first (e.g. w.astype(x.dtype)).")


def check_conv_arrays(op: str, x, w, b, w_layout: str) -> int:
    """The checks every convolution-like op shares; returns the spatial rank."""
    check_float(op, "x", x)
    check_float(op, "w", w)
    if b is not None:
        check_float(op, "b", b)
    check_same_dtype(op, x=x, w=w, b=b)
    if w.ndim not in (3, 4, 5):
        raise ValueError(f"jaxconv.{op}: `w` must be {w_layout} with 1, 2 or 3 spatial axes; "
                         f"got shape {tuple(w.shape)}.")
    n = w.ndim - 2
    if x.ndim != w.ndim:
        raise ValueError(f"jaxconv.{op}: `x` must be (N, C, *spatial) with {n} spatial axes to "
                         f"match `w` of shape {tuple(w.shape)}; got `x` of shape {tuple(x.shape)}."
                         + (" Add the batch axis with x[None]." if x.ndim == w.ndim - 1 else ""))
    return n


def check_groups(op: str, groups) -> None:
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"jaxconv.{op}: `groups` (={groups!r}) must be a positive int.")


def wanted(x, w, b):
    """Residuals of a symbolic-zeros rule for ``y = f(x, w) + b`` (each a ``CustomVJPPrimal``):
    ``x`` if ``dE/dw`` is requested, ``w`` if ``dE/dx`` is, ``()`` if ``dE/db`` is, else None."""
    return (x.value if w.perturbed else None, w.value if x.perturbed else None,
            () if b is not None and b.perturbed else None)


def check_ndim(op: str, name: str, x, ndims, layout: str) -> None:
    ndims = (ndims,) if _is_int(ndims) else tuple(ndims)
    if x.ndim not in ndims:
        want = " or ".join(str(d) for d in ndims)
        raise ValueError(f"jaxconv.{op}: `{name}` must have {want} dimensions {layout}; got shape "
                         f"{tuple(x.shape)} ({x.ndim} dimensions).")


def spatial_rank(op: str, x) -> int:
    """Spatial rank of a channels-first activation ``(N, C, *spatial)``; 1, 2 or 3."""
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"jaxconv.{op}: `x` must be (N, C, *spatial) with 1, 2 or 3 spatial axes; "
                         f"got shape {tuple(x.shape)}. Add the batch axis with x[None] if needed.")
    return x.ndim - 2


def dilated_extent(k: int, r: int) -> int:
    """Size covered by a window of ``k`` taps spread ``r`` apart: ``(k - 1) * r + 1``."""
    return (k - 1) * r + 1


def conv_out_sizes(in_sizes, extents, strides, pads) -> tuple[int, ...]:
    return tuple((size + lo + hi - ext) // s + 1
                 for size, ext, s, (lo, hi) in zip(in_sizes, extents, strides, pads))


def acc_dtype(dtype):
    """Accumulation dtype: float32 for 16-bit floats, the input dtype otherwise."""
    return jnp.float32 if jnp.dtype(dtype).itemsize < 4 else dtype


def prod(xs) -> int:
    return math.prod(int(v) for v in xs)
