"""Values and gradients equal PyTorch's (float64, CPU) for every option PyTorch defines.

Runs only where ``torch`` is importable (``pip install torch==2.13.0`` here); skipped otherwise.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc

from helpers import RTOL_TORCH as RTOL  # noqa: E402

torch = pytest.importorskip("torch")
F = torch.nn.functional


def compare(ours, theirs, arrays, grad_of=None, seed=0):
    """``ours(*jax arrays)`` vs ``theirs(*torch tensors)``: outputs and the vjp of a random
    cotangent w.r.t. the inputs listed in ``grad_of`` (default: all)."""
    grad_of = range(len(arrays)) if grad_of is None else grad_of
    y, vjp = jax.vjp(lambda *a: ours(*a), *[jnp.asarray(a) for a in arrays])
    ts = [torch.tensor(a, requires_grad=i in grad_of) for i, a in enumerate(arrays)]
    yt = theirs(*ts)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=RTOL, atol=RTOL)
    ct = np.random.default_rng(seed).standard_normal(yt.shape)
    yt.backward(torch.tensor(ct))
    grads = vjp(jnp.asarray(ct))
    for i in grad_of:
        np.testing.assert_allclose(grads[i], ts[i].grad.numpy(), rtol=RTOL, atol=RTOL)


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


SIZES = {1: (9,), 2: (7, 8), 3: (5, 6, 5)}
KERNELS = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}


@pytest.mark.parametrize("n,stride,padding,dilation,groups,mode", [
    (n, s, p, d, g, m) for n in (1, 2, 3) for s, p, d, g, m in
    [(1, 0, 1, 1, "zeros"), (2, 1, 1, 2, "zeros"), (1, 2, 2, 1, "zeros"), (3, 1, 1, 4, "zeros"),
     (1, 1, 1, 1, "reflect"), (2, 2, 1, 2, "replicate"), (1, 1, 2, 1, "circular")]])
def test_conv(n, stride, padding, dilation, groups, mode):
    x, w, b = _x((2, 4) + SIZES[n]), _x((8, 4 // groups) + KERNELS[n], 1), _x((8,), 2)
    layer = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[n]

    def theirs(x, w, b):
        if mode == "zeros":
            return getattr(F, f"conv{n}d")(x, w, b, stride, padding, dilation, groups)
        m = layer(4, 8, KERNELS[n], stride, padding, dilation, groups, padding_mode=mode)
        return m._conv_forward(x, w, b)

    compare(lambda x, w, b: jc.conv(x, w, b, stride=stride, padding=padding, dilation=dilation,
                                    groups=groups, padding_mode=mode), theirs, [x, w, b])


@pytest.mark.parametrize("n,stride,padding,out_pad,dilation,groups", [
    (n, *opts) for n in (1, 2, 3) for opts in
    [(1, 0, 0, 1, 1), (2, 1, 1, 1, 1), (3, 2, 2, 1, 2), (2, 0, 1, 2, 1), (1, 1, 0, 2, 2)]])
def test_conv_transpose(n, stride, padding, out_pad, dilation, groups):
    x, w, b = _x((2, 4) + SIZES[n]), _x((4, 6 // groups) + KERNELS[n], 1), _x((6,), 2)
    compare(lambda x, w, b: jc.conv_transpose(x, w, b, stride=stride, padding=padding,
                                              output_padding=out_pad, dilation=dilation,
                                              groups=groups),
            lambda x, w, b: getattr(F, f"conv_transpose{n}d")(x, w, b, stride, padding, out_pad,
                                                              groups, dilation), [x, w, b])


@pytest.mark.parametrize("n,k,s,p,d,ceil", [
    (n, k, s, p, d, c) for n in (1, 2, 3) for k, s, p, d, c in
    [(2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 2, False), (2, 3, 1, 1, True)]])
def test_max_pool_with_ties_and_indices(n, k, s, p, d, ceil):
    x = np.random.default_rng(0).integers(0, 3, (2, 3) + SIZES[n]).astype(np.float64)  # ties
    compare(lambda x: jc.max_pool(x, k, s, p, ceil, dilation=d),
            lambda x: getattr(F, f"max_pool{n}d")(x, k, s, p, d, ceil_mode=ceil), [x])
    y, idx = jc.max_pool(jnp.asarray(x), k, s, p, ceil, dilation=d, return_indices=True)
    yt, it = getattr(F, f"max_pool{n}d")(torch.tensor(x), k, s, p, d, ceil_mode=ceil,
                                         return_indices=True)
    np.testing.assert_array_equal(idx, it.numpy())


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_unpool(n):
    x = _x((2, 3) + tuple(2 * v for v in SIZES[n]))
    y, idx = jc.max_pool(jnp.asarray(x), 2, return_indices=True)
    compare(lambda v: jc.max_unpool(v, idx, 2, output_size=x.shape),
            lambda v: getattr(F, f"max_unpool{n}d")(v, torch.tensor(np.asarray(idx),
                                                                    dtype=torch.long), 2,
                                                    output_size=x.shape),
            [np.asarray(y)])


@pytest.mark.parametrize("n,k,s,p,ceil,cip,div", [
    (n, *opts) for n in (1, 2, 3) for opts in
    [(2, 2, 0, False, True, None), (3, 2, 1, True, True, None), (3, 2, 1, True, False, None),
     (3, 1, 1, False, False, None), (2, 2, 1, False, True, 3)]])
def test_avg_pool(n, k, s, p, ceil, cip, div):
    if n == 1 and div is not None:
        pytest.skip("avg_pool1d has no divisor_override")
    x = _x((2, 3) + SIZES[n])
    extra = {} if n == 1 else {"divisor_override": div}
    compare(lambda x: jc.avg_pool(x, k, s, p, ceil, cip, divisor_override=div),
            lambda x: getattr(F, f"avg_pool{n}d")(x, k, s, p, ceil, cip, **extra), [x])


@pytest.mark.parametrize("n,p,k,s,ceil", [
    (n, *o) for n in (1, 2) for o in [(2.0, 2, 2, False), (3.0, 3, 2, False), (1.5, 2, 1, False),
                                      (2.0, 3, 2, True)]])
def test_lp_pool_on_nonnegative_inputs(n, p, k, s, ceil):
    """PyTorch uses x**p (equal to |x|**p for x >= 0). Its ceil-mode windows that hang over
    the edge are rescaled by window size / elements present (it computes avg_pool * K); jaxconv
    keeps the p-norm of the elements present, so those cases use sizes with no overhang."""
    sizes = tuple(v + 1 if ceil and v % 2 == 0 else v for v in SIZES[n])
    x = np.abs(_x((2, 3) + sizes)) + 0.1
    compare(lambda x: jc.lp_pool(x, k, p, s, ceil_mode=ceil),
            lambda x: getattr(F, f"lp_pool{n}d")(x, p, k, s, ceil), [x])


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("n,out", [(1, 4), (2, (3, 5)), (2, (9, 2)), (3, (2, 3, 2)), (2, 1)])
def test_adaptive_pools(kind, n, out):
    x = np.random.default_rng(1).integers(0, 4, (2, 3) + SIZES[n]).astype(np.float64)
    compare(lambda x: getattr(jc, f"adaptive_{kind}_pool")(x, out),
            lambda x: getattr(F, f"adaptive_{kind}_pool{n}d")(x, out), [x])


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_global_pools(kind):
    x = _x((2, 3, 7, 8))
    compare(lambda x: getattr(jc, f"global_{kind}_pool")(x),
            lambda x: getattr(F, f"adaptive_{kind}_pool2d")(x, 1).flatten(1), [x])


@pytest.mark.parametrize("reduction,smoothing,ignore", list(itertools.product(
    ["mean", "sum", "none"], [0.0, 0.15], [None, 2])))
def test_cross_entropy_options(reduction, smoothing, ignore):
    z, labels = _x((6, 5)) * 3, np.array([0, 2, 4, 2, 1, 3])
    compare(lambda z: jc.softmax_cross_entropy(z, jnp.asarray(labels), reduction,
                                               label_smoothing=smoothing, ignore_index=ignore),
            lambda z: F.cross_entropy(z, torch.tensor(labels), reduction=reduction,
                                      label_smoothing=smoothing,
                                      ignore_index=-100 if ignore is None else ignore), [z])


def test_cross_entropy_probability_labels_with_smoothing():
    z, p = _x((6, 5)) * 3, np.random.default_rng(2).random((6, 5))
    p /= p.sum(axis=1, keepdims=True)
    compare(lambda z, p: jc.softmax_cross_entropy(z, p, label_smoothing=0.1),
            lambda z, p: F.cross_entropy(z, p, label_smoothing=0.1), [z, p])


def test_cross_entropy_per_example_weights_are_pytorch_class_weights_per_row():
    z, labels = _x((6, 5)) * 3, np.array([0, 2, 4, 2, 1, 3])
    class_w = np.random.default_rng(3).random(5) + 0.5
    compare(lambda z: jc.softmax_cross_entropy(z, jnp.asarray(labels),
                                               weights=jnp.asarray(class_w[labels])),
            lambda z: F.cross_entropy(z, torch.tensor(labels), weight=torch.tensor(class_w)), [z])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_elementwise_losses(reduction):
    y, t = _x((4, 3)) * 3, np.random.default_rng(1).random((4, 3))
    compare(lambda a, b: jc.sigmoid_binary_cross_entropy(a, b, reduction),
            lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction), [y, t])
    compare(lambda a, b: jc.huber(a, b, reduction, delta=0.8),
            lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=0.8), [y, t])
    if reduction != "none":
        # Eq. 9 has a 1/2 that PyTorch's mse_loss does not
        compare(lambda a, b: 2 * jc.mse(a, b, reduction),
                lambda a, b: F.mse_loss(a, b, reduction=reduction), [y, t])


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations(name):
    x = _x((3, 4, 5)) + np.copysign(0.05, _x((3, 4, 5)))
    compare(getattr(jc, name), getattr(torch, name), [x])
