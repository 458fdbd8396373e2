"""Normalisation semantics beyond the grid's rule checks: batch norm's running statistics and
modes, what carries no gradient, constant channels, 16-bit statistics, synchronised batch norm
over a named axis, and the stateful layers and models built on them."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv import layers as L
from jaxconv import models

from helpers import assert_rel_close, rel_err

RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.standard_normal((6, 3, 4, 5)))
SCALE, BIAS = jnp.asarray(RNG.standard_normal(3)), jnp.asarray(RNG.standard_normal(3))
MEAN, VAR = jnp.asarray(RNG.standard_normal(3)), jnp.asarray(RNG.random(3) + 0.5)


def test_running_statistics_follow_the_momentum_rule():
    """Eq. 45: the biased batch variance normalises, the unbiased one enters the average."""
    y, m, v = jc.batch_norm(X, SCALE, BIAS, MEAN, VAR, training=True, momentum=0.3)
    x = np.asarray(X)
    mu = x.mean(axis=(0, 2, 3))
    var_b = x.var(axis=(0, 2, 3))
    count = x.size // 3
    assert_rel_close(m, 0.7 * np.asarray(MEAN) + 0.3 * mu)
    assert_rel_close(v, 0.7 * np.asarray(VAR) + 0.3 * var_b * count / (count - 1))
    x_hat = (x - mu[:, None, None]) / np.sqrt(var_b[:, None, None] + 1e-5)
    assert_rel_close(y, x_hat * np.asarray(SCALE)[:, None, None] + np.asarray(BIAS)[:, None, None])


def test_evaluation_mode_uses_and_returns_the_running_statistics():
    y, m, v = jc.batch_norm(X, SCALE, BIAS, MEAN, VAR, training=False)
    assert m is MEAN and v is VAR
    expected = ((np.asarray(X) - np.asarray(MEAN)[:, None, None])
                / np.sqrt(np.asarray(VAR)[:, None, None] + 1e-5))
    assert_rel_close(y, expected * np.asarray(SCALE)[:, None, None]
                     + np.asarray(BIAS)[:, None, None])


@pytest.mark.parametrize("training", [True, False])
def test_no_gradient_into_or_out_of_the_running_statistics(training):
    def stats_loss(x, mean, var):
        _, m, v = jc.batch_norm(x, SCALE, BIAS, mean, var, training=training)
        return jnp.sum(m * 2.0) + jnp.sum(v * 3.0)

    def out_loss(x, mean, var):
        return jnp.sum(jc.batch_norm(x, SCALE, BIAS, mean, var, training=training)[0] ** 2)

    gx, _, _ = jax.grad(stats_loss, (0, 1, 2))(X, MEAN, VAR)
    assert not np.any(np.asarray(gx))                # the new statistics carry no gradient
    _, gm, gv = jax.grad(out_loss, (0, 1, 2))(X, MEAN, VAR)
    assert not np.any(np.asarray(gm)) and not np.any(np.asarray(gv))
    _, gm_ad, gv_ad = jax.grad(lambda *a: jnp.sum(jc.autodiff.batch_norm(
        a[0], SCALE, BIAS, a[1], a[2], training=training)[0] ** 2), (0, 1, 2))(X, MEAN, VAR)
    assert not np.any(np.asarray(gm_ad)) and not np.any(np.asarray(gv_ad))


def test_training_without_running_statistics_returns_none():
    y, m, v = jc.batch_norm(X, None, None, None, None, training=True)
    assert m is None and v is None
    assert_rel_close(y, jc.batch_norm(X, None, None, MEAN, VAR, training=True)[0])


@pytest.mark.parametrize("op", ["batch_norm", "group_norm", "layer_norm"])
def test_a_constant_channel_gives_finite_values_and_gradients(op):
    x = X.at[:, 1].set(3.25)                 # variance exactly 0 in channel 1
    fns = {"batch_norm": lambda x: jc.batch_norm(x, SCALE, BIAS, MEAN, VAR, training=True)[0],
           "group_norm": lambda x: jc.group_norm(x, 3, SCALE, BIAS),
           "layer_norm": lambda x: jc.layer_norm(x[:, 1], num_axes=2)}
    y, vjp = jax.vjp(fns[op], x)
    ct = jnp.ones_like(y) + jnp.arange(y.size).reshape(y.shape) * 1e-3
    (g,) = vjp(ct)
    assert np.all(np.isfinite(np.asarray(y))) and np.all(np.isfinite(np.asarray(g)))
    ad = jc.autodiff
    twin = {"batch_norm": lambda x: ad.batch_norm(x, SCALE, BIAS, MEAN, VAR, training=True)[0],
            "group_norm": lambda x: ad.group_norm(x, 3, SCALE, BIAS),
            "layer_norm": lambda x: ad.layer_norm(x[:, 1], num_axes=2)}[op]
    assert_rel_close(g, jax.vjp(twin, x)[1](ct)[0])     # x_hat = 0: dx = (g - mean g) / sigma


def test_a_large_offset_keeps_the_variance_exact():
    """Two-pass statistics: x + 1e4 in float32 has the same normalised values to float32
    precision, where E[x^2] - E[x]^2 would cancel to noise."""
    x = np.asarray(X, np.float32)
    base = jc.batch_norm(jnp.asarray(x), None, None, None, None, training=True)[0]
    shifted = jc.batch_norm(jnp.asarray(x + 1e4), None, None, None, None, training=True)[0]
    assert rel_err(shifted, base) < 2e-3


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_16_bit_inputs_are_normalised_with_float32_statistics(dtype):
    x = X.astype(dtype)
    y = jc.group_norm(x, 3, SCALE.astype(dtype), BIAS.astype(dtype))
    assert y.dtype == dtype
    ref = jc.group_norm(x.astype(jnp.float64), 3, SCALE.astype(dtype).astype(jnp.float64),
                        BIAS.astype(dtype).astype(jnp.float64))
    # one rounding to the 16-bit output: within its unit roundoff of the exact result
    assert rel_err(y, ref) <= float(jnp.finfo(dtype).eps)


def test_synchronised_batch_norm_over_a_named_vmap_axis_equals_the_whole_batch():
    """``axis_name``: 3 shards of 2 examples normalised together are the batch of 6, in the
    values, the running statistics and every gradient (dx per shard, dscale and dbias summed)."""
    ct = jnp.asarray(RNG.standard_normal(X.shape))

    def whole(x, s, b):
        y, m, v = jc.batch_norm(x, s, b, MEAN, VAR, training=True)
        return jnp.sum(y * ct), (m, v)

    def shard(x, s, b, c):
        y, m, v = jc.batch_norm(x, s, b, MEAN, VAR, training=True, axis_name="shards")
        return jnp.sum(y * c), (m, v)

    (loss, (m, v)), grads = jax.value_and_grad(whole, (0, 1, 2), has_aux=True)(X, SCALE, BIAS)
    split = X.reshape(3, 2, *X.shape[1:])
    (losses, (ms, vs)), (gx, gs, gb) = jax.vmap(
        jax.value_and_grad(shard, (0, 1, 2), has_aux=True), in_axes=(0, None, None, 0),
        axis_name="shards")(split, SCALE, BIAS, ct.reshape(split.shape))
    assert_rel_close(jnp.sum(losses), loss)
    for k in range(3):
        assert_rel_close(ms[k], m)
        assert_rel_close(vs[k], v)
    assert_rel_close(gx.reshape(X.shape), grads[0])
    assert_rel_close(gs.sum(0), grads[1])
    assert_rel_close(gb.sum(0), grads[2])


def test_batch_norm_layer_keeps_its_statistics_in_the_state():
    layer = L.serial(L.Conv(4, 3, padding=1), L.BatchNorm(momentum=0.5), L.Relu)
    assert layer.stateful
    shape, params, state = layer.init(jax.random.key(0), (2, 5, 5))
    assert shape == (4, 5, 5)
    assert set(params) == {"conv0", "batch_norm1"} and set(state) == {"batch_norm1"}
    assert set(params["batch_norm1"]) == {"scale", "bias"}
    np.testing.assert_array_equal(state["batch_norm1"]["var"], np.ones(4))
    x = jnp.asarray(RNG.standard_normal((3, 2, 5, 5)), jnp.float32)
    y_train, new = layer.apply(params, state, x, train=True)
    assert not np.allclose(new["batch_norm1"]["mean"], 0)
    y_eval, same = layer.apply(params, new, x, train=False)
    assert same["batch_norm1"]["mean"] is new["batch_norm1"]["mean"]
    assert y_eval.shape == y_train.shape
    assert not np.allclose(y_eval, y_train)      # running statistics, not the batch's


def test_stateless_composites_keep_the_two_argument_form():
    layer = L.serial(L.Conv(4, 3), L.Relu, L.Residual(L.Conv(4, 3, padding=1)))
    assert not layer.stateful
    shape, params = layer.init(jax.random.key(0), (2, 6, 6))
    assert shape == (4, 4, 4)
    assert layer.apply(params, jnp.ones((1, 2, 6, 6), jnp.float32)).shape == (1, 4, 4, 4)


def test_residual_branches_must_agree():
    with pytest.raises(ValueError, match="same shape"):
        L.Residual(L.Conv(4, 3)).init(jax.random.key(0), (2, 6, 6))


def test_resnet20_has_the_papers_parameter_count_and_separate_state():
    """He et al. 2016, Table 6: ResNet-20 on CIFAR-10 has 0.27M parameters."""
    model = models.resnet20()
    assert model.stateful
    params, state = model.init(jax.random.key(0), (3, 32, 32))
    assert models.param_count(params) == 269_722
    stats = jax.tree_util.tree_leaves(state)
    assert len(stats) == 2 * 19                  # mean and var of each of the 19 batch norms
    with pytest.raises(ValueError, match="6n \\+ 2"):
        models.resnet(21)


def test_unet_skips_and_upsamples_back_to_the_input_size():
    model = models.unet(num_classes=3, widths=(4, 8), pool_logits=False)
    params, state = model.init(jax.random.key(0), (1, 8, 8))
    x = jnp.asarray(RNG.standard_normal((2, 1, 8, 8)), jnp.float32)
    y, new_state = model.apply(params, state, x, train=True)
    assert y.shape == (2, 3, 8, 8)
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)
    grads = jax.grad(lambda p: jnp.sum(model.apply(p, state, x, train=True)[0] ** 2))(params)
    grads_ad = jax.grad(lambda p: jnp.sum(model.apply(p, state, x, train=True,
                                                      ops=jc.autodiff)[0] ** 2))(params)
    for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(grads_ad)):
        assert rel_err(a, b) < 1e-4


@pytest.mark.parametrize("layer,in_shape,out_shape", [
    (L.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4), (2, 6, 8)),
    (L.Upsample(size=5), (2, 3), (2, 5)),
    (L.LayerNorm(2), (2, 3, 4), (2, 3, 4)),
    (L.GroupNorm(2), (4, 3, 3), (4, 3, 3)),
    (L.LeakyRelu(0.2), (3,), (3,)), (L.Elu(0.5), (3,), (3,)), (L.Gelu("tanh"), (3,), (3,)),
    (L.Silu, (3,), (3,)), (L.Hardswish, (3,), (3,)), (L.Softplus(2.0), (3,), (3,)), (L.GlobalAvgPool(), (2, 3, 3), (2,)),
    (L.ZeroPadShortcut(6), (2, 4, 4), (6, 2, 2)),
], ids=lambda v: getattr(v, "name", None))
def test_new_layers_run_the_same_through_both_namespaces(layer, in_shape, out_shape):
    shape, params = layer.init(jax.random.key(0), in_shape)
    assert shape == out_shape
    x = jnp.asarray(RNG.standard_normal((2,) + in_shape), jnp.float32)
    c = jnp.asarray(RNG.standard_normal((2,) + out_shape), jnp.float32)
    ours = jax.grad(lambda x, p: jnp.sum(layer.apply(p, x) * c), (0, 1))(x, params)
    theirs = jax.grad(lambda x, p: jnp.sum(layer.apply(p, x, ops=jc.autodiff) * c), (0, 1))(
        x, params)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
        assert rel_err(a, b) < 1e-5
