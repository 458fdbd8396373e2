"""``jaxconv derivation [N]``: the derivation of every rule, shipped with the package.

The docstrings cite its numbered equations ("Eq. 6"); the docs site renders the same file as
the page "The formulas behind jaxconv's rules". ``jaxconv derivation`` prints it whole,
``jaxconv derivation 6`` the section that holds Eq. 6.
"""

from __future__ import annotations

import re
from importlib import resources


def text() -> str:
    """The derivation (MyST Markdown with LaTeX math), as shipped in the package."""
    return resources.files("jaxconv").joinpath("derivation.md").read_text(encoding="utf-8")


def equations() -> list[int]:
    """The numbers of the derivation's equations, in order of appearance."""
    return [int(n) for n in re.findall(r"^\(eq-(\d+)\)=$", text(), flags=re.M)]


def section(number: int) -> str:
    """The ``##`` section that holds equation ``number``; ``KeyError`` if there is none."""
    lines = text().splitlines()
    target = f"(eq-{number})="
    if target not in lines:
        raise KeyError(number)
    at = lines.index(target)
    start = max((i for i in range(at) if lines[i].startswith("## ")), default=0)
    end = next((i for i in range(at, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).rstrip() + "\n"


def main(argv=None) -> int:
    from jaxconv._src.tools.cli import Parser
    parser = Parser(prog="jaxconv derivation",
                    description="Print the derivation of the rules (the equations the "
                                "docstrings cite as 'Eq. N'), or the section of one equation.")
    parser.add_argument("equation", nargs="?", type=int, metavar="N",
                        help="print only the section holding Eq. N (default: the whole text)")
    args = parser.parse_args(argv)
    if args.equation is None:
        print(text(), end="")
        return 0
    try:
        print(section(args.equation), end="")
    except KeyError:
        known = equations()
        parser.error(f"there is no Eq. {args.equation}; the equations are numbered "
                     f"{min(known)}-{max(known)}")
    return 0
