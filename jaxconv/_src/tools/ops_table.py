"""Print which checks cover which op, rank by rank, read from the registry.

One row per op and rank of its first input ``x`` in the grid of ``jaxconv check`` and the tests
(``x``: its spatial rank for convolutions, pools and interpolation, whose inputs are
``(N, C, *spatial)``, else its rank). ``cases``: the grid's
configurations at that rank (in brackets, the exhaustive grid's, run by ``pytest --slow``);
``textbook``: how many of them the textbook loops judge; ``autodiff, FD, transforms``: every
case equals ``jax.grad`` of the plain forward in float64, passes the finite-difference
judgement, and gives the same gradients under jit, eagerly, under vmap and to second order;
``16-bit``: bfloat16 and float16 (``jaxconv check --dtype bf16,f16``); ``edges``: the example
calls run with an empty batch, infinities, NaN, NumPy and integer inputs; ``PyTorch``: the
function the parity tests compare with. A dash is followed by the reason.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import re

_SPATIAL = ("convolution", "pooling", "interpolation")     # x is (N, C, *spatial)
COLUMNS = ("op", "x", "cases", "textbook", "autodiff, FD, transforms", "16-bit", "edges",
           "PyTorch")


@dataclasses.dataclass
class Row:
    op: str
    rank: int | None
    cases: int = 0
    exhaustive: int = 0
    textbook: int = 0
    edges: tuple[str, ...] = ()


def rows() -> tuple[Row, ...]:
    """One :class:`Row` per op and input rank, from the registry and the grid."""
    from jaxconv._src.ops import SPECS

    out = []
    for name, spec in SPECS.items():
        by_rank: dict[int | None, Row] = collections.OrderedDict()

        def row(rank, by_rank=by_rank, name=name):
            return by_rank.setdefault(rank, Row(name, rank))
        for case in spec.cases(False) if spec.cases else ():
            r = row(len(case.shapes[0]))
            r.cases += 1
            r.textbook += spec.textbook is not None and (spec.judged is None or spec.judged(case))
        for case in spec.cases(True) if spec.cases else ():
            row(len(case.shapes[0])).exhaustive += 1
        for example in spec.examples:
            r = row(len(example.shapes[0]))
            r.edges += (example.name,)
        out += sorted(by_rank.values(), key=lambda r: r.rank)
    return tuple(out)


def markdown() -> str:
    """The table as markdown, the reasons of the opt-outs as numbered notes below it."""
    from jaxconv._src.ops import SPECS
    from jaxconv._src.tools.testing import table_header, table_row

    notes: list[str] = []

    def opted_out(spec, prop):
        notes.append(f"{spec.name}: {spec.opt_outs[prop]}")
        return f"— [{len(notes)}]"

    lines, seen = [table_header(COLUMNS, right=("cases", "textbook"))], set()
    for r in rows():
        spec, first = SPECS[r.op], r.op not in seen
        seen.add(r.op)
        cases = (f"{r.cases}" + (f" ({r.exhaustive})" if r.exhaustive != r.cases else "")
                 if r.cases else "")
        if not spec.cases:
            cases = opted_out(spec, "cases") if first else ""
        if spec.textbook:
            textbook = r.textbook if r.cases else ""
        else:        # the reason on the op's first row, a dash on its other rows with cases
            textbook = opted_out(spec, "textbook") if first else "—" if r.cases else ""
        checked = "yes" if r.cases else ""
        pytorch = (f"`{spec.pytorch}`" if spec.pytorch else opted_out(spec, "pytorch")) \
            if first else ""
        rank = f"{r.rank - 2}-D" if spec.kind in _SPATIAL and r.rank > 2 else f"rank {r.rank}"
        lines.append(table_row([f"`{r.op}`" if first else "", rank, cases, textbook, checked,
                                checked, ", ".join(r.edges), pytorch]))
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n".join(f"{i}. {note}" for i, note in enumerate(notes, 1))
    return text + "\n"


def _link_equations(text: str) -> str:
    """Each ``Eq. 5-6, 8`` of ``text`` with its numbers linked to the derivation (MyST)."""
    def numbers(match):
        return re.sub(r"\d+", lambda n: f"{{ref}}`{n.group()} <eq-{n.group()}>`", match.group(1))
    return re.sub(r"Eq\. (\d+(?:\s*[-,]\s*\d+)*)", lambda m: "Eq. " + numbers(m), text)


def rules_markdown() -> str:
    """The table of the rules (op, forward, hand-written backward, residuals saved), one row per
    op of the registry, in markdown with links to the derivation's equations."""
    from jaxconv._src.ops import SPECS
    from jaxconv._src.tools.testing import table_header, table_row

    lines = [table_header(("op", "forward", "hand-written backward", "residuals saved"))]
    for name, spec in SPECS.items():
        params = inspect.signature(spec.fn).parameters.values()
        required = [p.name for p in params if p.default is p.empty]
        params = ", ".join(required + (["…"] if len(required) < len(params) else []))
        cells = [_link_equations(s).replace("|", "\\|") for s in spec.rule]  # | splits cells
        lines.append(table_row([f"{{py:func}}`{name}({params}) <jaxconv.{name}>`", *cells]))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from jaxconv._src.tools.cli import Parser
    parser = Parser(prog="jaxconv ops", description=__doc__.split("\n\n")[0],
                    epilog=__doc__.split("\n\n", 1)[1])
    parser.parse_args(argv)
    print(markdown(), end="")
    return 0
