"""Every op composes with JAX's transformations: ``jax.checkpoint`` (remat), ``lax.scan``,
``vmap(grad) == grad(vmap)``; and the symbolic-zero rules skip gradients nobody asked for."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc
from jaxconv._src.tools import grid as _grid
from jaxconv._src.tools.lowering import forced_ops

from helpers import assert_rel_close as _close

FIRST = [_grid.cases(op)[0] for op in _grid.OPS]


def _loss(case):
    f = case.fn(jc)

    def loss(*a):
        out = f(*a)
        return jnp.sum(out * jnp.cos(jnp.arange(out.size, dtype=out.dtype).reshape(out.shape)))
    return loss


@pytest.mark.parametrize("case", FIRST, ids=lambda c: c.op)
def test_under_checkpoint(case):
    inputs = [jnp.asarray(a) for a in case.inputs()]
    argnums = tuple(range(len(inputs)))
    plain = jax.grad(_loss(case), argnums)(*inputs)
    remat = jax.jit(jax.grad(jax.checkpoint(_loss(case)), argnums))(*inputs)
    for a, b in zip(remat, plain):
        _close(a, b)


@pytest.mark.parametrize("case", FIRST, ids=lambda c: c.op)
def test_inside_scan(case):
    """Three steps of a scan, each applying the op to a scaled copy of the inputs."""
    inputs = [jnp.asarray(a) for a in case.inputs()]
    loss = _loss(case)

    def scanned(*a):
        def body(carry, scale):
            return carry + loss(*[v * scale for v in a]), None
        return jax.lax.scan(body, jnp.zeros(()), jnp.array([1.0, 0.5, 2.0]))[0]

    def unrolled(*a):
        return sum(loss(*[v * s for v in a]) for s in (1.0, 0.5, 2.0))

    argnums = tuple(range(len(inputs)))
    for a, b in zip(jax.jit(jax.grad(scanned, argnums))(*inputs),
                    jax.grad(unrolled, argnums)(*inputs)):
        _close(a, b)


@pytest.mark.parametrize("case", FIRST, ids=lambda c: c.op)
def test_vmap_of_grad_equals_grad_of_vmap(case):
    """For a loss that sums over a batch of input sets, the gradient of the vmapped loss equals
    the vmapped gradients (summed where the inputs are shared)."""
    stacks = [case.inputs(seed=s) for s in range(3)]
    batched = [jnp.asarray(np.stack(parts)) for parts in zip(*stacks)]
    loss = _loss(case)
    argnums = tuple(range(len(batched)))
    vmap_of_grad = jax.jit(jax.vmap(jax.grad(loss, argnums)))(*batched)
    grad_of_vmap = jax.jit(jax.grad(lambda *a: jnp.sum(jax.vmap(loss)(*a)), argnums))(*batched)
    for a, b in zip(vmap_of_grad, grad_of_vmap):
        _close(a, b)


def _count(fn, *args, prim="conv_general_dilated"):
    return str(jax.make_jaxpr(fn)(*args)).count(prim)


def test_symbolic_zeros_skip_the_unrequested_conv_gradients():
    """With lax lowering, a conv's grad w.r.t. w alone has two convolutions (forward, weight
    gradient), w.r.t. x alone two (forward, input gradient), both three: the input gradient of
    a first layer is never computed, nor its input saved for it."""
    x = jnp.ones((2, 3, 8, 8))
    w = jnp.ones((4, 3, 3, 3))
    b = jnp.zeros(4)

    ops = forced_ops(conv_forward="lax", conv_input_grad="lax", conv_weight_grad="lax")

    def loss(x, w, b):
        return jnp.sum(ops.conv(x, w, b, padding=1) ** 2)

    assert _count(jax.grad(loss, 1), x, w, b) == 2
    assert _count(jax.grad(loss, 0), x, w, b) == 2
    assert _count(jax.grad(loss, (0, 1)), x, w, b) == 3
    _, vjp = jax.vjp(lambda w: jc.conv(x, w, b, padding=1), w)
    saved = [leaf.shape for leaf in jax.tree_util.tree_leaves(vjp)]
    assert (2, 3, 8, 8) in saved and (4, 3, 3, 3) not in saved   # x for dw; no w (no dx asked)


def test_symbolic_zeros_skip_the_unrequested_dense_gradients():
    x, w = jnp.ones((5, 4)), jnp.ones((4, 3))
    assert _count(jax.grad(lambda w: jc.dense(x, w).sum()), w, prim="dot_general") == 2
    assert _count(jax.grad(lambda w, x: jc.dense(x, w).sum(), (0, 1)), w, x,
                  prim="dot_general") == 3
