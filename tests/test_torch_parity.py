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

# the ops compared here: every op of the registry with a PyTorch counterpart (tests/test_api.py
# checks the two agree, without torch)
COMPARED = {
    "conv", "conv_transpose", "max_pool", "max_unpool", "avg_pool", "lp_pool",
    "adaptive_avg_pool", "adaptive_max_pool", "global_avg_pool", "global_max_pool",
    "batch_norm", "group_norm", "layer_norm", "interpolate", "dense",
    "relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "silu", "softplus", "hardswish",
    "softmax", "log_softmax", "mse", "huber", "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
}


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


@pytest.mark.parametrize("name", ["adaptive_avg_pool", "adaptive_max_pool"])
@pytest.mark.parametrize("n,out", [(1, 4), (2, (3, 5)), (2, (9, 2)), (3, (2, 3, 2)), (2, 1)])
def test_adaptive_pools(name, n, out):
    x = np.random.default_rng(1).integers(0, 4, (2, 3) + SIZES[n]).astype(np.float64)
    compare(lambda x: getattr(jc, name)(x, out), lambda x: getattr(F, f"{name}{n}d")(x, out), [x])


@pytest.mark.parametrize("name", ["global_avg_pool", "global_max_pool"])
def test_global_pools(name):
    x = _x((2, 3, 7, 8))
    theirs = getattr(F, name.replace("global", "adaptive") + "2d")
    compare(lambda x: getattr(jc, name)(x), lambda x: theirs(x, 1).flatten(1), [x])


@pytest.mark.parametrize("bias", [True, False])
def test_dense(bias):
    """``dense(x, w, b)`` is ``F.linear(x, w.T, b)``: our kernel is ``(in, out)``, PyTorch's
    ``(out, in)``."""
    arrays = [_x((5, 7)), _x((7, 3), 1)] + ([_x((3,), 2)] if bias else [])
    compare(lambda *a: jc.dense(*a), lambda x, w, *b: F.linear(x, w.T, *b), arrays)


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


_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _nearest_backward_quirk(shape, kw):
    """PyTorch's ``upsample_nearest*d_backward`` maps an axis with ``O == S`` or ``O == 2 S``
    straight through (``o`` or ``o >> 1``) even when a ``scale_factor`` other than 1 or 2 made
    its forward read ``floor(o / scale_factor)``: that gradient is not its forward's transpose
    (ours is; ``test_interpolate_nearest_gradient_is_the_transpose_where_pytorch_shortcuts``)."""
    if kw.get("mode") != "nearest" or "scale_factor" not in kw:
        return False
    f = kw["scale_factor"]
    factors = f if isinstance(f, tuple) else (f,) * (len(shape) - 2)
    return any((int(s * v) == s and v != 1) or (int(s * v) == 2 * s and v != 2)
               for s, v in zip(shape[2:], factors))


def _interpolate_draws(count=32, seed=0):
    """Seeded random configurations over every option: rank, mode, align_corners, size (int or
    tuple) or scale factor (int, float or tuple; integer and not, up and down)."""
    rng = np.random.default_rng(seed)
    factors = [2, 3, 0.5, 0.7, 1.5, 2.5, 1.3, 0.6, 1.75, 2.0]
    draws = []
    while len(draws) < count:
        n = int(rng.integers(1, 4))
        shape = (2, 2) + tuple(int(v) for v in rng.integers(1, 7, n))
        mode = str(rng.choice(["nearest", "nearest-exact", _LINEAR[n]]))
        kw = {"mode": mode}
        if mode == _LINEAR[n]:
            align = [None, True, False][int(rng.integers(3))]
            if align is not None:
                kw["align_corners"] = align
        scalar = rng.random() < 0.3
        if rng.random() < 0.4:
            size = tuple(int(v) for v in rng.integers(1, 11, n))
            kw["size"] = size[0] if scalar else size
            outs = (size[0],) * n if scalar else size
        else:
            f = tuple(factors[int(i)] for i in rng.integers(len(factors), size=n))
            kw["scale_factor"] = f[0] if scalar else f
            outs = tuple(int(s * v) for s, v in zip(shape[2:], (f[0],) * n if scalar else f))
        if min(outs) < 1 or _nearest_backward_quirk(shape, kw):
            continue
        draws.append((shape, kw))
    return draws


