"""The README is a landing page that stays true: its Python example runs as written (in a fresh
interpreter, JAX's defaults), the first-run line it shows is what ``jaxconv train`` prints, the
choices it lists are the parser's, and it stays short and free of development history. The longer
examples live in the documentation's tutorials, which the docs build executes."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import TEST_XLA_FLAGS

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
SUMMARY = re.compile(r"test accuracy ([0-9.]+), test loss ([0-9.]+), train loss ([0-9.]+) "
                     r"after (\d+) epochs")


def run(args) -> str:
    """``python args`` with XLA's default options (not the fast-compiling ones the tests set:
    they change the rounding, and with it the numbers a run prints)."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if f not in TEST_XLA_FLAGS]
    env = {**os.environ, "XLA_FLAGS": " ".join(flags)}
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=900,
                          cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_python_example_runs_and_agrees_with_autodiff():
    assert len(BLOCKS) == 1
    out = run(["-c", BLOCKS[0]])
    assert float(out.strip().splitlines()[-1]) < 1e-5


def test_the_first_run_line_is_what_jaxconv_train_prints():
    """Accuracy and losses of the README's first-run line against a real ``jaxconv train``
    (deterministic for a given jaxlib and CPU; the seconds are not compared). When a default
    changes, the README changes with it."""
    shown = SUMMARY.search(README)
    assert shown, "the README shows no first-run summary line"
    out = run(["-m", "jaxconv._src.tools.cli", "train"])
    printed = SUMMARY.search(out.strip().splitlines()[-1])
    assert printed, out[-2000:]
    assert printed.groups() == shown.groups(), (printed.group(0), shown.group(0))


def test_the_choices_it_lists_are_the_parsers():
    from jaxconv._src.nn.models import MODELS
    from jaxconv._src.training.data import DATASETS
    listed = dict(re.findall(r"`--(data|model) \{([^}]*)\}", README))
    assert listed["data"].split(",") == list(DATASETS)
    assert sorted(listed["model"].split(",")) == sorted(MODELS)


@pytest.mark.parametrize("page", ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"])
def test_a_short_page_without_development_history(page):
    text = (ROOT / page).read_text()
    if page == "README.md":
        assert len(text.splitlines()) <= 200
    for phrase in ("this machine", "this VM", "this session", "issue 1", "issue 2",
                   "when filed", "on this 2-core"):
        assert phrase not in text, f"{page} says {phrase!r}"
