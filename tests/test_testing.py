"""``jaxconv.testing``: ``check_vjp`` passes a correct rule (and reports its errors) and catches
each kind of wrong rule by the check, transform, dtype and argument it breaks; ``cases`` sweeps
options with readable ids.

Every rule here is a tiny ``custom_vjp`` on a few numbers: the file runs in seconds.
"""

import doctest
import functools
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxconv import testing
from jaxconv._src.tools import testing as _impl

RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.standard_normal((4, 3)))
W = jnp.asarray(RNG.standard_normal((3, 3)))
B = jnp.asarray(RNG.standard_normal(3))


def rule(fwd_value, bwd):
    """A ``custom_vjp`` of ``fwd_value`` whose residuals are the inputs and whose backward is
    ``bwd(*inputs, g)``."""
    f = jax.custom_vjp(fwd_value)
    f.defvjp(lambda *a: (fwd_value(*a), a), lambda a, g: bwd(*a, g))
    return f


# -- a correct rule: hard-swish, x relu6(x + 3) / 6, and a dense layer on a params pytree ------

def hard_swish_ref(x):
    return x * jnp.clip(x + 3, 0, 6) / 6


def _hard_swish_bwd(x, g):
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))     # 16-bit: in float32, rounded once
    slope = jnp.where(x < -3, 0.0, jnp.where(x > 3, 1.0, (2 * x + 3) / 6))
    return ((g * slope).astype(g.dtype),)


hard_swish = rule(hard_swish_ref, _hard_swish_bwd)


def dense_ref(x, params):
    return x @ params["w"] + params["b"][None, :]


def _dense_bwd(x, params, g, transposed=False):
    dw = g.T @ x if transposed else x.T @ g
    return g @ params["w"].T, {"w": dw, "b": g.sum(0)}


dense = rule(dense_ref, _dense_bwd)
PARAMS = {"w": W, "b": B}


def test_a_correct_rule_passes_and_returns_its_report():
    report = testing.check_vjp(dense, dense_ref, X, PARAMS)
    assert isinstance(report, testing.Report) and report.fn == "dense_ref"
    (row,) = report.rows
    assert row.dtype == "float64" and row.check_grads_order == 2
    assert row.gradient.ad_rel <= 1e-12 and row.gradient.fd_rel <= 1e-6
    assert row.primal <= 1e-12 and row.eager <= 1e-12 and row.vmap <= 1e-12
    text = str(report).splitlines()
    assert text[0].startswith("| fn | dtype | primal rel | vs jax.grad max abs |")
    assert len(text) == 3 and text[2].startswith("| dense_ref | float64 |")
    assert text[2].endswith("| order 2 | yes |")


@pytest.mark.parametrize("kw", testing.cases(transforms=(testing.TRANSFORMS, ("eager",)),
                                             dtypes=(("float32", "bfloat16"),)), ids=str)
def test_a_correct_rule_passes_in_float32_and_bfloat16(kw):
    report = testing.check_vjp(hard_swish, hard_swish_ref, jnp.linspace(-5.0, 5.0, 12) + 0.01,
                               **kw)
    f32, bf16 = report.rows
    assert f32.gradient.ad_rel <= 1e-5 and f32.gradient.fd_rel <= 1e-4
    assert f32.check_grads_order == bf16.check_grads_order == 0       # float64 only
    assert testing.no_worse(bf16.gradient.ref_ours, bf16.gradient.ref_autodiff, "bfloat16")
    assert (f32.vmap is None) == ("vmap" not in kw["transforms"])
    row = str(report).splitlines()[3]
    assert "| bfloat16 |" in row and "| — | — |" in row        # no finite differences


def test_hard_swish_passes_in_float32_defaults():
    """With x64 off (a user's default), float64 is switched on for the check only."""
    with jax.enable_x64(False):
        report = testing.check_vjp(hard_swish, hard_swish_ref, jnp.linspace(-5.0, 5.0, 12) + 0.01)
        assert jnp.zeros(1).dtype == jnp.float32
    assert report.rows[0].check_grads_order == 2


# -- wrong rules: each raises, naming the check and the argument -----------------------------

def _raises(match, fn, reference, *args, **kw):
    with pytest.raises(AssertionError) as info:
        testing.check_vjp(fn, reference, *args, **kw)
    message = str(info.value)
    for part in match:
        assert part in message, message
    return message


def test_wrong_sign():
    wrong = rule(jnp.sin, lambda x, g: (-jnp.cos(x) * g,))
    message = _raises(["vs reference", "argument 0", "float64", "jit", "max rel error 2.00e+00"],
                      wrong, jnp.sin, X)
    assert "at index" in message


def test_missing_factor():
    """``d(x a^2)/da = 2 a x``; the rule forgets the 2 (the other argument is right)."""
    wrong = rule(lambda x, a: x * a ** 2, lambda x, a, g: (g * a ** 2, jnp.sum(a * x * g)))
    _raises(["vs reference", "argument 1 (shape ())", "max rel error 5.00e-01"],
            wrong, lambda x, a: x * a ** 2, X, jnp.asarray(1.3))


