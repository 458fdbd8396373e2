"""The grid of op configurations that ``jaxconv check`` and the test suite run.

A :class:`Case` is one op with one set of options and input shapes. ``case.fn(ops)`` gives a
function of the differentiable inputs only (labels are closed over), for ``ops`` either
:mod:`jaxconv` or :mod:`jaxconv.autodiff`; ``case.inputs(dtype)`` draws those inputs from a fixed
seed; ``case.textbook(inputs, delta)`` evaluates the loop-level oracle's gradients.

``cases(op, exhaustive=False)`` varies one option at a time around a base configuration per
spatial rank, plus combinations; ``exhaustive=True`` is the full product (the slow test grid).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxconv._src.core import windows as _windows
from jaxconv._src.tools import textbook
from jaxconv._src.tools.testing import cases as sweep

OPS = ("conv", "conv_transpose", "max_pool", "max_unpool", "avg_pool", "lp_pool",
       "batch_norm", "layer_norm", "group_norm",
       "adaptive_avg_pool", "adaptive_max_pool", "global_avg_pool", "global_max_pool", "relu",
       "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "silu", "softplus", "softmax",
       "log_softmax", "dense", "mse", "softmax_cross_entropy",
       "sigmoid_binary_cross_entropy", "huber", "interpolate")

_CONV_S = {1: (9,), 2: (7, 6), 3: (5, 6, 5)}
_CONV_K = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}
_POOL_S = {1: (10,), 2: (7, 8), 3: (5, 6, 5)}


_ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "silu", "softplus",
                "softmax", "log_softmax")
_ACTIVATION_OPTIONS = {                     # (shape, options) after the default case
    "leaky_relu": [((7,), (("negative_slope", 0.2),)), ((4, 5), (("negative_slope", -0.5),))],
    "elu": [((7,), (("alpha", 0.5),)), ((4, 5), (("alpha", 2.0),))],
    "gelu": [((7,), ()), ((3, 4, 5), (("approximate", "tanh"),))],
    "softplus": [((7,), ()), ((3, 4, 5), (("beta", 2.0), ("threshold", 1.0)))],  # both sides
    "softmax": [((3, 4, 5), (("axis", 0),)), ((3, 4, 5), (("axis", 1),)), ((7,), ())],
    "log_softmax": [((3, 4, 5), (("axis", 0),)), ((3, 4, 5), (("axis", 1),)), ((7,), ())],
}


def _per_axis(values, n):
    return tuple(values[i % len(values)] for i in range(n))


@dataclasses.dataclass(frozen=True)
class Case:
    op: str
    shapes: tuple[tuple[int, ...], ...]          # shapes of the differentiable inputs
    options: tuple[tuple[str, Any], ...] = ()
    labels: str = ""                             # softmax_cross_entropy: "int" or "prob"

    @property
    def kwargs(self) -> dict:
        return dict(self.options)

    @property
    def id(self) -> str:
        dims = ",".join("x".join(str(v) for v in s) for s in self.shapes)
        opts = ",".join(f"{k}={v}" for k, v in self.options)
        parts = [dims] + ([opts] if opts else []) + ([self.labels] if self.labels else [])
        return f"{self.op}[{','.join(parts)}]"

    def inputs(self, dtype=np.float64, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        arrays = [rng.standard_normal(s) for s in self.shapes]
        if self.op in ("max_pool", "adaptive_max_pool", "global_max_pool"):
            size = int(np.prod(self.shapes[0]))    # distinct values 4/size apart: no ties, no
            arrays[0] = (rng.permutation(size).reshape(self.shapes[0]) + 0.5) * (4 / size) - 2
        if self.op == "softmax_cross_entropy" and self.labels == "int" and len(arrays) == 2:
            arrays[1] = np.abs(arrays[1]) + 0.5              # per-example weights, positive
        if self.op == "sigmoid_binary_cross_entropy":
            arrays[1] = 1 / (1 + np.exp(-arrays[1]))         # targets in (0, 1)
        if (self.op in ("relu", "leaky_relu", "elu")
                or (self.op == "lp_pool" and self.kwargs.get("p") == 1.0)):
            arrays[0] = arrays[0] + np.copysign(0.05, arrays[0])     # keep away from the kink
        if self.op == "softplus":          # and from the switch to the identity, b x = threshold
            kink = self.kwargs.get("threshold", 20.0) / self.kwargs.get("beta", 1.0)
            arrays[0] = arrays[0] + np.copysign(0.05, arrays[0] - kink)
        if self.op == "softmax_cross_entropy" and self.labels == "prob":
            e = np.exp(arrays[1])
            arrays[1] = e / e.sum(axis=1, keepdims=True)
        if self.op == "mse":
            arrays[1] = arrays[1] * 0.5
        return [a.astype(dtype) for a in arrays]

    def int_labels(self) -> np.ndarray:
        n, k = self.shapes[0]
        return np.random.default_rng(1).integers(0, k, size=n)

    def running_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Batch norm's running ``(mean, var)`` for the channels of ``shapes[0]``."""
        rng = np.random.default_rng(3)
        c = self.shapes[0][1]
        return rng.standard_normal(c) * 0.5, rng.random(c) + 0.5

    def unpool_indices(self) -> np.ndarray:
        """Flat winner indices of a max pool (window = stride) of a fixed input whose output
        has ``shapes[0]`` (NumPy only: this may run while JAX traces)."""
        k = self.kwargs["window"]
        out = self.shapes[0][2:]
        size = tuple(o * k for o in out)
        x = np.random.default_rng(5).permutation(int(np.prod(self.shapes[0][:2] + size)))
        x = x.reshape(self.shapes[0][:2] + size)
        blocks = x.reshape(self.shapes[0][:2] + tuple(v for o in out for v in (o, k)))
        n = len(out)
        blocks = blocks.transpose([0, 1] + [2 + 2 * a for a in range(n)]
                                  + [3 + 2 * a for a in range(n)])
        win = np.unravel_index(blocks.reshape(blocks.shape[:2 + n] + (-1,)).argmax(-1), (k,) * n)
        pos = [np.arange(o).reshape([-1 if b == a else 1 for b in range(n)]) * k + win[a]
               for a, o in enumerate(out)]
        return np.ravel_multi_index(tuple(np.broadcast_arrays(*pos)), size).astype(np.int32)

    def fn(self, ops):
        kw = self.kwargs
        op = getattr(ops, self.op)
        if self.op == "softmax_cross_entropy" and self.labels == "int":
            labels = self.int_labels()
            if len(self.shapes) == 2:                       # logits and per-example weights
                return lambda z, w: op(z, labels, **kw, weights=w)
            return lambda z: op(z, labels, **kw)
        if self.op == "max_unpool":
            idx = self.unpool_indices()
            return lambda x: op(x, idx, **kw)
        if self.op == "batch_norm":        # the running statistics are not differentiable
            mean, var = self.running_stats()
            return lambda x, *affine: op(x, *_affine(affine), mean, var, **kw)[0]
        if self.op == "group_norm":
            groups = kw.pop("num_groups")
            return lambda x, *affine: op(x, groups, *_affine(affine), **kw)
        return lambda *args: op(*args, **kw)

    def textbook(self, inputs, delta):
        """Gradients of the loop-level oracle for cotangent ``delta`` (a tuple, one per input)."""
        kw = self.kwargs
        if self.op == "conv":
            x, w, *b = inputs
            dx, dw, db = textbook.conv_backward(x, w, delta, **kw)
            return (dx, dw, db) if b else (dx, dw)
        if self.op == "conv_transpose":
            x, w, *b = inputs
            dx, dw, db = textbook.conv_transpose_backward(x, w, delta, **kw)
            return (dx, dw, db) if b else (dx, dw)
        if self.op == "max_pool":
            if kw.get("ties") == "split":     # distinct inputs: the same winner as "first"
                kw = {k: v for k, v in kw.items() if k != "ties"}
            return (textbook.max_pool_backward(inputs[0], delta, **kw),)
        if self.op == "max_unpool":
            return (textbook.max_unpool_backward(self.unpool_indices(), delta),)
        if self.op in ("adaptive_avg_pool", "adaptive_max_pool"):
            return (textbook.adaptive_pool_backward(self.op.split("_")[1], inputs[0], delta,
                                                    kw["output_size"]),)
        if self.op in ("global_avg_pool", "global_max_pool"):
            d = np.asarray(delta).reshape(np.shape(delta) + (1,) * (len(self.shapes[0]) - 2))
            return (textbook.adaptive_pool_backward(self.op.split("_")[1], inputs[0], d, 1),)
        if self.op == "avg_pool":
            return (textbook.avg_pool_backward(inputs[0], delta, **kw),)
        if self.op in ("batch_norm", "layer_norm", "group_norm"):
            x, scale, bias = (list(inputs) + [None, None])[:3]
            opts = {k: v for k, v in kw.items() if k != "momentum"}
            if self.op == "batch_norm":
                opts["mean"], opts["var"] = self.running_stats()
            grads = textbook.norm_backward(self.op, x, scale, bias, delta, **opts)
            return grads[:len(inputs)]
        if self.op == "lp_pool":
            return (textbook.lp_pool_backward(inputs[0], delta, **kw),)
        if self.op in _ACTIVATIONS:
            return (textbook.activation_backward(self.op, inputs[0], delta, **kw),)
        if self.op == "dense":
            dx, dw, db = textbook.dense_backward(inputs[0], inputs[1], delta)
            return (dx, dw, db)[:len(inputs)]
        if self.op == "interpolate":
            return (textbook.interpolate_backward(inputs[0], delta, **kw),)
        d = np.asarray(delta, np.float64)
        if self.op == "mse":
            g = textbook.mse_backward(*inputs, reduction=kw["reduction"]) * d
            return (g, -g)
        if self.op == "softmax_cross_entropy":
            red = kw["reduction"]
            labels = self.int_labels() if self.labels == "int" else inputs[1]
            weights = inputs[1] if self.labels == "int" and len(inputs) == 2 else None
            dz = textbook.softmax_cross_entropy_backward(inputs[0], labels, **kw,
                                                         weights=weights)
            dz = dz * (d[:, None] if red == "none" else d)
            if self.labels == "int" and weights is None:
                return (dz,)
            return None   # no oracle for label and weight gradients; autodiff covers them
        if self.op == "sigmoid_binary_cross_entropy":
            dz, dt = textbook.sigmoid_binary_cross_entropy_backward(*inputs, **kw)
            return (dz * d, dt * d)
        if self.op == "huber":
            dy, dt = textbook.huber_backward(*inputs, **kw)
            return (dy * d, dt * d)
        raise ValueError(self.op)