_INTERPOLATE_DRAWS = _interpolate_draws() + [
    ((1, 2, 2), {"size": 98}),                                     # floorf: 49 * (2/98) -> 1
    ((1, 2, 9), {"scale_factor": 1.1, "mode": "linear"}),           # O == S: the identity
    ((2, 1, 9, 5), {"scale_factor": (1.1, 1.7), "mode": "bilinear"}),
    ((2, 1, 5, 4), {"scale_factor": (1.1, 0.5), "mode": "nearest-exact"}),
    ((1, 1, 1, 6), {"size": (4, 3), "mode": "bilinear", "align_corners": True}),   # S = 1
    ((2, 1, 4, 5), {"size": (4, 9), "mode": "nearest-exact"}),     # an axis left as it is
]


@pytest.mark.parametrize("shape,kw", _INTERPOLATE_DRAWS,
                         ids=[f"{s}-{kw}" for s, kw in _INTERPOLATE_DRAWS])
def test_interpolate(shape, kw):
    compare(jax.jit(lambda x: jc.interpolate(x, **kw)), lambda x: F.interpolate(x, **kw),
            [_x(shape)])


def test_interpolate_nearest_gradient_is_the_transpose_where_pytorch_shortcuts():
    """``scale_factor=1.1`` on 5 positions: O = 5 = S. PyTorch's forward reads
    ``floor(o / 1.1) = [0, 0, 1, 2, 3]`` (ours too), its backward passes the deltas straight
    through; ours is the transpose of the forward."""
    x = _x((1, 1, 5))
    y, vjp = jax.vjp(lambda v: jc.interpolate(v, scale_factor=1.1), jnp.asarray(x))
    yt = F.interpolate(torch.tensor(x), scale_factor=1.1)
    np.testing.assert_allclose(y, yt.numpy(), rtol=RTOL, atol=RTOL)
    np.testing.assert_array_equal(y[0, 0], x[0, 0, [0, 0, 1, 2, 3]])
    (g,) = vjp(jnp.asarray([[[1.0, 2.0, 4.0, 8.0, 16.0]]]))
    np.testing.assert_array_equal(g[0, 0], [3.0, 4.0, 8.0, 16.0, 0.0])


# ----- the activations with options: every option, the kinks (0.0 exactly), NaN, +-inf, tails --

def _activation_inputs(seed):
    """``(4, 6)`` random values (scaled by 3) with the kink, signed zeros, the tails, both sides
    of softplus's thresholds (``b x`` at 20 and 1 exactly and just past them), NaN and +-inf."""
    x = _x((4, 6), seed) * 3
    x.flat[:14] = [0.0, -0.0, 0.5, 0.51, 10.0, 10.01, 20.0, 20.5, 30.0, -30.0, 800.0, -800.0,
                   np.nan, np.inf]
    x.flat[14] = -np.inf
    return x


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name,options", [
    ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.2}),
    ("leaky_relu", {"negative_slope": -0.5}), ("leaky_relu", {"negative_slope": 0.0}),
    ("elu", {}), ("elu", {"alpha": 0.5}), ("elu", {"alpha": 2.0}), ("elu", {"alpha": -0.7}),
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("silu", {}), ("hardswish", {}),
    ("softplus", {}), ("softplus", {"beta": 2.0, "threshold": 1.0}),
    ("softplus", {"beta": 0.5, "threshold": 5.0}), ("softplus", {"beta": 2.0, "threshold": 40.0})])
def test_activations_with_options(name, options, seed):
    """The keyword names are PyTorch's; NaN and infinities give PyTorch's values and gradients
    (``assert_allclose`` counts NaN equal to NaN)."""
    x = _activation_inputs(seed)
    if name in ("elu", "hardswish"):   # f'(NaN): NaN in PyTorch's vector loop, 1 in its tail
        x[np.isnan(x)] = 1.0
    if name == "hardswish":            # PyTorch's hardswish(-inf) = -inf * 0 = nan; ours 0
        x[np.isneginf(x)] = -4.0
        x.flat[15:17] = [-3.0, 3.0]    # the kinks: f'(-3) = 0, f'(3) = 1
    compare(jax.jit(lambda v: getattr(jc, name)(v, **options)),
            lambda v: getattr(F, name)(v, **options), [x], seed=seed)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax_with_large_logits(name, axis):
    """Logits of +-1e4 (and -inf: probability 0) along every axis; ties of the maximum."""
    x = _x((3, 4, 5)) * 30
    x[0, 0, :2] = 1e4
    x[1, 2, 1] = -1e4
    x[2, 1, 3] = -np.inf
    compare(jax.jit(lambda v: getattr(jc, name)(v, axis=axis)),
            lambda v: getattr(F, name)(v, dim=axis), [x])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_of_a_scalar_and_of_an_empty_axis(name):
    compare(lambda v: getattr(jc, name)(v, axis=0), lambda v: getattr(F, name)(v, dim=0),
            [np.array(1.5)])
    compare(lambda v: getattr(jc, name)(v, axis=-1), lambda v: getattr(F, name)(v, dim=-1),
            [np.zeros((2, 0))])


