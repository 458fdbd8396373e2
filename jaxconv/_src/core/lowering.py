"""How each hand-written rule is lowered: the one place that chooses, per backend and shape.

The rules always compute the documents' formulas; several of them can be written with different
XLA operations, whose speed depends on the backend and on the shapes. The choices, and the
measurements behind them, live here; ``jaxconv bench`` and ``experiments/bench.py`` measure the
result (README, "Performance").

Convolution (:mod:`jaxconv._src.ops.conv`), three parts, each with its methods:

* forward (Eq. 1): ``"lax"`` one ``conv_general_dilated``; ``"taps"`` one broadcast multiply-add
  per input channel and kernel tap, fused into one loop; ``"depth"`` (2-D, 3-D) a sum over the
  first axis's kernel taps of
  convolutions one rank lower, each lowered by its own methods (the same split for both
  gradients);
* input gradient (Eq. 5-6): ``"lax"`` one full convolution; ``"col2im"`` one matrix product
  for every tap at once, then each tap's part added back where it was read (polyphase fold);
  ``"depth"``;
* weight gradient (Eq. 4): ``"lax"`` one convolution contracted over the batch; ``"gemm"``
  one matrix product over the stacked input taps; ``"taps"`` one multiply-reduce per tap;
  ``"depth"``.

CPU rules (2-core x86-64, jaxlib 0.10.2, float32; op times forward/backward in isolation and
whole train steps, interleaved medians):

* ``taps`` forward when ``C // groups * K <= 32``: first layers and depthwise. XLA's CPU
  convolutions (YNNPACK, or Eigen below 17 channels) are GEMM-shaped and waste most of the
  work here: LeNet's 1->6 5x5 layer 5.4 -> 0.7 ms, 3->32 3x3 9.4 -> 1.7 ms, depthwise 64x3x3
  158 -> 27 ms.
* ``col2im`` input gradient except for dense 2-D layers with ``C >= 16``, ``D <= C`` and a
  plane of at least 16x16 (or ``C >= 128``), where XLA's full convolution is faster (64->64 3x3
  at 32x32: 58 vs 80 ms; ResNet-20's 16->16 3x3 at 32x32, B=64, conv forward + backward: 24 vs
  44 ms, 17 vs 34 ms with Eigen; 64->64 at 16x16: 67 vs 83 ms): LeNet's 6->16 5x5
  5.9 -> 2.9 ms, grouped 42 -> 7.7 ms, depthwise 129 -> 7.4 ms, 1-D and 3-D layers 1.1-6x,
  64->64 at 8x8 11.7 -> 7.8 ms. Dense 2-D kernels of 7x7 and more at unit stride take the
  lax input gradient too (12->12 7x7 at 16x16, B=64: 21.3 -> 6.8 ms; 6->8 7x7 at 28x28: 28.3
  -> 13.0 ms; interleaved); a 7x7 stride-2 stem (3->64 at 64x64) keeps col2im (8.2 vs 20.4 ms),
  as does 6x6 (4->8 at 32x32: 7.1 vs 10.6 ms).
* weight gradient: ``gemm`` for grouped (not depthwise) layers (219 -> 41 ms: the lax form goes
  through ``batch_group_count``, which no fast CPU kernel takes) and for 1-D layers with
  ``8 <= C*K <= 128`` (MNIST-1D's 25->25: 0.35 -> 0.22 ms); ``taps`` for depthwise layers,
  its per-tap reductions a scan (unrolled, XLA:CPU fuses the sibling reductions into one
  slow loop: depthwise 64x3x3 at 32x32, B=64, 133 -> 49 ms; lax 225 / 73 ms); ``lax``
  otherwise.
* 3-D layers (``experiments/conv_lowering.py``, ms, XLA defaults / Eigen): XLA:CPU's 3-D
  convolutions reach ~13 GFLOP/s, so each part is written with 2-D parts over the depth taps
  (``depth``), which take their own 2-D methods. 16->16 3x3x3 on 16^3, B=8: forward
  40.9 -> 5.5 ms, input gradient 25.4 (col2im) -> 6.5 / 4.7 ms, weight gradient 46.1 ->
  19.7 / 9.2 ms; 32->32 on 8^3: 11.8 -> 2.6, 3.7 -> 3.1, 7.5 / 10.2 -> 4.7 / 2.9 ms. The
  input gradient stays ``col2im`` for strided layers (16->32 stride 2: 2.5 vs 4.0 ms) and
  first layers; first layers keep the ``taps`` forward (1->16: 0.9 vs 1.5 ms) and take the
  ``depth`` weight gradient (2.3 / 1.0 vs taps 2.6 / 35 ms). An im2col forward (the stacked
  taps times the kernel) was measured and dropped: it lost on every shape (XLA:CPU builds the
  stacked taps slowly: 2-D 64->64 at 32x32 239 vs 90 ms, 3-D 16->16 82 vs 41 ms for lax).
* every result built from taps (the ``taps`` forward, folds, the max-pool winner index) is
  passed through :func:`jaxconv._src.core.windows.materialize`, without which XLA recomputes
  it once per tap of the next windowed op (the LeNet-5 train step: 31 -> 9.5 ms).

Other backends: ``lax`` throughout (cuDNN and the TPU emitters beat any rewrite here); the
pooling backward passes are already gather- and scatter-free everywhere.

The choice is data: the CPU methods are computed once per convolution, at trace time, into the
``methods`` field of the op's static config (an argument of the custom-VJP rule), next to the
methods of every other platform (``other``: ``lax``); nothing here is global or mutable. Which
of the two runs is decided when the function is *lowered*, not traced
(:func:`per_platform`, ``jax.lax.platform_dependent``): a function traced on a CPU machine and
exported or compiled for a GPU (``jax.export``, ``jit(...).lower`` on a GPU device) takes the
GPU's lowering, and one lowered for several platforms at once carries each. To force methods
(the tests run every method against the same oracles, and ``jaxconv bench`` can compare them),
:func:`jaxconv._src.tools.lowering.forced_ops` builds a namespace of ops whose configs carry
the forced methods, on every platform.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax

CONV_METHODS = {"forward": ("lax", "taps", "depth"),
                "input_grad": ("lax", "col2im", "depth"),
                "weight_grad": ("lax", "gemm", "taps", "depth")}


class ConvMethods(NamedTuple):
    """How one convolution's three parts are lowered; a field of its (static) config."""
    forward: str
    input_grad: str
    weight_grad: str


