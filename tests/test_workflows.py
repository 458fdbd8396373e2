"""Training as on accelerators: mixed precision and loss scaling, CIFAR binary files, augmentation
inside the step, the data set on the devices, learning-curve plots."""

import json
import sys
import tarfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv import data, layers, models, train
from jaxconv._src.nn.models import _model
from jaxconv._src.tools import cli
from jaxconv._src.tools import plot as plot_tool

from helpers import Killed, kill_after_epoch


def _tiny_bn_model():
    """A small stateful model: conv, batch norm, relu, global pooling, dense."""
    net = layers.serial(layers.Conv(4, 3, padding=1), layers.BatchNorm(), layers.Relu,
                        layers.GlobalAvgPool(), layers.Dense(3))
    return _model("tiny_bn", net, 1, "(C, L)")


def _tree_equal(a, b):
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


# ----- policies ---------------------------------------------------------------------------------

def test_presets_and_policy_strings():
    assert train.get_policy(None) == train.get_policy("none") == train.get_policy("f32")
    bf16 = train.get_policy("bf16")
    assert (bf16.param_dtype, bf16.compute_dtype, bf16.output_dtype) == (
        jnp.float32, jnp.bfloat16, jnp.float32)
    assert train.get_policy("params=float32,compute=float16,output=float32") == \
        train.get_policy("f16")
    assert train.get_policy(bf16) is bf16
    for bad in ("fp8", "params=float32,compute=int8", "compute"):
        with pytest.raises(ValueError, match=r"`mixed_precision` \(="):
            train.get_policy(bad)
    with pytest.raises(TypeError, match="`mixed_precision`"):
        train.get_policy(16)


def test_dtype_and_mixed_precision_exclude_each_other():
    ds = data.synthetic(32, 8, (1, 12), 3)
    with pytest.raises(ValueError, match="`dtype`.*`mixed_precision`.*not both"):
        train.fit(models.cnn1d(num_classes=3), ds, epochs=1, batch_size=16, log=None,
                  dtype=jnp.bfloat16, mixed_precision="bf16")


@pytest.mark.parametrize("policy", ["bf16", "f16"])
def test_mixed_precision_keeps_params_optimizer_and_statistics_in_float32(policy):
    model = _tiny_bn_model()
    opt = train.make_optimizer("adam", 1e-2)
    scaling = train.LossScaling() if policy == "f16" else None
    state = train.init_state(model, opt, (1, 12), seed=0, loss_scaling=scaling)
    step = jax.jit(train.make_train_step(model, opt, mixed_precision=policy))
    x = jax.random.normal(jax.random.key(1), (8, 1, 12))
    y = jnp.arange(8) % 3
    new, loss = step(state, x, y)
    assert loss.dtype == jnp.float32 and bool(jnp.isfinite(loss))
    for tree in (new.params, new.opt_state, new.model_state):
        floats = [leaf for leaf in jax.tree_util.tree_leaves(tree)
                  if jnp.issubdtype(leaf.dtype, jnp.floating)]
        assert floats and all(leaf.dtype == jnp.float32 for leaf in floats)
    changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)),
                                     new.model_state, state.model_state)
    assert all(jax.tree_util.tree_leaves(changed))       # the statistics were updated
    # the step computes in 16 bits: its traced program holds convolutions of 16-bit arrays
    jaxpr = str(jax.make_jaxpr(train.make_train_step(model, opt, mixed_precision=policy))(
        state, x, y))
    short = {"bf16": "bf16[", "f16": "f16["}[policy]
    assert short in jaxpr and "conv_general_dilated" in jaxpr
    p16 = train.get_policy(policy).cast_to_compute(new.params)
    logits16, _ = model.apply(p16, new.model_state, x.astype(p16["dense4"]["w"].dtype))
    assert logits16.dtype == train.get_policy(policy).compute_dtype


