"""The package's shape: every public op follows one template, its autodiff twin has the same
signature and no custom rule, the layers import one way, and every citation resolves."""

import importlib
import importlib.util
import inspect
import pathlib
import re

import jax
import jax.numpy as jnp
import pytest

import jaxconv as jc
from jaxconv._src.core import spec as spec_module
from jaxconv._src.ops import SPECS
from jaxconv._src.tools import grid as _grid

ROOT = pathlib.Path(jc.__file__).parent
OPS = [name for name in jc.__all__ if inspect.isfunction(getattr(jc, name, None))
       and getattr(jc, name).__module__.startswith("jaxconv._src.ops.")]


def test_the_public_face_lists_every_op_and_module():
    assert len(OPS) >= 19
    modules = {name for name in jc.__all__ if inspect.ismodule(getattr(jc, name))}
    assert modules == {"autodiff", "textbook"}
    assert set(jc.__all__) == set(OPS) | modules | {"jit"}
    assert set(jc.autodiff.__all__) == set(OPS)
    assert all(callable(getattr(jc.autodiff, name)) for name in OPS)


def test_the_re_export_lines_are_the_registry():
    """``jaxconv/__init__.py`` re-exports each op of the registry on one explicit line, from the
    module that registers it, and nothing else from the ops."""
    lines = re.findall(r"^from jaxconv\._src\.ops\.(\w+) import (\w+) as (\w+)$",
                       (ROOT / "__init__.py").read_text(), re.M)
    assert all(name == alias for _, name, alias in lines)
    exported = {name: module for module, name, _ in lines}
    missing = sorted(set(SPECS) - set(exported))
    assert not missing, f"registered but not re-exported in jaxconv/__init__.py: {missing}"
    extra = sorted(set(exported) - set(SPECS))
    assert not extra, f"re-exported but not in any op module's SPECS: {extra}"
    for name, spec in SPECS.items():
        assert getattr(jc, name) is spec.fn
        assert spec.fn.__module__ == f"jaxconv._src.ops.{exported[name]}"


@pytest.mark.parametrize("name", list(SPECS))
def test_each_registry_entry_is_complete(name):
    """Every field is given, or its opt-out says why; the grid's cases are of this op, and its
    examples run on ``jaxconv`` and ``jaxconv.autodiff`` alike."""
    spec = SPECS[name]
    assert spec.problems() == [], spec.problems()
    if spec.cases is not None:
        cases = spec.cases(False)
        assert cases and {c.op for c in cases} == {name}
        assert len({c.id for c in cases}) == len(cases), "two cases share an id"
    for example in spec.examples:
        arrays = [jnp.ones(s) for s in example.shapes]
        ours, theirs = (jax.eval_shape(lambda *a, o=o, e=example: e.call(o, *a), *arrays)
                        for o in (jc, jc.autodiff))
        assert ours == theirs


def test_the_registry_refuses_an_incomplete_entry():
    incomplete = spec_module.OpSpec(jc.relu, kind="activation", examples=())
    assert incomplete.problems() == [
        "no examples (at least one Example)", "no cases and no reason in opt_outs['cases']",
        "no textbook and no reason in opt_outs['textbook']",
        "no pytorch and no reason in opt_outs['pytorch']",
        "no rule: (forward, backward, residuals) for the docs' table of rules"]
    both = spec_module.OpSpec(jc.relu, kind="layer", examples=SPECS["relu"].examples,
                              cases=SPECS["relu"].cases, textbook=SPECS["relu"].textbook,
                              pytorch="F.relu", opt_outs={"pytorch": "because", "speed": "x"},
                              rule=SPECS["relu"].rule)
    problems = both.problems()
    assert any("kind 'layer'" in p for p in problems)
    assert any("unknown properties ['speed']" in p for p in problems)
    assert "has pytorch and also opts out of it" in problems
    with pytest.raises(ValueError, match="two ops are registered as 'relu'"):
        spec_module.register(both)


def test_example_names_are_unique():
    """The edge, NumPy, integer and 16-bit tests key the examples by name."""
    names = [e.name for spec in SPECS.values() for e in spec.examples]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_every_op_with_a_pytorch_counterpart_has_a_parity_test():
    """The parity tests (skipped without torch) declare the ops they compare in ``COMPARED``,
    and each such op is the op of a parity test there; the opt-outs say why not."""
    import ast
    tree = ast.parse((ROOT.parent / "tests" / "test_torch_parity.py").read_text())
    compared = next(ast.literal_eval(node.value) for node in tree.body
                    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "")
                    == "COMPARED")
    assert compared == {n for n, s in SPECS.items() if s.pytorch}


