"""16-bit inputs: every op returns the input dtype, gives gradients in each input's dtype, and
(accumulating in float32 inside) is no less accurate against the float64 gradient than
``jax.grad`` through :mod:`jaxconv.autodiff` at the same dtype, by ``jaxconv check``'s criterion.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv import testing
from jaxconv._src.tools import check
from jaxconv._src.tools import grid as _grid

from helpers import EXAMPLES


def _sixteen_bit_params():
    """The first and the last configuration of every op's grid (ranks and options differ), each
    in both 16-bit dtypes; by default the first runs in bfloat16 and the last in float16 (an op
    with one configuration runs both), so every op meets both dtypes; ``--slow`` runs all."""
    params = []
    for op in _grid.OPS:
        cases = list({id(x): x for x in (_grid.cases(op)[0], _grid.cases(op)[-1])}.values())
        for i, case in enumerate(cases):
            for j, dtype in enumerate(("bfloat16", "float16")):
                default = len(cases) == 1 or i == j
                params.append(pytest.param(case, dtype, id=f"{case.id}-{dtype}",
                                           marks=() if default else (pytest.mark.slow,)))
    return params


@pytest.mark.parametrize("case,dtype", _sixteen_bit_params())
def test_16_bit_dtypes_round_trip_and_are_no_less_accurate_than_autodiff(case, dtype):
    inputs = [jnp.asarray(a, dtype) for a in case.inputs(np.float64)]

    def forward_and_back(*inputs):
        out, vjp = jax.vjp(case.fn(jc), *inputs)
        return out, vjp(jnp.ones_like(out))

    out, grads = jax.eval_shape(forward_and_back, *inputs)     # dtypes and shapes, traced
    assert out.dtype == jnp.dtype(dtype)
    for g, a in zip(grads, inputs):
        assert g.shape == a.shape and g.dtype == a.dtype
    errs = check.check_case(case, dtype, np.random.default_rng(0))
    ours, autodiff = errs.ref_ours, errs.ref_autodiff
    assert testing.no_worse(ours, autodiff, dtype), (ours, autodiff)


@pytest.mark.parametrize("op", ["max_pool", "avg_pool", "lp_pool"])
def test_overlapping_windows_sum_their_deltas_in_float32(op):
    """One input read by 127 windows: its gradient is the float32 sum of their deltas, rounded
    to float16 once (a float16 running sum would drop every 1/1024 once past 2)."""
    x = np.zeros((1, 1, 64))
    x[0, 0, 31] = 1.0
    x = jnp.asarray(x + np.linspace(0, 0.01, 64) * (op == "lp_pool"), jnp.float16)
    f = {"max_pool": lambda v: jc.max_pool(v, 64, 1, 63),
         "avg_pool": lambda v: jc.avg_pool(v, 64, 1, 63),
         "lp_pool": lambda v: jc.lp_pool(v, 64, 2.0, 1, 63)}[op]
    f = jax.jit(f)                          # 64 taps: one compiled program, not 64 x ops
    y, vjp = jax.vjp(f, x)
    ct = jnp.full(y.shape, 1 + 2.0 ** -10, jnp.float16)
    (g,) = vjp(ct)
    y32, vjp32 = jax.vjp(f, x.astype(jnp.float32))
    (g32,) = vjp32(ct.astype(jnp.float32))
    np.testing.assert_array_equal(np.asarray(g), np.asarray(g32.astype(jnp.float16)))


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_16_bit_sigmoid_and_tanh_keep_the_input_and_recompute_in_float32(name):
    """Near saturation ``1 - s`` of a float16 ``s`` has no correct bits left; ours keeps ``x``
    (as many bytes) and matches the float32 derivative rounded once."""
    x = jnp.asarray([-9.0, -4.0, 0.5, 3.0, 6.0, 8.0], jnp.float16)
    f = getattr(jc, name)
    _, vjp = jax.vjp(f, x)
    assert [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(vjp)] == [((6,), jnp.float16)]
    (g,) = vjp(jnp.ones_like(x))
    (g32,) = jax.vjp(f, x.astype(jnp.float32))[1](jnp.ones(6, jnp.float32))
    np.testing.assert_array_equal(np.asarray(g), np.asarray(g32.astype(jnp.float16)))


# every activation's example calls, from the registry (each op module's SPECS)
ACTIVATION_CALLS = {name: example.call for name, (spec, example) in EXAMPLES.items()
                   if spec.kind == "activation"}


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", list(ACTIVATION_CALLS))
def test_16_bit_activations_are_float32_rounded_once_and_no_worse_than_autodiff(name, dtype):
    """Saturating inputs (tails, the softplus switch, logits 8 apart): ours keeps a 16-bit
    residual (x, or leaky_relu's mask; never the 16-bit output), gives the float32 gradient
    rounded once, and is no farther from the float64 gradient than jax.grad at that dtype."""
    x = np.array([[-9.0, -4.0, -1.5, 0.0], [0.5, 1.25, 3.0, 8.0]])
    ct = np.array([[0.3, -1.1, 0.7, 1.9], [-0.4, 1.3, -2.2, 0.9]])
    f = jax.jit(lambda ops, v: ACTIVATION_CALLS[name](ops, v), static_argnums=0)
    x16, ct16 = jnp.asarray(x, dtype), jnp.asarray(ct, dtype)
    _, vjp = jax.vjp(lambda v: f(jc, v), x16)
    assert all(leaf.dtype in (jnp.dtype(dtype), jnp.bool_)
               for leaf in jax.tree_util.tree_leaves(vjp) if hasattr(leaf, "dtype"))
    (g,) = vjp(ct16)
    (g32,) = jax.vjp(lambda v: f(jc, v), x16.astype(jnp.float32))[1](ct16.astype(jnp.float32))
    (g_ad,) = jax.vjp(lambda v: f(jc.autodiff, v), x16)[1](ct16)
    (ref,) = jax.vjp(lambda v: f(jc.autodiff, v), x16.astype(jnp.float64))[1](
        ct16.astype(jnp.float64))
    ref, g32 = np.asarray(ref), np.asarray(g32, np.float64)
    # "rounded once" is checked where the float32 gradient is itself right to 16-bit precision
    # (a rule written in its output cancels in float32 too: 1 - t^2 at x = 8 is 0 there), and
    # to within one 16-bit ulp, as XLA may evaluate exp / erfc / tanh differently in the two
    # programs (by an ulp of float32)
    eps = float(jnp.finfo(dtype).eps)
    exact = np.abs(g32 - ref) <= eps * np.abs(ref)
    assert exact.sum() >= 4
    rounded = np.asarray(jnp.asarray(g32).astype(dtype), np.float64)
    np.testing.assert_allclose(np.asarray(g, np.float64)[exact], rounded[exact], rtol=eps, atol=0)
    def err(a):
        return np.max(np.abs(np.asarray(a, np.float64) - ref)) / np.max(np.abs(ref))
    assert testing.no_worse(err(g), err(g_ad), dtype), (err(g), err(g_ad))
