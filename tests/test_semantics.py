"""Pinned semantics: the max-pool tie and NaN rules, ``-inf`` windows, what each rule saves,
the Lp-pool zero window, relu at 0 and NaN, numerically stable cross-entropy.

Where PyTorch is importable the same values and gradients are checked against it too.
"""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv import textbook
from jaxconv._src.tools.lowering import forced_ops

from helpers import assert_rel_close, needs_torch, torch


def grad_of(f, x, ct=None):
    y, vjp = jax.vjp(f, x)
    ct = jnp.ones_like(y) if ct is None else ct
    return y, vjp(ct)[0]


def torch_max_pool_grad(x, ct, **kw):
    t = torch.tensor(np.asarray(x), requires_grad=True)
    fn = {3: torch.nn.functional.max_pool1d, 4: torch.nn.functional.max_pool2d,
          5: torch.nn.functional.max_pool3d}[t.ndim]
    y = fn(t, **kw)
    y.backward(torch.tensor(np.asarray(ct)))
    return y.detach().numpy(), t.grad.numpy()


# ----- ties -------------------------------------------------------------------------------------

def test_tie_goes_to_first_maximum_in_row_major_order():
    x = jnp.array([[[[5.0, 1.0], [5.0, 5.0]]]])           # three tied maxima in one window
    y, g = grad_of(lambda v: jc.max_pool(v, 2), x)
    assert y.item() == 5.0
    np.testing.assert_array_equal(g, [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_overlapping_windows_accumulate_and_all_equal_window_picks_first():
    x = jnp.array([[[0.0, 5.0, 0.0, 0.0, 0.0]]])
    ct = jnp.array([[[1.0, 10.0, 100.0]]])
    _, g = grad_of(lambda v: jc.max_pool(v, 3, stride=1), x, ct)
    # windows [0,1,2] and [1,2,3] are won by x[1]; [2,3,4] is all zeros: the first, x[2], wins
    np.testing.assert_array_equal(g, [[[0.0, 11.0, 100.0, 0.0, 0.0]]])
    _, g_ad = grad_of(lambda v: jc.autodiff.max_pool(v, 3, stride=1), x, ct)
    np.testing.assert_array_equal(g, g_ad)
    np.testing.assert_array_equal(g, textbook.max_pool_backward(x, ct, 3, stride=1))


@needs_torch
def test_ties_match_pytorch():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(2, 3, 9, 8)).astype(np.float64)   # many ties
    kw = dict(kernel_size=3, stride=2, padding=1)
    ct = rng.standard_normal(jc.max_pool(jnp.asarray(x), 3, 2, 1).shape)
    y, g = grad_of(lambda v: jc.max_pool(v, 3, 2, 1), jnp.asarray(x), jnp.asarray(ct))
    ty, tg = torch_max_pool_grad(x, ct, **kw)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-12)


# ----- max_unpool with shared winners -----------------------------------------------------------


def test_unpool_duplicates_keep_the_last_value_and_only_it_gets_the_delta():
    x = jnp.asarray([[[1.0, 2.0, 3.0, 4.0]]])
    idx = jnp.asarray([[[2, 0, 2, 7]]])           # two values for position 2; 7 is out of range
    y, g = grad_of(lambda v: jc.max_unpool(v, idx, 1, output_size=(4,)), x,
                   jnp.asarray([[[10.0, 20.0, 30.0, 40.0]]]))
    np.testing.assert_array_equal(y, [[[2.0, 0.0, 3.0, 0.0]]])
    np.testing.assert_array_equal(g, [[[0.0, 10.0, 30.0, 0.0]]])
    _, g_ad = grad_of(lambda v: jc.autodiff.max_unpool(v, idx, 1, output_size=(4,)), x,
                      jnp.asarray([[[10.0, 20.0, 30.0, 40.0]]]))
    np.testing.assert_array_equal(g_ad, g)
    np.testing.assert_array_equal(
        textbook.max_unpool_backward(np.asarray(idx), np.asarray([[[10.0, 20.0, 30.0, 40.0]]])), g)


