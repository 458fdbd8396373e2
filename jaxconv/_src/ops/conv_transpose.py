r"""Transposed convolution: the convolution's input-gradient formula, run forward.

Shapes (PyTorch's layout): input ``x`` is ``(N, C_in, *L)``, kernel ``w`` is
``(C_in, C_out // groups, *K)``, bias ``b`` is ``(C_out,)``, output ``y`` is ``(N, C_out, *L_out)``
with, per axis, stride ``s``, padding ``p``, output padding ``q`` and dilation ``r``::

    L_out = (L - 1)*s - 2p + (K - 1)*r + q + 1

``conv_transpose(x, w)`` is the transpose of the convolution ``c(u) = conv(u, w)`` that maps
``(N, C_out, *L_out)`` to ``(N, C_in, *L)`` with the same stride, dilation and groups and padding
``(p, p - q)``: exactly what the convolution's backward pass computes for its input
(derivation, Eq. 5-6, the stride-dilated deltas fully convolved with the rotated
kernel; Eq. 9). So the three formulas of :mod:`jaxconv._src.ops.conv` serve again, with the roles
swapped, and the code is shared, not copied:

* forward: ``y = input_grad(delta=x, w)`` (Eq. 5-6) plus ``b``;
* ``dE/dx`` (``x`` played the deltas): the convolution's forward, ``correlate(dE/dy, w)``
  (Eq. 1, 10);
* ``dE/dw``: the convolution's weight gradient with ``dE/dy`` as its input and ``x`` as its
  deltas, ``weight_grad(dE/dy, x)`` (Eq. 4, 10);
* ``dE/db[o] = sum over n and positions of dE/dy[n, o, ...]``.

Each part is lowered as :mod:`jaxconv._src.core.lowering` chooses for that convolution.
Residuals: ``x`` (for ``dE/dw``) and ``w`` (for ``dE/dx``), each only if that gradient is
requested.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxconv._src.core import args as _args
from jaxconv._src.core import lowering as _lowering
from jaxconv._src.core import spec as _spec
from jaxconv._src.core import windows as _windows
from jaxconv._src.ops import conv as _conv


class ConvTransposeConfig(NamedTuple):
    window: _windows.Window           # of the convolution this one transposes
    groups: int
    has_bias: bool
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    dtype: str
    methods: _lowering.ConvMethods    # the CPU lowering of the convolution this one transposes
    precision: lax.Precision | None = None   # of every convolution and product, both ways
    other: _lowering.ConvMethods = _lowering.LAX   # the lowering on every other platform


def forward(x, w, b, cfg: ConvTransposeConfig, method: str = "lax"):
    """``(N, C_in, *L), (C_in, C_out//g, *K), (C_out,) | None -> (N, C_out, *L_out)``."""
    acc = _args.acc_dtype(x.dtype)
    y = _conv.input_grad(x, w, cfg.window, cfg.groups, acc, method, cfg.precision)
    return _conv._add_bias(y, b, cfg.has_bias).astype(x.dtype)


def _forward(x, w, b, cfg):
    """:func:`forward` with the convolution's input-gradient lowering of the platform."""
    return _lowering.per_platform(lambda method, x, w: forward(x, w, b, cfg, method),
                                  cfg.methods.input_grad, cfg.other.input_grad, x, w)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _conv_transpose(x, w, b, cfg):
    return _forward(x, w, b, cfg)


# _conv_transpose_fwd :: (x, w, b) -> (y, (x if dE/dw is wanted, w if dE/dx is, () if dE/db is))
def _conv_transpose_fwd(x, w, b, cfg):
    y = _forward(x.value, w.value, None if b is None else b.value, cfg)
    return y, _args.wanted(x, w, b)


# _conv_transpose_bwd :: (cfg, residuals, CT y) -> (CT x, CT w, CT b)
def _conv_transpose_bwd(cfg, res, delta):
    x, w, want_b = res
    if isinstance(delta, SymbolicZero):
        return None, None, None
    empty = cfg.x_shape[0] == 0
    dx = dw = db = None
    if w is not None:       # the convolution's forward, Eq. 1
        dx = (jnp.zeros(cfg.x_shape, cfg.dtype) if empty else
              _lowering.per_platform(
                  lambda method, delta, w: _conv.correlate(delta, w, cfg.window, cfg.groups,
                                                           method, cfg.precision),
                  cfg.methods.forward, cfg.other.forward, delta, w).astype(cfg.dtype))
    if x is not None:       # the convolution's weight gradient, Eq. 4
        dw = (jnp.zeros(cfg.w_shape, cfg.dtype) if empty else
              _lowering.per_platform(
                  lambda method, delta, x: _conv.weight_grad(delta, x, cfg.window, cfg.groups,
                                                             cfg.dtype, method, cfg.precision),
                  cfg.methods.weight_grad, cfg.other.weight_grad, delta, x))
    if want_b is not None:
        db = _conv.bias_grad(delta, cfg.dtype)
    return dx, dw, db


_conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd, symbolic_zeros=True)


