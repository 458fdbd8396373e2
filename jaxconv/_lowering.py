"""How each hand-written rule is lowered: the one place that chooses, per backend and shape.

The rules always compute the documents' formulas; several of them can be written with different
XLA operations, whose speed depends on the backend and the shapes. The choices, and the
measurements behind them, live here (see ``jaxconv bench`` and the README's performance section).

Convolution (:mod:`jaxconv._conv`), three parts, each with its methods:

* forward (Eq. 7): ``"lax"`` one ``conv_general_dilated``; ``"taps"`` one broadcast multiply-add
  per input channel and kernel tap, fused into one loop;
* input gradient (Eq. 16-21): ``"lax"`` one full convolution; ``"col2im"`` one matrix product
  for every tap at once, then each tap's part added back where it was read;
* weight gradient (Eq. 13-14): ``"lax"`` one convolution contracted over the batch; ``"gemm"``
  one matrix product over the stacked input taps.

:func:`override` forces methods (tests use it to run every method against the same oracles).
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import jax

_FORCED: dict[str, str] = {}

CONV_METHODS = {"forward": ("lax", "taps"), "input_grad": ("lax", "col2im"),
                "weight_grad": ("lax", "gemm", "taps")}


class ConvMethods(NamedTuple):
    forward: str
    input_grad: str
    weight_grad: str


@contextlib.contextmanager
def override(**methods: str):
    """Force lowering methods while tracing inside the block, e.g.
    ``with override(conv_forward="taps"): jax.jit(f).lower(...)`` (keys ``conv_forward``,
    ``conv_input_grad``, ``conv_weight_grad``)."""
    for key, value in methods.items():
        part = key.removeprefix("conv_")
        if part not in CONV_METHODS or value not in CONV_METHODS[part]:
            raise ValueError(f"jaxconv._lowering.override: unknown {key}={value!r}; choose from "
                             + "; ".join(f"conv_{k} in {v}" for k, v in CONV_METHODS.items()))
    saved = dict(_FORCED)
    _FORCED.update(methods)
    try:
        yield
    finally:
        _FORCED.clear()
        _FORCED.update(saved)


def conv_methods(x_shape, w_shape, win, groups: int, dtype) -> ConvMethods:
    """Lowering of a convolution's forward, input gradient and weight gradient."""
    chosen = _conv_default(x_shape, w_shape, win, groups, dtype, jax.default_backend())
    return ConvMethods(*(_FORCED.get(f"conv_{part}", value)
                         for part, value in zip(ConvMethods._fields, chosen)))


def _conv_default(x_shape, w_shape, win, groups, dtype, backend) -> ConvMethods:
    """The measured choice (CPU, 2 cores, jaxlib 0.10.2; ``/tmp`` grid in the README's
    performance section). Elsewhere (GPU/TPU) ``lax`` throughout: cuDNN and the TPU convolution
    emitters do better than any rewrite here."""
    if backend != "cpu":
        return ConvMethods("lax", "lax", "lax")
    n = len(w_shape) - 2
    c, d, cg = x_shape[1], w_shape[0], w_shape[1]
    ck = cg * win.taps
    depthwise = groups > 1 and cg == 1
    # forward: XLA's CPU convolutions are GEMM-shaped; with few input channels x taps per output
    # (first layers, depthwise) a fused multiply-add loop is 3-10x faster.
    forward = "taps" if ck <= 32 else "lax"
    # input gradient: the one-GEMM col2im beats the full convolution except on dense 2-D layers
    # with many channels that do not widen (YNNPACK's fast path); 6-17x on depthwise/grouped.
    dense_2d = n == 2 and groups == 1 and c >= 32 and d <= c
    input_grad = "lax" if dense_2d else "col2im"
    # weight gradient: the lax form is good for dense layers; grouped layers lose 5x through
    # batch_group_count, depthwise and 3-D first layers do better per tap, 1-D mid layers as GEMM.
    if groups > 1 and not depthwise:
        weight_grad = "gemm"
    elif (depthwise or n == 3) and ck <= 32:
        weight_grad = "taps"
    elif n == 1 and groups == 1 and 8 <= ck <= 128:
        weight_grad = "gemm"
    else:
        weight_grad = "lax"
    return ConvMethods(forward, input_grad, weight_grad)
