r"""Convolution layer: forward cross-correlation and its hand-written backward pass.

Shapes (channels first): input ``x`` is ``(N, C, *S)``, kernel ``w`` is
``(D, C // groups, *K)``, bias ``b`` is ``(D,)``, output ``y`` is ``(N, D, *O)``, where ``S``, ``K``
and ``O`` hold one size per spatial axis (1, 2 or 3 axes). Written below for one spatial axis; every
axis behaves the same way.

Forward (derivation, Eq. 1; stride ``s``, dilation ``r``, zero padding ``(lo, hi)``)::

    y[n, d, i] = sum_c sum_m w[d, c, m] * x_pad[n, c, i*s + m*r] + b[d]
    O = (S + lo + hi - ((K - 1)*r + 1)) // s + 1

``flip=True`` first rotates the kernel by 180 degrees (the true convolution, Eq. 2).

Backward, with ``delta = dE/dy`` of shape ``(N, D, *O)``:

* bias (Eq. 3): ``dE/db[d] = sum_{n, i} delta[n, d, i]``;
* weights (Eq. 4): a *correlation of the input with the deltas*::

      dE/dw[d, c, m] = sum_{n, i} delta[n, d, i] * x_pad[n, c, i*s + m*r]

  computed as one convolution whose "kernel" is ``delta`` dilated by ``s`` (the forward stride),
  whose window stride is ``r`` (the forward dilation) and whose contraction runs over the batch;
* input (Eq. 5-6; the ``f'(x)`` factor belongs to the activation's own rule, Eq. 21): a *full
  convolution of the deltas with the 180-degree-rotated kernel*, input and output channels swapped::

      dE/dx_pad[n, c, p] = sum_{d, m : p = i*s + m*r} delta[n, d, i] * w[d, c, m]
                         = sum_d sum_m delta_dil[n, d, p - m*r] * w[d, c, m]        (Eq. 5)
                         = (delta_dil  *  rot180(w)^T)[n, c, p]                     (Eq. 6)

  where ``delta_dil`` has ``s - 1`` zeros between entries; the full-convolution padding
  ``(K - 1)*r`` is reduced by the forward padding, which crops ``dE/dx_pad`` to ``dE/dx``.
* groups (Eq. 8): the same formulas on each group's slice of channels (input gradient: a grouped
  convolution of the regrouped kernel; weight gradient: ``batch_group_count = groups``).
* ``flip=True``: the rules run on ``w_eff = rot180(w)`` and ``dE/dw = rot180(dE/dw_eff)``.

Residuals: ``x`` (for the weight gradient) and ``w`` (for the input gradient), each saved only
if that gradient is requested (``symbolic_zeros``): the first layer's input gradient, which no
one asks for, is neither saved for nor computed.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxconv._src.core import args as _args
from jaxconv._src.core import lowering as _lowering
from jaxconv._src.core import spec as _spec
from jaxconv._src.core import windows as _windows
from jaxconv._src.ops import pad as _pad
from jaxconv._src.ops.pad import pad as _pad_rule

_SPATIAL = {1: "H", 2: "HW", 3: "DHW"}


class ConvConfig(NamedTuple):
    """Static (hashable) description of one convolution; built once by :func:`conv_config`."""
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]    # zero padding of the convolution itself
    dilation: tuple[int, ...]
    groups: int
    flip: bool
    has_bias: bool
    x_shape: tuple[int, ...]          # (N, C, *S) as the convolution sees it (after mode padding)
    w_shape: tuple[int, ...]          # (D, C // groups, *K)
    dtype: str
    window: _windows.Window           # the kernel's window layout over x
    methods: _lowering.ConvMethods    # how each part is lowered on CPU (core/lowering.py)
    padding_mode: str = "zeros"
    mode_padding: tuple[tuple[int, int], ...] | None = None  # applied first by the pad rule
    precision: lax.Precision | None = None   # of every convolution and matrix product, both ways
    other: _lowering.ConvMethods = _lowering.LAX   # the lowering on every other platform


def _layout(first: str, second: str, n: int) -> str:
    return first + second + _SPATIAL[n]


def _rot180(w):
    """rot_180 of Eq. 2 and 6: reverse every spatial axis of a ``(*, *, *K)`` array."""
    return lax.rev(w, tuple(range(2, w.ndim)))


def _lax_conv(lhs, rhs, stride, padding, n, specs, *, lhs_dilation=None, rhs_dilation=None,
              feature_group_count=1, batch_group_count=1, precision=None):
    return lax.conv_general_dilated(
        lhs, rhs, stride, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
        dimension_numbers=tuple(_layout(a, b, n) for a, b in specs),
        feature_group_count=feature_group_count, batch_group_count=batch_group_count,
        precision=precision, preferred_element_type=_args.acc_dtype(lhs.dtype))


def correlate(x, w_eff, win: _windows.Window, groups: int, method: str = "lax", precision=None):
    """Eq. 1 without the bias: ``(N, C, *S), (D, C//g, *K) -> (N, D, *O)`` in the
    accumulation dtype (float32 for 16-bit inputs).

    ``"lax"``: one ``lax.conv_general_dilated``. ``"taps"``: term by term,
    ``y[n,g,d,o] = sum_{c,t} w[g,d,c,t] * x_tap_t[n,g,c,o]``, one broadcast multiply-add per input
    channel and kernel tap (``C // groups * K`` of them), fused by XLA into one loop; for small
    ``C // groups * K`` (first layers, depthwise). ``"depth"`` (2-D and 3-D): the sum over the
    first axis's kernel taps of convolutions one rank lower (:func:`_depth_split`)."""
    if method == "taps":
        return _correlate_taps(x, w_eff, win, groups)
    if method == "depth":
        return _correlate_depth(x, w_eff, win, groups, precision)
    n = w_eff.ndim - 2
    return _lax_conv(x, w_eff, win.stride, win.padding, n, (("N", "C"), ("O", "I"), ("N", "C")),
                     rhs_dilation=win.dilation, feature_group_count=groups, precision=precision)


def forward(x, w, b, cfg: ConvConfig):
    """Eq. 1 as one ``lax.conv_general_dilated`` plus bias: ``(N, C, *S), (D, C//g, *K),
    (D,) | None -> (N, D, *O)``. This is also the forward of :mod:`jaxconv.autodiff`."""
    y = correlate(x, _rot180(w) if cfg.flip else w, cfg.window, cfg.groups,
                  precision=cfg.precision)
    return _add_bias(y, b, cfg.has_bias).astype(x.dtype)


def _add_bias(y, b, has_bias):
    return y + b.astype(y.dtype).reshape((1, -1) + (1,) * (y.ndim - 2)) if has_bias else y


def _correlate_taps(x, w_eff, win, groups):
    n = w_eff.ndim - 2
    acc = _args.acc_dtype(x.dtype)
    nb, (d, cg) = x.shape[0], w_eff.shape[:2]
    dg = d // groups
    wg = w_eff.astype(acc).reshape((groups, dg, cg, win.taps))
    terms = []
    for t, tap in enumerate(_windows.taps(_windows.pad(x.astype(acc), win, 0), win)):
        tap = tap.reshape((nb, groups, cg) + win.out_sizes)
        terms += [tap[:, :, ci:ci + 1] * wg[:, :, ci, t].reshape((1, groups, dg) + (1,) * n)
                  for ci in range(cg)]
    return _windows.materialize(_windows.sum_terms(terms)).reshape((nb, d) + win.out_sizes)


def _patches(x, win, groups):
    """im2col: the padded input's ``K`` taps stacked, ``(N, C, *S) -> (N, g, C/g * K, prod(O))``
    in the accumulation dtype, row ``c * K + t`` holding tap ``t`` of channel ``c`` (the order of
    ``w.reshape(D, C/g * K)``)."""
    nb, c = x.shape[:2]
    cg = c // groups
    p = _args.prod(win.out_sizes)
    taps = [t.reshape((nb, groups, cg, p)) for t in
            _windows.taps(_windows.pad(x.astype(_args.acc_dtype(x.dtype)), win, 0), win)]
    return jnp.stack(taps, axis=3).reshape((nb, groups, cg * win.taps, p))


def _depth_split(x_shape, win):
    """Split a convolution along its first spatial axis ("depth"): ``y = sum_j conv'(slab_j,
    w[:, :, j])``, where ``slab_j[(n, o), c, ...] = x_pad[n, c, o*s + j*r, ...]`` (Eq. 1 with the
    sum over the first kernel axis taken last) and ``conv'`` is the convolution over the other
    axes, lowered by its own measured methods.

    Returns the depth window (over a ``(N, 1, S_0, C * prod(S_rest))`` view of the input, whose
    taps are the slabs) and the inner window over the remaining axes."""
    rest = _args.prod(x_shape[1:]) // win.in_sizes[0]
    depth = _windows.make_window((win.in_sizes[0], rest), (win.window[0], 1),
                                 (win.stride[0], 1), (win.dilation[0], 1),
                                 (win.padding[0], (0, 0)), (win.out_sizes[0], rest))
    inner = _windows.make_window(win.in_sizes[1:], win.window[1:], win.stride[1:],
                                 win.dilation[1:], win.padding[1:], win.out_sizes[1:])
    return depth, inner


def _depth_first(a):
    """``(N, C, S_0, *R) -> (N * S_0, C, *R)``: the first spatial axis joins the batch."""
    moved = jnp.moveaxis(a, 2, 1)
    return moved.reshape((moved.shape[0] * moved.shape[1],) + moved.shape[2:])


def _depth_back(a, nb, s0):
    """Inverse of :func:`_depth_first`: ``(N * S_0, C, *R) -> (N, C, S_0, *R)``."""
    return jnp.moveaxis(a.reshape((nb, s0) + a.shape[1:]), 1, 2)


def _depth_slabs(x, depth):
    """The first-axis taps of ``x`` (padded along that axis only): ``(N * O_0, C, *S_rest)``."""
    nb, c = x.shape[:2]
    view = jnp.moveaxis(x, 2, 1).reshape((nb, 1) + depth.in_sizes)    # (N, 1, S_0, C*S_rest)
    for tap in _windows.taps(_windows.pad(view, depth, 0), depth):
        yield tap.reshape((nb * depth.out_sizes[0], c) + x.shape[3:])


def _correlate_depth(x, w_eff, win, groups, precision=None):
    nb = x.shape[0]
    depth, inner = _depth_split(x.shape, win)
    w_shape = w_eff.shape[:2] + w_eff.shape[3:]
    slab_shape = (nb * win.out_sizes[0],) + x.shape[1:2] + x.shape[3:]
    m = _lowering.conv_methods(slab_shape, w_shape, inner, groups, x.dtype)
    y = None
    for j, slab in enumerate(_depth_slabs(x, depth)):
        part = correlate(slab, w_eff[:, :, j], inner, groups, m.forward, precision)
        y = part if y is None else y + part
    return _depth_back(y, nb, win.out_sizes[0])


def input_grad(delta, w_eff, win: _windows.Window, groups: int, out_dtype, method: str = "lax",
               precision=None):
    """Eq. 5-6: ``(N, D, *O), (D, C//g, *K) -> (N, C, *S)``; ``win`` is the forward's window.

    ``"lax"``: one full convolution of the stride-dilated deltas with the rotated, channel-swapped
    kernel, cropped by the padding (Eq. 6 as written). ``"col2im"``: the same sum split by
    kernel tap, Eq. 5: ``dx_tap_t[n,c,o] = sum_d w[d,c,t] delta[n,d,o]`` (one matrix product for
    all taps), then each tap's part added back where tap ``t`` was read (``_windows.fold``).
    ``"depth"`` (2-D and 3-D): the input gradient of one convolution a rank lower whose input
    is every first-axis slab (:func:`_depth_split`) side by side along the channels, folded
    back along the first axis."""
    if method == "col2im":
        dx = _input_grad_col2im(delta, w_eff, win, groups, precision)
    elif method == "depth":
        dx = _input_grad_depth(delta, w_eff, win, groups, precision)
    else:
        dx = _input_grad_lax(delta, w_eff, win, groups, precision)
    return dx.astype(out_dtype)


def _input_grad_lax(delta, w_eff, win, groups, precision=None):
    n = w_eff.ndim - 2
    d, cg = w_eff.shape[:2]
    ks = w_eff.shape[2:]
    w_rot = _rot180(w_eff)
    if groups == 1:
        rhs_spec = ("I", "O")                  # (D, C, *K) read as I=D, O=C: no data movement
    else:                                     # (g*D/g, C/g, K) -> (g*C/g, D/g, K)
        w_rot = w_rot.reshape((groups, d // groups, cg) + ks).swapaxes(1, 2)
        w_rot = w_rot.reshape((groups * cg, d // groups) + ks)
        rhs_spec = ("O", "I")
    pads = tuple(((k - 1) * r - lo, size + lo - 1 - (o - 1) * s)
                 for k, r, (lo, _), size, o, s in
                 zip(ks, win.dilation, win.padding, win.in_sizes, win.out_sizes, win.stride))
    return _lax_conv(delta, w_rot, (1,) * n, pads, n, (("N", "C"), rhs_spec, ("N", "C")),
                     lhs_dilation=win.stride, rhs_dilation=win.dilation,
                     feature_group_count=groups, precision=precision)


def _input_grad_col2im(delta, w_eff, win, groups, precision=None):
    acc = _args.acc_dtype(delta.dtype)
    nb, d = delta.shape[:2]
    cg = w_eff.shape[1]
    dg = d // groups
    k = win.taps
    wk = w_eff.astype(acc).reshape((groups, dg, cg * k))
    dl = delta.astype(acc).reshape((nb, groups, dg, _args.prod(win.out_sizes)))
    # dp[g, c*K + t, n, o] = sum_d w[g, d, c, t] * delta[n, g, d, o]
    dp = lax.dot_general(wk, dl, (((1,), (2,)), ((0,), (1,))), precision=precision)
    dp = dp.reshape((groups, cg, k, nb) + win.out_sizes)
    parts = (jnp.moveaxis(dp[:, :, t], 2, 0).reshape((nb, groups * cg) + win.out_sizes)
             for t in range(k))
    return _windows.fold(parts, win)


def _input_grad_depth(delta, w_eff, win, groups, precision=None):
    # One convolution one rank lower, whose input channels are (c, j): the slabs of every
    # first-axis tap j side by side, kernel w[d, (c, j), ...]; its input gradient holds each
    # slab's, folded back along the first axis.
    nb, (d, cg), kd = delta.shape[0], w_eff.shape[:2], win.window[0]
    c = cg * groups
    depth, inner = _depth_split((nb, c) + win.in_sizes, win)
    dl = _depth_first(delta)
    w2 = w_eff.reshape((d, cg * kd) + w_eff.shape[3:])
    slabs_shape = (dl.shape[0], c * kd) + win.in_sizes[1:]
    m = _lowering.conv_methods(slabs_shape, w2.shape, inner, groups, delta.dtype)
    g = input_grad(dl, w2, inner, groups, _args.acc_dtype(delta.dtype), m.input_grad, precision)
    g = g.reshape((nb, win.out_sizes[0], c, kd, depth.in_sizes[1] // c))   # float32: the fold
    dx = _windows.fold([g[:, :, :, j].reshape((nb, 1) + depth.out_sizes)    # sums j unrounded
                        for j in range(kd)], depth)
    return jnp.moveaxis(dx.reshape((nb, win.in_sizes[0], c) + win.in_sizes[1:]), 1, 2)


def weight_grad(x, delta, win: _windows.Window, groups: int, out_dtype, method: str = "lax",
                precision=None):
    """Eq. 4: ``(N, C, *S), (N, D, *O) -> (D, C//g, *K)``.

    ``"lax"``: one convolution correlating the padded input with the deltas (dilated by the
    stride), contracted over the batch axis. ``"gemm"``: Eq. 4 as one matrix product
    ``dw[d, (c,t)] = sum_{n,o} delta[n,d,o] * x_tap_t[n,c,o]`` over the stacked input taps.
    ``"taps"``: Eq. 4 as one multiply-and-reduce over ``(n, o)`` per tap (depthwise layers).
    ``"depth"`` (2-D and 3-D): the weight gradient of each first-axis kernel slice from its
    slab (:func:`_depth_split`), one rank lower."""
    if method == "depth":
        return _weight_grad_depth(x, delta, win, groups, out_dtype, precision)
    if method == "gemm":
        dw = _weight_grad_gemm(x, delta, win, groups, precision)
    elif method == "taps":                      # element-wise products: exact in float32
        dw = _weight_grad_taps(x, delta, win, groups)
    else:
        dw = _weight_grad_lax(x, delta, win, groups, precision)
    return dw.astype(out_dtype)


def _weight_grad_depth(x, delta, win, groups, out_dtype, precision=None):
    depth, inner = _depth_split(x.shape, win)
    dl = _depth_first(delta)
    w_shape = (delta.shape[1], x.shape[1] // groups) + win.window[1:]
    slab_shape = (dl.shape[0],) + x.shape[1:2] + x.shape[3:]
    m = _lowering.conv_methods(slab_shape, w_shape, inner, groups, x.dtype)
    slices = [weight_grad(slab, dl, inner, groups, out_dtype, m.weight_grad, precision)
              for slab in _depth_slabs(x, depth)]
    return jnp.stack(slices, axis=2)


def _weight_grad_lax(x, delta, win, groups, precision=None):
    n = x.ndim - 2
    pads = tuple((lo, hi - (size + lo + hi - 1 - (o - 1) * s - (k - 1) * r))
                 for (lo, hi), size, o, s, k, r in
                 zip(win.padding, win.in_sizes, win.out_sizes, win.stride, win.window,
                     win.dilation))
    # lhs: channels play the batch role, batch plays the feature role (the contraction axis);
    # rhs: deltas with D as output feature and N as input feature; out: (D, C // groups, *K).
    return _lax_conv(x, delta, win.dilation, pads, n, (("C", "N"), ("I", "O"), ("C", "N")),
                     rhs_dilation=win.stride, batch_group_count=groups, precision=precision)


def _weight_grad_gemm(x, delta, win, groups, precision=None):
    nb, c = x.shape[:2]
    d = delta.shape[1]
    cg, dg = c // groups, d // groups
    patches = _patches(x, win, groups)
    dl = delta.astype(patches.dtype).reshape((nb, groups, dg, patches.shape[-1]))
    dw = lax.dot_general(dl, patches, (((0, 3), (0, 3)), ((1,), (1,))),   # (G, D/G, C/G*K)
                         precision=precision)
    return dw.reshape((d, cg) + win.window)


def _weight_grad_taps(x, delta, win, groups):
    # One multiply-reduce per tap, the taps a scan over their offsets: XLA:CPU fuses sibling
    # reductions of the same operands into one slow loop nest (depthwise 64x3x3 at 32x32, B=64:
    # 133 ms unrolled, 49 ms as a scan).
    acc = _args.acc_dtype(x.dtype)
    nb, c = x.shape[:2]
    n, d = x.ndim - 2, delta.shape[1]
    cg, dg = c // groups, d // groups
    xp = _windows.pad(x.astype(acc), win, 0)
    xp = xp.reshape((nb, groups, cg) + xp.shape[2:])
    dl = delta.astype(acc).reshape((nb, groups, dg, 1) + win.out_sizes)
    starts = np.array([[0, 0, 0] + [m * r for m, r in zip(off, win.dilation)]
                       for off in win.offsets()], np.int32)
    extent = tuple((o - 1) * s + 1 for o, s in zip(win.out_sizes, win.stride))

    def tap_sum(carry, start):
        tap = lax.dynamic_slice(xp, tuple(start[i] for i in range(n + 3)),
                                (nb, groups, cg) + extent)
        tap = lax.slice(tap, (0,) * tap.ndim, tap.shape, (1, 1, 1) + win.stride)
        return carry, jnp.sum(dl * tap[:, :, None], axis=(0,) + tuple(range(4, 4 + n)))

    _, cols = lax.scan(tap_sum, None, starts)                      # (K, G, D/G, C/G)
    return jnp.moveaxis(cols, 0, -1).reshape((d, cg) + win.window)


def bias_grad(delta, out_dtype):
    """``dE/db[d] = sum over n and every spatial i of delta[n, d, i]``: ``(N, D, *O) -> (D,)``."""
    axes = (0,) + tuple(range(2, delta.ndim))
    return jnp.sum(delta, axis=axes, dtype=_args.acc_dtype(delta.dtype)).astype(out_dtype)


def forward_rule(x, w, b, cfg: ConvConfig):
    """The forward of the hand-written rule: Eq. 1, lowered as ``cfg.methods.forward`` says
    (``cfg.other.forward`` on platforms other than CPU)."""
    y = _lowering.per_platform(
        lambda method, x, w: correlate(x, w, cfg.window, cfg.groups, method, cfg.precision),
        cfg.methods.forward, cfg.other.forward, x, _rot180(w) if cfg.flip else w)
    return _add_bias(y, b, cfg.has_bias).astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _conv(x, w, b, cfg):
    return forward_rule(x, w, b, cfg)


# _conv_fwd :: (x, w, b) -> (y, (x if dE/dw is wanted, w if dE/dx is wanted, () if dE/db is))
def _conv_fwd(x, w, b, cfg):
    y = forward_rule(x.value, w.value, None if b is None else b.value, cfg)
    return y, _args.wanted(x, w, b)   # symbolic zeros: save only what requested gradients need


# _conv_bwd :: (cfg, residuals, CT y) -> (CT x, CT w, CT b)
def _conv_bwd(cfg, res, delta):
    x, w, want_b = res
    if isinstance(delta, SymbolicZero):
        return None, None, None
    win, methods, other = cfg.window, cfg.methods, cfg.other
    dx = dw = db = None
    if w is not None:           # x was perturbed: Eq. 5-6
        w_eff = _rot180(w) if cfg.flip else w
        dx = (jnp.zeros(cfg.x_shape, cfg.dtype) if cfg.x_shape[0] == 0 else
              _lowering.per_platform(
                  lambda method, delta, w_eff: input_grad(delta, w_eff, win, cfg.groups,
                                                          cfg.dtype, method, cfg.precision),
                  methods.input_grad, other.input_grad, delta, w_eff))
    if x is not None:           # w was perturbed: Eq. 4
        dw = (jnp.zeros(cfg.w_shape, cfg.dtype) if cfg.x_shape[0] == 0 else
              _lowering.per_platform(
                  lambda method, x, delta: weight_grad(x, delta, win, cfg.groups, cfg.dtype,
                                                       method, cfg.precision),
                  methods.weight_grad, other.weight_grad, x, delta))
        dw = _rot180(dw) if cfg.flip else dw
    if want_b is not None:
        db = bias_grad(delta, cfg.dtype)
    return dx, dw, db


_conv.defvjp(_conv_fwd, _conv_bwd, symbolic_zeros=True)


def conv_config(x, w, b, stride, padding, dilation, groups, flip, padding_mode="zeros",
                op="conv", precision=None) -> ConvConfig:
    """Validate the arguments of :func:`conv` and normalise them to a :class:`ConvConfig`."""
    n = _args.check_conv_arrays(op, x, w, b, "(D, C // groups, *kernel)")
    _args.check_groups(op, groups)
    c, d = x.shape[1], w.shape[0]
    hint = _args.channels_last_hint(x, w.shape[1] * groups)
    if c % groups:
        raise ValueError(f"jaxconv.{op}: `in_channels` (={c}, x.shape[1]) must be divisible by "
                         f"`groups` (={groups}).{hint}")
    if d % groups:
        raise ValueError(f"jaxconv.{op}: `out_channels` (={d}, w.shape[0]) must be divisible by "
                         f"`groups` (={groups}).")
    if w.shape[1] * groups != c:
        raise ValueError(f"jaxconv.{op}: `w` has {w.shape[1]} input channels per group but `x` has "
                         f"{c} channels and groups={groups}; expected w.shape[1] == {c // groups}."
                         f"{hint}")
    if b is not None and tuple(b.shape) != (d,):
        raise ValueError(f"jaxconv.{op}: `b` must have shape ({d},) (one per output channel); "
                         f"got {tuple(b.shape)}.")
    _args.check_bool(op, "flip", flip)
    precision = _args.check_precision(op, precision)
    stride = _args.int_tuple(op, "stride", stride, n)
    dilation = _args.int_tuple(op, "dilation", dilation, n)
    ks = tuple(w.shape[2:])
    extents = tuple(_args.dilated_extent(k, r) for k, r in zip(ks, dilation))
    pads = _args.padding_pairs(op, padding, x.shape[2:], extents, stride)
    for ax, (size, ext, (lo, hi)) in enumerate(zip(x.shape[2:], extents, pads)):
        if ext > size + lo + hi:
            raise ValueError(
                f"jaxconv.{op}: the kernel `w` (size {ks[ax]}) with `dilation` (={dilation[ax]}) "
                f"spans {ext} on spatial axis {ax}, more than the padded input `x` ({size} + "
                f"`padding` {lo} + {hi}); use a smaller kernel or dilation, or more padding.")
    _pad.check(op, padding_mode, pads, x.shape[2:])
    x_shape, mode_padding = tuple(x.shape), None
    if padding_mode != "zeros" and any(lo or hi for lo, hi in pads):
        # the pad rule fills the padding first; the convolution then runs unpadded
        mode_padding, pads = pads, ((0, 0),) * n
        x_shape = x_shape[:2] + tuple(s + lo + hi for s, (lo, hi) in zip(x_shape[2:], mode_padding))
    win = _windows.conv_window(x_shape[2:], ks, stride, dilation, pads)
    dtype = jnp.dtype(x.dtype).name
    methods = _lowering.conv_methods(x_shape, tuple(w.shape), win, int(groups), dtype)
    return ConvConfig(stride, pads, dilation, int(groups), flip, b is not None, x_shape,
                      tuple(w.shape), dtype, win, methods, padding_mode, mode_padding, precision)


def conv(x, w, b=None, *, stride=1, padding="VALID", dilation=1, groups=1, flip=False,
         padding_mode="zeros", precision=None):
    r"""N-d convolution layer (cross-correlation plus bias), channels first.

    .. math::
        y[n, d, i] = \sum_c \sum_m w[d, c, m] \, x_{pad}[n, c, i s + m r] + b[d]

    (derivation, Eq. 1). The backward pass is hand-written: the weight gradient is
    the correlation of the input with the deltas (Eq. 4) and the input gradient the full
    convolution of the stride-dilated deltas with the 180-degree-rotated kernel (Eq. 5-6); see
    the module docstring for the derivation.

    Args:
      x: input ``(N, C, *S)`` with 1, 2 or 3 spatial axes, floating dtype.
      w: kernel ``(D, C // groups, *K)``, same dtype as ``x``.
      b: optional bias ``(D,)``.
      stride: int or one int per spatial axis.
      padding: ``"VALID"``, ``"SAME"``, an int (symmetric), one int per axis, or
        ``(low, high)`` pairs.
      dilation: kernel dilation ``r``; int or one per axis.
      groups: number of channel groups (``groups == C`` is depthwise).
      flip: rotate the kernel 180 degrees first (true convolution, Eq. 2).
      padding_mode: what the padding holds: ``"zeros"``, or PyTorch's ``"reflect"``,
        ``"replicate"``, ``"circular"`` (gradients folded back onto the input, Eq. 7).
      precision: of the convolutions and matrix products of the forward and of both
        gradients: None (XLA's default; TF32 for float32 on recent GPUs), ``"default"``,
        ``"high"``, ``"highest"`` or a ``jax.lax.Precision``.

    Returns:
      ``(N, D, *O)`` with ``O = (S + lo + hi - (K - 1) * r - 1) // stride + 1``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.conv(jnp.ones((2, 3, 8, 8)), jnp.ones((4, 3, 3, 3)), padding=1).shape
      (2, 4, 8, 8)
    """
    cfg = conv_config(x, w, b, stride, padding, dilation, groups, flip, padding_mode,
                      precision=precision)
    if cfg.mode_padding is not None:
        x = _pad_rule(x, cfg.mode_padding, cfg.padding_mode)
    return _conv(x, w, b, cfg)


# jaxconv.autodiff.conv: the same function with each rule replaced by its plain forward
AUTODIFF = {"_conv": forward, "_pad_rule": _pad.forward}


# ----- the registry entry: the grid, the textbook oracle, the edge examples ----------------------

_SIZES = {1: (9,), 2: (7, 6), 3: (5, 6, 5)}
KERNELS = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}          # the grid's kernel sizes per spatial rank


def _case(n, stride=1, padding="VALID", dilation=1, groups=1, flip=False, bias=True,
          channels=(4, 6), mode="zeros"):
    c, d = channels
    shapes = ((2, c) + _SIZES[n], (d, c // groups) + KERNELS[n]) + (((d,),) if bias else ())
    opts = (("stride", stride), ("padding", padding), ("dilation", dilation),
            ("groups", groups), ("flip", flip)) + ((("padding_mode", mode),) if mode != "zeros"
                                                   else ())
    return _spec.Case("conv", shapes, opts)


def _cases(exhaustive):
    out, per = [], _spec.per_axis
    for n in (1, 2, 3):
        if exhaustive:
            for kw in _spec.product(stride=(1, 2),
                                    padding=("VALID", "SAME", 1, per((1, 0), n), ((2, 0),) * n),
                                    dilation=(1, 2), groups=(1, 2, 4), flip=(False, True),
                                    bias=(True, False)):
                out.append(_case(n, **kw, channels=(4, 8 if kw["groups"] == 4 else 6)))
            continue
        out += [
            _case(n),
            _case(n, stride=2),
            _case(n, stride=per((2, 1), n)),
            _case(n, padding="SAME"),
            _case(n, padding="SAME", stride=2),
            _case(n, padding=1),
            _case(n, padding=per((1, 0), n)),
            _case(n, padding=per(((2, 0), (0, 1)), n)),
            _case(n, dilation=2),
            _case(n, groups=2),
            _case(n, groups=4, channels=(4, 8)),                      # depthwise, x2
            _case(n, flip=True),
            _case(n, bias=False),
            _case(n, stride=2, padding="SAME", dilation=2, groups=2, flip=True),
            _case(n, stride=3, padding=per(((1, 2), (2, 1)), n), dilation=per((1, 2), n),
                  bias=False),
            _case(n, padding=1, mode="reflect"),
            _case(n, stride=2, padding=per(((2, 0), (0, 1)), n), mode="replicate"),
            _case(n, padding=1, mode="circular", groups=2),
        ]
    return out


def textbook_of(loops: str):
    """The textbook adapter of a convolution-like op whose loops ``tb.<loops>(x, w, delta,
    **options)`` give ``(dx, dw, db)``: ``db`` only where the case has a bias ``(D,)``."""
    def textbook(tb, case, inputs, delta):
        x, w, *b = inputs
        dx, dw, db = getattr(tb, loops)(x, w, delta, **case.kwargs)
        return (dx, dw, db) if b else (dx, dw)
    return textbook


SPECS = (_spec.OpSpec(
    conv, kind="convolution", cases=_cases, textbook=textbook_of("conv_backward"),
    pytorch="F.conv1d/2d/3d",
    rule=("`y[n,d,i] = Σ_c Σ_m w[d,c,m] x_pad[n,c,i·s+m·r] + b[d]` (Eq. 1); `flip=True`: the "
          "180°-rotated kernel (Eq. 2)",
          "`dE/dw[d,c,m] = Σ_{n,i} delta[n,d,i] x_pad[n,c,i·s+m·r]`, a correlation of the input "
          "with the stride-dilated deltas (Eq. 4); `dE/dx` = full convolution of the "
          "stride-dilated deltas with the 180°-rotated, channel-swapped kernel, cropped by the "
          "padding (Eq. 5-6); `dE/db[d] = Σ delta[n,d,i]` (Eq. 3); per group (Eq. 8); "
          "`padding_mode` reflect, replicate, circular: the margins' deltas folded back onto "
          "the input (Eq. 7)",
          "`x`, `w` (each only if its gradient is asked for)"),
    examples=(
        _spec.Example("conv", lambda ops, x, w, b: ops.conv(x, w, b, padding=1),
                      ((2, 3, 5, 5), (4, 3, 3, 3), (4,))),
        _spec.Example("conv_strided", lambda ops, x, w: ops.conv(x, w, stride=2, groups=3),
                      ((2, 3, 6, 6), (6, 1, 2, 2))),
    )),)
