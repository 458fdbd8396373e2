"""Running on many devices and hosts, on JAX's own sharding and distributed runtime.

``fit`` lays every train step out on a :class:`jax.sharding.Mesh` with axes ``("data",
"model")``: the batch is split along ``data``; params and optimizer state are replicated (or, with
``model_parallel > 1``, conv and dense kernels are split along their output channels on
``model``); XLA inserts the gradient all-reduce. The hand-written rules are ordinary JAX
functions to the SPMD partitioner, so they run sharded unchanged.

Multi-host: call :func:`initialize` (``jaxconv train --coordinator HOST:PORT --num-processes P
--process-id I``, or ``--distributed`` to let JAX read SLURM / Open MPI / TPU-pod environment
variables) before anything else touches JAX. Every process then builds the same global batch
order from the seed and puts only its own rows on its own devices
(:func:`put_batch`); only process 0 writes logs and checkpoints.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
    """``jax.distributed.initialize``: explicit arguments, or none to read the environment."""
    if coordinator is None and num_processes is None and process_id is None:
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(coordinator, num_processes, process_id)


def is_main() -> bool:
    """Whether this is process 0, the one that logs and writes files."""
    return jax.process_index() == 0


class Layout(NamedTuple):
    mesh: Mesh
    batch: NamedSharding          # (B, ...) split along "data"
    replicated: NamedSharding
    rows: slice                   # this process's rows of every global batch

    @property
    def data_parallel(self) -> int:
        return self.mesh.shape["data"]

    @property
    def model_parallel(self) -> int:
        return self.mesh.shape["model"]


def make_layout(batch_size: int, devices: int | None = None, model_parallel: int = 1,
                feature_shape=()) -> Layout:
    """The mesh of the first ``devices`` devices (all by default), ``model_parallel`` of them per
    model replica, and this process's share of a batch of ``batch_size`` rows."""
    available = jax.devices()
    n = len(available) if devices is None else devices
    if not isinstance(n, int) or not 1 <= n <= len(available):
        raise ValueError(f"jaxconv.distributed: `devices` (={devices!r}) must be between 1 and "
                         f"the {len(available)} visible devices.")
    if not isinstance(model_parallel, int) or model_parallel < 1 or n % model_parallel:
        raise ValueError(f"jaxconv.distributed: `model_parallel` (={model_parallel!r}) must "
                         f"divide the device count ({n}).")
    data = n // model_parallel
    if batch_size % data:
        raise ValueError(f"jaxconv.distributed: the global batch ({batch_size}) must divide by "
                         f"the {data} data-parallel devices; use a batch size that is a "
                         f"multiple of {data}, or --devices to use fewer devices.")
    chosen = available[:n]
    if jax.process_count() > 1 and n != len(available):
        raise ValueError("jaxconv.distributed: with several processes every device is used; "
                         "drop `devices`.")
    mesh = Mesh(np.array(chosen).reshape(data, model_parallel), ("data", "model"))
    batch = NamedSharding(mesh, P("data"))
    shape = (batch_size,) + tuple(feature_shape)
    spans = [idx[0] for idx in batch.addressable_devices_indices_map(shape).values()]
    start = min(s.start or 0 for s in spans)
    stop = max(batch_size if s.stop is None else s.stop for s in spans)
    return Layout(mesh, batch, NamedSharding(mesh, P()), slice(start, stop))


def param_sharding(path, leaf, layout: Layout) -> NamedSharding:
    """Kernels split along their output channels on ``model`` (conv ``w``: axis 0, dense ``w``:
    axis 1, biases: axis 0) when ``model_parallel > 1`` and the size divides; else replicated.
    Optimizer moments share their param's path suffix and so its layout."""
    m = layout.model_parallel
    keys = [str(getattr(k, "key", getattr(k, "name", k))) for k in path]
    if m == 1 or len(keys) < 2 or not hasattr(leaf, "shape"):
        return layout.replicated
    layer, name = keys[-2], keys[-1]
    axis = {("conv", "w"): 0, ("conv", "b"): 0, ("dense", "w"): 1,
            ("dense", "b"): 0}.get((layer.rstrip("0123456789"), name))
    if axis is None or leaf.ndim <= axis or leaf.shape[axis] % m:
        return layout.replicated
    spec = [None] * leaf.ndim
    spec[axis] = "model"
    return NamedSharding(layout.mesh, P(*spec))


def state_shardings(state, layout: Layout):
    """The sharding of each leaf of a train state (params, optimizer state) on ``layout``'s
    mesh: conv/dense kernels split by output channel along ``model`` when it has more than
    one device, everything else replicated."""
    return jax.tree_util.tree_map_with_path(lambda p, v: param_sharding(p, v, layout), state)


def put(tree, shardings):
    """Host values (the same on every process) onto the mesh with the given shardings."""
    def one(value, sharding):
        if jax.dtypes.issubdtype(getattr(value, "dtype", None), jax.dtypes.prng_key):
            data = np.asarray(jax.random.key_data(value))
            return jax.random.wrap_key_data(one(data, sharding), impl=jax.random.key_impl(value))
        value = np.asarray(value)
        return jax.make_array_from_callback(value.shape, sharding, lambda idx: value[idx])
    return jax.tree_util.tree_map(one, tree, shardings)


def put_batch(rows, layout: Layout):
    """This process's rows of a global batch (``layout.rows`` of it) onto its devices."""
    return jax.make_array_from_process_local_data(layout.batch, np.asarray(rows))


def fetch(tree, layout: Layout):
    """A state gathered to host NumPy arrays on every process (replicating sharded leaves)."""
    whole = jax.jit(lambda t: t, out_shardings=layout.replicated)(tree)
    return jax.tree_util.tree_map(
        lambda v: v if jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key) else np.asarray(v),
        whole)
