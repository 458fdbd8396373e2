"""Nothing a user does loses or mixes up results, and no bad input ends in a traceback or a silent
inf/NaN: kills at any moment (inside a save too), run-folder rules, bad command lines, extreme
magnitudes, empty shapes, Python scalars, and what forward mode does."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv import checkpoint, data, models, train
from jaxconv._src.tools import cli

from helpers import EXAMPLES, SPECS, Killed, assert_rel_close, kill_after_epoch


def _fit(out, **kw):
    args = dict(epochs=3, batch_size=32, lr=3e-3, seed=5, log=None, data_name="synthetic")
    args.update(kw)
    return train.fit(models.cnn1d(num_classes=3), data.synthetic(96, 32, (1, 12), 3),
                     out_dir=out, **args)


def _epochs_logged(out):
    return [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]


# ----- kill at any moment -----------------------------------------------------------------------

_TRAIN = ["train", "--data", "synthetic", "--model", "mlp", "--epochs", "4", "--batch-size", "16"]
# The child dies (SIGKILL) half-way through writing its KILL_AT-th checkpoint, if KILL_AT is set.
_CHILD = """
import os, signal, sys
from jaxconv._src.training import checkpoint
from jaxconv._src.tools.cli import main
real, saves, kill_at = checkpoint.atomic_write, [0], int(os.environ.get("KILL_AT", "0"))
def dying(path, write):
    if path.name == "checkpoint.npz":
        saves[0] += 1
        if saves[0] == kill_at:
            def half(f):
                write(f); f.flush(); f.truncate(f.tell() // 2); f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return real(path, half)
    return real(path, write)
checkpoint.atomic_write = dying
sys.exit(main(sys.argv[1:]))
"""


def _child(out, *extra, kill_at=0):
    env = {**os.environ, "KILL_AT": str(kill_at), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", _CHILD, *_TRAIN, "--out", str(out), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _final_params(out):
    npz = np.load(out / "checkpoint.npz", allow_pickle=False)
    return {k: npz[k] for k in npz.files if k.startswith(".params")}


def test_sigkill_at_random_moments_and_inside_a_save_resumes_to_the_same_run(tmp_path):
    """Each trial kills `jaxconv train`, inside its second save or at a random moment of its
    training (after its first epoch line), then resumes it to the end: params bit-identical
    to an uninterrupted run, each epoch logged exactly once, no temp file left."""
    ref = _child(tmp_path / "ref")
    assert ref.wait(timeout=300) == 0, ref.stderr.read()[-2000:]
    want = _final_params(tmp_path / "ref")
    rng, killed = np.random.default_rng(0), 0
    for trial, kill_at in enumerate([2, 0, 0]):
        out = tmp_path / f"trial{trial}"
        proc = _child(out, kill_at=kill_at)
        if not kill_at:                     # a random moment once training runs
            for line in proc.stdout:
                if line.startswith("epoch "):
                    time.sleep(rng.uniform(0.0, 0.15))   # epochs 2-4 take ~0.3 s here
                    break
            proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=300)
        assert code in (-signal.SIGKILL, 0), proc.stderr.read()[-2000:]
        killed += code == -signal.SIGKILL
        resumed = _child(out, "--resume")
        assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-2000:]
        got = _final_params(out)
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"trial {trial}: {k}")
        assert _epochs_logged(out) == [0, 1, 2, 3]
        assert json.loads((out / "summary.json").read_text())["epochs"] == 4
        assert not list(out.glob("*.tmp")), list(out.glob("*.tmp"))
    assert killed >= 2                      # the kill inside the save, and a random one


def test_sigkill_inside_a_save_under_float16_resumes_to_the_same_run(tmp_path):
    """float16 mixed precision: the loss scale is part of the checkpoint, so a run killed
    inside its second save resumes to the same params and scale as an uninterrupted run."""
    f16 = ("--mixed-precision", "f16")
    ref = _child(tmp_path / "ref", *f16)
    assert ref.wait(timeout=300) == 0, ref.stderr.read()[-2000:]
    proc = _child(tmp_path / "run", *f16, kill_at=2)
    assert proc.wait(timeout=300) == -signal.SIGKILL, proc.stderr.read()[-2000:]
    resumed = _child(tmp_path / "run", *f16, "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-2000:]
    want, got = (np.load(d / "checkpoint.npz", allow_pickle=False)
                 for d in (tmp_path / "ref", tmp_path / "run"))
    keys = [k for k in want.files if k.startswith((".params", ".loss_scale", ".opt_state"))]
    assert any(k.startswith(".loss_scale") for k in keys), want.files
    for k in keys:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert _epochs_logged(tmp_path / "run") == [0, 1, 2, 3]


def test_a_kill_between_checkpoint_and_log_logs_each_epoch_once(tmp_path):
    with pytest.raises(Killed):
        _fit(tmp_path, on_epoch_end=kill_after_epoch(1))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines[:1]) + "\n")   # epoch 1 unlogged
    _fit(tmp_path, resume=True)
    assert _epochs_logged(tmp_path) == [0, 1, 2]


# ----- the run folder ---------------------------------------------------------------------------

def test_a_fresh_run_refuses_a_folder_with_another_runs_log(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0}\n')
    with pytest.raises(FileExistsError, match=r"already holds a run \(metrics.jsonl\).*--resume"):
        _fit(tmp_path, epochs=1)
    _fit(tmp_path, epochs=1, overwrite=True)                # explicit replacement
    assert _epochs_logged(tmp_path) == [0]


@pytest.mark.parametrize("dangling", [False, True])
def test_resume_refuses_a_log_without_a_checkpoint(tmp_path, dangling):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 0}\n')
    if dangling:
        (tmp_path / "checkpoint.npz").symlink_to(tmp_path / "gone.npz")
    with pytest.raises(FileExistsError, match="cannot be resumed"):
        _fit(tmp_path, epochs=1, resume=True)


def test_stale_temp_files_are_removed_and_files_get_normal_modes(tmp_path):
    (tmp_path / "checkpoint.npz.abc123.tmp").write_bytes(b"half a save")
    (tmp_path / "summary.json.xyz.tmp").write_bytes(b"{")
    _fit(tmp_path, epochs=1, resume=True)
    assert not list(tmp_path.glob("*.tmp"))
    mask = os.umask(0)
    os.umask(mask)
    for name in ("checkpoint.npz", "summary.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


@pytest.mark.parametrize("where", ["a file", "under a file", "read-only"])
def test_a_bad_out_dir_fails_before_any_training(tmp_path, where):
    trained = []
    target = tmp_path / "out"
    if where == "a file":
        target.write_text("x")
    elif where == "under a file":
        (tmp_path / "f").write_text("x")
        target = tmp_path / "f" / "run"
    else:
        target.mkdir()
        target.chmod(0o500)
        if os.access(target, os.W_OK):          # root ignores the mode bits
            pytest.skip("this user can write to read-only folders")
    with pytest.raises(ValueError, match="`out_dir`"):
        _fit(target, epochs=1, on_epoch_end=lambda *a: trained.append(1))
    assert not trained


def test_resume_with_other_epochs_is_refused(tmp_path):
    _fit(tmp_path, epochs=1)
    with pytest.raises(checkpoint.CheckpointError, match="epochs=1.*this run has epochs=3"):
        _fit(tmp_path, epochs=3, resume=True)


@pytest.mark.parametrize("field,value", [("epoch", "3"), ("history", None), ("epoch", -1),
                                         ("history", [{"epoch": 5}])])
def test_tampered_run_metadata_is_a_checkpoint_error(tmp_path, field, value):
    _fit(tmp_path, epochs=1)
    path = tmp_path / "checkpoint.npz"
    npz = np.load(path, allow_pickle=False)
    arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    meta["metadata"][field] = value
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(checkpoint.CheckpointError, match="malformed run metadata"):
        _fit(tmp_path, epochs=1, resume=True)


def test_metadata_that_is_not_an_object_is_a_checkpoint_error(tmp_path):
    _fit(tmp_path, epochs=1)
    path = tmp_path / "checkpoint.npz"
    npz = np.load(path, allow_pickle=False)
    arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    meta["metadata"] = [1, 2]
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(checkpoint.CheckpointError, match="malformed metadata"):
        _fit(tmp_path, epochs=1, resume=True)


# ----- bad command lines: one line each, no traceback -------------------------------------------

def _idx_dir(tmp_path, labels=None, images=None, test_n=4):
    d = tmp_path / "idx"
    d.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    tr_x = rng.integers(0, 255, (8, 4, 4)).astype(np.uint8) if images is None else images
    tr_y = rng.integers(0, 10, 8).astype(np.uint8) if labels is None else labels
    data.write_idx(d / "train-images-idx3-ubyte", tr_x)
    data.write_idx(d / "train-labels-idx1-ubyte", tr_y)
    data.write_idx(d / "t10k-images-idx3-ubyte", tr_x[:test_n])
    data.write_idx(d / "t10k-labels-idx1-ubyte", tr_y[:test_n])
    return d


def _bad_gzip(tmp_path, truncated):
    d = _idx_dir(tmp_path)
    path = d / "train-images-idx3-ubyte"
    if truncated:
        import gzip
        blob = gzip.compress(path.read_bytes())
        (d / "train-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    else:
        (d / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    path.unlink()
    return d


BAD = {
    "gz not gzip": lambda t: ["train", "--data", "mnist", "--data-dir", str(_bad_gzip(t, False))],
    "gz truncated": lambda t: ["train", "--data", "mnist", "--data-dir", str(_bad_gzip(t, True))],
    "labels out of range": lambda t: ["train", "--data", "mnist", "--data-dir",
                                      str(_idx_dir(t, labels=np.full(8, 200, np.uint8)))],
    "empty test split": lambda t: ["train", "--data", "mnist", "--data-dir",
                                   str(_idx_dir(t, test_n=0))],
    "negative seed": lambda t: ["train", "--data", "synthetic", "--seed", "-1"],
    "negative weight decay": lambda t: ["train", "--data", "synthetic", "--weight-decay", "-1"],
    "zero lr": lambda t: ["train", "--data", "synthetic", "--lr", "0"],
    "nan lr": lambda t: ["train", "--data", "synthetic", "--lr", "nan"],
    "zero epochs": lambda t: ["train", "--data", "synthetic", "--epochs", "0"],
    "text batch size": lambda t: ["train", "--data", "synthetic", "--batch-size", "many"],
    "out is a file": lambda t: ["train", "--data", "synthetic",
                                "--out", str(_touch(t / "file"))],
    "resume and overwrite": lambda t: ["train", "--data", "synthetic", "--out", str(t),
                                       "--resume", "--overwrite"],
    "check with no ops": lambda t: ["check", "--ops", ""],
    "check unknown dtype": lambda t: ["check", "--dtype", "f8"],
    "check unknown precision": lambda t: ["check", "--precision", "tf32"],
    "bench unknown profile model": lambda t: ["bench", "--profile", "lenet5,nope"],
}


def _touch(path):
    path.write_text("x")
    return path


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_invocations_exit_nonzero_with_one_line(tmp_path, capsys, case):
    argv = BAD[case](tmp_path)
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert code not in (0, None), (case, out)
    assert len(lines) == 1 and "Traceback" not in out.err, (case, out.err)
    assert lines[0].startswith(("jaxconv train: error:", "jaxconv check: error:",
                                "jaxconv bench: error:")), lines


def test_float_idx_images_are_not_rescaled(tmp_path):
    images = np.random.default_rng(0).random((8, 4, 4)).astype(">f4")
    ds = data.load("mnist", data_dir=_idx_dir(tmp_path, images=images))
    np.testing.assert_array_equal(ds.x_train[:, 0], images.astype(np.float32))


# ----- no silent inf or NaN: Lp pooling at extreme magnitudes ------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float16, jnp.bfloat16])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 10.0])
def test_lp_pool_is_accurate_from_1e_minus_30_to_1e30(dtype, p):
    """Values and gradients against float64 loops, at every magnitude the dtype holds."""
    scales = [1e-4, 1.0, 1e4] if dtype is np.float16 else [1e-30, 1e-10, 1.0, 1e10, 1e30]
    tol = 1e-5 if dtype is np.float32 else 1e-2
    value_and_grad = jax.jit(lambda a: (jc.lp_pool(a, 3, p=p),
                                        jax.grad(lambda b: jc.lp_pool(b, 3, p=p).sum())(a)))
    for scale in scales:
        x = jnp.asarray(scale * np.array([[[0.5, 1.0, 2.0, 0.0, 3.0, 1.5]]]), dtype)
        xr = np.asarray(x, np.float64).reshape(2, 3)          # the values actually given
        y, g = value_and_grad(x)
        g = np.asarray(g, np.float64).reshape(2, 3)
        ref = (np.abs(xr) ** p).sum(-1) ** (1 / p)
        ref_g = np.sign(xr) * (np.abs(xr) / ref[:, None]) ** (p - 1)
        np.testing.assert_allclose(np.asarray(y, np.float64).ravel(), ref, rtol=tol,
                                   err_msg=f"scale {scale}")
        np.testing.assert_allclose(g, ref_g, rtol=tol, atol=tol, err_msg=f"scale {scale}")


@pytest.mark.parametrize("x,p,want", [([8000.0, 0.0], 10, 8000.0), ([3e-5, 0.0], 10, 3e-5),
                                      ([1e20, 1e20], 2, 2 ** 0.5 * 1e20)])
def test_lp_pool_values_that_used_to_overflow_or_vanish(x, p, want):
    y = jc.lp_pool(jnp.array([[x]], jnp.float32), 2, p=p)
    np.testing.assert_allclose(float(y[0, 0, 0]), want, rtol=1e-6)


def test_lp_pool_gradient_at_p10_has_no_nan():
    g = jax.grad(lambda a: jc.lp_pool(a, 4, p=10).sum())(jnp.array([[[1e4, 1e4, 2e4, 0.0]]]))
    assert np.all(np.isfinite(np.asarray(g)))
    r = np.array([1e4, 1e4, 2e4, 0.0]) / np.sum(np.array([1e4, 1e4, 2e4]) ** 10) ** 0.1
    np.testing.assert_allclose(np.asarray(g)[0, 0], r ** 9, rtol=1e-5)


# ----- empty shapes ------------------------------------------------------------------------------

EMPTY = {
    "conv_transpose N=0": (lambda ops, x, w: ops.conv_transpose(x, w, stride=2),
                           [(0, 2, 4, 4), (2, 3, 2, 2)]),
    "conv C=0": (lambda ops, x, w, b: ops.conv(x, w, b), [(2, 0, 4, 4), (3, 0, 2, 2), (3,)]),
    "conv D=0": (lambda ops, x, w: ops.conv(x, w), [(2, 2, 4, 4), (0, 2, 2, 2)]),
    "conv_transpose C=0": (lambda ops, x, w: ops.conv_transpose(x, w), [(2, 0, 4), (0, 3, 2)]),
    "max_pool C=0": (lambda ops, x: ops.max_pool(x, 2), [(2, 0, 4, 4)]),
    "lp_pool N=0": (lambda ops, x: ops.lp_pool(x, 2), [(0, 2, 4)]),
    "adaptive C=0": (lambda ops, x: ops.adaptive_max_pool(x, 2), [(2, 0, 5)]),
    "dense I=0": (lambda ops, x, w: ops.dense(x, w), [(3, 0), (0, 4)]),
}


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_empty_shapes_give_empty_or_zero_results_like_autodiff(name):
    fn, shapes = EMPTY[name]
    args = [jnp.ones(s) for s in shapes]
    out, vjp = jax.vjp(lambda *a: fn(jc, *a), *args)
    out_ad, vjp_ad = jax.vjp(lambda *a: fn(jc.autodiff, *a), *args)
    assert_rel_close(out, out_ad)
    for g, g_ad in zip(vjp(jnp.ones_like(out)), vjp_ad(jnp.ones_like(out))):
        assert_rel_close(g, g_ad)


def test_max_unpool_of_an_empty_batch():
    y, idx = jc.max_pool(jnp.zeros((0, 2, 4, 4)), 2, return_indices=True)
    out, vjp = jax.vjp(lambda a: jc.max_unpool(a, idx, 2), y)
    assert out.shape == (0, 2, 4, 4) and vjp(out)[0].shape == (0, 2, 2, 2)


@pytest.mark.parametrize("call,match", [
    (lambda: jc.conv(jnp.ones((1, 2, 4, 4)), jnp.ones((3, 2, 0, 2))), "kernel of size 0"),
    (lambda: jc.global_max_pool(jnp.ones((2, 3, 0))), "no elements on a spatial axis"),
    (lambda: jc.global_avg_pool(jnp.ones((2, 3, 4, 0))), "no elements on a spatial axis"),
    (lambda: jc.adaptive_avg_pool(jnp.ones((2, 3, 0)), 2), "no elements on a spatial axis"),
])
def test_impossible_empty_shapes_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----- Python scalars and NumPy inputs ----------------------------------------------------------

@pytest.mark.parametrize("name", [n for n, s in SPECS.items() if s.kind == "activation"])
def test_activations_take_python_floats_under_grad(name):
    for x in (1.0, -0.5):
        assert float(jax.grad(getattr(jc, name))(x)) == pytest.approx(
            float(jax.grad(getattr(jc.autodiff, name))(x)), rel=1e-12)
        assert float(getattr(jc, name)(x)) == pytest.approx(float(getattr(jc.autodiff, name)(x)))


@pytest.mark.parametrize("name", ["mse", "huber", "sigmoid_binary_cross_entropy"])
def test_elementwise_losses_take_python_floats(name):
    f, f_ad = getattr(jc, name), getattr(jc.autodiff, name)
    assert float(jax.grad(f)(0.3, 0.9)) == pytest.approx(float(jax.grad(f_ad)(0.3, 0.9)))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_op_takes_numpy_arrays(name):
    example = EXAMPLES[name][1]
    arrays = [np.random.default_rng(len(s)).standard_normal(s) for s in example.shapes]
    assert_rel_close(example.call(jc, *arrays), example.call(jc.autodiff, *arrays))


@pytest.mark.parametrize("key,match", [(None, "must be a PRNG key"), (3, "must be a PRNG key"),
                                       ("batch", "must be one PRNG key")])
def test_dropout_names_a_bad_key(key, match):
    if key == "batch":
        key = jax.random.split(jax.random.key(0), 3)
    with pytest.raises((TypeError, ValueError), match=r"jaxconv.dropout: `key` " + match):
        jc.dropout(jnp.ones(4), 0.5, key)


# ----- forward mode, stated honestly -------------------------------------------------------------

def test_forward_mode_is_refused_by_the_rules_and_works_through_autodiff():
    x = jnp.linspace(-1.0, 1.0, 5)
    with pytest.raises(TypeError, match="can't apply forward-mode autodiff"):
        jax.jvp(jc.tanh, (x,), (jnp.ones(5),))
    _, t = jax.jvp(jc.autodiff.tanh, (x,), (jnp.ones(5),))
    assert_rel_close(t, 1 - jnp.tanh(x) ** 2, rtol=1e-6)


def test_hessian_vector_products_by_reverse_over_reverse_equal_autodiff():
    """``grad(x -> <grad f(x), v>)`` through the hand-written rules (reverse over reverse)
    equals jax's forward-over-reverse HVP of the same net through jaxconv.autodiff."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 2, 8, 8)))
    w = jnp.asarray(rng.standard_normal((3, 2, 3, 3)) * 0.5)
    v = jnp.asarray(rng.standard_normal(w.shape))

    def net(ops):
        def f(w):
            h = ops.tanh(ops.max_pool(ops.conv(x, w, padding=1), 2, 2))
            return ops.mse(h, jnp.zeros_like(h))
        return f
    ours = jax.grad(lambda w: jnp.vdot(jax.grad(net(jc))(w), v))(w)
    theirs = jax.jvp(jax.grad(net(jc.autodiff)), (w,), (v,))[1]
    assert_rel_close(ours, theirs, rtol=1e-10)
