"""The README's Python examples run as written, each in a fresh interpreter (JAX defaults:
float32, no x64), the way a newcomer pastes them."""

import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


def test_gradient_example_agrees_with_autodiff():
    out = run(BLOCKS[0])
    assert float(out.strip().splitlines()[-1]) < 1e-5


def test_training_script_learns_the_digits():
    out = run(BLOCKS[1])
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.9