#: Every part through XLA's own convolutions: the lowering of every platform but CPU.
LAX = ConvMethods("lax", "lax", "lax")


def conv_methods(x_shape, w_shape, win, groups: int, dtype) -> ConvMethods:
    """The measured CPU lowering of a convolution's forward, input gradient and weight
    gradient (the module docstring gives the measurements); other platforms take :data:`LAX`,
    chosen when lowering (:func:`per_platform`)."""
    return _conv_default(x_shape, w_shape, win, groups, dtype, "cpu")


def per_platform(fn, cpu, other, *operands):
    """``fn(cpu, *operands)`` where the computation is lowered for CPU and
    ``fn(other, *operands)`` on every other platform, decided at lowering time by
    ``jax.lax.platform_dependent`` (only the branch of the platform lowered for is compiled);
    one call when the two choices agree."""
    if cpu == other:
        return fn(cpu, *operands)
    return jax.lax.platform_dependent(*operands, cpu=functools.partial(fn, cpu),
                                      default=functools.partial(fn, other))


def check_forced(**methods: str) -> dict[str, str]:
    """Validate forced methods (keys ``conv_forward``, ``conv_input_grad``,
    ``conv_weight_grad``); returns them as :class:`ConvMethods` field names and values."""
    parts = {}
    for key, value in methods.items():
        part = key.removeprefix("conv_")
        if part not in CONV_METHODS or value not in CONV_METHODS[part]:
            raise ValueError(f"jaxconv lowering: unknown {key}={value!r}; choose from "
                             + "; ".join(f"conv_{k} in {v}" for k, v in CONV_METHODS.items()))
        parts[part] = value
    return parts


