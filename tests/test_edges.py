"""Edge values and edge shapes: each has a defined result (PyTorch's where PyTorch defines one),
checked against jax.grad through jaxconv.autodiff and, where PyTorch is importable, against it.

Infinities and NaN follow IEEE arithmetic through each formula; an empty batch gives empty
outputs and gradients (and NaN for a "mean" over nothing, as PyTorch); size-1 axes and kernels as
large as the input are ordinary cases.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc

from helpers import EXAMPLES, needs_torch, torch

# every op's example calls, from the registry (each op module's SPECS)
OPS = {name: (example.call, example.shapes) for name, (_, example) in EXAMPLES.items()}


def _inputs(shapes, batch=None, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i, s in enumerate(shapes):
        s = ((batch,) + tuple(s[1:])) if batch is not None and (i == 0 or s[0] == shapes[0][0]) \
            else s
        out.append(jnp.asarray(rng.standard_normal(s)))
    return out


def _vjp(ops, name, args):
    """The op's output and its VJP of ones, compiled as one program."""
    fn, _ = OPS[name]

    def run(*args):
        out, vjp = jax.vjp(lambda *a: fn(ops, *a), *args)
        return out, vjp(jnp.ones_like(out))
    return jax.jit(run)(*args)


def _same(a, b):
    """Equal NaN and infinity patterns, and equal finite values (float64 rounding)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.isposinf(a), np.isposinf(b))
    np.testing.assert_array_equal(np.isneginf(a), np.isneginf(b))
    fin = np.isfinite(a)
    np.testing.assert_allclose(a[fin], b[fin], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(OPS))
def test_empty_batch(name):
    args = _inputs(OPS[name][1], batch=0)
    out, grads = _vjp(jc, name, args)
    out_ad, grads_ad = _vjp(jc.autodiff, name, args)
    _same(out, out_ad)
    for g, g_ad, a in zip(grads, grads_ad, args):
        assert g.shape == a.shape
        _same(g, g_ad)


def _all_same(grads, grads_ad):
    for g, g_ad in zip(grads, grads_ad):
        _same(g, g_ad)


def _grouped_conv_is_the_textbook_sum(args, out, grads, out_ad, grads_ad, special):
    """XLA:CPU runs a grouped convolution as a dense one with a block-diagonal kernel, so
    inf * 0 leaks NaN into the other groups' outputs; the textbook sum (and PyTorch, and
    jaxconv) keep each group to its own channels."""
    from jaxconv import textbook
    _same(out, textbook.conv_forward(*args, stride=2, groups=3))


def _max_pool_routes_nan_as_pytorch(args, out, grads, out_ad, grads_ad, special):
    """NaN routing is PyTorch's (the last NaN wins): test_semantics pins it."""
    _same(out, out_ad)
    if not np.isnan(special):
        _all_same(grads, grads_ad)


def _relu_gives_nan_a_zero_gradient(args, out, grads, out_ad, grads_ad, special):
    """PyTorch's relu'(NaN) = 0 (jax.grad's is NaN)."""
    _same(out, out_ad)
    if np.isnan(special):
        assert np.asarray(grads[0]).flat[0] == 0
        return
    _all_same(grads, grads_ad)


def _huber_is_linear_out_to_infinity(args, out, grads, out_ad, grads_ad, special):
    """Beyond ``delta`` the loss is linear, so its gradient at +-inf is +-delta / size, as
    PyTorch's (jax.grad's select gives inf * 0 = NaN there)."""
    _same(out, out_ad)
    if np.isnan(special):
        _all_same(grads, grads_ad)
        return
    size = np.asarray(args[0]).size
    for g, g_ad, sign in zip(grads, grads_ad, (1, -1)):
        g, expected = np.asarray(g), np.array(g_ad)
        expected.flat[[0, 7]] = sign * np.sign(special) / size
        _same(g, expected)


# where an example's values or gradients at inf / NaN are not jax.grad's, on purpose
NOT_AUTODIFF_AT_INF_OR_NAN = {
    "conv_strided": _grouped_conv_is_the_textbook_sum,
    "max_pool": _max_pool_routes_nan_as_pytorch,
    "relu": _relu_gives_nan_a_zero_gradient,
    "huber": _huber_is_linear_out_to_infinity,
}


def test_every_exception_names_an_example():
    assert set(NOT_AUTODIFF_AT_INF_OR_NAN) <= set(OPS)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")   # inf - inf