def test_mixed_precision_gradients_are_those_of_the_cast_model():
    """bf16: the SGD step's update is the gradient of the bf16 forward through the casts (as
    jax.grad of the cast model computes it, float32 params in, float32 gradients out)."""
    model = models.cnn1d(num_classes=3)
    opt = train.make_optimizer("sgd", 1.0, momentum=0.0)
    state = train.init_state(model, opt, (1, 12), seed=0)
    x = jax.random.normal(jax.random.key(1), (8, 1, 12))
    y = jnp.arange(8) % 3
    new, _ = jax.jit(train.make_train_step(model, opt, mixed_precision="bf16"))(state, x, y)

    def loss(params):
        logits = model.apply(jax.tree.map(lambda p: p.astype(jnp.bfloat16), params),
                             x.astype(jnp.bfloat16), ops=jc, train=True)
        return jc.softmax_cross_entropy(logits.astype(jnp.float32), y)

    grads = jax.jit(jax.grad(loss))(state.params)
    assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(grads))
    expected = jax.tree.map(lambda p, g: p - g, state.params, grads)
    _tree_equal(new.params, expected)


# ----- loss scaling -----------------------------------------------------------------------------

def _f16_step_and_state(scale, minimum=1.0):
    model = _tiny_bn_model()
    opt = train.make_optimizer("adam", 1e-2)
    scaling = train.LossScaling(initial=scale, period=3, minimum=minimum)
    state = train.init_state(model, opt, (1, 12), seed=0, loss_scaling=scaling)
    step = jax.jit(train.make_train_step(model, opt, mixed_precision="f16",
                                         loss_scaling=scaling))
    x = jax.random.normal(jax.random.key(1), (8, 1, 12))
    return step, state, x, jnp.arange(8) % 3


def test_an_overflow_skips_the_step_and_halves_the_scale():
    step, state, x, y = _f16_step_and_state(2.0 ** 40)     # 2**40 overflows float16's gradients
    new, loss = step(state, x, y)
    assert bool(jnp.isfinite(loss))                          # the loss itself is fine
    _tree_equal((new.params, new.opt_state, new.model_state),
                (state.params, state.opt_state, state.model_state))
    assert float(new.loss_scale.scale) == 2.0 ** 39 and int(new.loss_scale.good_steps) == 0
    assert int(new.skipped) == 1 and int(new.bad_step) == -1     # an overflow, not a failure
    assert int(new.step) == 1
    for _ in range(25):                     # halving until the gradients fit, then training
        new, _ = step(new, x, y)
    assert float(new.loss_scale.scale) < 2.0 ** 20 and int(new.bad_step) == -1
    assert any(bool(jnp.any(a != b)) for a, b in zip(jax.tree_util.tree_leaves(new.params),
                                                     jax.tree_util.tree_leaves(state.params)))


def test_the_scale_grows_after_period_finite_steps():
    step, state, x, y = _f16_step_and_state(8.0)
    scales = []
    for _ in range(7):
        state, _ = step(state, x, y)
        scales.append(float(state.loss_scale.scale))
    assert scales == [8.0, 8.0, 16.0, 16.0, 16.0, 32.0, 32.0]
    assert int(state.skipped) == 0


def test_under_f16_a_nonfinite_loss_is_a_failure_and_so_are_gradients_at_the_minimum_scale():
    step, state, x, y = _f16_step_and_state(2.0 ** 15)
    bad, _ = step(state, x.at[0, 0, 0].set(jnp.nan), y)
    assert int(bad.bad_step) == 0 and int(bad.skipped) == 1
    _tree_equal(bad.params, state.params)
    # gradients that overflow at the smallest scale allowed (1 by default; 2**40 here, where
    # float16's gradients overflow): the scale cannot absorb them, so the step is a failure
    step, state, x, y = _f16_step_and_state(2.0 ** 40, minimum=2.0 ** 40)
    bad, loss = step(state, x, y)
    assert bool(jnp.isfinite(loss)) and int(bad.bad_step) == 0 and int(bad.skipped) == 1
    assert float(bad.loss_scale.scale) == 2.0 ** 40
    _tree_equal((bad.params, bad.model_state), (state.params, state.model_state))


