"""Property-based tests: hypothesis draws random configurations of every windowed op, valid or
not. A configuration either gives a result equal to ``jaxconv.autodiff`` (values, shapes and
gradients, float64, 1e-12 relative) or fails at trace time with a ValueError/TypeError that names
an argument; never a crash inside XLA or a silently wrong shape.

``pytest`` tries the fast profile's examples per test; ``pytest --slow`` 10x more;
``--hypothesis-show-statistics`` counts the compared and the rejected ones.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import event, example, given, note
from hypothesis import strategies as st

import jaxconv as jc
from jaxconv.testing import no_worse

from helpers import RTOL, SPECS, rel_err

# Sizes that may be empty: batch N = 0, channels C = 0 and size-0 spatial axes are legal shapes;
# every op either handles them (empty results, zero gradients) or rejects them clearly.
EMPTY_OR_SMALL = st.sampled_from([0, 1, 1, 2])


def padding_forms(n):
    small = st.integers(0, 3)
    return st.one_of(
        st.sampled_from(["VALID", "SAME", "same"]),
        small,
        st.tuples(*[small] * n),
        st.tuples(*[st.tuples(small, small)] * n),
    )


def per_axis(n, lo, hi):
    return st.one_of(st.integers(lo, hi), st.tuples(*[st.integers(lo, hi)] * n))


def compare_with_autodiff(f, f_ad, args):
    """Run both; if ours raises, autodiff must raise the same error; else compare everything."""
    try:
        out, vjp = jax.vjp(f, *args)
    except (ValueError, TypeError) as err:
        msg = str(err)
        note(msg)
        assert msg.startswith("jaxconv.") and "`" in msg, msg   # names the op and the argument
        with pytest.raises(type(err)):
            f_ad(*args)
        event("rejected with a clear error")
        return "rejected"
    out_ad, vjp_ad = jax.vjp(f_ad, *args)
    assert out.shape == out_ad.shape and out.dtype == out_ad.dtype
    tol = RTOL if out.dtype == jnp.float64 else 1e-6
    np.testing.assert_allclose(out, out_ad, rtol=tol, atol=tol * float(jnp.max(jnp.abs(out_ad), initial=1)))
    ct = jnp.asarray(np.random.default_rng(0).standard_normal(out.shape), out.dtype)
    exact = None
    for i, (g, g_ad, a) in enumerate(zip(vjp(ct), vjp_ad(ct), args)):
        assert g.shape == a.shape and g.dtype == a.dtype
        scale = float(jnp.max(jnp.abs(g_ad), initial=1e-300))
        if float(jnp.max(jnp.abs(g - g_ad), initial=0)) <= tol * scale:
            continue
        # Below float64, a gradient that nearly cancels (softmax's s (ct - <ct, s>)) differs
        # from jax.grad's by the rounding of the terms, not of the result: then ours must be
        # no less accurate than jax.grad's against the float64 gradient (the harness's rule).
        assert out.dtype != jnp.float64, (i, g, g_ad)
        if exact is None:
            wide = [jnp.asarray(v, jnp.float64) if jnp.issubdtype(v.dtype, jnp.floating) else v
                    for v in args]
            exact = jax.vjp(f_ad, *wide)[1](jnp.asarray(ct, jnp.float64))
        ours_err, ad_err = rel_err(g, exact[i]), rel_err(g_ad, exact[i])
        assert no_worse(ours_err, ad_err, out.dtype), (i, ours_err, ad_err)
    event("equal to autodiff")
    return "compared"


@st.composite
def conv_configs(draw):
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    c = groups * draw(EMPTY_OR_SMALL)
    d = groups * draw(EMPTY_OR_SMALL)
    sizes = draw(st.tuples(*[st.integers(0, 7)] * n))
    kernel = draw(st.tuples(*[st.integers(1, 4)] * n))
    kw = dict(stride=draw(per_axis(n, 1, 3)), dilation=draw(per_axis(n, 1, 3)),
              padding=draw(padding_forms(n)), groups=groups, flip=draw(st.booleans()),
              padding_mode=draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])))
    shapes = [(draw(EMPTY_OR_SMALL), c) + sizes, (d, c // groups) + kernel]
    if draw(st.booleans()):
        shapes.append((d,))
    return shapes, kw


def _conv_like_test(op, config, seed):
    shapes, kw = config
    rng = np.random.default_rng(seed)
    args = [jnp.asarray(rng.standard_normal(s)) for s in shapes]
    compare_with_autodiff(jax.jit(lambda *a: getattr(jc, op)(*a, **kw)),
                          jax.jit(lambda *a: getattr(jc.autodiff, op)(*a, **kw)), args)


@given(conv_configs())
def test_conv_random_configurations(config):
    _conv_like_test("conv", config, 0)


@st.composite
def conv_transpose_configs(draw):
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(EMPTY_OR_SMALL)
    c_out_g = draw(EMPTY_OR_SMALL)
    small = st.integers(0, 2)
    kw = dict(stride=draw(per_axis(n, 1, 3)), dilation=draw(per_axis(n, 1, 2)),
              padding=draw(st.one_of(small, st.tuples(*[small] * n),
                                     st.tuples(*[st.tuples(small, small)] * n))),
              output_padding=draw(per_axis(n, 0, 2)), groups=groups)
    sizes = draw(st.tuples(*[st.integers(1, 5)] * n))
    kernel = draw(st.tuples(*[st.integers(1, 3)] * n))
    shapes = [(draw(EMPTY_OR_SMALL), c_in) + sizes, (c_in, c_out_g) + kernel]
    if draw(st.booleans()):
        shapes.append((c_out_g * groups,))
    return shapes, kw


@given(conv_transpose_configs())
def test_conv_transpose_random_configurations(config):
    _conv_like_test("conv_transpose", config, 4)


@st.composite
def pool_configs(draw, op):
    n = draw(st.integers(1, 3))
    sizes = draw(st.tuples(*[st.integers(0, 8)] * n))
    kw = dict(window=draw(per_axis(n, 1, 4)),
              stride=draw(st.one_of(st.none(), per_axis(n, 1, 3))),
              padding=draw(padding_forms(n)), ceil_mode=draw(st.booleans()))
    if op == "max_pool":
        kw["dilation"] = draw(per_axis(n, 1, 2))
        kw["ties"] = draw(st.sampled_from(["first", "split"]))
    if op == "avg_pool":
        kw["count_include_pad"] = draw(st.booleans())
        kw["divisor_override"] = draw(st.sampled_from([None, None, 1, 3]))
    if op == "lp_pool":
        kw["p"] = draw(st.sampled_from([1.0, 2.0, 3.0, 1.5]))
    return (draw(EMPTY_OR_SMALL), draw(st.sampled_from([0, 1, 3]))) + sizes, kw


def _pool_test(op, config):
    shape, kw = config
    rng = np.random.default_rng(1)
    if op == "max_pool":                       # distinct values: one winner per window
        x = rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0
    else:
        x = rng.standard_normal(shape) + 3.0   # away from zero: lp's autodiff is NaN at 0
    compare_with_autodiff(jax.jit(lambda a: getattr(jc, op)(a, **kw)),
                          jax.jit(lambda a: getattr(jc.autodiff, op)(a, **kw)), [jnp.asarray(x)])


@given(pool_configs("max_pool"))
def test_max_pool_random_configurations(config):
    _pool_test("max_pool", config)


@given(pool_configs("avg_pool"))
def test_avg_pool_random_configurations(config):
    _pool_test("avg_pool", config)


@given(pool_configs("lp_pool"))
def test_lp_pool_random_configurations(config):
    _pool_test("lp_pool", config)


@st.composite
def adaptive_configs(draw):
    n = draw(st.integers(1, 3))
    sizes = draw(st.tuples(*[st.integers(0, 7)] * n))
    out = draw(st.one_of(st.integers(1, 8), st.tuples(*[st.integers(1, 8)] * n)))
    return (draw(EMPTY_OR_SMALL), draw(st.sampled_from([0, 1, 3]))) + sizes, out


@given(st.sampled_from(["adaptive_avg_pool", "adaptive_max_pool"]), adaptive_configs())
def test_adaptive_pool_random_configurations(op, config):
    shape, output_size = config
    x = np.random.default_rng(5).permutation(int(np.prod(shape))).reshape(shape) / 7.0
    compare_with_autodiff(jax.jit(lambda a: getattr(jc, op)(a, output_size)),
                          jax.jit(lambda a: getattr(jc.autodiff, op)(a, output_size)),
                          [jnp.asarray(x)])


@given(pool_configs("max_pool"))
def test_max_unpool_random_configurations(config):
    """``max_unpool`` of ``max_pool(..., return_indices=True)``, with the pool's own arguments."""
    shape, kw = config
    x = jnp.asarray(np.random.default_rng(6).permutation(int(np.prod(shape))).reshape(shape) / 7.0)
    try:
        y, idx = jc.max_pool(x, **kw, return_indices=True)
    except ValueError as err:
        assert str(err).startswith("jaxconv.max_pool") and "`" in str(err)
        event("rejected with a clear error")
        return
    un = dict(window=kw["window"], stride=kw["stride"], padding=kw["padding"],
              output_size=shape[2:])       # rejected unless within a stride of the default size
    compare_with_autodiff(jax.jit(lambda a: jc.max_unpool(a, idx, **un)),
                          jax.jit(lambda a: jc.autodiff.max_unpool(a, idx, **un)), [y])