def test_transposed_weight_gradient_is_named_by_its_pytree_path():
    wrong = rule(dense_ref, functools.partial(_dense_bwd, transposed=True))
    _raises(["vs reference", "argument 1, leaf ['w'] (shape (3, 3))"], wrong, dense_ref, X,
            PARAMS)


def square_ref(x):
    return x ** 2 / 2


# algebraically x, but (x + 16)^2 - (x - 16)^2 cancels: exact in float64, not in 16 bits
cancelling = rule(square_ref, lambda x, g: (g * ((x + 16) ** 2 - (x - 16) ** 2) / 64,))


def test_a_rule_that_cancels_in_bfloat16_passes_float64_and_fails_bfloat16():
    report = testing.check_vjp(cancelling, square_ref, X, order=1)
    assert report.rows[0].gradient.ad_rel <= 1e-12
    _raises(["vs reference", "bfloat16", "float64 result", "argument 0"],
            cancelling, square_ref, X, dtypes=("bfloat16",))


def _normalise(x):
    return x / jnp.sum(x)


def _normalise_bwd_numpy(x, g):
    """The VJP of ``x / sum(x)`` in NumPy, with whole-array sums: right for one example, wrong
    once vmap hands the callback a stack of them."""
    s = np.sum(x)
    return ((g - np.sum(g * x) / s) / s).astype(x.dtype)


def _callback_bwd(x, g):
    return (jax.pure_callback(_normalise_bwd_numpy, jax.ShapeDtypeStruct(x.shape, x.dtype), x, g,
                              vmap_method="broadcast_all"),)


normalise = rule(_normalise, _callback_bwd)
POSITIVE = jnp.asarray(RNG.random(5) + 0.5)


def test_a_rule_that_breaks_only_under_vmap():
    testing.check_vjp(normalise, _normalise, POSITIVE, order=1, transforms=("eager", "jit"))
    _raises(["vmap", "example 0 of a stack of 3", "argument 0"], normalise, _normalise, POSITIVE,
            order=1)


def cube_ref(x):
    return x ** 3


# bwd is right, but stop_gradient hides its dependence on x from its own derivative
frozen = rule(cube_ref, lambda x, g: (3 * lax.stop_gradient(x) ** 2 * g,))


def test_a_rule_that_breaks_only_at_second_order():
    report = testing.check_vjp(frozen, cube_ref, X, order=1)
    assert report.rows[0].check_grads_order == 1
    _raises(["check_grads", "order 2", "argument 0"], frozen, cube_ref, X)


def _mul_fwd(x, w):
    # symbolic zeros: w is needed for x's gradient, but the rule saves it only when w itself is
    # perturbed (the bug), and then takes dx = g without it
    return x.value * w.value, (x.value, w.value if w.perturbed else None)


def _mul_bwd(res, g):
    x, w = res
    return (g if w is None else g * w), g * x


mul = jax.custom_vjp(lambda x, w: x * w)
mul.defvjp(_mul_fwd, _mul_bwd, symbolic_zeros=True)


def test_a_symbolic_zeros_rule_that_is_wrong_only_when_an_argument_is_not_asked_for():
    _raises(["single argument", "argument 0"], mul, lambda x, w: x * w, X, X)


def test_a_reference_as_wrong_as_the_rule_is_caught_by_finite_differences():
    """Given the same wrong function twice, only the finite differences can tell."""
    wrong = rule(dense_ref, functools.partial(_dense_bwd, transposed=True))
    _raises(["finite differences", "argument 1, leaf ['w']", "float64"], wrong, wrong, X, PARAMS)


def test_a_wrong_primal_is_reported_first():
    wrong = rule(lambda x: 2 * jnp.sin(x), lambda x, g: (jnp.cos(x) * g,))
    _raises(["primal", "the output"], wrong, jnp.sin, X)


# -- arguments --------------------------------------------------------------------------------

@pytest.mark.parametrize("kw,error,match", [
    (dict(dtypes=("float8",)), ValueError, "`dtypes` entry 'float8'"),
    (dict(dtypes=()), ValueError, "`dtypes` is empty"),
    (dict(dtypes="float32"), TypeError, r"`dtypes` \(='float32'\) must be a tuple"),
    (dict(transforms="vmap"), TypeError, r"`transforms` \(='vmap'\) must be a tuple"),
    (dict(transforms=("vmap",)), ValueError, "including 'jit' or 'eager'"),
    (dict(transforms=("pmap", "jit")), ValueError, "must be some of"),
    (dict(order=-1), ValueError, r"`order` \(=-1\)"),
    (dict(rtol=0), ValueError, r"`rtol` \(=0\)"),
])
def test_bad_options_are_named(kw, error, match):
    with pytest.raises(error, match=match):
        testing.check_vjp(hard_swish, hard_swish_ref, X, **kw)


