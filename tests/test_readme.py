"""The README's Python examples run as written, each in a fresh interpreter (JAX defaults:
float32, no x64), the way a newcomer pastes them. Every ``python`` block is run by one test; the
interop examples skip cleanly where their library is not installed."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def block(marker: str) -> str:
    found = [b for b in BLOCKS if marker in b]
    assert len(found) == 1, f"{len(found)} README blocks contain {marker!r}"
    return found[0]


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_every_python_block_is_tested():
    markers = ["theirs = grad(params", "test accuracy", "from flax import nnx",
               "import equinox as eqx", "accuracy with the running statistics",
               "testing.check_vjp(hard_swish"]
    assert sorted(BLOCKS) == sorted(block(m) for m in markers)


def test_gradient_example_agrees_with_autodiff():
    out = run(block("theirs = grad(params"))
    assert float(out.strip().splitlines()[-1]) < 1e-5


def test_training_script_learns_the_digits():
    out = run(block("test accuracy"))
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.9


def test_checking_your_own_rule_prints_the_report_then_the_disagreement():
    out = run(block("testing.check_vjp(hard_swish"))
    rows = [line for line in out.splitlines() if line.startswith("| hard_swish |")]
    assert [row.split(" | ")[1] for row in rows] == ["float64", "float32", "bfloat16"]
    assert all(row.endswith("| yes |") for row in rows)
    assert "failed the 'vs reference' check (float64, jit)" in out
    assert "where:     argument 0 (shape (4, 6))" in out


def test_stateful_resnet_example_learns_the_digits():
    out = run(block("accuracy with the running statistics"))
    accuracy = float(re.search(r"running statistics ([0-9.]+)", out).group(1))
    assert accuracy > 0.9


@pytest.mark.parametrize("package,marker", [("flax", "from flax import nnx"),
                                            ("equinox", "import equinox as eqx")])
def test_interop_example_trains_and_matches_autodiff(package, marker):
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (pip install -e '.[{package}]')")
    out = run(block(marker))
    first, last = map(float, re.search(r"loss ([0-9.]+) -> ([0-9.]+)", out).groups())
    assert last < 0.7 * first
    assert float(re.search(r"jax.grad\| = ([0-9.e+-]+)", out).group(1)) < 1e-5