@st.composite
def dense_configs(draw):
    n, i, o = draw(st.integers(0, 4)), draw(st.integers(0, 6)), draw(st.integers(0, 6))
    w_in = draw(st.one_of(st.just(i), st.integers(1, 6)))           # sometimes mismatched
    shapes = [draw(st.sampled_from([(n, i), (n, i, 2), (i,)])), (w_in, o)]
    if draw(st.booleans()):
        shapes.append(draw(st.sampled_from([(o,), (o + 1,)])))
    return shapes


@given(dense_configs())
def test_dense_random_configurations(shapes):
    rng = np.random.default_rng(2)
    args = [jnp.asarray(rng.standard_normal(s)) for s in shapes]
    compare_with_autodiff(jax.jit(jc.dense), jax.jit(jc.autodiff.dense), args)


# each activation's options, valid or not (NaN, a zero beta, an axis out of range, a bad string)
ACTIVATION_OPTIONS = {
    "leaky_relu": st.fixed_dictionaries({"negative_slope": st.sampled_from(
        [0.01, 0.3, -0.5, 0.0, float("nan")])}),
    "elu": st.fixed_dictionaries({"alpha": st.sampled_from([1.0, 0.4, -1.5, float("inf")])}),
    "gelu": st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh", "erf"])}),
    "softplus": st.fixed_dictionaries({"beta": st.sampled_from([1.0, 2.0, 0.5, 0.0]),
                                       "threshold": st.sampled_from([20.0, 1.0, -2.0])}),
    "softmax": st.fixed_dictionaries({"axis": st.integers(-5, 4)}),
    "log_softmax": st.fixed_dictionaries({"axis": st.integers(-5, 4)}),
}


