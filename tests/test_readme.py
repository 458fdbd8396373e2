"""The README's Python examples run as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {})


def test_readme_gradient_example_agrees():
    namespace = {}
    exec(compile(BLOCKS[0], "README.md", "exec"), namespace)
    import jax.numpy as jnp
    ours, theirs, params = namespace["ours"], namespace["theirs"], namespace["params"]
    for name in params:
        scale = float(jnp.max(jnp.abs(theirs[name])))
        assert float(jnp.max(jnp.abs(ours[name] - theirs[name]))) <= 1e-5 * max(scale, 1e-6)
