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


def is_int(v) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_number(v) -> bool:
    """A Python or NumPy real number, not a bool."""
    return (isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_)))


# ----- scalar options: one check each, one message format -------------------------------------

def check_bool(op: str, name: str, value) -> None:
    """``TypeError`` unless ``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise TypeError(f"jaxconv.{op}: `{name}` (={value!r}) must be True or False.")


def check_choice(op: str, name: str, value, choices: Sequence) -> None:
    """``ValueError`` unless ``value`` is one of ``choices`` (compared with ``==``)."""
    if not any(type(value) is type(c) and value == c for c in choices):
        quoted = [repr(c) for c in choices]
        listing = (" or ".join(quoted) if len(quoted) == 2
                   else "one of " + ", ".join(quoted))
        raise ValueError(f"jaxconv.{op}: `{name}` (={value!r}) must be {listing}.")


def check_number(op: str, name: str, value, *, low=None, high=None, low_open=False,
                 high_open=False, expect: str | None = None, hint: str = "") -> float:
    """``value`` as a float, or ``ValueError`` unless it is a finite number in the interval
    ``[low, high]`` (an end open with ``low_open`` / ``high_open``; ``None``: unbounded).
    ``expect`` replaces the generated description (e.g. "a positive number")."""
    if expect is None:
        if low is not None and high is not None:
            expect = (f"a number in {'(' if low_open else '['}{low:g}, {high:g}"
                      f"{')' if high_open else ']'}")
        elif low is not None:
            expect = f"a finite number {'>' if low_open else '>='} {low:g}"
        elif high is not None:
            expect = f"a finite number {'<' if high_open else '<='} {high:g}"
        else:
            expect = "a finite number"
    ok = is_number(value) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"jaxconv.{op}: `{name}` (={value!r}) must be {expect}"
                         + (f"; {hint}." if hint else "."))
    return float(value)


def check_int(op: str, name: str, value, *, minimum: int | None = None, optional: bool = False,
              expect: str | None = None) -> int | None:
    """``value`` as an int (``None`` passes when ``optional``), or an error naming it: a
    ``TypeError`` for a non-integer, a ``ValueError`` below ``minimum``."""
    if optional and value is None:
        return None
    if expect is None:
        kind = ("a positive int" if minimum == 1 else "an int" if minimum is None
                else f"an int >= {minimum}")
        expect = ("None or " if optional else "") + kind
    if not is_int(value):
        raise (TypeError if minimum is None else ValueError)(
            f"jaxconv.{op}: `{name}` (={value!r}) must be {expect}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"jaxconv.{op}: `{name}` (={value!r}) must be {expect}.")
    return int(value)


def int_tuple(op: str, name: str, value, n: int, minimum: int = 1) -> tuple[int, ...]:
    """``value`` as ``n`` ints ``>= minimum`` (an int is repeated on every spatial axis)."""
    kind = "positive" if minimum == 1 else f">= {minimum}"
    expect = f"a {kind} int or a tuple of {n} {kind} ints (one per spatial axis)"
    if is_int(value):
        out = (int(value),) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(f"jaxconv.{op}: `{name}` (={value!r}) must be {expect}; "
                             f"got {len(value)} entries for {n} spatial axes.")
        if not all(is_int(v) for v in value):
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
    """Normalise every padding form (``"VALID"``, ``"SAME"``, ints, pairs) to explicit
    ``(low, high)`` pairs.

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
    if is_int(padding):
        pads = ((int(padding), int(padding)),) * n
    elif isinstance(padding, Sequence) and len(padding) == n and all(is_int(p) for p in padding):
        pads = tuple((int(p), int(p)) for p in padding)
    elif (isinstance(padding, Sequence) and len(padding) == n
          and all(isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2
                  and all(is_int(q) for q in p) for p in padding)):
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


def as_float_array(op: str, name: str, x):
    """``x`` as a JAX array after :func:`check_float`; a Python float becomes a weakly typed
    scalar array, as ``jnp.asarray`` makes it (so ``jax.grad(jc.tanh)(1.0)`` works)."""
    if isinstance(x, float):
        return jnp.asarray(x)
    check_float(op, name, x)
    return jnp.asarray(x)


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
    if 0 in w.shape[2:]:
        raise ValueError(f"jaxconv.{op}: `w` has a kernel of size 0 (shape {tuple(w.shape)}); "
                         "every kernel axis needs at least one tap.")
    if x.ndim != w.ndim:
        raise ValueError(f"jaxconv.{op}: `x` must be (N, C, *spatial) with {n} spatial axes to "
                         f"match `w` of shape {tuple(w.shape)}; got `x` of shape {tuple(x.shape)}."
                         + (" Add the batch axis with x[None]." if x.ndim == w.ndim - 1 else ""))
    return n


def check_groups(op: str, groups) -> int:
    return check_int(op, "groups", groups, minimum=1)


def wanted(x, w, b):
    """Residuals of a symbolic-zeros rule for ``y = f(x, w) + b`` (each a ``CustomVJPPrimal``):
    ``x`` if ``dE/dw`` is requested, ``w`` if ``dE/dx`` is, ``()`` if ``dE/db`` is, else None."""
    return (x.value if w.perturbed else None, w.value if x.perturbed else None,
            () if b is not None and b.perturbed else None)


def check_ndim(op: str, name: str, x, ndims, layout: str) -> None:
    ndims = (ndims,) if is_int(ndims) else tuple(ndims)
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


_CHANNELS_LAST = {1: "(N, L, C)", 2: "(N, H, W, C)", 3: "(N, D, H, W, C)"}
_CHANNELS_FIRST = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def channels_last_hint(x, channels: int) -> str:
    """A sentence to add to a channel-count error when ``x`` (rank 3-5) looks channels-last:
    its last axis has the ``channels`` expected and its channel axis (1) does not; else ``""``."""
    rank = len(x.shape) - 2
    if rank not in _CHANNELS_LAST or x.shape[1] == channels or x.shape[-1] != channels:
        return ""
    return (f" x looks channels-last {_CHANNELS_LAST[rank]}; jaxconv takes "
            f"{_CHANNELS_FIRST[rank]}: use jnp.moveaxis(x, -1, 1).")


def dilated_extent(k: int, r: int) -> int:
    """Size covered by a window of ``k`` taps spread ``r`` apart: ``(k - 1) * r + 1``."""
    return (k - 1) * r + 1


def conv_out_sizes(in_sizes, extents, strides, pads) -> tuple[int, ...]:
    return tuple((size + lo + hi - ext) // s + 1
                 for size, ext, s, (lo, hi) in zip(in_sizes, extents, strides, pads))


def check_precision(op: str, precision):
    """``precision`` as a :class:`jax.lax.Precision` (or None: XLA's default): None, one of
    ``"default"``, ``"high"``, ``"highest"`` (any case), or a ``lax.Precision``."""
    from jax import lax
    if precision is None or isinstance(precision, lax.Precision):
        return precision
    if isinstance(precision, str) and precision.lower() in ("default", "high", "highest"):
        return getattr(lax.Precision, precision.upper())
    raise ValueError(f"jaxconv.{op}: `precision` (={precision!r}) must be None, 'default', "
                     "'high', 'highest' or a jax.lax.Precision; 'highest' keeps float32 "
                     "products exact on GPUs whose default is TF32.")


def acc_dtype(dtype):
    """Accumulation dtype: float32 for 16-bit floats, the input dtype otherwise."""
    return jnp.float32 if jnp.dtype(dtype).itemsize < 4 else dtype


def prod(xs) -> int:
    return math.prod(int(v) for v in xs)
