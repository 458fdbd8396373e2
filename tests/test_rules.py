"""Every hand-written rule, on the grid of configurations, verified three ways:

1. equal to ``jax.vjp`` of :mod:`jaxconv.autodiff` (the plain lax forward) in float64, 1e-12 relative;
2. equal to the loop-level oracle :mod:`jaxconv.textbook`;
3. equal to finite differences, to second order (``check_grads(order=2, modes=["rev"])``'s
   checks, each level compiled once: ``jaxconv.testing.check_grads_rev``);

and unchanged under ``jit`` (against op-by-op execution) and under ``vmap`` (per-example
gradients). The comparisons are :mod:`jaxconv.testing`'s, the harness users check their own
rules with.
"""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv._src.tools import grid as _grid
from jaxconv._src.tools.lowering import forced_ops
from jaxconv.testing import assert_trees_close

from helpers import assert_rel_close, check_grads_rev, compiled_vjp

CASES = [pytest.param(c, id=c.id) for op in _grid.OPS for c in _grid.cases(op)]
EXHAUSTIVE = [c for op in _grid.OPS if _grid.cases(op, exhaustive=True) != _grid.cases(op)
              for c in _grid.cases(op, exhaustive=True)]     # the ops with a full product
_COMPILED = {}


def _compiled(case, ops):
    """``compiled_vjp(case.fn(ops))``, built once per case (and process) for jaxconv and
    jaxconv.autodiff: the tests of a case that run in one worker share it."""
    if ops is not jc and ops is not jc.autodiff:     # a forced lowering: its own function
        return compiled_vjp(case.fn(ops))
    key = (case.id, ops.__name__)
    if key not in _COMPILED:
        _COMPILED[key] = compiled_vjp(case.fn(ops))
    return _COMPILED[key]


def _vjps(case, ops, inputs, ct, jit=True):
    if jit:
        return _compiled(case, ops)(tuple(inputs), ct)
    out, vjp = jax.vjp(case.fn(ops), *inputs)
    return out, vjp(ct)


def _cotangent(case, inputs, seed=7):
    shape = jax.eval_shape(case.fn(jc), *inputs).shape
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape))


def _check_against_autodiff(case, ops=jc):
    inputs = [jnp.asarray(a) for a in case.inputs()]
    ct = _cotangent(case, inputs)
    out, grads = _vjps(case, ops, inputs, ct)
    out_ad, grads_ad = _vjps(case, jc.autodiff, inputs, ct)
    assert_rel_close(out, out_ad, what="forward")
    assert len(grads) == len(grads_ad) == len(inputs)
    assert_trees_close(grads, grads_ad, what="d/d input vs autodiff")
    return inputs, ct, out, grads


@pytest.mark.parametrize("case", CASES)
def test_vjp_equals_autodiff_and_textbook(case):
    """Under jit, equal to jax.vjp through jaxconv.autodiff and to the textbook loops."""
    inputs, ct, out, grads = _check_against_autodiff(case)
    expected = _grid.textbook(case, [np.asarray(a) for a in inputs], np.asarray(ct))
    if expected is not None:        # probability labels: the oracle has no label gradient
        for i, (g, e) in enumerate(zip(grads, expected)):
            assert_rel_close(g, e, what=f"d/d input {i} vs textbook")


def _rotation(every, start=0):
    """Every case of every op; by default only every ``every``-th case (from ``start``) of each
    op's cases of one rank runs (at least one per op and rank), and ``--slow`` runs them all.
    For the checks that cost the most per case."""
    params = []
    for op in _grid.OPS:
        cases = _grid.cases(op)
        count = collections.Counter(len(c.shapes[0]) for c in cases)
        seen = collections.Counter()
        for case in cases:
            rank = len(case.shapes[0])
            j = seen[rank]
            seen[rank] += 1
            last = j == count[rank] - 1
            chosen = j % every == start % every or (last and j < start % every)
            marks = () if chosen else (pytest.mark.slow,)
            params.append(pytest.param(case, id=case.id, marks=marks))
    return params


# op by op (no jit) compiles each primitive apart, the most expensive way to run a case
@pytest.mark.parametrize("case", _rotation(4))
def test_eager_equals_jit(case):
    """The rules run op by op (no jit) give the jitted values and gradients."""
    inputs = [jnp.asarray(a) for a in case.inputs()]
    ct = _cotangent(case, inputs)
    out, grads = _vjps(case, jc, inputs, ct)
    out_e, grads_e = _vjps(case, jc, inputs, ct, jit=False)
    assert_rel_close(out_e, out, rtol=1e-14, what="eager forward")
    assert_trees_close(grads_e, grads, rtol=1e-14, what="eager gradient")


