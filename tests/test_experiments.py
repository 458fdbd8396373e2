"""The experiment scripts that CI can afford run as written: ``experiments/gpu.py --small``
(on CPU here: the GPU run's correctness, determinism and timing steps at tiny sizes)."""

import json
import pathlib
import subprocess
import sys

import pytest

EXPERIMENTS = pathlib.Path(__file__).resolve().parents[1] / "experiments"


@pytest.mark.slow
def test_gpu_script_runs_small_on_any_backend(tmp_path):
    done = subprocess.run([sys.executable, str(EXPERIMENTS / "gpu.py"), "--small", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["check"]["ok"] and "all rules agree" in result["check"]["summary"]
    assert "float32 precision highest" in done.stdout
    assert result["deterministic"] and all(result["deterministic"].values())
    assert any("resnet20" in name for name in result["deterministic"])
    (row,) = result["steps"]
    assert row["jaxconv_ms"] > 0 and row["autodiff_ms"] > 0
    assert "| train step | batch |" in done.stdout