def _conv_default(x_shape, w_shape, win, groups, dtype, backend) -> ConvMethods:
    """The measured choice described in the module docstring."""
    if backend != "cpu" or 0 in x_shape or 0 in w_shape:
        return ConvMethods("lax", "lax", "lax")     # (XLA's convolutions handle empty axes)
    n = len(w_shape) - 2
    c, d, cg = x_shape[1], w_shape[0], w_shape[1]
    ck = cg * win.taps
    depthwise = groups > 1 and cg == 1
    # forward: XLA's CPU convolutions are GEMM-shaped; with few input channels x taps per output
    # (first layers, depthwise) a fused multiply-add loop is 3-10x faster.
    # 3-D: XLA:CPU's 3-D convolutions run at ~13 GFLOP/s; a sum of 2-D ones over the depth taps
    # is 4-5x faster for each part.
    forward = "taps" if ck <= 32 else "depth" if n == 3 else "lax"
    # input gradient: the one-GEMM col2im beats the full convolution except on dense 2-D layers
    # with many channels that do not widen, on planes of 16x16 and more (XLA's fast path);
    # 6-17x on depthwise/grouped.
    plane = x_shape[2] * x_shape[3] if n == 2 else 0
    dense_2d = n == 2 and groups == 1 and c >= 16 and d <= c and (plane >= 256 or c >= 128)
    unit_stride = all(s == 1 for s in win.stride)
    # large 2-D kernels (7x7 and up, unit stride): col2im's (C*K, N*O) product grows with K
    big_kernel = n == 2 and groups == 1 and unit_stride and win.taps >= 49
    input_grad = ("lax" if dense_2d or big_kernel else
                  "depth" if n == 3 and ck > 32 and unit_stride else "col2im")
    # weight gradient: the lax form is good for dense 1-D/2-D layers; dense 3-D layers go over
    # the depth taps; grouped layers lose 5x through batch_group_count; depthwise layers do
    # better per tap, 1-D mid layers as GEMM.
    if n == 3 and groups == 1:
        weight_grad = "depth"
    elif groups > 1 and not depthwise:
        weight_grad = "gemm"
    elif depthwise and ck <= 32:
        weight_grad = "taps"
    elif n == 1 and groups == 1 and 8 <= ck <= 128:
        weight_grad = "gemm"
    else:
        weight_grad = "lax"
    return ConvMethods(forward, input_grad, weight_grad)


INTERPOLATE_METHODS = ("gather", "matmul")


def interpolate_methods(in_sizes, out_sizes) -> tuple[str, ...]:
    """Per spatial axis, how :func:`jaxconv.interpolate` applies its weights (Eq. 49) and their
    transpose (Eq. 50): ``"gather"`` (the taps gathered, the transpose a gather over the
    per-input table and a sum) or ``"matmul"`` (the weights as one ``(O, S)`` matrix, the
    transpose its transpose; neither scatters).

    CPU: matmul while ``S * O <= 2**21`` (the matrix a constant of at most 8 MB in float32).
    XLA:CPU runs a gather along an inner axis element by element; bilinear x2, forward and
    backward, gather vs matmul: 64x64x32x32 505 vs 88 ms, 16x16x64x64 131 vs 15 ms,
    4x8x128x128 57 vs 16 ms, 1x4x256x256 223 vs 11 ms, 1x1x512x512 196 vs 20 ms
    (``experiments/interpolate_lowering.py``). Other backends: gather (a
    GPU gathers at memory speed; not measured here), chosen when lowering
    (:func:`per_platform`). Returns the CPU choice."""
    return _interpolate_default(in_sizes, out_sizes, "cpu")


def _interpolate_default(in_sizes, out_sizes, backend) -> tuple[str, ...]:
    if backend != "cpu":
        return ("gather",) * len(in_sizes)
    return tuple("matmul" if s * o <= 2 ** 21 else "gather" for s, o in zip(in_sizes, out_sizes))
