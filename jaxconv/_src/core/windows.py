"""Window geometry shared by pooling and convolution: window taps, and their transpose.

A pooling window over one spatial axis of an input of size ``L`` with window ``k``, stride ``s``,
dilation ``d`` and padding ``(lo, hi)`` reads, for output position ``o`` and tap ``m``::

    x_pad[o*s + m*d]        0 <= m < k,   0 <= o < O,   O = (L + lo + hi - (k-1)*d - 1) // s + 1

``ceil_mode`` (PyTorch rule) rounds ``O`` up, but drops a last window that would start in the
high padding; the overhang past the declared padding that makes this window fit never counts as
part of the window for averaging. The padded input holds exactly what the ``O`` windows read.

Every op sees the window as ``K = prod(k)`` *taps*: tap ``t`` of
the window (row-major order) is one strided slice of the padded input, of the output's shape.

``taps`` is the forward side; ``fold`` is its exact transpose (each tap's contribution put back at
the input positions it was read from, summed: the "col2im" of the pooling backward passes).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv._src.core import args as _args


class Window(NamedTuple):
    """Static (hashable) description of one window layout (a pooling window or a conv kernel)."""
    in_sizes: tuple[int, ...]
    window: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]   # as declared (after "SAME"/int normalisation)
    out_sizes: tuple[int, ...]
    taps: int                              # K = prod(window), set once by make_window

    def offsets(self):
        """Per-axis tap offsets ``m`` in row-major window order."""
        return itertools.product(*(range(k) for k in self.window))


def make_window(in_sizes, window, stride, dilation, padding, out_sizes) -> Window:
    """A :class:`Window` with every field a tuple of ints and ``taps`` computed once."""
    window = tuple(int(k) for k in window)
    return Window(tuple(int(v) for v in in_sizes), window, tuple(int(v) for v in stride),
                  tuple(int(v) for v in dilation), tuple((int(lo), int(hi)) for lo, hi in padding),
                  tuple(int(v) for v in out_sizes), _args.prod(window))


def conv_window(in_sizes, kernel_sizes, stride, dilation, padding) -> Window:
    """The window layout of a convolution kernel (``padding`` as ``(low, high)`` pairs)."""
    outs = tuple((size + lo + hi - _args.dilated_extent(k, r)) // s + 1
                 for size, k, r, s, (lo, hi) in
                 zip(in_sizes, kernel_sizes, dilation, stride, padding))
    return make_window(in_sizes, kernel_sizes, stride, dilation, padding, outs)


def pool_config(op, x, window, stride, padding, ceil_mode, dilation=1) -> Window:
    """Validate pooling arguments and compute the window layout."""
    _args.check_float(op, "x", x)
    n = _args.spatial_rank(op, x)
    window = _args.int_tuple(op, "window", window, n)
    stride = window if stride is None else _args.int_tuple(op, "stride", stride, n)
    dilation = _args.int_tuple(op, "dilation", dilation, n)
    _args.check_bool(op, "ceil_mode", ceil_mode)
    sizes = tuple(x.shape[2:])
    extents = tuple(_args.dilated_extent(k, d) for k, d in zip(window, dilation))
    pads = _args.padding_pairs(op, padding, sizes, extents, stride)
    outs = []
    for ax, (size, ext, s, (lo, hi)) in enumerate(zip(sizes, extents, stride, pads)):
        span = size + lo + hi - ext
        if span < 0:
            raise ValueError(
                f"jaxconv.{op}: the `window` (size {window[ax]}, `dilation` {dilation[ax]}) spans "
                f"{ext} on spatial axis {ax}, more than the padded input `x` ({size} + `padding` "
                f"{lo} + {hi}); use a smaller window or more padding.")
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= size + lo:   # last window would start in the high padding
            o -= 1
        outs.append(o)
    cfg = make_window(sizes, window, stride, dilation, pads, outs)
    for ax in range(n):
        if real_counts_1d(cfg, ax, include_pad=False).min() == 0:
            raise ValueError(
                f"jaxconv.{op}: `padding` (={padding!r}) leaves a window with no input element on "
                f"spatial axis {ax}; use padding smaller than the window extent (at most "
                f"{(extents[ax] - 1) // 2} on each side is always safe).")
    return cfg


def _tap_positions(cfg: Window, ax: int) -> np.ndarray:
    """``(O, k)`` input positions ``o*s + m*d - lo`` read by each output and tap on axis ``ax``."""
    o = np.arange(cfg.out_sizes[ax])[:, None]
    m = np.arange(cfg.window[ax])[None, :]
    return o * cfg.stride[ax] + m * cfg.dilation[ax] - cfg.padding[ax][0]


def real_counts_1d(cfg: Window, ax: int, *, include_pad: bool) -> np.ndarray:
    """Taps of each window on axis ``ax`` that fall on real input, or on input plus declared
    padding when ``include_pad`` (PyTorch: the ceil-mode overhang never counts)."""
    pos = _tap_positions(cfg, ax)
    lo = -cfg.padding[ax][0] if include_pad else 0
    hi = cfg.in_sizes[ax] + (cfg.padding[ax][1] if include_pad else 0)
    return ((pos >= lo) & (pos < hi)).sum(axis=1)


def window_sizes(cfg: Window, *, include_pad: bool) -> np.ndarray:
    """Static ``(1, 1, *O)`` float64 array: the number of counted elements in each window."""
    out = np.ones((), np.float64)
    for ax in range(len(cfg.window)):
        out = np.multiply.outer(out, real_counts_1d(cfg, ax, include_pad=include_pad))
    return out.reshape((1, 1) + cfg.out_sizes)


def first_real_tap(cfg: Window) -> np.ndarray | int:
    """Static flat index (row-major window order) of the first tap on real input, per output
    position; ``0`` when there is no padding (the first tap is always real then)."""
    if all(lo == 0 for lo, _ in cfg.padding):
        return 0
    flat = np.zeros((), np.int64)
    for ax in range(len(cfg.window)):
        pos = _tap_positions(cfg, ax)
        first = np.argmax((pos >= 0) & (pos < cfg.in_sizes[ax]), axis=1)
        flat = np.add.outer(flat * cfg.window[ax], first)
    return flat.reshape((1, 1) + cfg.out_sizes)


def real_taps(cfg: Window):
    """Static ``K x (1, 1, *O)`` booleans: whether tap ``t`` of each window is on real input;
    ``None`` when there is no padding (every tap is)."""
    if all(lo == 0 for lo, _ in cfg.padding) and all(
            (o - 1) * s + _args.dilated_extent(k, d) <= size for o, s, k, d, size in
            zip(cfg.out_sizes, cfg.stride, cfg.window, cfg.dilation, cfg.in_sizes)):
        return None
    per_axis = []
    for ax in range(len(cfg.window)):
        pos = _tap_positions(cfg, ax)                       # (O, k)
        per_axis.append((pos >= 0) & (pos < cfg.in_sizes[ax]))
    out = []
    for off in cfg.offsets():
        m = np.ones((), bool)
        for ax, t in enumerate(off):
            m = np.logical_and.outer(m, per_axis[ax][:, t])
        out.append(m.reshape((1, 1) + cfg.out_sizes))
    return out


def index_dtype(cfg: Window):
    """Smallest signed integer type that holds a tap index (int8 for windows up to 127 taps)."""
    for dt in (np.int8, np.int16, np.int32):
        if cfg.taps <= np.iinfo(dt).max:
            return dt
    return np.int64


def pad(x, cfg: Window, value):
    """``(N, C, *L) -> (N, C, *((O-1)*s + (k-1)*d + 1))`` padded with ``value``: ``lo`` low, and
    on the high side exactly what the last window reads (the ceil-mode overhang included, unread
    trailing elements cropped)."""
    cfg_pad = [(0, 0, 0), (0, 0, 0)]
    for (lo, _), size, o, s, k, d in zip(cfg.padding, cfg.in_sizes, cfg.out_sizes, cfg.stride,
                                         cfg.window, cfg.dilation):
        cfg_pad.append((lo, (o - 1) * s + _args.dilated_extent(k, d) - size - lo, 0))
    return lax.pad(x, np.array(value, x.dtype), cfg_pad)


def taps(xp, cfg: Window):
    """Yield the ``K`` window taps of a padded input, each ``(N, C, *O)``, in row-major order."""
    for off in cfg.offsets():
        start = (0, 0) + tuple(m * d for m, d in zip(off, cfg.dilation))
        limit = (xp.shape[0], xp.shape[1]) + tuple(
            st + (o - 1) * s + 1 for st, o, s in zip(start[2:], cfg.out_sizes, cfg.stride))
        yield lax.slice(xp, start, limit, (1, 1) + cfg.stride)


def fold(parts, cfg: Window):
    """Transpose of :func:`taps` (cropped by the padding): ``K x (N, C, *O) -> (N, C, *L)``.

    Each tap's part goes back to the input positions ``o*s + m*d - lo`` it was read from, and
    the parts are summed. Computed by phase (polyphase): a padded position ``P = q*s + r``
    receives, per axis, exactly the taps with ``m*d = j*s + r``, from output ``o = q - j``; so
    phase ``r`` is a sum of plainly shifted parts (no interleaved zeros), and the ``prod(s)``
    phases are interleaved once at the end. Every input element gets the sum of its own taps in
    row-major tap order; positions in the padding are cropped away.
    """
    parts = list(parts)
    nb, c = parts[0].shape[:2]
    n = len(cfg.window)
    extents = [_args.dilated_extent(k, d) for k, d in zip(cfg.window, cfg.dilation)]
    qs = [-(-((o - 1) * s + e) // s) for o, s, e in zip(cfg.out_sizes, cfg.stride, extents)]
    offsets = list(cfg.offsets())
    phases = []
    for r in itertools.product(*(range(s) for s in cfg.stride)):
        terms = []
        for off, part in zip(offsets, parts):
            if any((m * d) % s != ra for m, d, s, ra in zip(off, cfg.dilation, cfg.stride, r)):
                continue
            config = [(0, 0, 0), (0, 0, 0)] + [
                ((m * d) // s, q - o - (m * d) // s, 0)
                for m, d, s, q, o in zip(off, cfg.dilation, cfg.stride, qs, cfg.out_sizes)]
            terms.append(lax.pad(part, np.array(0, part.dtype), config))
        phases.append(sum_terms(terms) if terms else
                      jnp.zeros((nb, c) + tuple(qs), parts[0].dtype))
    if len(phases) == 1:
        full = phases[0]
    else:   # interleave: (P, N, C, *Q) -> (N, C, Q_1, s_1, ..., Q_n, s_n) -> (N, C, *(Q * s))
        stacked = jnp.stack(phases).reshape(tuple(cfg.stride) + (nb, c) + tuple(qs))
        order = [n, n + 1] + [i for a in range(n) for i in (n + 2 + a, a)]
        full = stacked.transpose(order).reshape(
            (nb, c) + tuple(q * s for q, s in zip(qs, cfg.stride)))
    crop = [(0, 0, 0), (0, 0, 0)] + [(-lo, size + lo - q * s, 0) for (lo, _), size, q, s in
                                     zip(cfg.padding, cfg.in_sizes, qs, cfg.stride)]
    return materialize(lax.pad(full, np.array(0, full.dtype), crop))


def tiles(cfg: Window) -> bool:
    """Whether the windows tile the input: stride = window, no dilation, no padding (trailing
    elements that no window reads are allowed)."""
    return (cfg.stride == cfg.window and all(d == 1 for d in cfg.dilation)
            and all(p == (0, 0) for p in cfg.padding))


def tap_grid(cfg: Window, dtype) -> np.ndarray:
    """Static ``(1, 1, 1, k_1, 1, k_2, ...)`` array of row-major tap numbers, laid out as the
    window axes of :func:`untile`."""
    grid = np.arange(cfg.taps).reshape(cfg.window).astype(dtype)
    shape = [1, 1]
    for k in cfg.window:
        shape += [1, k]
    return grid.reshape(shape)


def tiled(a):
    """``(N, C, *O) -> (N, C, O_1, 1, O_2, 1, ...)``: room for the window axes of untile."""
    shape = list(a.shape[:2])
    for o in a.shape[2:]:
        shape += [o, 1]
    return a.reshape(shape)


def untile(blocks, cfg: Window):
    """``(N, C, O_1, k_1, O_2, k_2, ...) -> (N, C, *L)`` for tiling windows (:func:`tiles`): the
    blocks laid side by side, zeros for trailing elements no window read."""
    nb, c = blocks.shape[:2]
    full = blocks.reshape((nb, c) + tuple(o * k for o, k in zip(cfg.out_sizes, cfg.window)))
    crop = [(0, 0, 0), (0, 0, 0)] + [(0, size - o * k, 0) for size, o, k in
                                     zip(cfg.in_sizes, cfg.out_sizes, cfg.window)]
    return lax.pad(full, np.array(0, full.dtype), crop)


def materialize(x):
    """``x``, unchanged (up to the sign of a zero), but computed once and stored.

    XLA's CPU fusion copies cheap elementwise producers into their consumers, and a consumer that
    reads its operand at several offsets (the taps of a window, the shifted parts of a fold)
    then recomputes the producer once per read: a K-tap producer under a K-tap consumer costs
    K^2. ``optimization_barrier`` would prevent that, but XLA:CPU removes barriers before fusion;
    XLA never copies a ``reduce_window`` into such consumers, so ``x`` is passed through one that
    is the identity: zeros interleaved along the last axis, then pairs summed (``x + 0``)."""
    n = x.ndim
    zero = np.array(0, x.dtype)      # a concrete zero: JAX then knows this is a differentiable sum
    spread = lax.pad(x, zero, [(0, 0, 0)] * (n - 1) + [(0, 1, 1)])
    return lax.reduce_window(spread, zero, lax.add, (1,) * (n - 1) + (2,), (1,) * (n - 1) + (2,),
                             "VALID")


def sum_terms(terms):
    """``terms[0] + terms[1] + ...`` (in that order) of equal shapes."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def window_sum_transpose(g, cfg: Window):
    """Transpose of the windowed sum ``y[o] = sum_t x_pad[o*s + t*d]``: ``(N, C, *O) ->
    (N, C, *L)``, ``dx[p] = sum of g[o] over the windows o that contain p``.

    Tiling windows: each ``g[o]`` broadcast over its block. Otherwise the same part for every
    tap, folded back (:func:`fold`; overlapping windows accumulate)."""
    if tiles(cfg):
        t = tiled(g)
        blocks = jnp.broadcast_to(t, t.shape[:2] + tuple(
            v for o, k in zip(cfg.out_sizes, cfg.window) for v in (o, k)))
        return untile(blocks, cfg)
    return fold([g] * cfg.taps, cfg)


def window_max(xp, cfg: Window):
    """Windowed maximum of a padded input: ``(N, C, *Lp) -> (N, C, *O)``."""
    return lax.reduce_window(xp, np.array(-np.inf, xp.dtype), lax.max, (1, 1) + cfg.window,
                             (1, 1) + cfg.stride, "VALID", window_dilation=(1, 1) + cfg.dilation)


def window_sum(xp, cfg: Window):
    """Windowed sum of a padded input: ``(N, C, *Lp) -> (N, C, *O)``."""
    return lax.reduce_window(xp, np.array(0, xp.dtype), lax.add, (1, 1) + cfg.window,
                             (1, 1) + cfg.stride, "VALID", window_dilation=(1, 1) + cfg.dilation)