def _affine(params):
    """``(scale, bias)`` from the differentiable affine inputs given (none, scale, or both)."""
    return tuple(params) + (None,) * (2 - len(params))


def _norm_cases(op):
    if op == "batch_norm":
        return [Case(op, ((4, 3), (3,), (3,)), (("training", True),)),
                Case(op, ((3, 2, 5), (2,), (2,)), (("training", True), ("momentum", 0.3))),
                Case(op, ((2, 3, 4, 3), (3,), (3,)), (("training", True),)),
                Case(op, ((2, 2, 3, 2, 3),), (("training", True), ("eps", 0.1))),
                Case(op, ((2, 3, 4, 3), (3,), (3,)), (("training", False),)),
                Case(op, ((3, 2, 5), (2,)), (("training", False), ("eps", 0.1)))]
    if op == "group_norm":
        return [Case(op, ((2, 6, 5), (6,), (6,)), (("num_groups", 3),)),
                Case(op, ((2, 4, 3, 3), (4,), (4,)), (("num_groups", 1),)),
                Case(op, ((2, 4, 3, 3),), (("num_groups", 4),)),                 # instance norm
                Case(op, ((2, 2, 2, 3, 2), (2,), (2,)), (("num_groups", 2), ("eps", 0.01)))]
    return [Case(op, ((3, 4, 5), (5,), (5,))),
            Case(op, ((3, 4, 5), (4, 5), (4, 5)), (("num_axes", 2),)),
            Case(op, ((2, 3, 4, 3),), (("num_axes", 3), ("eps", 1e-3))),
            Case(op, ((6,), (6,)), (("num_axes", 1),))]