@pytest.mark.parametrize("name", OPS)
def test_each_op_is_a_top_level_def_with_its_real_signature(name):
    f = getattr(jc, name)
    assert f.__qualname__ == f.__name__ == name
    assert inspect.getsource(f).startswith(f"def {name}(")
    params = inspect.signature(f).parameters.values()
    assert not [p for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert "Args:" in f.__doc__ and "Returns:" in f.__doc__ and "Eq. " in f.__doc__
    assert f.__module__.startswith("jaxconv._src.ops.")


@pytest.mark.parametrize("name", OPS)
def test_each_autodiff_twin_has_the_same_signature_and_source(name):
    f, twin = getattr(jc, name), getattr(jc.autodiff, name)
    assert twin is not f
    assert inspect.signature(twin) == inspect.signature(f)
    assert twin.__qualname__ == name and twin.__doc__ == f.__doc__
    assert inspect.getsource(twin) == inspect.getsource(f)


@pytest.mark.parametrize("op", _grid.OPS)
def test_autodiff_twins_run_no_custom_rule_and_the_ops_do(op):
    case = _grid.cases(op)[0]
    inputs = [jnp.asarray(a) for a in case.inputs()]

    def jaxpr(ops):
        return str(jax.make_jaxpr(case.fn(ops))(*inputs))
    assert "custom_vjp_call" in jaxpr(jc)
    assert "custom_vjp_call" not in jaxpr(jc.autodiff)


def test_public_import_paths_keep_working():
    for path in ("jaxconv.autodiff", "jaxconv.textbook", "jaxconv.models", "jaxconv.layers",
                 "jaxconv.train", "jaxconv.data", "jaxconv.checkpoint", "jaxconv.distributed",
                 "jaxconv.testing"):
        module = importlib.import_module(path)
        for name in module.__all__:
            assert hasattr(module, name), (path, name)
    from jaxconv.models import lenet5
    from jaxconv.testing import check_vjp
    from jaxconv.train import fit
    assert callable(lenet5) and callable(fit) and callable(check_vjp)


def _sources(*folders):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_rules_live_under_src_and_imports_flow_one_way():
    """No module with a custom_vjp sits directly in jaxconv/; core imports nothing above it,
    ops nothing above ops, nn nothing from training or tools, training nothing from tools."""
    holders = [p for p in ROOT.rglob("*.py") if ".defvjp(" in p.read_text()]
    assert len(holders) >= 10
    for path in holders:
        assert path.parent.parent.name == "_src", path            # jaxconv/_src/<tier>/
    above = {"core": ("ops", "nn", "training", "tools"), "ops": ("nn", "training", "tools"),
             "nn": ("training", "tools"), "training": ("tools",)}
    for tier, forbidden in above.items():
        for path in _sources(f"_src/{tier}"):
            text = path.read_text()
            for other in forbidden:
                pattern = rf"^\s*(from|import) jaxconv\._src\.{other}\b"
                assert not re.search(pattern, text, re.M), (path, other)
            if tier in ("core", "ops"):
                assert not re.search(r"^\s*(import jaxconv\b|from jaxconv import)", text, re.M), path


def test_no_file_cites_what_users_do_not_have():
    pattern = re.compile(r"\b00[0-4]\b|DESIGN\.md|seeds/")
    for path in ROOT.rglob("*.py"):
        assert not pattern.search(path.read_text()), path


def test_every_cited_equation_is_in_the_derivation():
    doc = (ROOT / "derivation.md").read_text()
    defined = {int(n) for n in re.findall(r"^\(eq-(\d+)\)=$", doc, flags=re.M)}
    tags = {int(n) for n in re.findall(r"\\tag\{(\d+)\}", doc)}
    assert defined == tags == set(range(1, max(defined) + 1))  # numbered without gaps
    assert "## References" in doc and "Kafunah" in doc
    cited = set()
    for path in ROOT.rglob("*.py"):
        for group in re.findall(r"Eq\. ?(\d+(?:\s*[-,]\s*\d+)*)", path.read_text()):
            cited |= {int(n) for n in re.findall(r"\d+", group)}
    assert cited and cited <= defined, sorted(cited - defined)


def _docs_conf():
    """``docs/conf.py`` as a module: it writes the API pages from the public modules."""
    spec = importlib.util.spec_from_file_location("docs_conf", ROOT.parent / "docs" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


CONF = _docs_conf()


def _public_names():
    for module in CONF.API_MODULES:
        mod = importlib.import_module(module)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if not inspect.ismodule(obj):
                yield module, name, obj


def _defining_modules():
    """The private modules that define the public names (where their docstrings live)."""
    found = set()
    for _, _, obj in _public_names():
        module = getattr(obj, "__module__", "") if callable(obj) else ""
        if module.startswith("jaxconv._src."):
            found.add(module.removeprefix("jaxconv._src."))
    return sorted(found)


@pytest.mark.parametrize("module,name,obj", [pytest.param(*t, id=f"{t[0]}.{t[1]}")
                                             for t in _public_names()])
def test_every_public_name_has_an_api_entry_with_a_docstring_and_an_example(module, name, obj):
    """The API pages are written from each module's ``__all__`` (``docs/conf.py``); each entry
    shows the docstring (functions and classes) or the ``#:`` comment (constants and the
    parameter-free layers), which must exist; functions and classes also show an example."""
    kind = CONF._kind(obj)
    if kind == "data":
        assert CONF.data_doc(module, name).strip()
        return
    doc = inspect.getdoc(obj) or ""
    assert len(doc.split()) >= 3, f"{module}.{name} has no docstring"
    if module != "jaxconv.autodiff":        # the twins share their op's docstring
        assert ">>>" in doc, f"{module}.{name}'s docstring has no example"


def test_the_api_pages_list_every_public_name(tmp_path):
    CONF.write_api_pages(tmp_path)
    pages = {p.stem: p.read_text() for p in tmp_path.glob("*.rst")}
    for module, name, _ in _public_names():
        assert f"{module}.{name}\n" in pages[module], f"{module}.{name} has no API entry"


@pytest.mark.parametrize("module", sorted(
    {f"ops.{p.stem}" for p in (ROOT / "_src" / "ops").glob("*.py") if p.stem != "__init__"}
    | set(_defining_modules())))
def test_docstring_examples_print_what_they_say(module):
    """Every ``>>>`` example in the docstrings of the modules that define public names runs and
    prints what it shows."""
    import doctest
    mod = importlib.import_module(f"jaxconv._src.{module}")
    with jax.enable_x64(False):            # the examples show a user's default dtypes
        result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