@pytest.mark.parametrize("special", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("name", list(OPS))
def test_infinities_and_nan_follow_ieee_like_autodiff(name, special):
    args = _inputs(OPS[name][1])
    first = np.array(args[0])
    first.flat[[0, 7]] = special
    args[0] = jnp.asarray(first)
    out, grads = _vjp(jc, name, args)
    out_ad, grads_ad = _vjp(jc.autodiff, name, args)
    if name in NOT_AUTODIFF_AT_INF_OR_NAN:
        NOT_AUTODIFF_AT_INF_OR_NAN[name](args, out, grads, out_ad, grads_ad, special)
        return
    _same(out, out_ad)
    _all_same(grads, grads_ad)


@needs_torch
@pytest.mark.parametrize("special", [np.inf, -np.inf, np.nan])
def test_cross_entropy_with_infinite_logits_matches_pytorch(special):
    z = np.zeros((3, 4))
    z[0, 1] = special
    z[2, 0] = -special if not np.isnan(special) else 1.0
    t = np.array([1, 2, 3])
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(zt, torch.tensor(t), reduction="none")
    lt.sum().backward()
    loss, vjp = jax.vjp(lambda v: jc.softmax_cross_entropy(v, jnp.asarray(t), reduction="none"),
                        jnp.asarray(z))
    _same(loss, lt.detach().numpy())
    _same(vjp(jnp.ones(3))[0], zt.grad.numpy())


@needs_torch
def test_empty_batch_mean_is_nan_as_pytorch():
    e = torch.nn.functional.cross_entropy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    m = torch.nn.functional.mse_loss(torch.zeros(0, 3), torch.zeros(0, 3))
    assert np.isnan(e.item()) and np.isnan(m.item())
    assert np.isnan(jc.softmax_cross_entropy(jnp.zeros((0, 3)), jnp.zeros(0, jnp.int32)))
    assert np.isnan(jc.mse(jnp.zeros((0, 3)), jnp.zeros((0, 3)), reduction="mean"))
    assert jc.mse(jnp.zeros((0, 3)), jnp.zeros((0, 3)), reduction="sum") == 0


SHAPE_EDGES = {
    "conv 1x1 kernel on 1x1 input": (lambda ops, x, w: ops.conv(x, w), [(2, 3, 1, 1),
                                                                        (4, 3, 1, 1)]),
    "conv kernel = input (VALID)": (lambda ops, x, w: ops.conv(x, w), [(2, 3, 5, 4),
                                                                       (4, 3, 5, 4)]),
    "conv kernel = input, SAME": (lambda ops, x, w: ops.conv(x, w, padding="SAME"),
                                  [(2, 3, 5, 4), (4, 3, 5, 4)]),
    "conv 1-D length 1": (lambda ops, x, w: ops.conv(x, w, padding=1), [(2, 2, 1), (3, 2, 3)]),
    "conv 3-D size-1 axes": (lambda ops, x, w: ops.conv(x, w), [(1, 2, 1, 4, 1), (3, 2, 1, 2, 1)]),
    "max_pool window = input": (lambda ops, x: ops.max_pool(x, (5, 4)), [(2, 3, 5, 4)]),
    "max_pool window 1": (lambda ops, x: ops.max_pool(x, 1), [(2, 3, 1, 1)]),
    "avg_pool window = input": (lambda ops, x: ops.avg_pool(x, (5, 4)), [(2, 3, 5, 4)]),
    "lp_pool window = input": (lambda ops, x: ops.lp_pool(x, (5, 4)), [(2, 3, 5, 4)]),
    "dense 1x1": (lambda ops, x, w: ops.dense(x, w), [(1, 1), (1, 1)]),
}


@pytest.mark.parametrize("name", list(SHAPE_EDGES))
def test_edge_shapes(name):
    fn, shapes = SHAPE_EDGES[name]
    args = _inputs(shapes)
    out, vjp = jax.vjp(lambda *a: fn(jc, *a), *args)
    out_ad, vjp_ad = jax.vjp(lambda *a: fn(jc.autodiff, *a), *args)
    _same(out, out_ad)
    ct = jnp.asarray(np.random.default_rng(3).standard_normal(out.shape))
    for g, g_ad in zip(vjp(ct), vjp_ad(ct)):
        _same(g, g_ad)


@needs_torch
def test_kernel_as_large_as_the_input_matches_pytorch():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((4, 3, 5, 4)), rng.standard_normal(4)
    y, vjp = jax.vjp(jc.conv, jnp.asarray(x), jnp.asarray(w), jnp.asarray(b))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt)
    yt.backward(torch.ones_like(yt))
    _same(y, yt.detach().numpy())
    for g, t in zip(vjp(jnp.ones_like(y)), (xt, wt, bt)):
        _same(g, t.grad.numpy())
