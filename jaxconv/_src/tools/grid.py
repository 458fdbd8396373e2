"""The grid of op configurations that ``jaxconv check`` and the test suite run, read from the
registry (each op module's ``SPECS``; :mod:`jaxconv._src.core.spec`).

A :class:`Case` is one op with one set of options and input shapes. ``case.fn(ops)`` gives a
function of the differentiable inputs only (labels are closed over), for ``ops`` either
:mod:`jaxconv` or :mod:`jaxconv.autodiff`; ``case.inputs(dtype)`` draws those inputs from a fixed
seed; :func:`textbook` evaluates the loop-level oracle's gradients.

``cases(op, exhaustive=False)`` varies one option at a time around a base configuration per
spatial rank, plus combinations; ``exhaustive=True`` is the full product where the op has one
(the slow test grid).
"""

from __future__ import annotations

from jaxconv._src.core.spec import Case as Case
from jaxconv._src.ops import SPECS
from jaxconv._src.tools import textbook as _textbook

OPS = tuple(name for name, spec in SPECS.items() if spec.cases is not None)


def cases(op: str, exhaustive: bool = False) -> list[Case]:
    """The configurations of ``op`` that ``jaxconv check`` and the tests run."""
    if op not in OPS:
        raise ValueError(f"jaxconv grid: unknown op {op!r}; expected one of {', '.join(OPS)}.")
    return list(SPECS[op].cases(exhaustive))


def textbook(case: Case, inputs, delta):
    """The loop-level oracle's gradients of ``case`` for cotangent ``delta``, one per input
    (``None`` where the oracle has none for the case, or the op has no textbook loops)."""
    spec = case.spec
    if spec.textbook is None or (spec.judged is not None and not spec.judged(case)):
        return None
    return spec.textbook(_textbook, case, inputs, delta)