@pytest.mark.slow
@pytest.mark.parametrize("case", EXHAUSTIVE, ids=lambda c: c.id)
def test_vjp_equals_autodiff_exhaustive(case):
    _check_against_autodiff(case)


@pytest.mark.parametrize("every,start", [(4, 0), (3, 1), (3, 2)])
def test_each_rotation_meets_every_op_and_rank(every, start):
    """The default tier of a rotated test still runs each op on each of its ranks."""
    picked = {(p.values[0].op, len(p.values[0].shapes[0])) for p in _rotation(every, start)
              if not p.marks}
    everything = {(c.op, len(c.shapes[0])) for op in _grid.OPS for c in _grid.cases(op)}
    assert picked == everything, sorted(everything - picked)


@pytest.mark.parametrize("case", _rotation(3, start=1))
def test_finite_differences_to_second_order(case):
    inputs = [jnp.asarray(a) for a in case.inputs()]
    check_grads_rev(case.fn(jc), inputs, order=2, vjp=_compiled(case, jc))


@pytest.mark.parametrize("case", _rotation(3, start=2))
def test_vmap_per_example_gradients(case):
    """``vmap(grad(f))`` over a stack of 3 input sets equals the 3 gradients taken one by one."""
    stacks = [case.inputs(seed=s) for s in range(3)]
    batched = [jnp.asarray(np.stack(parts)) for parts in zip(*stacks)]
    ct = _cotangent(case, [jnp.asarray(a) for a in stacks[0]])
    f = case.fn(jc)
    grad = jax.grad(lambda *a: jnp.sum(f(*a) * ct), argnums=tuple(range(len(batched))))
    per_example = jax.jit(jax.vmap(grad))(*batched)
    for k, parts in enumerate(stacks):             # one by one: the case's compiled VJP
        _, one_by_one = _compiled(case, jc)(tuple(jnp.asarray(a) for a in parts), ct)
        assert_trees_close(tuple(g[k] for g in per_example), one_by_one,
                           what=f"vmap example {k}")


CONV_LOWERINGS = [
    dict(conv_forward="lax", conv_input_grad="lax", conv_weight_grad="lax"),
    dict(conv_forward="taps", conv_input_grad="col2im", conv_weight_grad="gemm"),
    dict(conv_weight_grad="taps"),
    dict(conv_forward="depth", conv_input_grad="depth", conv_weight_grad="depth"),
]


def _lowering_params():
    """Every (case, lowering) pair of the conv and conv_transpose grids (the ``depth`` methods
    on 2-D and 3-D cases); by default each case runs one lowering in turn (every lowering meets
    a share of each grid, all ranks it applies to), ``--slow`` runs them all."""
    params = []
    for op in ("conv", "conv_transpose"):
        for i, case in enumerate(_grid.cases(op)):
            rank = len(case.shapes[0]) - 2
            lowerings = [m for m in CONV_LOWERINGS if rank >= 2 or "depth" not in m.values()]
            for methods in lowerings:
                marks = () if methods is lowerings[i % len(lowerings)] else (pytest.mark.slow,)
                params.append(pytest.param(case, methods, marks=marks,
                                           id=f"{case.id}-{'-'.join(methods.values())}"))
    return params


@pytest.mark.parametrize("case,methods", _lowering_params())
def test_every_conv_lowering_equals_autodiff_and_textbook(case, methods):
    """Each way the lowering module can lower the conv rule computes the same formula: equal to
    autodiff of the plain lax forward and to the textbook loops."""
    inputs, ct, out, grads = _check_against_autodiff(case, forced_ops(**methods))
    expected = _grid.textbook(case, [np.asarray(a) for a in inputs], np.asarray(ct))
    for i, (g, e) in enumerate(zip(grads, expected)):
        assert_rel_close(g, e, what=f"d/d input {i} vs textbook")


def test_depth_lowering_needs_two_spatial_axes():
    x, w = jnp.ones((1, 2, 5)), jnp.ones((3, 2, 2))
    with pytest.raises(ValueError, match=r"conv_forward='depth' splits the first spatial axis"
                                         r".*1-D \(x.shape=\(1, 2, 5\)\); force 'lax'"):
        forced_ops(conv_forward="depth").conv(x, w)


