"""Release hygiene and the command line's manners: one version, ``jaxconv --version``, the
licence in the wheel, the derivation shipped and printable, every ``--help`` without markup and
with every default, bad values rejected while parsing with exit code 2, and the channels-last
hint."""

import contextlib
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import jax.numpy as jnp
import pytest

import jaxconv as jc
from jaxconv._src.tools import cli, derivation

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_one_version_and_the_cli_prints_it(capsys):
    assert re.fullmatch(r"\d+\.\d+\.\d+", jc.__version__)
    assert 'dynamic = ["version"]' in (ROOT / "pyproject.toml").read_text()
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"jaxconv {jc.__version__}\n"
    assert f"## {jc.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_the_wheel_carries_the_licence_the_derivation_and_the_version(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(tmp_path), str(ROOT)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("jaxconv-*.whl")
    assert wheel.name.startswith(f"jaxconv-{jc.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    assert "jaxconv/derivation.md" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA")))
    assert b"License-Expression: Apache-2.0" in meta


def test_the_licence_is_the_apache_2_text():
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_derivation_prints_whole_or_by_equation(capsys):
    numbers = derivation.equations()
    assert sorted(numbers) == list(range(1, len(numbers) + 1)) and len(numbers) >= 50
    assert cli.main(["derivation", "6"]) == 0
    section = capsys.readouterr().out
    assert section.startswith("## ") and "\\tag{6}" in section and "\\tag{50}" not in section
    assert cli.main(["derivation"]) == 0
    assert capsys.readouterr().out == derivation.text()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["derivation", "99"])
    assert exit_.value.code == 2
    assert "there is no Eq. 99" in capsys.readouterr().err


@pytest.mark.parametrize("command", [None, *cli._COMMANDS])
def test_every_help_is_plain_text_and_every_option_is_explained(command, capsys):
    with pytest.raises(SystemExit) if command else contextlib.nullcontext():
        cli.main(["--help"] if command is None else [command, "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and not re.search(r":(func|mod|class|data):`", text), text
    if command is None:
        return
    section = text.split("\noptions:\n", 1)[1]
    entries = re.split(r"\n(?=  -)", section.strip("\n"))
    assert entries
    for entry in entries:
        first, *rest = entry.splitlines()
        flag = re.match(r"\s+(-\S+(?:, -\S+)?)(?: [A-Z_{][^ ]*)?\s*(.*)", first)
        assert (flag.group(2) + " ".join(rest)).strip(), f"{command} {flag.group(1)} has no help"


def test_train_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: the dataset's recipe: mnist1d 150, digits 40" in text     # --epochs
    assert "(default: 0)" in text and "(default: mnist1d" in text


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "jaxconv._src.tools.cli", *args],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("args,message", [
    (["--augment", "shift"], "argument --augment: expected 'none' or a comma-separated list"),
    (["--augment", "crop:4,spin"], "argument --augment: expected 'none' or a comma-separated list"),
    (["--epochs", "0"], "argument --epochs: must be >= 1"),
    (["--lr", "nan"], "argument --lr: must be > 0"),
    (["--data", "cifar"], "argument --data: invalid choice"),
    (["--mixed-precision", "fp8"], "argument --mixed-precision: invalid choice"),
    (["--matmul-precision", "tf32"], "argument --matmul-precision: invalid choice"),
    (["--data-on-device", "maybe"], "argument --data-on-device: invalid choice"),
])
def test_bad_values_fail_while_parsing_with_one_line_and_exit_2(args, message):
    done = _cli("train", *args)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxconv train: error: ") and message in \
        lines[0], done.stderr


def test_too_many_devices_fail_before_anything_about_devices_is_printed():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = _cli("train", "--data", "synthetic", "--devices", "3", env=env)
    assert done.returncode == 2
    assert "device(s) in" not in done.stdout
    assert "--devices 3: only 1 device(s) are visible" in done.stderr


@pytest.mark.parametrize("call", [
    lambda: jc.conv(jnp.zeros((4, 28, 28, 1)), jnp.zeros((6, 1, 5, 5))),
    lambda: jc.conv(jnp.zeros((2, 9, 9, 3)), jnp.zeros((6, 3, 3, 3))),
    lambda: jc.conv(jnp.zeros((2, 16, 3)), jnp.zeros((4, 3, 3))),
    lambda: jc.conv_transpose(jnp.zeros((4, 8, 8, 3)), jnp.zeros((3, 2, 2, 2))),
    lambda: jc.batch_norm(jnp.zeros((4, 8, 8, 3)), jnp.ones(3), None, None, None,
                          training=True),
    lambda: jc.group_norm(jnp.zeros((2, 4, 5, 5, 6)), 2, jnp.ones(6)),
], ids=["conv2d", "conv2d-rgb", "conv1d", "conv_transpose", "batch_norm", "group_norm3d"])
def test_a_channels_last_input_gets_the_hint(call):
    with pytest.raises(ValueError, match=r"x looks channels-last \(N, [DHWL, ]+C\); jaxconv "
                                         r"takes \(N, C, [DHWL, ]+\): use jnp.moveaxis\(x, -1, "
                                         r"1\)\."):
        call()


def test_a_channels_first_mismatch_gets_no_hint():
    with pytest.raises(ValueError) as err:
        jc.conv(jnp.zeros((4, 3, 28, 28)), jnp.zeros((6, 1, 5, 5)))
    assert "channels-last" not in str(err.value)
