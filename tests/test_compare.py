"""Comparison at the scale of a model: ``jaxconv.testing.compare_model`` and ``jaxconv compare``."""

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv import models
from jaxconv._src.tools import cli
from jaxconv.testing import compare_model


def _lenet_loss():
    model = models.lenet5(num_classes=4)
    params = model.init(jax.random.key(0), (1, 12, 12))
    x = jax.random.normal(jax.random.key(1), (3, 1, 12, 12), jnp.float32)
    y = jnp.array([0, 2, 3])

    def loss(params, x, y, ops=jc):
        return ops.softmax_cross_entropy(model.apply(params, x, ops=ops, train=True), y)
    return loss, params, x, y


def _wrong(op, factor):
    """``op`` with its gradient scaled by ``factor``: a rule that is slightly wrong."""
    @functools.wraps(op)
    def wrapped(x, *args, **kwargs):
        @jax.custom_vjp
        def f(x):
            return op(x, *args, **kwargs)

        def fwd(x):
            return jax.vjp(lambda x: op(x, *args, **kwargs), x)

        def bwd(pullback, ct):
            return (pullback(ct)[0] * factor,)
        f.defvjp(fwd, bwd)
        return f(x)
    return wrapped


def test_every_call_is_a_row_identical_calls_share_one():
    def loss(params, x, ops=jc):
        h = ops.relu(ops.conv(x, params["w"], padding=1))
        h = ops.relu(ops.conv(h, params["v"], padding=1))          # the same shapes again
        return ops.mse(h, jnp.zeros_like(h))

    params = {"w": jax.random.normal(jax.random.key(0), (2, 2, 3, 3), jnp.float32),
              "v": jax.random.normal(jax.random.key(1), (2, 2, 3, 3), jnp.float32)}
    x = jax.random.normal(jax.random.key(2), (2, 2, 5, 5), jnp.float32)
    report = compare_model(loss, params, x, timing=True, repeats=2)
    assert all(r.ms is not None and min(r.ms) > 0 for r in report.rows)
    assert [(r.op, r.count, r.index) for r in report.rows] == [("conv", 2, 0), ("relu", 2, 1),
                                                               ("mse", 1, 4)]
    assert set(report.rows[0].errors) == {"x", "w"}
    assert report.counts() == {"conv": 2, "relu": 2, "mse": 1}
    text = str(report)
    assert "5 op calls (3 distinct): 2 conv, 2 relu, 1 mse" in text and "every call agrees" in text
    assert report.rows[1].residual_bytes[0] < report.rows[1].residual_bytes[1]   # relu's mask


def test_a_wrong_rule_inside_a_model_is_named():
    loss, params, x, y = _lenet_loss()
    ops = types.SimpleNamespace(**{n: getattr(jc, n) for n in jc.__all__})
    ops.max_pool = _wrong(jc.max_pool, 1.001)          # 1e-3 off: far beyond float32 rounding
    with pytest.raises(AssertionError) as info:
        compare_model(loss, params, x, y, ops=ops, timing=False)
    message = str(info.value)
    first = message.splitlines()[0]
    assert "call #2 max_pool(3x6x12x12" in first and "gradient of `x`" in first, first
    assert "**DISAGREES**" in message and "2 call(s) disagree" in message


def test_float64_comparison_is_exact_to_rounding():
    def loss(params, x, ops=jc):
        h = ops.max_pool(ops.tanh(ops.conv(x, params["w"], params["b"], padding=1)), 2)
        return ops.mse(ops.dense(h.reshape(2, -1), params["v"]), jnp.ones((2, 3)))

    rng = np.random.default_rng(0)                                          # (x64: conftest)
    params = {"w": rng.standard_normal((4, 2, 3, 3)), "b": rng.standard_normal(4),
              "v": rng.standard_normal((16, 3))}
    params = jax.tree.map(jnp.asarray, params)
    report = compare_model(loss, params, jnp.asarray(rng.standard_normal((2, 2, 4, 4))),
                           timing=False)
    assert report.dtype == "float64" and report.rtol == 1e-12
    assert max(r.max_error for r in report.rows) < 1e-13 and report.loss_error < 1e-13


def test_a_jitted_loss_or_one_without_ops_is_refused():
    loss, params, x, y = _lenet_loss()
    with pytest.raises(ValueError, match="unjitted"):
        compare_model(jax.jit(loss, static_argnames="ops"), params, x, y)
    with pytest.raises(ValueError, match="called no op"):
        compare_model(lambda p, ops: jnp.sum(p["conv0"]["w"]), params)


def test_compare_command_prints_the_table(capsys):
    code = cli.main(["compare", "--model", "mlp", "--data", "synthetic", "--batch-size", "2",
                     "--no-timing"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "6 op calls (5 distinct): 3 dense, 2 relu, 1 softmax_cross_entropy" in out
    assert "every call agrees" in out
