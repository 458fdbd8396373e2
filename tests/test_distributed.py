"""Data-parallel training on several devices and processes, on CPU.

Each run happens in a subprocess, because XLA reads ``--xla_force_host_platform_device_count``
only when JAX starts: 4 forced CPU devices in one process, or 2 processes on 127.0.0.1 with 2
devices each, joined by ``jax.distributed``.
"""

import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("_dist_worker.py")


def _env(devices):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}").strip()
    env.pop("JAX_ENABLE_X64", None)
    return env


def _run(args, devices, timeout=600):
    done = subprocess.run([sys.executable, str(WORKER), *map(str, args)], env=_env(devices),
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]


def _params(path):
    data = np.load(path)
    return {k: data[k] for k in data.files if k.startswith("[")}, data


@pytest.mark.parametrize("ops", ["vjp", "autodiff"])
def test_one_step_on_four_devices_equals_one_device(tmp_path, ops):
    _run(["step", tmp_path / "one.npz", 1, ops], devices=4)
    _run(["step", tmp_path / "four.npz", 4, ops], devices=4)
    one, meta1 = _params(tmp_path / "one.npz")
    four, meta4 = _params(tmp_path / "four.npz")
    assert int(meta4["devices"]) == 4
    np.testing.assert_allclose(meta4["loss"], meta1["loss"], rtol=1e-6)
    assert one.keys() == four.keys()
    for k in one:
        np.testing.assert_allclose(four[k], one[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # gradients are all-reduced; activations stay split along the batch: no all-gather
    assert int(meta4["all_reduces"]) > 0
    assert int(meta4["all_gathers"]) == 0


@pytest.mark.parametrize("ops", ["vjp", pytest.param("autodiff", marks=pytest.mark.slow)])
def test_batch_norm_on_four_devices_equals_one_device(tmp_path, ops):
    """Synchronised batch norm (``axis_name`` in a ``shard_map`` over 4 devices) gives the
    one-device values, running statistics and gradients; a resnet train step laid out on 4
    devices (batch statistics over the global batch) gives the one-device params and state."""
    _run(["bn", tmp_path / "one.npz", 1, ops], devices=4)
    _run(["bn", tmp_path / "four.npz", 4, ops], devices=4)
    one, four = np.load(tmp_path / "one.npz"), np.load(tmp_path / "four.npz")
    assert int(four["devices"]) == 4
    assert set(one.files) == set(four.files) and any("mean" in k for k in one.files)
    for k in set(one.files) - {"devices"}:
        np.testing.assert_allclose(four[k], one[k], rtol=2e-5, atol=2e-5, err_msg=k)


def test_model_parallel_kernels_split_by_output_channel_train_the_same(tmp_path):
    _run(["step", tmp_path / "one.npz", 1, "vjp"], devices=4)
    _run(["step", tmp_path / "mp.npz", 4, "vjp", 2], devices=4)
    one, _ = _params(tmp_path / "one.npz")
    mp, meta = _params(tmp_path / "mp.npz")
    assert int(meta["sharded_leaves"]) > 0          # some kernels really are split
    for k in one:
        np.testing.assert_allclose(mp[k], one[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_global_batch_that_does_not_divide_is_a_clear_error():
    code = ("from jaxconv import distributed\n"
            "try:\n    distributed.make_layout(30)\n"
            "except ValueError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], env=_env(4), capture_output=True,
                          text=True, timeout=300)
    assert "the global batch (30) must divide by the 4 data-parallel devices" in done.stdout


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_to_the_same_params_as_one(tmp_path):
    _run(["fit", tmp_path / "single.npz", 0], devices=4)
    coord = f"127.0.0.1:{_free_port()}"
    procs = [subprocess.Popen([sys.executable, str(WORKER), "fit", str(tmp_path / "multi.npz"),
                               "0", coord, "2", str(pid)], env=_env(2),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for pid in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-4000:]
    single, meta_s = _params(tmp_path / "single.npz")
    multi, meta_m = _params(tmp_path / "multi.npz")
    assert int(meta_m["processes"]) == 2 and int(meta_m["devices"]) == 4
    np.testing.assert_allclose(meta_m["loss"], meta_s["loss"], rtol=1e-5)
    for k in single:
        np.testing.assert_allclose(multi[k], single[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_batch_must_divide_by_the_device_count():
    import jax

    from jaxconv import distributed
    if jax.device_count() != 1:
        pytest.skip("this process sees several devices")
    with pytest.raises(ValueError, match=r"`devices` \(=2\) must be between 1 and the 1 visible"):
        distributed.make_layout(32, devices=2)
