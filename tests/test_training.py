"""Models, training, checkpoints and data loading."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv import checkpoint, data, layers, models, train
from jaxconv._src.tools import cli

from helpers import Killed, kill_after_epoch

KEY = jax.random.key(0)


# ----- models -----------------------------------------------------------------------------------

def _conv_params(d, c, *k):
    return d * c * int(np.prod(k)) + d


def _dense_params(i, o):
    return i * o + o


EXPECTED = {
    ("lenet5", (1, 28, 28)): (_conv_params(6, 1, 5, 5) + _conv_params(16, 6, 5, 5)
                              + _dense_params(16 * 5 * 5, 120) + _dense_params(120, 84)
                              + _dense_params(84, 10)),                                 # 61,706
    ("lenet5", (1, 8, 8)): (_conv_params(6, 1, 5, 5) + _conv_params(16, 6, 5, 5)
                            + _dense_params(16 * 2 * 2, 120) + _dense_params(120, 84)
                            + _dense_params(84, 10)),
    ("cnn1d", (1, 40)): (_conv_params(25, 1, 5) + 2 * _conv_params(25, 25, 3)
                         + _dense_params(25 * 5, 10)),
    ("mlp", (1, 40)): _dense_params(40, 100) + _dense_params(100, 100) + _dense_params(100, 10),
    ("logistic", (1, 40)): _dense_params(40, 10),
    ("vgg_small", (3, 32, 32)): (_conv_params(32, 3, 3, 3) + _conv_params(32, 32, 3, 3)
                                 + _conv_params(64, 32, 3, 3) + _conv_params(64, 64, 3, 3)
                                 + _conv_params(128, 64, 3, 3) + _conv_params(128, 128, 3, 3)
                                 + _dense_params(128 * 4 * 4, 256) + _dense_params(256, 10)),
    ("cnn3d", (1, 16, 16, 16)): (_conv_params(16, 1, 3, 3, 3) + _conv_params(16, 16, 3, 3, 3)
                                 + _conv_params(32, 16, 3, 3, 3) + _conv_params(32, 32, 3, 3, 3)
                                 + _dense_params(32, 10)),
}


@pytest.mark.parametrize("name,shape", list(EXPECTED), ids=lambda v: str(v))
def test_model_shapes_and_parameter_counts(name, shape):
    model = models.get(name)
    params = model.init(KEY, shape)
    assert models.param_count(params) == EXPECTED[(name, shape)]
    logits = jax.jit(model.apply)(params, jnp.ones((3,) + shape, jnp.float32))
    assert logits.shape == (3, 10)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(params))


def test_lenet5_classic_count():
    assert EXPECTED[("lenet5", (1, 28, 28))] == 61706


def test_initialisation_is_reproducible_and_fan_in_scaled():
    model = models.lenet5()
    a, b = model.init(KEY, (1, 28, 28)), model.init(KEY, (1, 28, 28))
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    w = np.asarray(a["dense7"]["w"])         # He normal: std sqrt(2 / 400)
    assert abs(w.std() / np.sqrt(2 / 400) - 1) < 0.05


def test_dropout_layer_needs_a_key_in_training_and_is_identity_otherwise():
    model = models.vgg_small()
    params = model.init(KEY, (3, 16, 16))
    x = jnp.ones((2, 3, 16, 16), jnp.float32)
    np.testing.assert_array_equal(model.apply(params, x), model.apply(params, x, train=False))
    with pytest.raises(ValueError, match="needs `key`"):
        model.apply(params, x, train=True)
    y1 = model.apply(params, x, train=True, key=jax.random.key(1))
    y2 = model.apply(params, x, train=True, key=jax.random.key(2))
    assert not np.allclose(y1, y2)


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of cnn1d"):
        models.get("resnet")


def test_input_shape_that_does_not_fit_the_model():
    with pytest.raises(ValueError, match=r"cnn1d: expects input shape \(C, L\).*got \(1, 28, 28\)"):
        models.cnn1d().init(KEY, (1, 28, 28))
    with pytest.raises(ValueError, match=r"lenet5: input shape \(1, 3, 3\) does not fit the model"):
        models.lenet5().init(KEY, (1, 3, 3))


def test_layer_init_error_names_the_layer():
    net = layers.serial(layers.Conv(4, 3, groups=2))
    with pytest.raises(ValueError, match=r"layer conv0 .* not divisible by `groups` \(=2\)"):
        net.init(KEY, (3, 8, 8))


# ----- training ---------------------------------------------------------------------------------

SYN = data.synthetic(n_train=128, n_test=64)


@pytest.mark.parametrize("ops", [jc, jc.autodiff], ids=["vjp", "autodiff"])
def test_one_training_step_lowers_the_loss(ops):
    model = models.lenet5(num_classes=SYN.num_classes)
    opt = train.make_optimizer("sgd", 0.01)
    state = train.init_state(model, opt, SYN.input_shape, seed=0)
    step = jax.jit(train.make_train_step(model, opt, ops))
    x, y = SYN.x_train[:64], SYN.y_train[:64]
    loss_fn = jax.jit(lambda p: train.loss_fn(model, ops)(p, x, y, KEY)[0])
    before = float(loss_fn(state.params))
    state, loss = step(state, x, y)
    assert float(loss) == pytest.approx(before, rel=1e-6)
    assert float(loss_fn(state.params)) < before


def test_hand_written_and_autodiff_training_curves_coincide():
    """Same seed, same data: the loss curves agree to float32 rounding over several steps."""
    curves = {}
    for name, ops in (("vjp", jc), ("autodiff", jc.autodiff)):
        _, hist = train.fit(models.lenet5(num_classes=4), SYN, epochs=3, batch_size=16,
                            lr=3e-3, seed=3, ops=ops, log=None)
        curves[name] = np.array([[h["train_loss"], h["test_loss"]] for h in hist])
    np.testing.assert_allclose(curves["vjp"], curves["autodiff"], rtol=2e-5)
    assert curves["vjp"][-1, 0] < curves["vjp"][0, 0]


def _fit(tmp_path=None, **kw):
    args = dict(epochs=3, batch_size=32, lr=3e-3, seed=5, log=None, data_name="synthetic")
    args.update(kw)
    return train.fit(models.cnn1d(num_classes=3), data.synthetic(96, 32, (1, 12), 3),
                     out_dir=tmp_path, **args)


def test_same_seed_gives_bit_identical_params():
    a, _ = _fit()
    b, _ = _fit()
    jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)


def test_killed_run_resumes_to_the_same_params(tmp_path):
    full, full_hist = _fit(tmp_path / "full")

    with pytest.raises(Killed):
        _fit(tmp_path / "resumed", on_epoch_end=kill_after_epoch(0))
    resumed, hist = _fit(tmp_path / "resumed", resume=True)
    jax.tree_util.tree_map(np.testing.assert_array_equal, full, resumed)
    assert [h["train_loss"] for h in hist] == [h["train_loss"] for h in full_hist]
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1, 2]


def test_existing_run_directory_needs_resume(tmp_path):
    _fit(tmp_path, epochs=1)
    with pytest.raises(FileExistsError, match="pass resume=True"):
        _fit(tmp_path, epochs=1)


def test_resume_refuses_a_different_configuration(tmp_path):
    _fit(tmp_path, epochs=1)
    with pytest.raises(checkpoint.CheckpointError, match=r"written with lr=0.003.*this run has lr=0.01"):
        _fit(tmp_path, epochs=2, lr=1e-2, resume=True)


def test_nonfinite_loss_stops_and_names_the_step(tmp_path):
    bad = data.synthetic(96, 32, (1, 12), 3)
    bad.x_train[40] = np.nan                     # poisons whichever step draws example 40
    with pytest.raises(train.NonFiniteError, match=r"non-finite at step \d+ \(epoch 0\)"):
        train.fit(models.cnn1d(num_classes=3), bad, epochs=2, batch_size=32, seed=5, log=None,
                  out_dir=tmp_path)
    assert not (tmp_path / "checkpoint.npz").exists()   # no good epoch finished yet


def test_nonfinite_steps_can_be_skipped():
    bad = data.synthetic(96, 32, (1, 12), 3)
    bad.x_train[40] = np.nan
    params, hist = train.fit(models.cnn1d(num_classes=3), bad, epochs=2, batch_size=32, seed=5,
                             log=None, on_nonfinite="skip")
    assert hist[-1]["skipped_steps"] == 2      # example 40 is drawn once per epoch
    assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(params))


# ----- checkpoints ------------------------------------------------------------------------------

def _state():
    model = models.lenet5()
    opt = train.make_optimizer("adam", 1e-3)
    return train.init_state(model, opt, (1, 28, 28), seed=0)


def test_checkpoint_round_trip_is_exact(tmp_path):
    state = _state()
    state = state._replace(step=jnp.asarray(17, jnp.int32))
    checkpoint.save(tmp_path / "c.npz", state, {"model": "lenet5"})
    loaded, meta = checkpoint.load(tmp_path / "c.npz", _state(), expect={"model": "lenet5"})
    assert meta == {"model": "lenet5"}
    for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(loaded)):
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(a, b)
        assert np.asarray(a).dtype == np.asarray(b).dtype


def test_truncated_checkpoint(tmp_path):
    checkpoint.save(tmp_path / "c.npz", _state())
    blob = (tmp_path / "c.npz").read_bytes()
    (tmp_path / "c.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="not a readable jaxconv checkpoint|truncated"):
        checkpoint.load(tmp_path / "c.npz", _state())


def test_tampered_checkpoint(tmp_path):
    checkpoint.save(tmp_path / "c.npz", _state())
    blob = bytearray((tmp_path / "c.npz").read_bytes())
    blob[len(blob) // 3] ^= 0xFF
    (tmp_path / "c.npz").write_bytes(bytes(blob))
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(tmp_path / "c.npz", _state())


def test_checkpoint_of_another_model(tmp_path):
    opt = train.make_optimizer("adam", 1e-3)
    other = train.init_state(models.cnn1d(), opt, (1, 40), seed=0)
    checkpoint.save(tmp_path / "c.npz", other)
    with pytest.raises(checkpoint.CheckpointError, match="does not match this model/optimizer"):
        checkpoint.load(tmp_path / "c.npz", _state())


def test_checkpoint_with_other_shapes(tmp_path):
    opt = train.make_optimizer("adam", 1e-3)
    other = train.init_state(models.lenet5(num_classes=7), opt, (1, 28, 28), seed=0)
    checkpoint.save(tmp_path / "c.npz", other)
    with pytest.raises(checkpoint.CheckpointError, match=r"dense11.*is float32\[7\], expected float32\[10\]"):
        checkpoint.load(tmp_path / "c.npz", _state())


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", None])
def test_non_checkpoint_files(tmp_path, content):
    path = tmp_path / "c.npz"
    if content is None:
        np.savez(path, w=np.zeros(3))            # a valid npz, but not ours
    else:
        path.write_bytes(content)
    with pytest.raises(checkpoint.CheckpointError, match="not a"):
        checkpoint.load(path, _state())


def test_pickled_objects_are_never_loaded(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, __meta__=np.array([{"format": "jaxconv-checkpoint"}], dtype=object))
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(path, _state())


# ----- data -------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_are_parsed(tmp_path, gz):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 20, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 8, dtype=np.uint8)}
    for name, a in arrays.items():
        data.write_idx(tmp_path / (name + (".gz" if gz else "")), a)
    ds = data.load("mnist", data_dir=tmp_path)
    assert ds.x_train.shape == (20, 1, 28, 28) and ds.x_train.dtype == np.float32
    np.testing.assert_array_equal(ds.x_train[:, 0] * 255, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_truncated_idx_file(tmp_path):
    data.write_idx(tmp_path / "a", np.zeros((4, 3, 3), np.uint8))
    (tmp_path / "a").write_bytes((tmp_path / "a").read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        data.read_idx(tmp_path / "a")


def test_missing_data_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load("mnist", data_dir=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="pass their directory as data_dir"):
        data.load("fashion-mnist")


def test_missing_idx_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="lacks train-images-idx3-ubyte"):
        data.load("mnist", data_dir=tmp_path)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        data.load("cifar")


def test_digits_and_mnist1d_loaders():
    pytest.importorskip("sklearn")
    pytest.importorskip("mnist1d")
    d = data.load("digits")
    assert d.x_train.shape[1:] == (1, 8, 8) and len(d.x_train) + len(d.x_test) == 1797
    m = data.load("mnist1d")
    assert m.x_train.shape == (4000, 1, 40) and m.x_test.shape == (1000, 1, 40)
    assert m.num_classes == 10


# ----- command line -----------------------------------------------------------------------------

def test_cli_train_writes_the_summary(tmp_path, capsys):
    rc = cli.main(["train", "--data", "synthetic", "--epochs", "2", "--out", str(tmp_path)])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("test_accuracy", "test_loss", "train_loss", "epochs", "seconds", "model", "data",
                "ops", "seed", "jax", "jaxlib"):
        assert key in summary
    assert 0 <= summary["test_accuracy"] <= 1 and summary["epochs"] == 2
    assert "test accuracy" in capsys.readouterr().out
    # resuming with another --epochs would change the learning-rate schedule: refused
    rc = cli.main(["train", "--data", "synthetic", "--epochs", "3", "--out", str(tmp_path),
                   "--resume"])
    assert rc == 1 and "epochs=2, but this run has epochs=3" in capsys.readouterr().err
    rc = cli.main(["train", "--data", "synthetic", "--epochs", "2", "--out", str(tmp_path),
                   "--resume"])                 # a finished run: nothing left to train
    assert rc == 0 and json.loads((tmp_path / "summary.json").read_text())["epochs"] == 2


def test_cli_reports_errors_cleanly(tmp_path, capsys):
    assert cli.main(["train", "--data", "mnist", "--data-dir", str(tmp_path)]) == 1
    assert "lacks train-images-idx3-ubyte" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--model", "resnet"])


@pytest.mark.parametrize("kind", ["truncated", "other model", "not a checkpoint"])
def test_cli_resume_rejects_bad_checkpoints(tmp_path, capsys, kind):
    run = ["train", "--data", "synthetic", "--epochs", "1", "--out", str(tmp_path)]
    if kind == "not a checkpoint":
        (tmp_path / "checkpoint.npz").write_text("import os; os.system('echo pwned')\n")
    else:
        assert cli.main(run + (["--model", "mlp"] if kind == "other model" else [])) == 0
        if kind == "truncated":
            blob = (tmp_path / "checkpoint.npz").read_bytes()
            (tmp_path / "checkpoint.npz").write_bytes(blob[: len(blob) // 3])
    capsys.readouterr()
    assert cli.main(run + ["--resume"]) == 1
    err = capsys.readouterr().err
    expected = {"truncated": "not a readable jaxconv checkpoint",
                "other model": "was written with model='mlp'",
                "not a checkpoint": "not a readable jaxconv checkpoint"}[kind]
    assert expected in err and "pwned" not in err


# ----- models with state (batch norm) ------------------------------------------------------------

def _fit_bn(tmp_path=None, **kw):
    args = dict(epochs=2, batch_size=16, lr=3e-3, seed=5, log=None, data_name="synthetic")
    args.update(kw)
    return train.fit(models.resnet(8, num_classes=3, widths=(4, 8, 8)),
                     data.synthetic(48, 16, (1, 8, 8), 3), out_dir=tmp_path, **args)


def test_stateful_model_trains_its_statistics_apart_from_the_params(tmp_path):
    """``fit`` returns ``(params, state)`` for a model with batch norm; the optimizer state
    holds moments of the params only; a killed run resumes to bit-identical params and
    statistics; evaluation runs with the running statistics."""
    model = models.resnet(8, num_classes=3, widths=(4, 8, 8))
    opt = train.make_optimizer("adam", 1e-3)
    state = train.init_state(model, opt, (1, 8, 8), seed=0)
    n_params = len(jax.tree_util.tree_leaves(state.params))
    assert len(jax.tree_util.tree_leaves(state.opt_state)) == 2 * n_params + 1   # mu, nu, count
    (params, stats), hist = _fit_bn(tmp_path / "full")
    init_stats = state.model_state
    assert jax.tree_util.tree_structure(stats) == jax.tree_util.tree_structure(init_stats)
    assert not np.allclose(jax.tree_util.tree_leaves(stats)[0],
                           jax.tree_util.tree_leaves(init_stats)[0])

    with pytest.raises(Killed):
        _fit_bn(tmp_path / "resumed", on_epoch_end=kill_after_epoch(0))
    resumed, hist2 = _fit_bn(tmp_path / "resumed", resume=True)
    jax.tree_util.tree_map(np.testing.assert_array_equal, (params, stats), resumed)
    assert [h["test_loss"] for h in hist] == [h["test_loss"] for h in hist2]
    ds = data.synthetic(48, 16, (1, 8, 8), 3)
    loss, correct = train.make_eval_step(model)(params, ds.x_test, ds.y_test,
                                               np.ones(16, bool), stats)
    assert float(loss) / 16 == pytest.approx(hist[-1]["test_loss"], rel=1e-5)


def test_stateful_model_curves_coincide_with_autodiff():
    curves = {}
    for name, ops in (("vjp", jc), ("autodiff", jc.autodiff)):
        _, hist = _fit_bn(ops=ops)
        curves[name] = np.array([[h["train_loss"], h["test_loss"]] for h in hist])
    np.testing.assert_allclose(curves["vjp"], curves["autodiff"], rtol=1e-4)


def test_jaxconv_jit_is_jax_jit_with_the_cpu_options(monkeypatch):
    """``jaxconv.jit`` compiles with ``train.compiler_options("auto")`` (Eigen convolutions on
    CPU) plus the caller's options, takes ``jax.jit``'s keywords, and computes the same values."""
    from jaxconv._src.core import compile as _compile
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 3, 8, 8)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).standard_normal((4, 3, 3, 3)), jnp.float32)

    def f(x, w, scale=1.0):
        return scale * jax.grad(lambda w: jc.conv(x, w, padding=1).sum())(w)

    expected = jax.jit(f)(x, w)
    np.testing.assert_allclose(jc.jit(f)(x, w), expected, rtol=1e-6)
    half = jc.jit(static_argnames="scale")(f)                      # the decorator-factory form
    np.testing.assert_allclose(half(x, w, scale=0.5), 0.5 * expected, rtol=1e-6)
    assert "convolution" in jc.jit(f).lower(x, w).as_text()
    if jax.default_backend() == "cpu" and _compile._accepted(
            "cpu", tuple(train.CPU_EIGEN_CONVOLUTIONS.items())):
        assert train.compiler_options("auto") == train.CPU_EIGEN_CONVOLUTIONS
    with pytest.raises(Exception, match="no_such_jaxconv_option"):     # the caller's reach XLA
        jc.jit(f, compiler_options={"no_such_jaxconv_option": "1"})(x, w)
    monkeypatch.setattr(_compile, "compiler_options",
                        lambda *a, **k: {"no_such_auto_option": "1"})
    lazy = jc.jit(f)                    # the options are chosen at the first call, not here
    with pytest.raises(Exception, match="no_such_auto_option"):       # and jaxconv's too
        lazy(x, w)
    with pytest.raises(TypeError, match="`compiler_options` .* must be a dict"):
        jc.jit(f, compiler_options="default")