def conv_transpose_config(x, w, b, stride, padding, output_padding, dilation,
                          groups, precision=None) -> ConvTransposeConfig:
    op = "conv_transpose"
    n = _args.check_conv_arrays(op, x, w, b, "(C_in, C_out // groups, *kernel)")
    _args.check_groups(op, groups)
    c_in = x.shape[1]
    if w.shape[0] != c_in:
        raise ValueError(f"jaxconv.{op}: `w` must have x.shape[1] = {c_in} rows (C_in, "
                         f"C_out // groups, *kernel) as in PyTorch; got {tuple(w.shape)}."
                         f"{_args.channels_last_hint(x, w.shape[0])}")
    if c_in % groups:
        raise ValueError(f"jaxconv.{op}: `in_channels` (={c_in}) must be divisible by `groups` "
                         f"(={groups}).")
    c_out = w.shape[1] * groups
    if b is not None and tuple(b.shape) != (c_out,):
        raise ValueError(f"jaxconv.{op}: `b` must have shape ({c_out},); got {tuple(b.shape)}.")
    precision = _args.check_precision(op, precision)
    stride = _args.int_tuple(op, "stride", stride, n)
    dilation = _args.int_tuple(op, "dilation", dilation, n)
    ks = tuple(w.shape[2:])
    if isinstance(padding, str):
        raise ValueError(f"jaxconv.{op}: `padding` (={padding!r}) must be an int, one int per "
                         "axis, or (low, high) pairs, as the padding of the convolution this one "
                         "transposes.")
    extents = tuple(_args.dilated_extent(k, r) for k, r in zip(ks, dilation))
    pads = _args.padding_pairs(op, padding, x.shape[2:], extents, stride)
    output_padding = _args.int_tuple(op, "output_padding", output_padding, n, minimum=0)
    for ax, (q, s, r) in enumerate(zip(output_padding, stride, dilation)):
        if q >= max(s, r):
            raise ValueError(f"jaxconv.{op}: `output_padding` (={q} on axis {ax}) must be smaller "
                             f"than the stride (={s}) or the dilation (={r}), as in PyTorch.")
    sizes = tuple((size - 1) * s - lo - hi + e + q for size, s, (lo, hi), e, q in
                  zip(x.shape[2:], stride, pads, extents, output_padding))
    if any(v < 1 for v in sizes):
        raise ValueError(f"jaxconv.{op}: the output would have spatial size {sizes}; reduce "
                         "`padding` or increase `output_padding`.")
    conv_pads = tuple((lo, hi - q) for (lo, hi), q in zip(pads, output_padding))
    win = _windows.conv_window(sizes, ks, stride, dilation, conv_pads)
    dtype = jnp.dtype(x.dtype).name
    conv_x = (x.shape[0], w.shape[1] * groups) + sizes
    methods = _lowering.conv_methods(conv_x, tuple(w.shape), win, int(groups), dtype)
    return ConvTransposeConfig(win, int(groups), b is not None, tuple(x.shape), tuple(w.shape),
                               dtype, methods, precision)


def conv_transpose(x, w, b=None, *, stride=1, padding=0, output_padding=0, dilation=1,
                   groups=1, precision=None):
    r"""N-d transposed convolution (PyTorch's ``conv_transpose``), channels first.

    .. math::
        y[n, o, p] = \sum_{c} \sum_{i, m \,:\, p = i s + m r - lo} x[n, c, i] \, w[c, o, m] + b[o]

    The forward pass is the convolution's input-gradient formula (derivation,
    Eq. 9, i.e. Eq. 5-6 run forward); the backward reuses the convolution's forward and
    weight-gradient formulas (Eq. 10); see the module docstring.

    Args:
      x: ``(N, C_in, *L)`` with 1, 2 or 3 spatial axes, floating dtype.
      w: ``(C_in, C_out // groups, *K)``, same dtype.
      b: optional ``(C_out,)``.
      stride: int or one per axis.
      padding: int (symmetric), one int per axis, or ``(low, high)`` pairs: the padding of
        the convolution this one transposes.
      output_padding: extra size on the high side, ``< max(stride, dilation)``.
      dilation: int or one per axis.
      groups: channel groups.
      precision: of the convolutions and products of the forward and both gradients (as
        :func:`jaxconv.conv`'s).

    Returns:
      ``(N, C_out, *L_out)``, ``L_out = (L - 1) s - lo - hi + (K - 1) r + output_padding + 1``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.conv_transpose(jnp.ones((2, 4, 8, 8)), jnp.ones((4, 3, 2, 2)), stride=2).shape
      (2, 3, 16, 16)
    """
    cfg = conv_transpose_config(x, w, b, stride, padding, output_padding, dilation, groups,
                                precision)
    return _conv_transpose(x, w, b, cfg)


# jaxconv.autodiff.conv_transpose: the same function with the rule replaced by the plain forward
AUTODIFF = {"_conv_transpose": forward}


# ----- the registry entry ------------------------------------------------------------------------

def _cases(exhaustive):
    out = []
    for n in (1, 2, 3):
        s, k = {1: (5,), 2: (4, 5), 3: (3, 4, 3)}[n], _conv.KERNELS[n]
        for opts, groups, bias in [
                ((), 1, True),
                ((("stride", 2), ("padding", 1), ("output_padding", 1)), 1, True),
                ((("dilation", 2), ("padding", _spec.per_axis((1, 0), n))), 1, False),
                ((("stride", _spec.per_axis((2, 3), n)), ("groups", 2)), 2, True)]:
            shapes = ((2, 4) + s, (4, 6 // groups) + k) + (((6,),) if bias else ())
            out.append(_spec.Case("conv_transpose", shapes, opts))
    return out


SPECS = (_spec.OpSpec(
    conv_transpose, kind="convolution", cases=_cases,
    textbook=_conv.textbook_of("conv_transpose_backward"),
    pytorch="F.conv_transpose1d/2d/3d",
    rule=("the convolution's input-gradient formula run forward: the stride-dilated input, "
          "fully convolved with the rotated kernel (Eq. 9)",
          "`dE/dx`: the convolution's forward on the deltas; `dE/dw`: its weight-gradient "
          "formula with the input and the deltas swapped (Eq. 10); the code shared with `conv`",
          "`x`, `w` (each only if its gradient is asked for)"),
    examples=(_spec.Example(
        "conv_transpose", lambda ops, x, w: ops.conv_transpose(x, w, stride=2, padding=1),
        ((2, 3, 4, 5), (3, 2, 3, 3))),)),)
