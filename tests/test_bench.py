"""`jaxconv bench` keeps working (smoke run; no timing is asserted anywhere), and the memory
claims that do not depend on timing: what a train step keeps between forward and backward."""

import jaxconv as jc
from jaxconv._src.tools import bench, cli


def test_bench_quick_runs(capsys):
    assert cli.main(["bench", "--quick", "--no-eigen", "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert "| case | jaxconv ms" in out
    assert out.count("| step cnn1d") == 1 and "max_pool 3x3/2" in out


def test_interleaved_rotates_and_counts():
    calls = []
    samples = bench.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                repeats=3, warmup=0)
    assert set(samples) == {"a", "b"} and all(len(v) == 3 for v in samples.values())
    assert all(t >= 0 for v in samples.values() for t in v)


def test_lenet5_step_keeps_under_half_the_residuals_of_autodiff():
    ours = bench.residual_bytes("lenet5", (1, 28, 28), 128, jc)
    theirs = bench.residual_bytes("lenet5", (1, 28, 28), 128, jc.autodiff)
    assert ours <= 0.5 * theirs, (ours, theirs)


def test_profile_records_what_the_step_differentiates():
    """The recorded calls of LeNet-5's loss: every op in order, the first convolution
    differentiated in its params only (the input batch is a constant), the later ones in their
    input too; the labels never."""
    from jaxconv._src.tools.bench import profile
    calls = profile.record_calls("lenet5", (1, 28, 28), 2)
    assert [c.op for c in calls] == ["conv", "relu", "max_pool", "conv", "relu", "max_pool",
                                     "dense", "relu", "dense", "relu", "dense",
                                     "softmax_cross_entropy"]
    assert calls[0].diff == (1, 2) and calls[3].diff == (0, 1, 2)
    assert calls[-1].diff == (0,) and calls[0].args[0].shape == (2, 1, 28, 28)


def test_profile_cli_prints_the_breakdown_and_the_step(capsys):
    assert cli.main(["bench", "--profile", "cnn1d", "--quick"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert len(rows) == 8 and sum(line.startswith("| `conv(") for line in rows) == 3
    assert "| sum of the op calls |" in out and "| whole train step (Adam) |" in out


def test_bench_children_ignore_a_jaxconv_folder_in_the_current_directory(tmp_path):
    """`git clone ... jaxconv; jaxconv bench`: the child processes must import the installed
    package, not a folder named ``jaxconv`` where the user stands (here a decoy that fails)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    decoy = tmp_path / "jaxconv"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy package was imported')\n")
    script = shutil.which("jaxconv", path=str(Path(sys.executable).parent)) or shutil.which(
        "jaxconv")
    assert script, "the jaxconv console script is not installed"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    done = subprocess.run([script, "bench", "--quick", "--only", "max_pool", "--no-torch"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "max_pool 3x3/2" in done.stdout and "decoy" not in done.stderr


def test_bench_reports_a_failing_child_in_one_error(monkeypatch):
    """A child that dies shows its stderr in the error, not a bare CalledProcessError."""
    import argparse

    import pytest

    from jaxconv._src.tools import bench as bench_pkg
    monkeypatch.setattr(bench_pkg, "child_command",
                        lambda module, *a: [__import__("sys").executable, "-c",
                                            "import sys; sys.exit('child broke: reason 42')"])
    args = argparse.Namespace(repeats=3, quick=True, only="")
    with pytest.raises(bench_pkg.ChildError, match=r"(?s)exited with code 1.*child broke: reason 42"):
        bench_pkg._child(args, ["jaxconv"])