def test_integer_arguments_are_named_with_the_fix():
    with pytest.raises(TypeError, match=r"argument 1, leaf \['labels'\] has dtype int.*"
                                        r"functools.partial"):
        testing.check_vjp(hard_swish, hard_swish_ref, X, {"labels": jnp.arange(3)})
    with pytest.raises(ValueError, match="no `args` given"):
        testing.check_vjp(hard_swish, hard_swish_ref)


# -- the building blocks ----------------------------------------------------------------------

def test_cases_is_the_product_with_readable_ids():
    got = testing.cases(stride=(1, 2), padding=("SAME", (1, 0)))
    assert [dict(p) for p in got] == [dict(stride=s, padding=p) for s in (1, 2)
                                      for p in ("SAME", (1, 0))]
    assert [str(p) for p in got] == ["stride=1-padding=SAME", "stride=1-padding=1x0",
                                     "stride=2-padding=SAME", "stride=2-padding=1x0"]
    with pytest.raises(TypeError, match=r"`padding` \(='SAME'\) must be a tuple or list"):
        testing.cases(padding="SAME")


def test_leaf_errors_count_a_nan_as_an_infinite_error():
    (e,) = testing.leaf_errors(jnp.asarray([1.0, jnp.nan]), jnp.asarray([1.0, 2.0]))
    assert e.rel == np.inf and e.index == (1,)
    testing.assert_trees_close([jnp.asarray([jnp.nan])], [jnp.asarray([jnp.nan])])
    with pytest.raises(AssertionError, match=r"grads \[0\]\['b'\]: max rel err 5.000e-01"):
        testing.assert_trees_close([{"b": jnp.ones(2)}], [{"b": jnp.full(2, 2.0)}], what="grads")


def test_no_worse_is_jaxconv_checks_16_bit_rule():
    eps = float(jnp.finfo(jnp.bfloat16).eps)
    assert testing.no_worse(1.5 * 0.01 + eps / 8, 0.01, "bfloat16")
    assert not testing.no_worse(1.5 * 0.01 + eps / 4, 0.01, "bfloat16")


def test_check_grads_rev_names_the_order():
    with pytest.raises(AssertionError, match="check_grads order 2"):
        testing.check_grads_rev(frozen, (X,), order=2)


def test_docstring_examples_print_what_they_say():
    with jax.enable_x64(False):
        result = doctest.testmod(_impl, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 6 and result.failed == 0


def test_the_module_imports_no_test_framework():
    code = ("import sys, jaxconv.testing; print(sorted(m for m in ('pytest', 'numpy.testing', "
            "'hypothesis', 'jax.test_util') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]


# ----- per-example gradients with vmap_axes ---------------------------------------------------

def test_vmap_axes_checks_per_example_gradients_with_shared_arguments():
    import jaxconv as jc
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 5)), rng.standard_normal((4, 3, 3))
    for axes in ((0, None), (-1, None), (1, 0)):
        report = testing.check_vjp(lambda x, w: jc.conv(x, w), lambda x, w: jc.autodiff.conv(x, w),
                           x, w, vmap_axes=axes, order=0)
        assert report.rows[0].vmap < 1e-12


def _numpy_backward_rule():
    """``x * w`` (``w`` a scalar) whose backward for ``w`` runs in NumPy and sums over every
    axis it is given: right for one input set, wrong once vmap hands it a batch."""
    @jax.custom_vjp
    def scale(x, w):
        return x * w

    def host(g, x):
        return np.full(np.shape(g)[:-1], np.sum(g * x))

    def bwd(res, g):
        x, w = res
        gw = jax.pure_callback(host, jax.ShapeDtypeStruct(g.shape[:-1], g.dtype), g, x,
                               vmap_method="broadcast_all")
        return g * w, gw
    scale.defvjp(lambda x, w: (x * w, (x, w)), bwd)
    return scale


def test_vmap_axes_catches_a_backward_that_mixes_the_examples():
    scale = _numpy_backward_rule()
    x, w = np.random.default_rng(1).standard_normal(3), np.asarray(0.7)
    testing.check_vjp(scale, lambda x, w: x * w, x, w, order=0, transforms=("jit", "eager"))   # passes
    with pytest.raises(AssertionError, match=r"vmap_axes=\(0, None\) \(example \d of a batch"):
        testing.check_vjp(scale, lambda x, w: x * w, x, w, order=0, vmap_axes=(0, None))


@pytest.mark.parametrize("axes,message", [
    ((0,), "one entry per argument"), ((None, None), "batches no argument"),
    ((4, None), "outside the axes"), ((0.5, None), "an int axis or None")])
def test_vmap_axes_errors_name_the_argument(axes, message):
    x, w = np.ones((2, 3)), np.ones(3)
    with pytest.raises((ValueError, TypeError), match=message):
        testing.check_vjp(lambda x, w: x * w, lambda x, w: x * w, x, w, vmap_axes=axes)
