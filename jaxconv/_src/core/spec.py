"""What the rest of the project knows about an op, declared once, next to the op.

Every op module ends with ``SPECS``, one :class:`OpSpec` per public op it defines::

    SPECS = (OpSpec(max_pool, kind="pooling", cases=_cases, textbook=_textbook,
                    examples=(Example("max_pool", lambda ops, x: ops.max_pool(x, 3, 2, 1),
                                      ((2, 3, 6, 6),)),),
                    condition=distinct, pytorch="F.max_pool1d/2d/3d",
                    rule=("`y = max` over each window (Eq. 11)", "...", "...")),)

:mod:`jaxconv._src.ops` collects them (:data:`REGISTRY`, in the order of :data:`KINDS`), and
everything that lists ops is derived from there: ``jaxconv.__all__``, :mod:`jaxconv.autodiff`,
the grid of ``jaxconv check`` and of the tests, the edge-value, NumPy-input, integer-input and
16-bit tests, the activation fuzz test, the table of ``jaxconv ops`` and the docs' table of
rules. An op without some of these says so in ``opt_outs``, with the reason.

A :class:`Case` is one op with one set of options and input shapes: ``case.fn(ops)`` is a
function of the differentiable inputs only (labels and indices are closed over), for ``ops``
either :mod:`jaxconv` or :mod:`jaxconv.autodiff`; ``case.inputs(dtype)`` draws those inputs from
a fixed seed and conditions them (``OpSpec.condition``: away from kinks, no ties, ...).
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from jaxconv._src.core import windows as _windows

KINDS = ("convolution", "pooling", "normalisation", "interpolation", "activation", "dense",
         "loss", "regularisation")

# what an op may opt out of, each with its reason
PROPERTIES = {
    "cases": "the grid: jax.grad in float64, finite differences, jit, eager, vmap, 16-bit",
    "textbook": "the textbook loops of its equations",
    "pytorch": "parity with PyTorch (tests/test_torch_parity.py)",
}

REGISTRY: dict[str, OpSpec] = {}


@dataclasses.dataclass(frozen=True)
class Example:
    """One call of an op on float inputs of ``shapes`` (everything else fixed inside ``call``).

    It is run with NumPy inputs, with an empty batch (the first axis of the first input, and of
    every input that shares its length, set to 0), with infinities and NaN in the first input,
    with an integer first input (refused, naming it), and, for an activation, in 16 bits at
    saturating values. ``call(ops, *arrays)`` must work for ``ops`` = :mod:`jaxconv` and
    :mod:`jaxconv.autodiff` alike."""

    name: str
    call: Callable[..., Any]
    shapes: tuple[tuple[int, ...], ...]


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """Everything the project needs to know about one public op.

    Attributes:
      fn: the public function (its ``__name__`` is the op's name).
      kind: one of :data:`KINDS`.
      examples: at least one :class:`Example`.
      cases: ``cases(exhaustive) -> [Case, ...]``, the op's grid (``exhaustive=True``: the full
        product of options, where the op has one); ``None`` with an opt-out.
      textbook: ``textbook(tb, case, inputs, delta) -> (grad, ...) | None`` with ``tb`` the
        module of textbook loops (``jaxconv._src.tools.textbook``): the oracle's gradient of every
        differentiable input; ``None`` with an opt-out.
      judged: ``judged(case) -> bool``, the cases the textbook judges (default: every case).
      call: ``call(ops, case) -> f(*inputs)`` where the op takes more than the differentiable
        inputs and its options (labels, indices, running statistics); default
        ``lambda *inputs: op(*inputs, **case.kwargs)``.
      condition: ``condition(case, arrays, rng) -> arrays``, applied to the standard-normal
        inputs a case draws (keep them away from kinks and ties, make targets valid).
      pytorch: the PyTorch function its parity tests compare with; ``None`` with an opt-out.
      opt_outs: ``{property: reason}`` for each of :data:`PROPERTIES` it does not have.
      rule: ``(forward, backward, residuals)``, markdown for the table of the rules in the docs
        (``Eq. N`` becomes a link to the derivation).
    """

    fn: Callable[..., Any]
    kind: str
    examples: tuple[Example, ...]
    cases: Callable[[bool], list[Case]] | None = None
    textbook: Callable[..., Any] | None = None
    judged: Callable[[Case], bool] | None = None
    call: Callable[[Any, Case], Callable[..., Any]] | None = None
    condition: Callable[[Case, list, np.random.Generator], list] | None = None
    pytorch: str | None = None
    opt_outs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    rule: tuple[str, str, str] | None = None

    @property
    def name(self) -> str:
        return self.fn.__name__

    def problems(self) -> list[str]:
        """What is missing or inconsistent in this entry (empty when complete)."""
        out = []
        if self.kind not in KINDS:
            out.append(f"kind {self.kind!r} is not one of {KINDS}")
        if not self.examples or not all(isinstance(e, Example) for e in self.examples):
            out.append("no examples (at least one Example)")
        unknown = set(self.opt_outs) - set(PROPERTIES)
        if unknown:
            out.append(f"opt_outs names unknown properties {sorted(unknown)}; "
                       f"known: {sorted(PROPERTIES)}")
        for prop in PROPERTIES:
            has, why = getattr(self, prop) is not None, self.opt_outs.get(prop, "")
            if has and why:
                out.append(f"has {prop} and also opts out of it")
            if not has and not why.strip():
                out.append(f"no {prop} and no reason in opt_outs[{prop!r}]")
        if not (isinstance(self.rule, tuple) and len(self.rule) == 3
                and all(isinstance(s, str) and s.strip() for s in self.rule)):
            out.append("no rule: (forward, backward, residuals) for the docs' table of rules")
        if self.cases is None and self.textbook is not None:
            out.append("a textbook without cases is never run")
        first = next(iter(inspect.signature(self.fn).parameters), None)
        if first is None:
            out.append("the function takes no argument")
        return out


def register(spec: OpSpec) -> None:
    if spec.name in REGISTRY and REGISTRY[spec.name] is not spec:
        raise ValueError(f"two ops are registered as {spec.name!r}")
    REGISTRY[spec.name] = spec


def lookup(name: str) -> OpSpec:
    if name not in REGISTRY:
        raise ValueError(f"unknown op {name!r}; the registry has {', '.join(REGISTRY)}.")
    return REGISTRY[name]


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

    @property
    def spec(self) -> OpSpec:
        return lookup(self.op)

    def inputs(self, dtype=np.float64, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        arrays = [rng.standard_normal(s) for s in self.shapes]
        if self.spec.condition is not None:
            arrays = self.spec.condition(self, arrays, rng)
        return [np.asarray(a).astype(dtype) for a in arrays]

    def fn(self, ops):
        if self.spec.call is not None:
            return self.spec.call(ops, self)
        op, kw = getattr(ops, self.op), self.kwargs
        return lambda *args: op(*args, **kw)


# ----- helpers the op modules build their grids with ----------------------------------------

def per_axis(values, n):
    """``values`` repeated to ``n`` axes: ``per_axis((2, 1), 3) == (2, 1, 2)``."""
    return tuple(values[i % len(values)] for i in range(n))


def product(**options) -> list[dict]:
    """Every combination of the options' values, the first varying slowest."""
    keys = list(options)
    return [dict(zip(keys, combo)) for combo in itertools.product(*options.values())]


