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
    """``jax.distributed.initialize``: explicit arguments, or none to read the environment.

    Call it in every process, before anything else touches JAX.

    Args:
      coordinator: ``"host:port"`` of the coordination service process 0 starts.
      num_processes: the number of processes.
      process_id: this process's index, in ``[0, num_processes)``.

    Example:
      On process 0 of two (skipped here: it would wait for the other process):

      >>> from jaxconv import distributed
      >>> distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=0)  # doctest: +SKIP
      >>> distributed.is_main()
      True
    """
    if coordinator is None and num_processes is None and process_id is None:
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(coordinator, num_processes, process_id)


def is_main() -> bool:
    """Whether this is process 0, the one that logs and writes files.

    Example:
      >>> is_main()                                     # a single process is process 0
      True
    """
    return jax.process_index() == 0


class Layout(NamedTuple):
    """Where a train step runs, from :func:`make_layout`.

    Attributes:
      mesh: the :class:`jax.sharding.Mesh`, axes ``("data", "model")``.
      batch: the sharding of a ``(B, ...)`` batch, split along ``data``.
      replicated: the sharding of a value every device holds whole.
      rows: this process's rows of every global batch.

    ``data_parallel`` and ``model_parallel`` are the mesh's sizes along its two axes.

    Example:
      >>> layout = make_layout(8, devices=1)
      >>> layout.data_parallel, layout.model_parallel, layout.rows
      (1, 1, slice(0, 8, None))
    """
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
    model replica, and this process's share of a batch of ``batch_size`` rows.

    Args:
      batch_size: the global batch; must divide by the number of data-parallel devices.
      devices: how many of :func:`jax.devices` to use; None: all of them.
      model_parallel: the devices per model replica; must divide ``devices``.
      feature_shape: the shape of one example (without the batch axis).

    Returns:
      A :class:`Layout`.

    Example:
      >>> layout = make_layout(8, devices=1, feature_shape=(1, 28, 28))
      >>> layout.mesh.axis_names, layout.batch.spec == P("data"), layout.rows
      (('data', 'model'), True, slice(0, 8, None))
    """
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
    Optimizer moments share their param's path suffix and so its layout.

    Args:
      path: the leaf's key path in the state pytree (as :func:`jax.tree_util.tree_map_with_path`
        gives it), ending in the layer's name (``conv0``, ``dense3``) and the param's.
      leaf: the array.
      layout: from :func:`make_layout`.

    Returns:
      A :class:`jax.sharding.NamedSharding` on ``layout.mesh``.

    Example:
      >>> layout = make_layout(8, devices=1)            # model_parallel=1: nothing is split
      >>> path = (jax.tree_util.DictKey("conv0"), jax.tree_util.DictKey("w"))
      >>> param_sharding(path, np.zeros((4, 1, 3, 3)), layout) == layout.replicated
      True
    """
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
    one device, everything else replicated.

    Args:
      state: a pytree of arrays (params, optimizer state, ...).
      layout: from :func:`make_layout`.

    Returns:
      A pytree of :class:`jax.sharding.NamedSharding` of the structure of ``state``.

    Example:
      >>> layout = make_layout(8, devices=1)
      >>> state = {"params": {"conv0": {"w": np.zeros((4, 1, 3, 3)), "b": np.zeros(4)}}}
      >>> shardings = state_shardings(state, layout)
      >>> shardings["params"]["conv0"]["w"] == layout.replicated
      True
    """
    return jax.tree_util.tree_map_with_path(lambda p, v: param_sharding(p, v, layout), state)


def put(tree, shardings):
    """Host values (the same on every process) onto the mesh with the given shardings.

    Args:
      tree: a pytree of host arrays and PRNG keys.
      shardings: a pytree of the same structure holding one sharding per leaf
        (:func:`state_shardings`).

    Returns:
      ``tree`` as global :class:`jax.Array` values, PRNG keys staying keys.

    Example:
      >>> layout = make_layout(8, devices=1)
      >>> state = {"w": np.ones((2, 3), np.float32)}
      >>> placed = put(state, state_shardings(state, layout))
      >>> placed["w"].shape, placed["w"].sharding == layout.replicated
      ((2, 3), True)
    """
    def one(value, sharding):
        if jax.dtypes.issubdtype(getattr(value, "dtype", None), jax.dtypes.prng_key):
            data = np.asarray(jax.random.key_data(value))
            return jax.random.wrap_key_data(one(data, sharding), impl=jax.random.key_impl(value))
        value = np.asarray(value)
        return jax.make_array_from_callback(value.shape, sharding, lambda idx: value[idx])
    return jax.tree_util.tree_map(one, tree, shardings)


def put_batch(rows, layout: Layout):
    """This process's rows of a global batch (``layout.rows`` of it) onto its devices.

    Args:
      rows: ``global_batch[layout.rows]``, a host array.
      layout: from :func:`make_layout`.

    Returns:
      The global batch, a :class:`jax.Array` sharded by ``layout.batch``.

    Example:
      >>> layout = make_layout(8, devices=1)
      >>> global_batch = np.arange(16, dtype=np.float32).reshape(8, 2)
      >>> batch = put_batch(global_batch[layout.rows], layout)
      >>> batch.shape, batch.sharding == layout.batch
      ((8, 2), True)
    """
    return jax.make_array_from_process_local_data(layout.batch, np.asarray(rows))


def fetch(tree, layout: Layout):
    """A state gathered to host NumPy arrays on every process (replicating sharded leaves).

    Args:
      tree: a pytree of global :class:`jax.Array` values (PRNG keys are kept as keys).
      layout: from :func:`make_layout`.

    Returns:
      ``tree`` with NumPy arrays for its leaves.

    Example:
      >>> layout = make_layout(4, devices=1)
      >>> out = fetch({"x": put_batch(np.arange(4, dtype=np.int32), layout)}, layout)
      >>> type(out["x"]).__name__, out["x"].tolist()
      ('ndarray', [0, 1, 2, 3])
    """
    whole = jax.jit(lambda t: t, out_shardings=layout.replicated)(tree)
    return jax.tree_util.tree_map(
        lambda v: v if jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key) else np.asarray(v),
        whole)