@needs_torch
def test_unpool_of_overlapping_windows_matches_pytorch():
    """Stride 1 windows share winners: PyTorch's CPU unpool keeps one copy, like ours."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    y, idx = jc.max_pool(jnp.asarray(x), 3, 1, 1, return_indices=True)
    ct = rng.standard_normal(x.shape)
    u, g = grad_of(lambda v: jc.max_unpool(v, idx, 3, 1, 1, output_size=x.shape[2:]), y,
                   jnp.asarray(ct))
    t = torch.tensor(np.asarray(y), requires_grad=True)
    tu = torch.nn.functional.max_unpool2d(t, torch.tensor(np.asarray(idx), dtype=torch.long), 3,
                                          1, 1, output_size=x.shape[2:])
    np.testing.assert_array_equal(u, tu.detach().numpy())
    np.testing.assert_array_equal(np.where(u != 0, x, 0), u)     # the winners, once each
    # PyTorch's backward gathers the delta for every duplicate, which is not the gradient of its
    # forward; ours gives it once, to the value that was kept (the last one), zero to the others
    tu.backward(torch.tensor(ct))
    g, tg = np.asarray(g).reshape(2, 3, -1), t.grad.numpy().reshape(2, 3, -1)
    flat = np.asarray(idx).reshape(2, 3, -1)
    for n, c in np.ndindex(2, 3):
        last = {i: o for o, i in enumerate(flat[n, c])}             # index -> last position
        kept = np.isin(np.arange(flat.shape[2]), list(last.values()))
        np.testing.assert_array_equal(g[n, c][kept], tg[n, c][kept])
        np.testing.assert_array_equal(g[n, c][~kept], 0)
        assert (~kept).any()


# ----- NaN --------------------------------------------------------------------------------------

def test_nan_propagates_and_the_delta_goes_to_the_last_nan():
    x = jnp.array([[[1.0, np.nan, 3.0, np.nan, 2.0]]])
    y, g = grad_of(lambda v: jc.max_pool(v, 5), x)
    assert np.isnan(y.item())
    np.testing.assert_array_equal(g, [[[0.0, 0.0, 0.0, 1.0, 0.0]]])
    np.testing.assert_array_equal(g, textbook.max_pool_backward(x, np.ones((1, 1, 1)), 5))


@needs_torch
def test_nan_matches_pytorch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 7, 7))
    x[rng.random(x.shape) < 0.15] = np.nan
    ct = rng.standard_normal((2, 2, 3, 3))
    y, g = grad_of(lambda v: jc.max_pool(v, 3, 2), jnp.asarray(x), jnp.asarray(ct))
    ty, tg = torch_max_pool_grad(x, ct, kernel_size=3, stride=2)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ty))
    np.testing.assert_array_equal(np.asarray(y)[~np.isnan(y)], ty[~np.isnan(ty)])
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-12)


# ----- -inf windows -----------------------------------------------------------------------------

def test_window_of_minus_infinity_routes_to_first_real_element():
    x = jnp.array([[[-np.inf, -np.inf, 1.0]]])
    y, g = grad_of(lambda v: jc.max_pool(v, 2, stride=1, padding=1), x)
    # windows: [pad, x0], [x0, x1], [x1, x2], [x2, pad]
    np.testing.assert_array_equal(y, [[[-np.inf, -np.inf, 1.0, 1.0]]])
    np.testing.assert_array_equal(g, [[[2.0, 0.0, 2.0]]])
    np.testing.assert_array_equal(
        g, textbook.max_pool_backward(x, np.ones((1, 1, 4)), 2, stride=1, padding=1))


@needs_torch
def test_minus_infinity_matches_pytorch():
    x = np.array([[[-np.inf, -np.inf, 1.0, -np.inf]]])
    ct = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    y, g = grad_of(lambda v: jc.max_pool(v, 2, stride=1, padding=1), jnp.asarray(x),
                   jnp.asarray(ct))
    ty, tg = torch_max_pool_grad(x, ct, kernel_size=2, stride=1, padding=1)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(g, tg)


# ----- residuals --------------------------------------------------------------------------------

def _residuals(f, *args):
    """The arrays ``jax.vjp`` keeps between the forward and the backward pass."""
    _, vjp = jax.vjp(f, *args)
    return [(leaf.shape, leaf.dtype) for leaf in jax.tree_util.tree_leaves(vjp)]


def test_max_pool_saves_the_winner_index_not_the_input():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 3, 8, 8)), jnp.float32)
    saved = _residuals(lambda v: jc.max_pool(v, 3, 2, 1), x)
    assert saved == [((2, 3, 4, 4), jnp.int8)]
    # autodiff keeps the whole (padded) float input
    saved_ad = _residuals(lambda v: jc.autodiff.max_pool(v, 3, 2, 1), x)
    assert ((2, 3, 9, 9), jnp.float32) in saved_ad


def test_residuals_of_the_other_rules():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 3, 8, 8)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((4, 3, 3, 3)), jnp.float32)
    b = jnp.zeros((4,), jnp.float32)
    assert _residuals(lambda v: jc.relu(v), x) == [((2, 3, 8, 8), jnp.bool_)]
    assert _residuals(lambda v: jc.avg_pool(v, 2), x) == []
    assert _residuals(lambda v: jc.sigmoid(v), x) == [((2, 3, 8, 8), jnp.float32)]
    assert sorted(_residuals(lambda a, k, c: jc.conv(a, k, c), x, w, b), key=str) == sorted(
        [((2, 3, 8, 8), jnp.float32), ((4, 3, 3, 3), jnp.float32)], key=str)


def test_large_windows_use_a_wider_index():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((1, 1, 16, 16)), jnp.float32)
    assert _residuals(lambda v: jc.max_pool(v, 12, 4), x) == [((1, 1, 2, 2), jnp.int16)]
    y, g = grad_of(jax.jit(lambda v: jc.max_pool(v, 12, 4)), x)       # 144 taps: compile once
    _, g_ad = grad_of(jax.jit(lambda v: jc.autodiff.max_pool(v, 12, 4)), x)
    np.testing.assert_array_equal(g, g_ad)


# ----- Lp, relu, cross-entropy edges ------------------------------------------------------------

def test_lp_pool_zero_window_has_zero_gradient_not_nan():
    x = jnp.array([[[0.0, 0.0, 3.0, 4.0]]])
    for p in (1.0, 2.0, 3.0):
        y, g = grad_of(lambda v, p=p: jc.lp_pool(v, 2, p=p), x)
        assert np.all(np.isfinite(g))
        np.testing.assert_array_equal(g[..., :2], 0.0)
        np.testing.assert_allclose(g, textbook.lp_pool_backward(x, np.ones((1, 1, 2)), 2, p=p),
                                   rtol=1e-12)
    # the plain forward guards its zero windows too (a naive sqrt(sum x^2) is NaN there)
    for p in (1.0, 2.0, 3.0):
        _, g_ad = grad_of(lambda v, p=p: jc.autodiff.lp_pool(v, 2, p=p), x)
        np.testing.assert_array_equal(g_ad[..., :2], 0.0)
    _, g_naive = grad_of(lambda v: jnp.sqrt(jnp.sum(v.reshape(1, 1, 2, 2) ** 2, -1)), x)
    assert np.isnan(g_naive[..., :2]).all()


def test_relu_at_zero_and_nan():
    x = jnp.array([-1.0, 0.0, 2.0, np.nan])
    y, g = grad_of(jc.relu, x)
    np.testing.assert_array_equal(y[:3], [0.0, 0.0, 2.0])
    assert np.isnan(y[3])
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, 0.0])


def test_cross_entropy_is_stable_for_huge_logits():
    z = jnp.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    labels = jnp.array([1, 2])
    loss, vjp = jax.vjp(lambda v: jc.softmax_cross_entropy(v, labels, reduction="none"), z)
    np.testing.assert_allclose(loss, [2e4, np.log(3.0)], rtol=1e-12)
    (g,) = vjp(jnp.ones(2))
    np.testing.assert_allclose(g, [[1.0, -1.0, 0.0], [1 / 3, 1 / 3, -2 / 3]], atol=1e-12)


def test_out_of_range_labels_under_jit_give_nan_not_a_silent_number():
    z = jnp.zeros((2, 3))
    loss = jax.jit(lambda v, t: jc.softmax_cross_entropy(v, t, reduction="none"))(
        z, jnp.array([0, 7]))
    assert np.isfinite(loss[0]) and np.isnan(loss[1])



def _interpolate_backward_jaxpr(ops, shape, kw):
    """The jaxpr of ``x, delta -> vjp(delta)`` (traced only: forward and backward)."""
    def f(v):
        return ops.interpolate(v, **kw)
    x = jax.ShapeDtypeStruct(shape, jnp.float64)
    ct = jax.eval_shape(f, x)
    return str(jax.make_jaxpr(lambda v, d: jax.vjp(f, v)[1](d))(x, ct))


def test_interpolate_backward_is_gathers_without_scatter():
    """Eq. 50 as gathers over the static per-input tables (or, by the matrix lowering, one
    product with the transposed weights): the backward's jaxpr holds no scatter / scatter-add
    (deterministic on GPU), where jax.grad's transpose of the forward's gathers
    (jaxconv.autodiff with the gather lowering) is a scatter-add."""
    from jaxconv._src.core import twin
    from jaxconv._src.tools import lowering

    by_gathers = forced_ops(interpolate="gather")
    by_matrix = forced_ops(interpolate="matmul")
    autodiff_gathers = types.SimpleNamespace(interpolate=twin.variant(
        jc.autodiff.interpolate, {"interpolate_config": lowering._forcing_interpolate("gather")}))
    for shape, kw in [((2, 3, 5), dict(scale_factor=2.5, mode="linear")),
                      ((2, 3, 5, 4), dict(size=(3, 9), mode="bilinear", align_corners=True)),
                      ((1, 2, 3, 4, 3), dict(scale_factor=(2, 0.7, 1.5), mode="trilinear")),
                      ((2, 3, 5, 4), dict(scale_factor=(2, 0.7))),
                      ((2, 3, 7), dict(size=4, mode="nearest-exact"))]:
        ours = _interpolate_backward_jaxpr(by_gathers, shape, kw)
        assert "gather" in ours and "scatter" not in ours, (shape, kw)
        matrix = _interpolate_backward_jaxpr(by_matrix, shape, kw)
        assert "dot_general" in matrix and "scatter" not in matrix, (shape, kw)
        assert "scatter-add" in _interpolate_backward_jaxpr(autodiff_gathers, shape, kw)


def _with_precision(ops, name, precision):
    """``(x, w) -> (y, dx, dw)`` of a conv or transposed conv of ``ops`` at ``precision``."""
    def f(a, b):
        if name == "conv":
            return ops.conv(a, b, padding=1, precision=precision)
        return ops.conv_transpose(a, b.swapaxes(0, 1), stride=2, precision=precision)

    def grads(x, w):
        y, vjp = jax.vjp(f, x, w)
        return (y,) + vjp(jnp.ones_like(y))
    return jax.jit(grads)


@pytest.mark.parametrize("precision", ["highest", jax.lax.Precision.HIGH])
def test_precision_reaches_every_product_of_forward_and_both_gradients(precision):
    """``precision=`` is passed to each convolution and matrix product of the forward and of
    both gradients, for every lowering that has products; the values are the default's."""
    import re
    name = (precision if isinstance(precision, str) else precision.name).upper()
    # 16 input channels: every lowering, the depth split's inner 1-D parts too, has products
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 16, 7, 6)))
    w = jnp.asarray(np.random.default_rng(1).standard_normal((16, 16, 3, 3)))
    for methods in [dict(conv_forward="lax", conv_input_grad="lax", conv_weight_grad="lax"),
                    dict(conv_input_grad="col2im", conv_weight_grad="gemm"),
                    dict(conv_forward="depth", conv_input_grad="depth",
                         conv_weight_grad="depth")]:
        ops = forced_ops(**methods)
        for op in ("conv", "conv_transpose"):
            text = _with_precision(ops, op, precision).lower(x, w).as_text()
            products = text.count("stablehlo.convolution") + text.count("stablehlo.dot_general")
            marked = len(re.findall(rf"\b{name}\b", text))
            assert products >= 3 and marked == 2 * products, (op, methods, products, marked)
            for a, b in zip(_with_precision(ops, op, None)(x, w),
                            _with_precision(ops, op, precision)(x, w)):
                assert_rel_close(a, b)
    xd, wd = x[:, :, 0, 0], w[:, :4, 0, 0]
    text = jax.jit(jax.grad(lambda a, b: jc.dense(a, b, precision=precision).sum(),
                            (0, 1))).lower(xd, wd).as_text()
    dots = text.count("stablehlo.dot_general")      # dx and dw (the unused forward is dropped)
    assert dots == 2 and len(re.findall(rf"\b{name}\b", text)) == 2 * dots