def away_from(arrays, at=0.0, margin=0.05):
    """The first array kept ``margin`` away from the kink at ``at`` (finite differences across a
    kink disagree with any one-sided derivative): one kink, every value moved ``margin`` away
    from it; several (a tuple), only the values within ``margin`` of one, moved out to it."""
    x = arrays[0]
    if np.ndim(at) == 0:
        arrays[0] = x + np.copysign(margin, x - at)
        return arrays
    for point in at:
        near = np.abs(x - point) < margin
        x = np.where(near, point + np.copysign(margin, x - point), x)
    arrays[0] = x
    return arrays


POOL_SIZES = {1: (10,), 2: (7, 8), 3: (5, 6, 5)}


def pool_cases(op: str, extra, exhaustive: bool) -> list[Case]:
    """The windowed pools' grid: windows, strides, padding forms and ``ceil_mode`` on each rank,
    plus the op's own ``extra`` option sets; ``exhaustive``: the full product instead."""
    out = []
    for n in (1, 2, 3):
        x = ((2, 3) + POOL_SIZES[n],)
        base = [
            (("window", 2),),
            (("window", 3), ("stride", 2)),
            (("window", 3), ("stride", 1), ("padding", 1)),
            (("window", per_axis((3, 2), n)), ("stride", per_axis((2, 1), n)),
             ("padding", "SAME")),
            (("window", 2), ("stride", 2), ("ceil_mode", True)),
            (("window", 3), ("stride", 2), ("padding", 1), ("ceil_mode", True)),
            (("window", 3), ("stride", 2), ("padding", per_axis(((1, 0), (0, 1)), n))),
        ]
        opts_list = base + list(extra)
        if exhaustive:
            opts_list = [tuple(kw.items()) for kw in product(
                window=(2, 3), stride=(1, 2, 3), padding=(0, 1), ceil_mode=(False, True))]
            opts_list += list(extra)
        for opts in opts_list:
            case = Case(op, x, tuple(opts))
            if exhaustive and not _valid_pool(case):
                continue
            out.append(case)
    return out


def _valid_pool(case: Case) -> bool:
    """Whether the options are accepted (the exhaustive product contains invalid ones)."""
    kw = case.kwargs
    try:
        _windows.pool_config(case.op, np.zeros(case.shapes[0]), kw["window"], kw.get("stride"),
                             kw.get("padding", "VALID"), kw.get("ceil_mode", False),
                             kw.get("dilation", 1))
    except ValueError:
        return False
    return True


def distinct(case: Case, arrays, rng):
    """The first input made of distinct values 4/size apart: no ties for a max to break."""
    shape = case.shapes[0]
    size = int(np.prod(shape))
    arrays[0] = (rng.permutation(size).reshape(shape) + 0.5) * (4 / size) - 2
    return arrays