def test_f16_run_killed_after_an_epoch_resumes_bit_identical(tmp_path):
    ds = data.synthetic(96, 32, (1, 12), 3)
    kw = dict(epochs=3, batch_size=16, seed=3, log=None, mixed_precision="f16",
              loss_scaling=train.LossScaling(initial=2.0 ** 15, period=2),
              augment=data.augmentation("shift:2"))
    full, full_hist = train.fit(models.cnn1d(num_classes=3), ds, out_dir=tmp_path / "full", **kw)

    with pytest.raises(Killed):
        train.fit(models.cnn1d(num_classes=3), ds, out_dir=tmp_path / "run",
                  on_epoch_end=kill_after_epoch(0), **kw)
    resumed, hist = train.fit(models.cnn1d(num_classes=3), ds, out_dir=tmp_path / "run",
                              resume=True, **kw)
    _tree_equal(full, resumed)
    assert hist == [dict(h, seconds=r["seconds"]) for h, r in zip(full_hist, hist)]
    scales = [h["loss_scale"] for h in full_hist]
    assert len(set(scales)) > 1, scales          # the scale changed during the run
    with pytest.raises(ValueError, match="mixed_precision='f16'.*mixed_precision='bf16'"):
        train.fit(models.cnn1d(num_classes=3), ds, out_dir=tmp_path / "run", resume=True,
                  **{**kw, "mixed_precision": "bf16", "loss_scaling": None})


# ----- the optimizer ----------------------------------------------------------------------------

def test_multistep_schedule_divides_by_ten_at_half_and_three_quarters():
    opt = train.make_optimizer("sgd", 0.1, momentum=0.0, schedule="multistep", total_steps=8)
    params = {"w": jnp.zeros(())}
    state, rates = opt.init(params), []
    for _ in range(8):
        updates, state = opt.update({"w": jnp.ones(())}, state, params)
        rates.append(round(-float(updates["w"]), 6))
    assert rates == [0.1] * 4 + [0.01] * 2 + [0.001] * 2


def test_sgd_weight_decay_is_added_to_the_gradient():
    opt = train.make_optimizer("sgd", 0.5, momentum=0.0, weight_decay=0.1)
    params = {"w": jnp.full((2, 2), 2.0)}
    updates, _ = opt.update({"w": jnp.ones((2, 2))}, opt.init(params), params)
    np.testing.assert_allclose(updates["w"], -0.5 * (1 + 0.1 * 2.0))


# ----- CIFAR ------------------------------------------------------------------------------------

CIFAR10_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def _write_cifar10(folder, n=4, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for f in CIFAR10_FILES:
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, (n, 1), dtype=np.uint8)
        data.write_cifar(folder / f, images, labels)
        written[f] = (images, labels)
    return written


