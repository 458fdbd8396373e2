"""Subprocess body for the multi-device tests (run with XLA_FLAGS already set).

    python _dist_worker.py step   OUT.npz DEVICES OPS [MODEL_PARALLEL]
                                                         one train step on DEVICES devices
    python _dist_worker.py fit    OUT.npz DEVICES [COORD NPROC PID]
                                                         a short fit, optionally multi-process
    python _dist_worker.py bn     OUT.npz DEVICES OPS    synchronised batch norm in shard_map,
                                                         and one resnet8 train step
"""

import sys

import numpy as np


def main(argv):
    mode, out = argv[0], argv[1]
    if mode == "fit" and len(argv) > 3:
        from jaxconv import distributed
        distributed.initialize(argv[3], int(argv[4]), int(argv[5]))
    import jax

    import jaxconv
    from jaxconv import data, distributed, models, train
    ds = data.synthetic(128, 64, (1, 16), 3, seed=1)
    model = models.cnn1d(num_classes=3, channels=24)   # even: kernels split on 2 devices
    devices = int(argv[2])
    if mode == "bn":
        return _batch_norm(out, devices, jaxconv if argv[3] == "vjp" else jaxconv.autodiff)
    if mode == "step":
        ops = jaxconv if argv[3] == "vjp" else jaxconv.autodiff
        opt = train.make_optimizer("sgd", 0.05)
        mp = int(argv[4]) if len(argv) > 4 else 1
        layout = distributed.make_layout(32, devices, mp, ds.input_shape)
        state = train.init_state(model, opt, ds.input_shape, seed=3)
        shardings = distributed.state_shardings(state, layout)
        state = distributed.put(state, shardings)
        x, y = distributed.put_batch(ds.x_train[:32], layout), distributed.put_batch(
            ds.y_train[:32], layout)
        compiled = train.compile_step(train.make_train_step(model, opt, ops), state, x, y, {},
                                      (shardings, layout.batch, layout.replicated))
        hlo = compiled.as_text()
        state, loss = compiled(state, x, y)
        params = distributed.fetch(state.params, layout)
        flat = {jax.tree_util.keystr(k): np.asarray(v)
                for k, v in jax.tree_util.tree_flatten_with_path(params)[0]}
        sharded = sum(not s.is_fully_replicated for s in jax.tree_util.tree_leaves(shardings))
        np.savez(out, loss=np.asarray(loss), all_gathers=hlo.count("all-gather"),
                 sharded_leaves=sharded,
                 all_reduces=hlo.count("all-reduce"), devices=jax.device_count(), **flat)
        return 0
    params, hist = train.fit(model, ds, epochs=2, batch_size=32, optimizer="sgd", lr=0.05,
                             seed=3, log=None, devices=None if devices == 0 else devices)
    if jax.process_index() == 0:
        flat = {jax.tree_util.keystr(k): np.asarray(v)
                for k, v in jax.tree_util.tree_flatten_with_path(params)[0]}
        np.savez(out, loss=np.array([h["train_loss"] for h in hist]),
                 processes=jax.process_count(), devices=jax.device_count(), **flat)
    if len(argv) > 3:
        jax.distributed.shutdown()
    return 0


def _batch_norm(out, devices, ops):
    """``batch_norm(axis_name="data")`` in a ``shard_map`` over ``devices`` devices (values, new
    statistics, all gradients), and a stateful model's train step laid out by ``fit``'s mesh."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh
    from jax.sharding import PartitionSpec as P

    from jaxconv import data, distributed, models, train
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((8, 3, 4, 4)), jnp.float32)
    ct = jnp.asarray(rng.standard_normal(x.shape), jnp.float32)
    scale, bias = jnp.asarray(rng.standard_normal(3), jnp.float32), jnp.zeros(3, jnp.float32)
    mean, var = jnp.zeros(3, jnp.float32), jnp.ones(3, jnp.float32)

    def local(x, ct, scale, bias):
        def loss(x, scale, bias):
            y, m, v = ops.batch_norm(x, scale, bias, mean, var, training=True,
                                     axis_name="data")
            return jnp.sum(y * ct), (y, m, v)
        (_, (y, m, v)), (gx, gs, gb) = jax.value_and_grad(loss, (0, 1, 2), has_aux=True)(
            x, scale, bias)
        return y, m, v, gx, gs, gb      # replicated inputs: shard_map sums their gradients

    mesh = Mesh(np.array(jax.devices()[:devices]), ("data",))
    sharded = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P("data"), P("data"), P(), P()),
                                    out_specs=(P("data"), P(), P(), P("data"), P(), P())))
    y, m, v, gx, gs, gb = sharded(x, ct, scale, bias)

    ds = data.synthetic(64, 32, (1, 8, 8), 3, seed=1)
    model = models.resnet(8, num_classes=3, widths=(4, 8, 8))
    opt = train.make_optimizer("sgd", 0.05)
    layout = distributed.make_layout(32, devices, 1, ds.input_shape)
    state = train.init_state(model, opt, ds.input_shape, seed=3)
    shardings = distributed.state_shardings(state, layout)
    state = distributed.put(state, shardings)
    xb, yb = (distributed.put_batch(a[:32], layout) for a in (ds.x_train, ds.y_train))
    compiled = train.compile_step(train.make_train_step(model, opt, ops), state, xb, yb, {},
                                  (shardings, layout.batch, layout.replicated))
    state, loss = compiled(state, xb, yb)
    host = distributed.fetch((state.params, state.model_state), layout)
    flat = {jax.tree_util.keystr(k): np.asarray(val)
            for k, val in jax.tree_util.tree_flatten_with_path(host)[0]}
    np.savez(out, y=y, mean=m, var=v, gx=gx, gscale=gs, gbias=gb, loss=np.asarray(loss),
             devices=devices, **flat)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
