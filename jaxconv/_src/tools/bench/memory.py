"""Memory of a train step: the residuals ``jax.vjp`` keeps, and XLA's temp allocation."""

from __future__ import annotations

import numpy as np


def residual_bytes(model_name, input_shape, batch, ops) -> int:
    """Bytes of the arrays ``jax.vjp`` keeps between a train step's forward and backward."""
    import jax
    import jax.numpy as jnp

    from jaxconv._src.nn import models
    from jaxconv._src.training import fit as train
    model = models.get(model_name)
    state = train.init_state(model, train.make_optimizer("sgd", 0.1), input_shape, seed=0)
    x = jnp.zeros((batch,) + input_shape, jnp.float32)
    y = jnp.zeros((batch,), jnp.int32)
    loss = train.loss_fn(model, ops)
    _, vjp = jax.vjp(lambda p: loss(p, x, y, jax.random.key(1), state.model_state)[0],
                     state.params)
    return sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(vjp))


def step_temp_bytes(model_name, input_shape, batch, ops) -> int | None:
    """XLA's temp allocation for one compiled train step (its peak working memory)."""
    import jax

    from jaxconv._src.nn import models
    from jaxconv._src.training import fit as train
    model = models.get(model_name)
    opt = train.make_optimizer("adam", 1e-3)
    state = train.init_state(model, opt, input_shape, seed=0)
    x = np.zeros((batch,) + input_shape, np.float32)
    y = np.zeros((batch,), np.int32)
    compiled = jax.jit(train.make_train_step(model, opt, ops)).lower(state, x, y).compile()
    analysis = compiled.memory_analysis()
    return None if analysis is None else int(analysis.temp_size_in_bytes)