@pytest.mark.parametrize("op", ["conv", "conv_transpose", "dense"])
def test_precision_is_checked(op):
    x, w = jnp.ones((2, 3, 5)), jnp.ones((3, 3, 2))
    call = {"conv": lambda: jc.conv(x, w, precision="fast"),
            "conv_transpose": lambda: jc.conv_transpose(x, w, precision="fast"),
            "dense": lambda: jc.dense(x[:, :, 0], w[:, :, 0], precision="fast")}[op]
    with pytest.raises(ValueError, match=r"`precision` \(='fast'\) must be None, 'default'"):
        call()


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_dropout_keeps_one_minus_rate_of_the_elements_scaled_up_and_routes_the_gradient(rate):
    """Inverted dropout (Eq. 27): each element kept with probability ``1 - rate`` and scaled by
    ``1 / (1 - rate)``, so the expectation is ``x``; the gradient is the same mask and scale."""
    x = jnp.asarray(np.random.default_rng(0).uniform(1.0, 2.0, (200, 500)))
    y, vjp = jax.vjp(lambda v: jc.dropout(v, rate, jax.random.key(3)), x)
    kept = np.asarray(y) != 0
    n = kept.size                              # binomial: 5 standard deviations either way
    assert abs(kept.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
    np.testing.assert_allclose(np.asarray(y)[kept], np.asarray(x)[kept] / (1 - rate),
                               rtol=1e-15)
    (g,) = vjp(jnp.full(x.shape, 2.0))
    np.testing.assert_array_equal(np.asarray(g), np.where(kept, 2.0 / (1 - rate), 0.0))
    assert not np.array_equal(kept, np.asarray(jc.dropout(x, rate, jax.random.key(4))) != 0)