ACTIVATIONS = [name for name, spec in SPECS.items() if spec.kind == "activation"]


@given(st.sampled_from(ACTIVATIONS).flatmap(
           lambda n: st.tuples(st.just(n), ACTIVATION_OPTIONS.get(n, st.just({})))),
       st.lists(st.integers(0, 4), min_size=0, max_size=4),
       st.sampled_from([np.float64, np.float32, np.int32]),
       st.sampled_from([1.0, 1.0, 30.0]))
# float32 softmax whose gradient nearly cancels (x = [2.090919, -2.605665]): jax.grad's is
# 7e-6 off the float64 gradient, ours 7e-7; the two differ by 8e-6 of the largest entry
@example(("softmax", {"axis": 0}), [2], np.float32, 1.0)
def test_activations_random_shapes_and_dtypes(name_options, shape, dtype, scale):
    name, kw = name_options
    if name in ("sigmoid", "tanh"):     # written in the output: 1 - t^2 cancels once |x| >> 1
        scale = 1.0
    x = (np.random.default_rng(3).standard_normal(shape) * scale).astype(dtype)
    x = x + np.copysign(0.05, x) if dtype != np.int32 else x       # relu: away from the kink
    compare_with_autodiff(jax.jit(lambda v: getattr(jc, name)(v, **kw)),
                          jax.jit(lambda v: getattr(jc.autodiff, name)(v, **kw)),
                          [jnp.asarray(x)])


