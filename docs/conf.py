"""Sphinx configuration of the jaxconv documentation.

Build (offline, strict; the ``docs`` extra installs everything)::

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

At build time this file (1) writes the API pages, one per public module, from each module's
``__all__`` (so every public name has an entry), (2) draws the figures of the rules pages from
real op outputs (``docs/figures.py``), (3) writes the performance tables from the committed
results file of ``jaxconv bench --json`` (``docs/results/``), and the tables of the rules and of
the ops' checks from the registry (``jaxconv ops``), and (4) turns every ``Eq. N`` of
a docstring into a link to that equation of the derivation. The tutorials are MyST notebooks
executed on every build (an error in one fails the build).
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jaxconv  # noqa: E402

project = "jaxconv"
author = "The jaxconv authors"
copyright = "the jaxconv authors; Apache-2.0"
release = version = jaxconv.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "_generated"]
root_doc = "index"

# --- strictness: every cross-reference must resolve (-n), every warning is an error (-W) ---
nitpicky = True
# Names of other projects: shown as code, not linked (no inventory is fetched at build time).
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jaxlib|optax|numpy|np|flax|equinox|torch)(\..*)?"),
    (r"py:.*", r"(Array|ArrayLike|PyTree|Callable|Sequence|Mapping|Iterable|Iterator|Any)"),
    (r"py:.*", r"(Mesh|NamedSharding|Sharding|PartitionSpec|Device)"),        # jax.sharding
    (r"py:.*", r"(collections\.abc|typing|os|pathlib|argparse)\..*"),
    (r"py:class", r"(optional|callable|array|pytree|str|int|float|bool|tuple|dict|list)"),
]

# --- math: MathJax 3 (SVG output, no fonts to fetch) from the committed copy in _static ---
mathjax_path = "mathjax/tex-svg.js"
# No context menu: its speech and braille options would load their rule files from a CDN.
mathjax3_config = {"options": {"enableMenu": False}}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# --- tutorials: executed on every build; an error fails it ---
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_merge_streams = True
nb_render_markdown_format = "myst"     # markdown outputs (tables) parsed like the pages

# --- API docstrings: Google style (Args / Returns / Raises / Example) ---
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": False}

# --- HTML: Furo uses the system's fonts; nothing is loaded from another host ---
html_theme = "furo"
html_title = f"jaxconv {version}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}

# The public modules, one API page each (tests/test_api.py checks every name of their __all__).
API_MODULES = ["jaxconv", "jaxconv.autodiff", "jaxconv.layers", "jaxconv.models", "jaxconv.train",
               "jaxconv.data", "jaxconv.checkpoint", "jaxconv.distributed", "jaxconv.testing",
               "jaxconv.textbook"]


def _kind(obj) -> str:
    if isinstance(obj, type):
        return "autoclass"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or hasattr(obj, "__wrapped__"):
        return "autofunction"
    return "data"


def data_doc(public: str, name: str) -> str:
    """The ``#:`` comment above the definition of the public constant ``public.name`` (found in
    the private module that defines it); a constant without one is an error."""
    from sphinx.pycode import ModuleAnalyzer
    obj = getattr(importlib.import_module(public), name)
    for modname, module in sorted(sys.modules.items()):
        if not modname.startswith("jaxconv._src") or getattr(module, name, None) is not obj:
            continue
        docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        if ("", name) in docs:
            return "\n".join(docs[("", name)]).strip()
    raise RuntimeError(f"{public}.{name} has no '#:' comment where it is defined")


def write_api_pages(out: pathlib.Path) -> None:
    """One page per public module: its docstring, then every name of its ``__all__``."""
    out.mkdir(parents=True, exist_ok=True)
    toc = []
    for name in API_MODULES:
        module = importlib.import_module(name)
        lines = [name, "=" * len(name), "", f".. automodule:: {name}", ""]
        for member in module.__all__:
            obj = getattr(module, member)
            if isinstance(obj, type(jaxconv)):             # a submodule: its own page
                lines += [f"- :mod:`{obj.__name__}`", ""]
                continue
            kind = _kind(obj)
            if kind == "data":
                value = repr(obj) if not hasattr(obj, "init") else f"<layer {obj.name}>"
                lines += [f".. py:data:: {name}.{member}", f"   :value: {value}", ""]
                lines += ["   " + line for line in data_doc(name, member).splitlines()] + [""]
                continue
            lines += [f".. {kind}:: {name}.{member}"]
            if kind == "autoclass":
                lines += ["   :members:"]
            if name == "jaxconv.autodiff":
                lines += ["   :no-index:"]
            lines += [""]
        write_if_changed(out / f"{name}.rst", "\n".join(lines))
        toc.append(name)
    index = ["API reference", "=============", "",
             "Every public name, generated from its docstring. The examples (``>>>``) run in the "
             "test suite.", "", ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {n}" for n in toc]
    write_if_changed(out / "index.rst", "\n".join(index) + "\n")


_EQ = re.compile(r"(?<![`<])\bEq\. (\d+)(?:-(\d+))?")


def link_equations(app, what, name, obj, options, lines):
    """``Eq. 14`` (or ``Eq. 13-14``) in a docstring -> a link to that equation of the derivation
    (outside literal blocks and inline code)."""
    literal = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if literal and stripped and not line.startswith((" ", "\t")):
            literal = False
        if stripped.endswith("::"):
            literal = True
            continue
        if literal or ">>>" in line:
            continue
        parts = re.split(r"(``[^`]*``)", line)
        for k in range(0, len(parts), 2):
            parts[k] = _EQ.sub(_equation_link, parts[k])
        lines[i] = "".join(parts)


def _equation_link(match) -> str:
    first, last = match.group(1), match.group(2)
    link = f":ref:`Eq. {first} <eq-{first}>`"
    if last:
        link += f"-:ref:`{last} <eq-{last}>`"
    return link


def write_if_changed(path: pathlib.Path, text: str) -> None:
    """Write ``text`` unless the file already holds it (Sphinx rebuilds what changed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_cli_page(out: pathlib.Path) -> None:
    """Every command's ``--help``, exactly as the terminal prints it."""
    import contextlib
    import io

    from jaxconv._src.tools import cli
    parts = []
    for command in [None, *cli._COMMANDS]:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
            cli.main(["--help"] if command is None else [command, "--help"])
        title = "jaxconv" if command is None else f"jaxconv {command}"
        parts.append(f"## `{title}`\n\n```text\n{buffer.getvalue().rstrip()}\n```\n")
    write_if_changed(out, "\n".join(parts))


def setup(app):
    import figures
    import performance

    from jaxconv._src.tools import ops_table
    write_api_pages(HERE / "api")
    write_cli_page(HERE / "_generated" / "cli.md")
    figures.main(HERE / "_static" / "figures")
    write_if_changed(HERE / "_generated" / "performance.md",
                     performance.markdown(HERE / "results"))
    write_if_changed(HERE / "_generated" / "ops.md", ops_table.markdown())
    write_if_changed(HERE / "_generated" / "rules.md", ops_table.rules_markdown())
    write_if_changed(HERE / "_generated" / "training.md",
                     performance.training_markdown(HERE / "results"))
    app.connect("autodoc-process-docstring", link_equations)