@pytest.mark.parametrize("methods", CONV_LOWERINGS, ids=lambda m: "-".join(m.values()))
def test_every_conv_lowering_takes_an_empty_batch(methods):
    """N = 0 through each forced lowering, 2-D and 3-D, conv and conv_transpose: empty outputs
    and zero weight gradients of the right shapes."""
    ops = forced_ops(**methods)
    for xs, ws in [((0, 4, 6, 5), (3, 4, 3, 2)), ((0, 4, 5, 4, 6), (3, 4, 2, 3, 2))]:
        x, w = jnp.ones(xs), jnp.ones(ws)
        for op, w_ in (("conv", w), ("conv_transpose", jnp.swapaxes(w, 0, 1))):
            fn = getattr(ops, op)
            y, (dx, dw) = jax.value_and_grad(lambda a, b, fn=fn: fn(a, b).sum(), (0, 1))(x, w_)
            assert float(y) == 0 and dx.shape == xs and dw.shape == w_.shape
            assert not np.any(np.asarray(dw))


def test_forced_lowering_rejects_unknown_methods():
    with pytest.raises(ValueError, match="unknown conv_forward='fft'"):
        forced_ops(conv_forward="fft")


def test_forced_lowering_is_part_of_the_traced_function():
    """A jitted function keeps the lowering it was built with: forcing another one later gives
    another function (and another trace), never the stale one (the choice is config data)."""
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 3, 7, 7)))
    w = jnp.asarray(np.random.default_rng(1).standard_normal((4, 3, 3, 3)))
    hlo = {}
    for method in ("lax", "taps"):
        ops = forced_ops(conv_forward=method)
        hlo[method] = jax.jit(lambda x, w, ops=ops: ops.conv(x, w)).lower(x, w).as_text()
    assert hlo["lax"].count("convolution") >= 1
    assert "convolution" not in hlo["taps"]


@pytest.mark.parametrize("case", _grid.cases("interpolate"), ids=lambda c: c.id)
def test_interpolate_by_gathers_equals_autodiff_and_textbook(case):
    """The gather lowering of interpolate (the default off CPU and for large axes; small CPU
    axes use the weight matrix) computes the same formulas as the matrix form and the loops."""
    inputs, ct, out, grads = _check_against_autodiff(case, forced_ops(interpolate="gather"))
    expected = _grid.textbook(case, [np.asarray(a) for a in inputs], np.asarray(ct))
    assert_rel_close(grads[0], expected[0], what="d/dx vs textbook")


@pytest.mark.parametrize("x_shape,w_shape,kw,expected", [
    ((8, 16, 16, 16, 16), (16, 16, 3, 3, 3), dict(padding=1), ("depth", "depth", "depth")),
    ((8, 16, 16, 16, 16), (32, 16, 3, 3, 3), dict(stride=2, padding=1),
     ("depth", "col2im", "depth")),
    ((8, 1, 16, 16, 16), (16, 1, 3, 3, 3), dict(padding=1), ("taps", "col2im", "depth")),
    ((64, 64, 32, 32), (64, 1, 3, 3), dict(padding=1, groups=64), ("taps", "col2im", "taps")),
    ((64, 12, 16, 16), (12, 12, 7, 7), dict(padding=3), ("lax", "lax", "lax")),
    ((32, 3, 64, 64), (64, 3, 7, 7), dict(stride=2, padding=3), ("lax", "col2im", "lax")),
    ((64, 64, 32, 32), (64, 64, 3, 3), dict(padding=1), ("lax", "lax", "lax")),
], ids=["3d", "3d-strided", "3d-first", "depthwise", "7x7", "7x7-stem", "dense-2d"])
def test_the_cpu_lowering_choices(x_shape, w_shape, kw, expected):
    """The measured choices of ``core/lowering.py`` (its docstring gives the numbers) for the
    CPU backend, pinned so a change to them is deliberate."""
    from jaxconv._src.core import lowering
    from jaxconv._src.ops import conv as conv_op
    cfg = conv_op.conv_config(jnp.zeros(x_shape), jnp.zeros(w_shape), None, kw.get("stride", 1),
                              kw.get("padding", 0), 1, kw.get("groups", 1), False)
    assert tuple(lowering._conv_default(x_shape, w_shape, cfg.window, kw.get("groups", 1),
                                        "float32", "cpu")) == expected
    assert tuple(lowering._conv_default(x_shape, w_shape, cfg.window, 1, "float32",
                                        "gpu")) == ("lax", "lax", "lax")