@st.composite
def loss_configs(draw):
    n, k = draw(st.integers(0, 5)), draw(st.integers(1, 5))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    kind = draw(st.sampled_from(["mse", "int", "prob", "bce", "huber"]))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    logits = rng.standard_normal((n, k))
    if kind == "mse":
        t_shape = draw(st.sampled_from([(n, k), (n,), (n, k, 1)]))
        return "mse", [logits, rng.standard_normal(t_shape)], {"reduction": reduction}
    if kind in ("bce", "huber"):
        t = rng.random(draw(st.sampled_from([(n, k), (n, k), (n,)])))
        kw = {"reduction": reduction}
        if kind == "huber":
            kw["delta"] = draw(st.sampled_from([1.0, 0.3, 0.0]))
            return "huber", [3 * logits, t], kw
        return "sigmoid_binary_cross_entropy", [logits, t], kw
    kw = {"reduction": reduction, "label_smoothing": draw(st.sampled_from([0.0, 0.0, 0.1, 1.0])),
          "weights": (None if draw(st.booleans()) else
                      rng.random(draw(st.sampled_from([(n,), (n,), (n + 1,)]))))}
    if kind == "int":
        hi = draw(st.sampled_from([k, k + 1]))                      # sometimes out of range
        labels = rng.integers(0, hi, draw(st.sampled_from([(n,), (n, 1)])))
        kw["ignore_index"] = draw(st.sampled_from([None, 0, -100]))
        return "softmax_cross_entropy_int", [logits, labels], kw
    p = rng.random(draw(st.sampled_from([(n, k), (n, k + 1)])))
    return "softmax_cross_entropy", [logits, p / p.sum(axis=-1, keepdims=True).clip(1e-9)], kw


@given(loss_configs())
def test_losses_random_configurations(config):
    name, arrays, kw = config
    if name == "softmax_cross_entropy_int":
        logits, labels = arrays
        labels = jnp.asarray(labels)
        kw = {**kw, "weights": None if kw["weights"] is None else jnp.asarray(kw["weights"])}
        compare_with_autodiff(lambda z: jc.softmax_cross_entropy(z, labels, **kw),
                              lambda z: jc.autodiff.softmax_cross_entropy(z, labels, **kw),
                              [jnp.asarray(logits)])
        return
    if kw.get("weights") is not None:
        kw = {**kw, "weights": jnp.asarray(kw["weights"])}
    compare_with_autodiff(lambda *a: getattr(jc, name)(*a, **kw),
                          lambda *a: getattr(jc.autodiff, name)(*a, **kw),
                          [jnp.asarray(a) for a in arrays])