def _conv_case(n, stride=1, padding="VALID", dilation=1, groups=1, flip=False, bias=True,
               channels=(4, 6), mode="zeros"):
    c, d = channels
    shapes = ((2, c) + _CONV_S[n], (d, c // groups) + _CONV_K[n]) + (((d,),) if bias else ())
    opts = (("stride", stride), ("padding", padding), ("dilation", dilation),
            ("groups", groups), ("flip", flip)) + ((("padding_mode", mode),) if mode != "zeros"
                                                   else ())
    return Case("conv", shapes, opts)


def _conv_transpose_cases():
    out = []
    for n in (1, 2, 3):
        s = {1: (5,), 2: (4, 5), 3: (3, 4, 3)}[n]
        k = _CONV_K[n]
        for opts, groups, bias in [
                ((), 1, True),
                ((("stride", 2), ("padding", 1), ("output_padding", 1)), 1, True),
                ((("dilation", 2), ("padding", _per_axis((1, 0), n))), 1, False),
                ((("stride", _per_axis((2, 3), n)), ("groups", 2)), 2, True)]:
            shapes = ((2, 4) + s, (4, 6 // groups) + k) + (((6,),) if bias else ())
            out.append(Case("conv_transpose", shapes, opts))
    return out


def _conv_cases(exhaustive):
    out = []
    for n in (1, 2, 3):
        if exhaustive:
            for kw in sweep(stride=(1, 2),
                            padding=("VALID", "SAME", 1, _per_axis((1, 0), n), ((2, 0),) * n),
                            dilation=(1, 2), groups=(1, 2, 4), flip=(False, True),
                            bias=(True, False)):
                out.append(_conv_case(n, **kw, channels=(4, 8 if kw["groups"] == 4 else 6)))
            continue
        out += [
            _conv_case(n),
            _conv_case(n, stride=2),
            _conv_case(n, stride=_per_axis((2, 1), n)),
            _conv_case(n, padding="SAME"),
            _conv_case(n, padding="SAME", stride=2),
            _conv_case(n, padding=1),
            _conv_case(n, padding=_per_axis((1, 0), n)),
            _conv_case(n, padding=_per_axis(((2, 0), (0, 1)), n)),
            _conv_case(n, dilation=2),
            _conv_case(n, groups=2),
            _conv_case(n, groups=4, channels=(4, 8)),                      # depthwise, x2
            _conv_case(n, flip=True),
            _conv_case(n, bias=False),
            _conv_case(n, stride=2, padding="SAME", dilation=2, groups=2, flip=True),
            _conv_case(n, stride=3, padding=_per_axis(((1, 2), (2, 1)), n),
                       dilation=_per_axis((1, 2), n), bias=False),
            _conv_case(n, padding=1, mode="reflect"),
            _conv_case(n, stride=2, padding=_per_axis(((2, 0), (0, 1)), n), mode="replicate"),
            _conv_case(n, padding=1, mode="circular", groups=2),
        ]
    return out


def _pool_cases(op, exhaustive):
    out = []
    extra = {"max_pool": [(("window", 2), ("stride", 1), ("dilation", 2)),
                          (("window", 3), ("stride", 2), ("padding", 1), ("dilation", 2)),
                          (("window", 3), ("stride", 2), ("padding", 1), ("ties", "split"))],
             "avg_pool": [(("padding", 1), ("count_include_pad", False), ("window", 3),
                           ("stride", 2)),
                          (("divisor_override", 5), ("window", 2))],
             "lp_pool": [(("p", 3.0), ("window", 3), ("stride", 2)),
                         (("p", 1.0), ("window", 2))]}[op]
    for n in (1, 2, 3):
        x = ((2, 3) + _POOL_S[n],)
        base = [
            (("window", 2),),
            (("window", 3), ("stride", 2)),
            (("window", 3), ("stride", 1), ("padding", 1)),
            (("window", _per_axis((3, 2), n)), ("stride", _per_axis((2, 1), n)),
             ("padding", "SAME")),
            (("window", 2), ("stride", 2), ("ceil_mode", True)),
            (("window", 3), ("stride", 2), ("padding", 1), ("ceil_mode", True)),
            (("window", 3), ("stride", 2), ("padding", _per_axis(((1, 0), (0, 1)), n))),
        ]
        opts_list = base + extra
        if exhaustive:
            opts_list = [tuple(kw.items()) for kw in sweep(
                window=(2, 3), stride=(1, 2, 3), padding=(0, 1), ceil_mode=(False, True))] + extra
        for opts in opts_list:
            case = Case(op, x, tuple(opts))
            if exhaustive and not _valid(case):
                continue
            out.append(case)
    return out


def _valid(case: Case) -> bool:
    """Whether the options are accepted (the exhaustive product contains invalid ones)."""
    kw = case.kwargs
    try:
        _windows.pool_config(case.op, np.zeros(case.shapes[0]), kw["window"], kw.get("stride"),
                             kw.get("padding", "VALID"), kw.get("ceil_mode", False),
                             kw.get("dilation", 1))
    except ValueError:
        return False
    return True


def _interpolate_cases():
    """Every mode and rank, align_corners both ways, size and integer / non-integer factors,
    up and down (PyTorch's rules: derivation, Eq. 47-49)."""
    s1, s2, s3 = (2, 3, 7), (2, 3, 5, 4), (2, 2, 3, 4, 3)
    lin, ac = ("mode", "linear"), ("align_corners", True)
    return [Case("interpolate", (s,), opts) for s, opts in [
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


def cases(op: str, exhaustive: bool = False) -> list[Case]:
    """The configurations of ``op`` that ``jaxconv check`` and the tests run."""
    if op == "conv":
        return _conv_cases(exhaustive)
    if op in ("max_pool", "avg_pool", "lp_pool"):
        return _pool_cases(op, exhaustive)
    if op == "conv_transpose":
        return _conv_transpose_cases()
    if op in ("batch_norm", "layer_norm", "group_norm"):
        return _norm_cases(op)
    if op == "max_unpool":
        return [Case(op, ((2, 3) + _per_axis((3, 4), n),), (("window", 2),)) for n in (1, 2, 3)]
    if op in ("adaptive_avg_pool", "adaptive_max_pool"):
        return [Case(op, ((2, 3) + s,), (("output_size", o),))
                for s, o in [((7,), 3), ((7, 8), (3, 4)), ((5, 6), (7, 2)), ((4, 5, 6), (2, 3, 4))]]
    if op in ("global_avg_pool", "global_max_pool"):
        return [Case(op, ((2, 3) + s,)) for s in [(7,), (5, 6), (3, 4, 3)]]
    if op in ("sigmoid_binary_cross_entropy", "huber"):
        extra = (("delta", 0.7),) if op == "huber" else ()
        return [Case(op, ((4, 3), (4, 3)), (("reduction", r),) + extra)
                for r in ("sum", "mean", "none")]
    if op in ("relu", "sigmoid", "tanh", "silu"):
        return [Case(op, ((3, 4, 5),)), Case(op, ((7,),))]
    if op in _ACTIVATION_OPTIONS:               # the defaults, then each option's extremes
        return [Case(op, ((3, 4, 5),))] + [Case(op, (shape,), opts)
                                           for shape, opts in _ACTIVATION_OPTIONS[op]]
    if op == "dense":
        return [Case(op, ((5, 7), (7, 3), (3,))), Case(op, ((5, 7), (7, 3)))]
    if op == "mse":
        return [Case(op, ((4, 3), (4, 3)), (("reduction", r),)) for r in ("sum", "mean", "none")]
    if op == "softmax_cross_entropy":
        return ([Case(op, ((6, 5),), (("reduction", r),), "int") for r in ("mean", "sum", "none")]
                + [Case(op, ((6, 5), (6, 5)), (("reduction", r),), "prob")
                   for r in ("mean", "none")]
                + [Case(op, ((6, 5),), (("reduction", "mean"), ("label_smoothing", 0.1)), "int"),
                   Case(op, ((6, 5),), (("reduction", "mean"), ("ignore_index", 2)), "int"),
                   Case(op, ((6, 5), (6,)), (("reduction", "mean"), ("ignore_index", 2)), "int"),
                   Case(op, ((6, 5), (6,)), (("reduction", "sum"),), "int"),
                   Case(op, ((6, 5), (6, 5)), (("reduction", "mean"), ("label_smoothing", 0.2)),
                        "prob")])
    if op == "interpolate":
        return _interpolate_cases()
    raise ValueError(f"jaxconv._grid.cases: unknown op {op!r}; expected one of {OPS}.")