def test_softplus_does_not_overflow_where_pytorch_does():
    """Below a large threshold PyTorch's ``log1p(exp(beta x))`` overflows (``inf``, gradient
    NaN) once ``beta x > 709``; jaxconv's stable form gives ``x`` and gradient 1 there, and
    PyTorch's values everywhere else."""
    x = np.array([-800.0, -1.0, 0.0, 700.0, 710.0, 800.0])
    y, vjp = jax.vjp(lambda v: jc.softplus(v, threshold=1000.0), jnp.asarray(x))
    xt = torch.tensor(x, requires_grad=True)
    yt = F.softplus(xt, threshold=1000.0)
    yt.sum().backward()
    (g,) = vjp(jnp.ones(6))
    np.testing.assert_allclose(y[:4], yt.detach().numpy()[:4], rtol=RTOL)
    np.testing.assert_allclose(g[:4], xt.grad.numpy()[:4], rtol=RTOL)
    assert np.isinf(yt.detach().numpy()[4:]).all() and np.isnan(xt.grad.numpy()[4:]).all()
    np.testing.assert_array_equal(y[4:], x[4:])
    np.testing.assert_array_equal(g[4:], 1.0)


# ----- normalisation: random configurations over every option ------------------------------------

def _norm_configs(count, seed):
    rng = np.random.default_rng(seed)
    for i in range(count):
        rank = int(rng.integers(0, 4))
        shape = (int(rng.integers(2, 5)), int(rng.choice([2, 4, 6]))) + tuple(
            int(v) for v in rng.integers(1, 5, rank))
        yield i, rng, shape, bool(rng.integers(2)), float(rng.choice([1e-5, 1e-3, 0.1]))


@pytest.mark.parametrize("i,rng,shape,affine,eps", list(_norm_configs(16, 11)),
                         ids=lambda v: str(v) if isinstance(v, (int, tuple)) else None)
def test_batch_norm_matches_torch(i, rng, shape, affine, eps):
    c = shape[1]
    training = i % 4 != 3
    momentum = float(rng.choice([0.0, 0.1, 0.5, 1.0]))
    mean, var = rng.standard_normal(c), rng.random(c) + 0.5
    arrays = [_x(shape, i)] + ([rng.standard_normal(c), rng.standard_normal(c)] if affine else [])
    stats = {}

    def ours(x, *p):
        y, m, v = jc.batch_norm(x, *(p or (None, None)), jnp.asarray(mean), jnp.asarray(var),
                                training=training, momentum=momentum, eps=eps)
        stats["ours"] = (m, v)
        return y

    def theirs(x, *p):
        rm, rv = torch.tensor(mean), torch.tensor(var)
        y = F.batch_norm(x, rm, rv, *(p or (None, None)), training=training, momentum=momentum,
                         eps=eps)
        stats["theirs"] = (rm, rv)
        return y

    compare(ours, theirs, arrays)
    for a, b in zip(stats["ours"], stats["theirs"]):
        np.testing.assert_allclose(a, b.numpy(), rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("i,rng,shape,affine,eps", list(_norm_configs(12, 12)),
                         ids=lambda v: str(v) if isinstance(v, (int, tuple)) else None)
def test_group_norm_matches_torch(i, rng, shape, affine, eps):
    c = shape[1]
    groups = int(rng.choice([g for g in (1, 2, 3, 6) if c % g == 0]))
    arrays = [_x(shape, i)] + ([rng.standard_normal(c), rng.standard_normal(c)] if affine else [])
    compare(lambda x, *p: jc.group_norm(x, groups, *p, eps=eps),
            lambda x, *p: F.group_norm(x, groups, *p, eps=eps), arrays)


@pytest.mark.parametrize("i,rng,shape,affine,eps", list(_norm_configs(12, 13)),
                         ids=lambda v: str(v) if isinstance(v, (int, tuple)) else None)
def test_layer_norm_matches_torch(i, rng, shape, affine, eps):
    k = int(rng.integers(1, len(shape) + 1))
    feat = shape[len(shape) - k:]
    arrays = [_x(shape, i)] + ([rng.standard_normal(feat), rng.standard_normal(feat)]
                               if affine else [])
    compare(lambda x, *p: jc.layer_norm(x, *p, num_axes=k, eps=eps),
            lambda x, *p: F.layer_norm(x, feat, *p, eps=eps), arrays)