@st.composite
def interpolate_configs(draw):
    n = draw(st.integers(1, 3))
    sizes = draw(st.tuples(*[st.sampled_from([0, 1, 2, 3, 4, 5, 6] + [1, 3, 4, 5] * 3)] * n))
    shape = (draw(EMPTY_OR_SMALL), draw(st.sampled_from([0, 1, 3]))) + sizes
    linear = {1: "linear", 2: "bilinear", 3: "trilinear"}[n]
    mode = draw(st.sampled_from(["nearest", "nearest-exact", linear, linear, "bilinear"]))
    aligns = [None, True, False] if mode == linear else [None] * 5 + [True]
    kw = dict(mode=mode, align_corners=draw(st.sampled_from(aligns)))
    factor = st.sampled_from([0.0, 0.2, 0.5, 0.7, 1, 1.5, 2, 2.5, 3])
    axes = st.sampled_from([n] * 5 + [n - 1 or 2])                  # sometimes the wrong length
    which = draw(st.sampled_from(["size"] * 4 + ["scale"] * 4 + ["both", "neither"]))
    if which in ("size", "both"):
        one = st.integers(0, 8) | st.integers(1, 8)
        kw["size"] = draw(one | axes.flatmap(lambda k: st.tuples(*[one] * k)))
    if which in ("scale", "both"):
        kw["scale_factor"] = draw(factor | axes.flatmap(lambda k: st.tuples(*[factor] * k)))
    return shape, kw


@given(interpolate_configs())
def test_interpolate_random_configurations(config):
    shape, kw = config
    x = np.random.default_rng(7).standard_normal(shape)
    compare_with_autodiff(jax.jit(lambda a: jc.interpolate(a, **kw)),
                          jax.jit(lambda a: jc.autodiff.interpolate(a, **kw)), [jnp.asarray(x)])


@st.composite
def norm_configs(draw):
    op = draw(st.sampled_from(["batch_norm", "layer_norm", "group_norm"]))
    rank = draw(st.integers(0, 3))
    shape = (draw(st.integers(0, 3)), draw(st.sampled_from([0, 1, 2, 4, 6]))) + tuple(
        draw(st.integers(0, 3)) for _ in range(rank))
    eps = draw(st.sampled_from([1e-5, 0.1, 0.0, -1.0]))
    affine = draw(st.booleans())
    if op == "batch_norm":
        kw = dict(training=draw(st.booleans()), eps=eps,
                  momentum=draw(st.sampled_from([0.0, 0.1, 1.0, 1.5])))
        c = draw(st.sampled_from([shape[1], shape[1] + 1]))        # sometimes the wrong size
        return op, shape, (c,) if affine else None, kw
    if op == "group_norm":
        kw = dict(num_groups=draw(st.sampled_from([1, 2, 3])), eps=eps)
        return op, shape, (shape[1],) if affine else None, kw
    k = draw(st.integers(0, len(shape) + 1))
    feat = shape[len(shape) - k:] if 1 <= k <= len(shape) else (2,)
    return op, shape, feat if affine else None, dict(num_axes=k, eps=eps)


@given(norm_configs())
def test_norm_random_configurations(config):
    """Batch, layer and group norm on random shapes (empty ones too) and options, valid or
    not: equal to autodiff, or a clear error."""
    op, shape, affine, kw = config
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(shape))
    args = [x] + ([jnp.asarray(rng.standard_normal(affine)) for _ in range(2)] if affine else [])
    kw = dict(kw)

    def call(ops):
        fn = getattr(ops, op)
        if op == "batch_norm":
            c = affine[0] if affine else (shape[1] if len(shape) > 1 else 1)
            stats = (jnp.zeros(c), jnp.ones(c))
            return lambda x, *p: fn(x, *(p or (None, None)), *stats, **kw)[0]
        if op == "group_norm":
            groups = kw["num_groups"]
            rest = {k: v for k, v in kw.items() if k != "num_groups"}
            return lambda x, *p: fn(x, groups, *p, **rest)
        return lambda x, *p: fn(x, *p, **kw)

    compare_with_autodiff(call(jc), call(jc.autodiff), args)