def _write_cifar100(folder, n=4, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = {}
    for f in ("train.bin", "test.bin"):
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = np.stack([rng.integers(0, 20, n), rng.integers(0, 100, n)], 1).astype(np.uint8)
        data.write_cifar(folder / f, images, labels)
        written[f] = (images, labels)
    return written


def test_cifar10_records_are_decoded_byte_for_byte(tmp_path):
    written = _write_cifar10(tmp_path)
    raw = (tmp_path / "test_batch.bin").read_bytes()
    assert len(raw) == 4 * 3073 and raw[0] == written["test_batch.bin"][1][0, 0]
    assert raw[1:1025] == written["test_batch.bin"][0][0, 0].tobytes()   # the red plane first
    ds = data.cifar("cifar10", tmp_path, normalize=False)
    train_images = np.concatenate([written[f][0] for f in CIFAR10_FILES[:5]])
    np.testing.assert_array_equal(ds.x_train, train_images.astype(np.float32) / 255)
    np.testing.assert_array_equal(ds.y_train, np.concatenate(
        [written[f][1][:, 0] for f in CIFAR10_FILES[:5]]))
    np.testing.assert_array_equal(ds.y_test, written["test_batch.bin"][1][:, 0])
    normalized = data.load("cifar10", data_dir=tmp_path)
    np.testing.assert_allclose(normalized.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(normalized.x_train.std(axis=(0, 2, 3)), 1, atol=1e-4)
    mean = ds.x_train.mean(axis=(0, 2, 3), dtype=np.float64)[None, :, None, None]
    std = ds.x_train.std(axis=(0, 2, 3), dtype=np.float64)[None, :, None, None]
    np.testing.assert_allclose(normalized.x_test, (ds.x_test - mean) / std, rtol=1e-5, atol=1e-5)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    written = _write_cifar100(tmp_path)
    fine = data.cifar("cifar100", tmp_path)
    coarse = data.cifar("cifar100", tmp_path, label="coarse")
    np.testing.assert_array_equal(fine.y_train, written["train.bin"][1][:, 1])
    np.testing.assert_array_equal(coarse.y_test, written["test.bin"][1][:, 0])
    assert fine.x_train.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(data.load("cifar100", data_dir=tmp_path).y_test,
                                  written["test.bin"][1][:, 1])


@pytest.mark.parametrize("where", ["unpacked_folder", "archive", "archive_in_folder"])
def test_cifar_from_the_official_layouts(tmp_path, where):
    _write_cifar10(tmp_path / "src" / "cifar-10-batches-bin")
    expected = data.cifar("cifar10", tmp_path / "src" / "cifar-10-batches-bin")
    archive = tmp_path / "dl" / "cifar-10-binary.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    path = {"unpacked_folder": tmp_path / "src", "archive": archive,
            "archive_in_folder": archive.parent}[where]
    _tree_equal(tuple(data.cifar("cifar10", path)), tuple(expected))


def _one_line_error(exc, fn, match):
    with pytest.raises(exc) as info:
        fn()
    text = str(info.value)
    assert "\n" not in text and match in text, text
    return text


def test_cifar_corruptions_are_rejected_with_one_line_naming_the_file(tmp_path):
    _write_cifar10(tmp_path / "c10")
    _write_cifar100(tmp_path / "c100")
    load = data.cifar
    # a length that is not a whole number of records
    f = tmp_path / "c10" / "data_batch_3.bin"
    f.write_bytes(f.read_bytes()[:-5])
    _one_line_error(ValueError, lambda: load("cifar10", tmp_path / "c10"), "data_batch_3.bin")
    f.write_bytes(b"")
    _one_line_error(ValueError, lambda: load("cifar10", tmp_path / "c10"), "data_batch_3.bin")
    _write_cifar10(tmp_path / "c10")
    # labels out of range: CIFAR-10's 10, CIFAR-100's coarse 20 and fine 100
    raw = bytearray((tmp_path / "c10" / "test_batch.bin").read_bytes())
    raw[3073] = 10
    (tmp_path / "c10" / "test_batch.bin").write_bytes(bytes(raw))
    text = _one_line_error(ValueError, lambda: load("cifar10", tmp_path / "c10"),
                           "test_batch.bin")
    assert "record 1" in text and "label 10" in text
    for byte, value in ((0, 20), (1, 100)):
        _write_cifar100(tmp_path / "c100")
        raw = bytearray((tmp_path / "c100" / "train.bin").read_bytes())
        raw[byte] = value
        (tmp_path / "c100" / "train.bin").write_bytes(bytes(raw))
        _one_line_error(ValueError, lambda: load("cifar100", tmp_path / "c100"),
                        f"label {value}")
    # a missing file, a missing folder, no folder given, a broken archive
    _write_cifar10(tmp_path / "c10")
    (tmp_path / "c10" / "data_batch_5.bin").unlink()
    _one_line_error(FileNotFoundError, lambda: load("cifar10", tmp_path / "c10"),
                    "data_batch_5.bin")
    _one_line_error(FileNotFoundError, lambda: load("cifar10", tmp_path / "nowhere"), "nowhere")
    _one_line_error(ValueError, lambda: load("cifar10", None), "data_dir")
    bad = tmp_path / "cifar-10-binary.tar.gz"
    bad.write_bytes(b"not a tar file")
    _one_line_error(ValueError, lambda: load("cifar10", bad), "not a readable .tar.gz")
    # the other data set's files
    _one_line_error(FileNotFoundError, lambda: load("cifar100", tmp_path / "c10"), "train.bin")


def test_cli_trains_resnet20_on_cifar10_files(tmp_path, capsys):
    _write_cifar10(tmp_path / "cifar", n=4)
    code = cli.main(["train", "--model", "resnet20", "--data", "cifar10", "--data-dir",
                     str(tmp_path / "cifar"), "--epochs", "1", "--batch-size", "8",
                     "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "resnet20 on cifar10 (3, 32, 32) (20 train / 4 test)" in out
    assert "optimizer=sgd, lr=0.1, schedule=multistep, weight_decay=0.0001" in out
    assert "augment=crop:4,flip" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"] == "resnet20" and summary["data"] == "cifar10"
    assert summary["steps"] == 2 and summary["data_on_device"] is True


def test_cli_cifar_errors_are_one_line(tmp_path, capsys):
    code = cli.main(["train", "--data", "cifar10", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "data_batch_1.bin" in err


# ----- augmentation -----------------------------------------------------------------------------

def test_crop_takes_a_window_of_the_zero_padded_image():
    x = jax.random.normal(jax.random.key(0), (16, 2, 5, 6))
    y = data.random_crop(2)(jax.random.key(1), x)
    padded = np.pad(np.asarray(x), [(0, 0), (0, 0), (2, 2), (2, 2)])
    offsets = set()
    for n in range(16):
        hits = [(i, j) for i in range(5) for j in range(5)
                if np.array_equal(padded[n, :, i:i + 5, j:j + 6], y[n])]
        assert hits, n
        offsets.add(hits[0])
    assert len(offsets) > 4                                   # offsets differ per example
    _tree_equal(y, data.random_crop(2)(jax.random.key(1), x))  # a key gives one result


def test_flip_mirrors_some_examples_horizontally():
    x = jax.random.normal(jax.random.key(0), (32, 3, 4, 4))
    y = np.asarray(data.random_flip()(jax.random.key(2), x))
    flipped = [np.array_equal(y[n], np.asarray(x)[n, :, :, ::-1]) for n in range(32)]
    kept = [np.array_equal(y[n], np.asarray(x)[n]) for n in range(32)]
    assert all(f or k for f, k in zip(flipped, kept)) and 4 < sum(flipped) < 28


def test_shift_moves_along_the_last_axis_with_zero_fill():
    x = jnp.tile(jnp.arange(1.0, 7.0), (20, 1, 1))
    y = np.asarray(data.random_shift(2)(jax.random.key(0), x))[:, 0]
    for row in y:
        s = next(s for s in range(-2, 3)
                 if np.array_equal(row, np.roll(np.pad(np.arange(1.0, 7.0), 2), s)[2:8]))
        assert -2 <= s <= 2


def test_augmentation_happens_inside_the_step_with_a_key_from_the_seed():
    ds = data.synthetic(64, 16, (1, 12), 3)
    kw = dict(epochs=1, batch_size=16, log=None, seed=4)
    a, _ = train.fit(models.cnn1d(num_classes=3), ds, augment=data.augmentation("shift:2"), **kw)
    b, _ = train.fit(models.cnn1d(num_classes=3), ds, augment=data.augmentation("shift:2"), **kw)
    c, _ = train.fit(models.cnn1d(num_classes=3), ds, **kw)
    _tree_equal(a, b)
    assert not np.array_equal(a["conv0"]["w"], c["conv0"]["w"])
    with pytest.raises(TypeError, match="`augment`"):
        train.fit(models.cnn1d(num_classes=3), ds, augment="shift:2", **kw)


# ----- the data set on the devices --------------------------------------------------------------

def test_batches_gathered_on_the_device_equal_the_host_path():
    ds = data.synthetic(80, 16, (1, 12), 3)
    kw = dict(epochs=2, batch_size=16, log=None, seed=1, augment=data.augmentation("shift:1"))
    (pd, sd), hd = train.fit(_tiny_bn_model(), ds, data_on_device=True, **kw)
    (ph, sh), hh = train.fit(_tiny_bn_model(), ds, data_on_device=False, **kw)
    _tree_equal((pd, sd), (ph, sh))
    assert [h["train_loss"] for h in hd] == [h["train_loss"] for h in hh]
    with pytest.raises(TypeError, match="`data_on_device`"):
        train.fit(models.cnn1d(num_classes=3), ds, data_on_device="yes", **kw)


# ----- learning curves --------------------------------------------------------------------------

def _fake_run(folder, ops, accuracies):
    folder.mkdir(parents=True)
    lines = [json.dumps({"epoch": e, "train_loss": 1.0 / (e + 1), "test_loss": 1.2 / (e + 1),
                         "test_accuracy": a}) for e, a in enumerate(accuracies)]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "summary.json").write_text(json.dumps({"ops": ops, "seed": 0}))


def test_plot_writes_a_png_of_several_runs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    _fake_run(tmp_path / "vjp", "vjp", [0.5, 0.7, 0.8])
    _fake_run(tmp_path / "ad", "autodiff", [0.5, 0.6, 0.8])
    out = tmp_path / "figs" / "curves.png"
    assert cli.main(["plot", str(tmp_path / "vjp"), str(tmp_path / "ad"), "--out",
                     str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {out}" in capsys.readouterr().out
    assert plot_tool.labels([("vjp", {"ops": "vjp"}), ("ad", {"ops": "autodiff"})]) == \
        ["vjp (ops=vjp)", "ad (ops=autodiff)"]


def test_plot_errors_are_one_line(tmp_path, capsys, monkeypatch):
    assert cli.main(["plot", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no metrics.jsonl" in err
    _fake_run(tmp_path / "run", "vjp", [0.5])
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # as if the extra were missing
    assert cli.main(["plot", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "jaxconv[plot]"' in err


# ----- lowering per platform --------------------------------------------------------------------

def _exported(fn, platforms, *args):
    from jax import export
    return export.export(jax.jit(fn), platforms=platforms)(*args)


def test_the_lowering_is_chosen_for_the_platform_lowered_for_not_the_tracing_backend():
    """LeNet's first layer: on CPU a taps forward and col2im input gradient (no convolution
    op), elsewhere XLA's convolutions; an export for CUDA from this CPU machine takes the
    latter, one for both platforms carries both, and the CPU export runs and agrees."""
    x, w = jnp.ones((4, 1, 28, 28)), jnp.ones((6, 1, 5, 5))

    def grads(x, w):
        return jax.grad(lambda x, w: (jc.conv(x, w) ** 2).sum(), argnums=(0, 1))(x, w)

    def convolutions(platforms):
        return _exported(grads, platforms, x, w).mlir_module().count("stablehlo.convolution")

    assert convolutions(("cpu",)) == 1           # only the weight gradient (lax)
    assert convolutions(("cuda",)) == 3          # forward, input and weight gradient
    both = _exported(grads, ("cpu", "cuda"), x, w).mlir_module()      # both, chosen at run time
    assert both.count("stablehlo.convolution") > 3 and "stablehlo.case" in both
    exported = _exported(grads, ("cpu",), x, w)
    reference = jax.grad(lambda x, w: (jc.autodiff.conv(x, w) ** 2).sum(), argnums=(0, 1))(x, w)
    for a, b in zip(exported.call(x, w), reference):
        np.testing.assert_allclose(a, b, rtol=1e-6)

    def up(x):
        return jax.grad(lambda x: (jc.interpolate(x, scale_factor=2, mode="bilinear") ** 2)
                        .sum())(x)

    small = jnp.ones((1, 1, 8, 8))
    assert "gather" not in _exported(up, ("cpu",), small).mlir_module()      # matmul
    assert "gather" in _exported(up, ("cuda",), small).mlir_module()
