"""16-bit inputs: every op returns the input dtype, gives gradients in each input's dtype, and
(accumulating in float32 inside) is no less accurate against the float64 gradient than
``jax.grad`` through :mod:`jaxconv.autodiff` at the same dtype, by ``jaxconv check``'s criterion.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv._src.tools import check
from jaxconv._src.tools import grid as _grid

# the first and the last configuration of every op's grid (ranks and options differ)
CASES = [c for op in _grid.OPS for c in {id(x): x for x in (_grid.cases(op)[0],
                                                            _grid.cases(op)[-1])}.values()]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_16_bit_dtypes_round_trip_and_are_no_less_accurate_than_autodiff(case, dtype):
    inputs = [jnp.asarray(a, dtype) for a in case.inputs(np.float64)]
    out, vjp = jax.vjp(case.fn(jc), *inputs)
    assert out.dtype == jnp.dtype(dtype)
    for g, a in zip(vjp(jnp.ones_like(out)), inputs):
        assert g.shape == a.shape and g.dtype == a.dtype
    errs = check.check_case(case, dtype, np.random.default_rng(0))
    ours, autodiff = errs.ref_ours, errs.ref_autodiff
    assert ours <= 1.5 * autodiff + float(jnp.finfo(dtype).eps) / 8, (ours, autodiff)


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
