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
