"""Training: a jitted ``train_step`` (value_and_grad -> optax update), evaluation, and ``fit``.

::

    from jaxconv import data, models, train
    ds = data.load("mnist1d")
    params, history = train.fit(models.cnn1d(), ds, epochs=150, batch_size=100, lr=1e-2)

``fit`` shuffles every epoch with a permutation drawn from ``(seed, epoch)`` (the last partial
batch is dropped so every step has the same shape), evaluates on the test split after each epoch,
and, with ``out_dir``, appends one JSON line per epoch to ``metrics.jsonl``, saves
``checkpoint.npz`` (params, optimizer state, model state, step, PRNG key; see
:mod:`jaxconv.checkpoint`) and finally writes ``summary.json``. ``resume=True`` continues from
that checkpoint and ends with the same params (and model state) as an uninterrupted run: every
random choice is a function of the seed and the step.

Non-finite values: a step whose loss or gradient is not finite never updates the params. With
``on_nonfinite="stop"`` (default) ``fit`` raises :class:`NonFiniteError` naming the step at the end
of that epoch, keeping the last good checkpoint; with ``"skip"`` it drops those steps, counts them,
and goes on.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxconv
from jaxconv._src.core import args as _args
from jaxconv._src.core.compile import compiler_options
from jaxconv._src.nn.models import Model, param_count
from jaxconv._src.training import checkpoint as ckpt
from jaxconv._src.training import distributed as dist
from jaxconv._src.training import precision as _precision
from jaxconv._src.training.data import Dataset

#: The optimizer names :func:`jaxconv.train.make_optimizer` and ``fit`` take.
OPTIMIZERS = ("sgd", "adam", "adamw")
#: The learning-rate schedules :func:`jaxconv.train.make_optimizer` and ``fit`` take.
SCHEDULES = ("constant", "cosine", "warmup_cosine", "multistep")
#: What :func:`jaxconv.train.make_optimizer`'s ``weight_decay_mask`` takes: decay ``"all"``
#: params, or only the ``"kernels"`` (leaves of two or more axes: not biases, not norm
#: scales and offsets).
WEIGHT_DECAY_MASKS = ("all", "kernels")


class NonFiniteError(FloatingPointError):
    """The loss or a gradient became NaN or infinite during training.

    :func:`fit` raises it (with ``on_nonfinite="stop"``) at the end of the epoch of the first
    such step, naming that step; the params were not updated from it on.

    Example:
      >>> from jaxconv import data, models
      >>> x, y = np.full((4, 1, 3), np.nan, np.float32), np.array([0, 1, 0, 1], np.int32)
      >>> try:
      ...     fit(models.logistic(2), data.Dataset(x, y, x, y), epochs=1, batch_size=2, log=None)
      ... except NonFiniteError as err:
      ...     print(str(err).split(";")[0])
      jaxconv.train: the loss or a gradient became non-finite at step 0 (epoch 0)
      >>> issubclass(NonFiniteError, FloatingPointError)
      True
    """


class TrainState(NamedTuple):
    """What the train step carries from step to step (a pytree): the params, the optimizer
    state, the step count, the PRNG key, the first non-finite step (-1: none), the number of
    steps skipped for non-finite values, and a stateful model's state. :func:`init_state` makes
    the first one; ``fit`` saves it in ``checkpoint.npz``.

    Example:
      >>> from jaxconv import models
      >>> state = init_state(models.logistic(3), make_optimizer("sgd", 0.1), (1, 4), seed=0)
      >>> TrainState._fields
      ('params', 'opt_state', 'step', 'key', 'bad_step', 'skipped', 'model_state', 'loss_scale')
      >>> int(state.step), int(state.bad_step), int(state.skipped), state.model_state
      (0, -1, 0, {})
      >>> state.loss_scale is None       # float16 runs: a LossScaleState
      True
    """
    params: Any
    opt_state: Any
    step: jax.Array          # int32: optimizer steps taken (including skipped ones)
    key: jax.Array           # PRNG key; step keys are fold_in(key, step)
    bad_step: jax.Array      # int32: first step with a non-finite loss/gradient, -1 if none
    skipped: jax.Array       # int32: steps dropped for non-finite values
    model_state: Any = {}    # a stateful model's state (batch norm statistics); {} otherwise
    loss_scale: Any = None   # float16 mixed precision: the dynamic LossScaleState; else None


def make_optimizer(name: str = "adam", lr: float = 1e-3, *, momentum: float = 0.9,
                   weight_decay: float = 0.0, schedule: str = "constant",
                   total_steps: int | None = None, warmup_steps: int = 0,
                   weight_decay_mask: str = "all") -> optax.GradientTransformation:
    """An optax optimizer by name: ``"sgd"`` (with ``momentum``, 0 for plain SGD, and L2
    ``weight_decay`` added to the gradient, as in He et al. 2016 and PyTorch's SGD), ``"adam"``
    (no weight decay), ``"adamw"`` (decoupled ``weight_decay``). The learning rate ``lr`` is
    held ``"constant"``, decayed to 0 over ``total_steps`` by ``"cosine"`` (after
    ``warmup_steps`` of linear warm-up for ``"warmup_cosine"``), or divided by 10 at 50% and
    again at 75% of ``total_steps`` by ``"multistep"`` (He et al. 2016's CIFAR schedule).
    ``weight_decay_mask="kernels"`` leaves biases and norm scales and offsets (every leaf of
    fewer than two axes) undecayed (``optax.masked``); ``"all"`` decays every param.

    The schedule counts the optimizer's own updates, so steps skipped for non-finite values
    (``fit``) do not advance it.

    Example:
      >>> opt = make_optimizer("sgd", 0.5, momentum=0.0)
      >>> params = {"w": jnp.ones(2)}
      >>> updates, _ = opt.update({"w": jnp.ones(2)}, opt.init(params), params)
      >>> updates["w"].tolist()        # -lr * gradient
      [-0.5, -0.5]
      >>> decayed = make_optimizer("sgd", 1.0, momentum=0.0, weight_decay=0.1,
      ...                          weight_decay_mask="kernels")
      >>> params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
      >>> zero = jax.tree.map(jnp.zeros_like, params)
      >>> updates, _ = decayed.update(zero, decayed.init(params), params)
      >>> round(float(updates["w"][0, 0]), 6), abs(float(updates["b"][0]))   # no decay of b
      (-0.1, 0.0)
      >>> try:
      ...     make_optimizer("adam", schedule="cosine")
      ... except ValueError as err:
      ...     print(err)
      jaxconv.train: schedule 'cosine' needs total_steps >= 1.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"jaxconv.train: unknown optimizer {name!r}; choose one of "
                         f"{', '.join(OPTIMIZERS)}.")
    if schedule not in SCHEDULES:
        raise ValueError(f"jaxconv.train: unknown schedule {schedule!r}; choose one of "
                         f"{', '.join(SCHEDULES)}.")
    lr = _args.check_number("train", "lr", lr, low=0, low_open=True, expect="a positive number")
    _args.check_number("train", "momentum", momentum, low=0)
    _args.check_number("train", "weight_decay", weight_decay, low=0)
    _args.check_int("train", "warmup_steps", warmup_steps, minimum=0)
    _args.check_choice("train", "weight_decay_mask", weight_decay_mask, WEIGHT_DECAY_MASKS)
    mask = None if weight_decay_mask == "all" else (
        lambda params: jax.tree_util.tree_map(lambda p: jnp.ndim(p) >= 2, params))
    if schedule == "constant":
        rate = lr
    elif total_steps is None or total_steps < 1:
        raise ValueError(f"jaxconv.train: schedule {schedule!r} needs total_steps >= 1.")
    elif schedule == "cosine":
        rate = optax.cosine_decay_schedule(lr, total_steps)
    elif schedule == "multistep":
        rate = optax.piecewise_constant_schedule(
            lr, {total_steps // 2: 0.1, (3 * total_steps) // 4: 0.1})
    else:
        rate = optax.warmup_cosine_decay_schedule(0.0, lr, max(warmup_steps, 1), total_steps)
    if name == "sgd":
        sgd = optax.sgd(rate, momentum=momentum or None)
        if not weight_decay:
            return sgd
        return optax.chain(optax.add_decayed_weights(weight_decay, mask), sgd)
    if name == "adam":
        return optax.adam(rate)
    return optax.adamw(rate, weight_decay=weight_decay, mask=mask)


def apply_model(model: Model, params, model_state, x, *, ops=jaxconv, key=None, train=False,
                policy: _precision.Policy | None = None):
    """``(logits, new model state)`` for either kind of model (a stateless one's state: ``{}``).
    With a mixed-precision ``policy``, ``params`` and ``x`` are cast to its compute dtype and
    the logits to its output dtype; the model state is not cast."""
    if policy is not None:
        params, x = policy.cast_to_compute((params, x))
    if model.stateful:
        logits, model_state = model.apply(params, model_state, x, ops=ops, key=key, train=train)
    else:
        logits = model.apply(params, x, ops=ops, key=key, train=train)
    return (logits if policy is None else policy.cast_to_output(logits)), model_state


def loss_fn(model: Model, ops=jaxconv, mixed_precision=None) -> Callable:
    """``(params, x, y, key, model_state={}) -> (mean softmax cross-entropy, (logits,
    new model_state))`` in training mode; differentiate it in ``params`` only.

    ``mixed_precision`` (a :class:`Policy` or its name, :func:`get_policy`): the params and
    ``x`` are cast to its compute dtype, the logits to its output dtype before the loss; the
    model state is not cast.

    Example:
      >>> from jaxconv import models
      >>> model = models.logistic(3)
      >>> params = jax.tree.map(jnp.zeros_like, model.init(jax.random.key(0), (1, 4)))
      >>> x, y = jnp.ones((2, 1, 4)), jnp.array([0, 2])
      >>> loss, (logits, model_state) = jax.jit(loss_fn(model))(params, x, y, jax.random.key(1))
      >>> round(float(loss), 4), logits.shape, model_state      # zero params: log(3)
      (1.0986, (2, 3), {})
    """
    policy = None if mixed_precision is None else _precision.get_policy(mixed_precision)

    def loss(params, x, y, key, model_state={}):     # noqa: B006  (never mutated)
        logits, new_state = apply_model(model, params, model_state, x, ops=ops, key=key,
                                        train=True, policy=policy)
        return ops.softmax_cross_entropy(logits, y), (logits, new_state)
    return loss


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(tree)]))


def make_train_step(model: Model, optimizer: optax.GradientTransformation, ops=jaxconv,
                    on_nonfinite: str = "stop", *, mixed_precision=None,
                    loss_scaling: _precision.LossScaling | None = None,
                    augment: Callable | None = None) -> Callable:
    """``step(state, x, y) -> (state, loss)``; not jitted here (``fit`` jits it once).

    A step whose loss or gradient is not finite leaves the params, the optimizer state and the
    model state as they were and records itself in ``state.skipped`` and, when it counts as a
    failure, in ``state.bad_step`` (the first one); with ``on_nonfinite="stop"`` no step after
    a failure updates the params.

    ``mixed_precision``: a :class:`Policy` or its name (:func:`loss_fn`). ``loss_scaling``
    (default: :class:`LossScaling` when the compute dtype is float16, else none): the loss is
    multiplied by ``state.loss_scale.scale`` before differentiating and the gradients divided
    by it; a step with a finite loss but non-finite gradients is an overflow: skipped, and the
    scale shrinks, without counting as a failure while the scale is above its minimum. A
    non-finite loss, or non-finite gradients at the minimum scale, is a failure as without
    scaling. ``augment(key, x) -> x`` transforms the batch inside the step (its key: the step's
    key folded with 1; the model's dropout takes the step's key).

    Example:
      >>> from jaxconv import models
      >>> model, opt = models.logistic(3), make_optimizer("sgd", 0.1)
      >>> step = jax.jit(make_train_step(model, opt))
      >>> x, y = jnp.ones((2, 1, 4)), jnp.array([0, 2])
      >>> state, loss = step(init_state(model, opt, (1, 4), seed=0), x, y)
      >>> int(state.step), int(state.bad_step), bool(jnp.isfinite(loss))
      (1, -1, True)
      >>> bad, _ = step(state, x * jnp.nan, y)       # kept the params, recorded step 1
      >>> int(bad.step), int(bad.bad_step), int(bad.skipped)
      (2, 1, 1)
      >>> bool(jnp.all(bad.params["dense1"]["w"] == state.params["dense1"]["w"]))
      True
    """
    _args.check_choice("train", "on_nonfinite", on_nonfinite, ("stop", "skip"))
    policy = _precision.get_policy(mixed_precision)
    loss_scaling = _precision.loss_scaling_for(policy, loss_scaling)
    plain = loss_fn(model, ops, None if mixed_precision is None else policy)

    def scaled_loss(params, x, y, key, model_state, scale):
        loss, aux = plain(params, x, y, key, model_state)
        return loss * scale.astype(loss.dtype), (loss, aux)

    grad_fn = jax.value_and_grad(scaled_loss, has_aux=True)

    def step(state: TrainState, x, y):
        key = jax.random.fold_in(state.key, state.step)
        if augment is not None:
            x = augment(jax.random.fold_in(key, 1), x)
        if loss_scaling is not None and state.loss_scale is None:
            raise ValueError("jaxconv.train: loss scaling needs a state with a loss scale; "
                             "make it with init_state(..., loss_scaling=...).")
        scale = (state.loss_scale.scale if loss_scaling is not None
                 else jnp.ones((), jnp.float32))
        (_, (loss, (_, model_state))), grads = grad_fn(
            state.params, x, y, key, state.model_state, scale)
        loss_ok = jnp.isfinite(loss)
        if loss_scaling is not None:
            grads = jax.tree_util.tree_map(lambda g: (g / scale.astype(g.dtype)), grads)
        grads_ok = _all_finite(grads)
        finite = loss_ok & grads_ok
        failed = ~finite
        loss_scale = state.loss_scale
        if loss_scaling is not None:      # an overflow the scale can still absorb: no failure
            failed = ~loss_ok | (~grads_ok & (scale <= loss_scaling.minimum))
            loss_scale = loss_scaling.adjust(state.loss_scale, finite)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        apply = finite & (state.bad_step < 0) if on_nonfinite == "stop" else finite

        def pick(new, old):
            return jax.tree_util.tree_map(lambda a, b: jnp.where(apply, a, b), new, old)

        bad = jnp.where((state.bad_step < 0) & failed, state.step, state.bad_step)
        return TrainState(pick(params, state.params), pick(opt_state, state.opt_state),
                          state.step + 1, state.key, bad,
                          state.skipped + (~finite).astype(jnp.int32),
                          pick(model_state, state.model_state), loss_scale), loss

    return step


def compile_step(step, state, x, y, options: dict, shardings=None):
    """AOT-compile ``step(state, x, y)`` (state donated) with XLA ``options``; an option this
    jaxlib does not know falls back to XLA's defaults, with a warning. ``shardings``:
    ``(state shardings, batch sharding, replicated)`` to lay the step out on a mesh.

    Example:
      >>> from jaxconv import models
      >>> model, opt = models.logistic(3), make_optimizer("sgd", 0.1)
      >>> state = init_state(model, opt, (1, 4), seed=0)
      >>> x, y = jnp.ones((2, 1, 4)), jnp.array([0, 2])
      >>> step = compile_step(make_train_step(model, opt), state, x, y, {})
      >>> state, loss = step(state, x, y)     # the old state is donated: keep the new one
      >>> int(state.step), loss.shape
      (1, ())
    """
    kw = {}
    if shardings is not None:
        state_sh, batch_sh, rep = shardings
        kw = dict(in_shardings=(state_sh, batch_sh, batch_sh), out_shardings=(state_sh, rep))
    lowered = jax.jit(step, donate_argnums=0, **kw).lower(state, x, y)
    return _compile(lowered, options)


def _compile(lowered, options: dict):
    if not options:
        return lowered.compile()
    try:
        return lowered.compile(compiler_options=options)
    except Exception as err:   # an unknown option or value (another jaxlib): XLA's defaults
        import warnings
        warnings.warn(f"jaxconv.train: XLA rejected compiler options {options} ({err}); "
                      "compiling with XLA's defaults.", stacklevel=2)
        return lowered.compile()


def compile_gather_step(step, batch_size: int, state, x_all, y_all, options: dict,
                        shardings=None):
    """AOT-compile ``gather(state, x_all, y_all, order, i) -> step(state, x_all[b], y_all[b])``
    with ``b = order[i * batch_size:(i + 1) * batch_size]``: the batch is gathered from a data
    set already on the devices, inside the compiled step (state donated). ``shardings``:
    ``(state shardings, batch sharding, replicated, data set sharding)``.

    Example:
      >>> from jaxconv import models
      >>> model, opt = models.logistic(3), make_optimizer("sgd", 0.1)
      >>> state = init_state(model, opt, (1, 4), seed=0)
      >>> x_all, y_all = jnp.ones((6, 1, 4)), jnp.array([0, 1, 2, 0, 1, 2])
      >>> gather = compile_gather_step(make_train_step(model, opt), 2, state, x_all, y_all, {})
      >>> order = jnp.array([5, 0, 3, 1, 4, 2], jnp.int32)
      >>> state, loss = gather(state, x_all, y_all, order, np.int32(1))   # rows 3 and 1
      >>> int(state.step)
      1
    """
    def gather(state, x_all, y_all, order, i):
        idx = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
        xb, yb = jnp.take(x_all, idx, axis=0), jnp.take(y_all, idx, axis=0)
        if shardings is not None:
            xb = jax.lax.with_sharding_constraint(xb, shardings[1])
            yb = jax.lax.with_sharding_constraint(yb, shardings[1])
        return step(state, xb, yb)

    kw = {}
    if shardings is not None:
        state_sh, _, rep, data_sh = shardings
        kw = dict(in_shardings=(state_sh, data_sh, data_sh, rep, rep),
                  out_shardings=(state_sh, rep))
    order = jnp.zeros(len(x_all), jnp.int32)
    lowered = jax.jit(gather, donate_argnums=0, **kw).lower(state, x_all, y_all, order,
                                                            np.int32(0))
    return _compile(lowered, options)


def _data_on_device(choice, x, y) -> bool:
    """``fit``'s ``data_on_device``: as given, or (``None``) whether the training set fits."""
    if choice is not None:
        if not isinstance(choice, bool):
            raise TypeError(f"jaxconv.train: `data_on_device` (={choice!r}) must be True, False "
                            "or None (automatic).")
        if choice and jax.process_count() > 1:
            raise ValueError("jaxconv.train: `data_on_device=True` needs a single process; with "
                             "several, each process feeds its own rows (data_on_device=False).")
        return choice
    if jax.process_count() > 1:
        return False
    stats = jax.local_devices()[0].memory_stats() or {}
    limit = stats.get("bytes_limit", 8 * 2 ** 30) // 4
    return x.nbytes + y.nbytes <= limit


def _prefetch(batches):
    """Yield the batches (already put on the devices) one ahead: the next batch's copy is
    issued before the current step runs, so the two overlap (double buffering)."""
    batches = iter(batches)
    ahead = next(batches, None)
    while ahead is not None:
        current, ahead = ahead, next(batches, None)
        yield current


def make_eval_step(model: Model, ops=jaxconv, mixed_precision=None) -> Callable:
    """``eval(params, x, y, mask, model_state={}) -> (sum of losses, number correct)`` over the
    rows in ``mask``, in evaluation mode (batch norm with its running statistics), computed as
    ``mixed_precision`` says (:func:`loss_fn`).

    Example:
      >>> from jaxconv import models
      >>> model = models.logistic(3)
      >>> params = jax.tree.map(jnp.zeros_like, model.init(jax.random.key(0), (1, 4)))
      >>> x, y = jnp.ones((3, 1, 4)), jnp.array([0, 2, 0])
      >>> mask = jnp.array([True, True, False])         # the last row is padding
      >>> loss_sum, correct = jax.jit(make_eval_step(model))(params, x, y, mask)
      >>> round(float(loss_sum), 4), int(correct)       # 2 log(3); argmax 0 is right for row 0
      (2.1972, 1)
    """
    policy = None if mixed_precision is None else _precision.get_policy(mixed_precision)

    def evaluate(params, x, y, mask, model_state={}):    # noqa: B006  (never mutated)
        logits, _ = apply_model(model, params, model_state, x, ops=ops, train=False,
                                policy=policy)
        losses = ops.softmax_cross_entropy(logits, y, reduction="none")
        correct = (jnp.argmax(logits, axis=1) == y) & mask
        return jnp.sum(jnp.where(mask, losses, 0.0)), jnp.sum(correct)
    return evaluate


def evaluate(eval_step, params, x, y, batch_size: int, put=None,
             model_state=None) -> tuple[float, float]:
    """Mean loss and accuracy over ``(x, y)`` in fixed-size batches (the last one padded).

    ``put(rows)`` places a (global) batch's rows on the devices (default: as they are).

    Example:
      >>> from jaxconv import models
      >>> model = models.logistic(3)
      >>> params = jax.tree.map(jnp.zeros_like, model.init(jax.random.key(0), (1, 4)))
      >>> x, y = np.ones((3, 1, 4), np.float32), np.array([0, 2, 0], np.int32)
      >>> loss, accuracy = evaluate(jax.jit(make_eval_step(model)), params, x, y, batch_size=2)
      >>> round(loss, 4), round(accuracy, 4)     # two batches, the second padded to 2 rows
      (1.0986, 0.6667)
    """
    model_state = {} if model_state is None else model_state
    if len(x) == 0:
        return float("nan"), float("nan")
    put = put or (lambda rows: rows)
    total_loss, total_correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        n = len(xb)
        mask = np.arange(batch_size) < n
        if n < batch_size:
            xb = np.concatenate([xb, np.zeros((batch_size - n,) + xb.shape[1:], xb.dtype)])
            yb = np.concatenate([yb, np.zeros(batch_size - n, yb.dtype)])
        loss, correct = eval_step(params, put(xb), put(yb), put(mask), model_state)
        total_loss += float(loss)
        total_correct += int(correct)
    return total_loss / len(x), total_correct / len(x)


def init_state(model: Model, optimizer, input_shape, seed: int, dtype=None,
               loss_scaling: _precision.LossScaling | None = None) -> TrainState:
    """Params (and a stateful model's state) from ``model.init``, cast to ``dtype`` if given;
    a fresh optimizer state of the params only; step 0; ``loss_scaling``'s initial scale.

    Example:
      >>> from jaxconv import models
      >>> state = init_state(models.logistic(3), make_optimizer("adam"), (1, 4), seed=0)
      >>> jax.tree.map(jnp.shape, state.params), int(state.step)
      ({'dense1': {'b': (3,), 'w': (4, 3)}}, 0)
      >>> half = init_state(models.logistic(3), make_optimizer("adam"), (1, 4), seed=0,
      ...                   dtype=jnp.bfloat16)
      >>> str(half.params["dense1"]["w"].dtype)
      'bfloat16'
    """
    init_key, train_key = jax.random.split(jax.random.key(seed))
    params, model_state = (model.init(init_key, input_shape) if model.stateful
                           else (model.init(init_key, input_shape), {}))
    if dtype is not None:
        params, model_state = jax.tree_util.tree_map(lambda p: p.astype(dtype),
                                                     (params, model_state))
    return TrainState(params, optimizer.init(params), jnp.asarray(0, jnp.int32), train_key,
                      jnp.asarray(-1, jnp.int32), jnp.asarray(0, jnp.int32), model_state,
                      None if loss_scaling is None else loss_scaling.init())


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The training-set permutation of ``epoch``: a function of ``(seed, epoch)`` only.

    Example:
      >>> order = epoch_order(seed=0, epoch=3, n=10)
      >>> sorted(order.tolist()) == list(range(10))
      True
      >>> np.array_equal(order, epoch_order(0, 3, 10)), np.array_equal(order, epoch_order(0, 4, 10))
      (True, False)
    """
    return np.random.default_rng([seed, epoch]).permutation(n)


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="step", leave=False, dynamic_ncols=True)


def versions() -> dict:
    """The versions a run depends on: ``{"jax", "jaxlib", "optax", "python", "backend", ...}``
    (``summary.json`` records them).

    Example:
      >>> sorted(versions())
      ['backend', 'devices', 'jax', 'jaxconv', 'jaxlib', 'optax', 'python']
    """
    import jaxlib
    return {"jaxconv": jaxconv.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "optax": optax.__version__,
            "python": platform.python_version(), "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()]}


_RUN_FILES = ("checkpoint.npz", "metrics.jsonl", "summary.json")


def prepare_run_dir(out_dir, *, resume: bool, overwrite: bool = False) -> pathlib.Path:
    """Check ``out_dir`` before any training: a folder that exists or can be made, writable,
    cleared of the temp files a killed save left. A folder holding another run is refused unless
    ``resume`` (continue it) or ``overwrite`` (delete its files first); ``resume`` in a folder
    with a log but no checkpoint is refused too: two runs are never mixed in one folder.

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     run = prepare_run_dir(pathlib.Path(tmp) / "run", resume=False)     # created
      ...     _ = (run / "metrics.jsonl").write_text("{}")
      ...     for kw in ({"resume": False}, {"resume": True}):
      ...         try:
      ...             prepare_run_dir(run, **kw)
      ...         except FileExistsError:
      ...             print("refused", kw)
      ...     _ = prepare_run_dir(run, resume=False, overwrite=True)
      ...     print(run.is_dir(), sorted(p.name for p in run.iterdir()))
      refused {'resume': False}
      refused {'resume': True}
      True []
    """
    out = pathlib.Path(out_dir)
    hint = "choose another folder (--out)"
    blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ValueError(f"jaxconv.train: `out_dir` {out} cannot be a folder: {blocker} is a "
                         f"file; {hint}.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"jaxconv.train: `out_dir` {out} cannot be created "
                         f"({err.strerror or err}); {hint}.") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"jaxconv.train: `out_dir` {out} is not writable; {hint}.")
    for name in _RUN_FILES:
        ckpt.remove_stale_temps(out, name)
    ckpt_path, log_path = out / "checkpoint.npz", out / "metrics.jsonl"
    present = [name for name in _RUN_FILES if (out / name).exists() or (out / name).is_symlink()]
    if overwrite:
        for name in present:
            (out / name).unlink()
    elif resume:
        if not ckpt_path.exists() and (ckpt_path.is_symlink() or log_path.exists()):
            raise FileExistsError(f"jaxconv.train: {out} holds {', '.join(present)} but no "
                                  "readable checkpoint.npz, so that run cannot be resumed; pass "
                                  f"overwrite=True (--overwrite) to start over, or {hint}.")
    elif present:
        raise FileExistsError(f"jaxconv.train: {out} already holds a run ({', '.join(present)}); "
                              "pass resume=True (--resume) to continue it, overwrite=True "
                              f"(--overwrite) to replace it, or {hint}.")
    return out


def _resumed_history(path, meta) -> tuple[int, list[dict]]:
    """``(next epoch, history)`` from a checkpoint's metadata, validated."""
    epoch, history = meta.get("epoch"), meta.get("history")
    if (not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0
            or not isinstance(history, list) or len(history) != epoch + 1
            or not all(isinstance(r, dict) and r.get("epoch") == i
                       for i, r in enumerate(history))):
        raise ckpt.CheckpointError(f"jaxconv.checkpoint: {path} has malformed run metadata "
                                   f"(epoch {epoch!r}, history of {type(history).__name__}); "
                                   "it was tampered with or not written by jaxconv.train.")
    return epoch + 1, history


def _write_lines(path, records) -> None:
    text = "".join(json.dumps(r) + "\n" for r in records)
    ckpt.atomic_write(path, lambda f: f.write(text.encode()))


def fit(model: Model, dataset: Dataset, *, epochs: int = 10, batch_size: int = 128,
        optimizer: str = "adam", lr: float = 1e-3, momentum: float = 0.9,
        weight_decay: float = 1e-4, schedule: str = "constant", warmup_steps: int = 0,
        seed: int = 0, ops=jaxconv, out_dir=None, resume: bool = False, overwrite: bool = False,
        on_nonfinite: str = "stop", progress: bool = False, log: Callable | None = print,
        on_epoch_end: Callable | None = None, data_name: str = "",
        augment: Callable | None = None, dtype=None, xla_options="auto",
        devices: int | None = None, model_parallel: int = 1, mixed_precision=None,
        loss_scaling: _precision.LossScaling | None = None, weight_decay_mask: str = "all",
        data_on_device: bool | None = None) -> tuple[Any, list[dict]]:
    """Train ``model`` on ``dataset``; returns ``(params, history)``, one dict per epoch (a
    stateful model: ``((params, model_state), history)``, as its ``init`` returns them).

    ``ops`` is :mod:`jaxconv` (hand-written rules) or :mod:`jaxconv.autodiff`.
    ``on_epoch_end(epoch, state, record)`` is called after each epoch's checkpoint is written.
    ``augment(key, x_batch) -> x_batch`` (jittable, e.g. :func:`jaxconv.data.augmentation`)
    transforms each training batch inside the jitted step, on the device, with a key drawn from
    the seed and the step, so resumed runs draw the same augmentations.
    ``dtype`` casts params and inputs (e.g. ``jnp.float64``, which needs ``jax_enable_x64``).
    ``mixed_precision`` (``None``, ``"bf16"``, ``"f16"``, or a :class:`Policy`): params and
    optimizer state stay in the policy's param dtype (float32) and each step computes in its
    compute dtype (:mod:`jaxconv.train` explains); float16 trains with ``loss_scaling``
    (default :class:`LossScaling`), whose state is part of the checkpoint. Under float16 a
    step with non-finite gradients but a finite loss is skipped and shrinks the scale, without
    involving ``on_nonfinite``, which applies to a non-finite loss, or to non-finite gradients
    at the scale's minimum (1). The learning-rate schedule counts applied steps.
    ``weight_decay_mask``: ``"kernels"`` leaves biases and norm scales and offsets undecayed
    (:func:`make_optimizer`). The matmul precision of float32 products (GPUs default to TF32)
    is JAX's: run ``fit`` inside ``with jax.default_matmul_precision("highest"):`` for full
    float32.
    ``data_on_device``: put the whole training set on the devices once (sharded along
    ``data`` when its size divides) and gather each step's batch there, by the epoch's
    permutation, inside the jitted step; ``False`` slices each batch on the host and copies it,
    the next batch's copy overlapping the running step. ``None`` (default): on the devices when
    one process trains and the training set takes at most a quarter of a device's memory
    (2 GiB where the device reports none). Both paths give the same params.
    ``xla_options`` selects the XLA options of the jitted train step (:func:`compiler_options`).
    ``devices`` (default: all visible, across processes) and ``model_parallel`` lay each step
    out on a mesh (:mod:`jaxconv.distributed`): the batch split along ``data``, the params
    replicated or, with ``model_parallel > 1``, kernels split along their output channels.
    Only process 0 logs and writes files; the returned params are host NumPy arrays.

    ``out_dir`` (checked before training: :func:`prepare_run_dir`) receives ``checkpoint.npz``
    after every epoch, then that epoch's line of ``metrics.jsonl``, and ``summary.json`` at the
    end, each written atomically. ``resume=True`` continues the run in it from its checkpoint,
    rewriting the log from the checkpoint's history (so a kill at any moment, even inside a
    save, resumes to the same params with every epoch logged once); the run's configuration,
    ``epochs`` included (the learning-rate schedule depends on it), must be the same.

    Example:
      >>> import tempfile
      >>> from jaxconv import data, models
      >>> ds = data.synthetic(n_train=32, n_test=8, shape=(1, 8), num_classes=2)
      >>> with tempfile.TemporaryDirectory() as tmp:
      ...     params, history = fit(models.logistic(2), ds, epochs=1, batch_size=16, lr=0.1,
      ...                           out_dir=tmp, log=None)
      ...     files = sorted(os.listdir(tmp))
      >>> files
      ['checkpoint.npz', 'metrics.jsonl', 'summary.json']
      >>> sorted(history[0])
      ['epoch', 'seconds', 'skipped_steps', 'step', 'test_accuracy', 'test_loss', 'train_loss']
      >>> len(history), history[0]["step"]      # one epoch of 32 // 16 steps
      (1, 2)
      >>> jax.tree.map(np.shape, params)
      {'dense1': {'b': (2,), 'w': (8, 2)}}
    """
    x_train, y_train, x_test, y_test = dataset
    if dtype is not None and mixed_precision is not None:
        raise ValueError("jaxconv.train: pass `dtype` (one dtype for everything) or "
                         "`mixed_precision` (float32 params, 16-bit compute), not both.")
    policy = _precision.get_policy(mixed_precision)
    loss_scaling = _precision.loss_scaling_for(policy, loss_scaling)
    if augment is not None and not callable(augment):
        raise TypeError(f"jaxconv.train: `augment` (={augment!r}) must be a function "
                        "augment(key, x) -> x, e.g. jaxconv.data.augmentation('crop:4,flip').")
    if dtype is not None:
        x_train, x_test = np.asarray(x_train, dtype), np.asarray(x_test, dtype)
    n = len(x_train)
    if not 1 <= batch_size <= n:
        raise ValueError(f"jaxconv.train: `batch_size` (={batch_size}) must be between 1 and the "
                         f"number of training examples ({n}).")
    _args.check_int("train", "epochs", epochs, minimum=1)
    if len(x_test) == 0:
        raise ValueError("jaxconv.train: the dataset's test split is empty; evaluation needs at "
                         "least one test example.")
    steps_per_epoch = n // batch_size
    total_steps = epochs * steps_per_epoch
    opt = make_optimizer(optimizer, lr, momentum=momentum, weight_decay=weight_decay,
                         schedule=schedule, total_steps=total_steps, warmup_steps=warmup_steps,
                         weight_decay_mask=weight_decay_mask)
    ops_name = "autodiff" if ops is jaxconv.autodiff else "vjp"
    config = {"model": model.name, "data": data_name, "ops": ops_name, "seed": seed,
              "optimizer": optimizer, "lr": lr, "batch_size": batch_size, "epochs": epochs,
              "schedule": schedule, "weight_decay": weight_decay,
              "augment": getattr(augment, "__name__", "custom") if augment else "none",
              "dtype": jnp.dtype(dtype or jnp.float32).name}
    if mixed_precision is not None:     # (absent when unused: older runs stay resumable)
        config["mixed_precision"] = _precision.policy_name(policy)
    if weight_decay_mask != "all":
        config["weight_decay_mask"] = weight_decay_mask
    layout = dist.make_layout(batch_size, devices, model_parallel, dataset.input_shape)
    main = dist.is_main()
    log = log if main else None
    state = init_state(model, opt, dataset.input_shape, seed, dtype, loss_scaling)
    out = pathlib.Path(out_dir) if out_dir is not None else None
    history: list[dict] = []
    start_epoch = 0
    ckpt_path = out / "checkpoint.npz" if out is not None else None
    if resume and out is None:
        raise ValueError("jaxconv.train: `resume` needs `out_dir`, the run directory.")
    if out is not None and main:
        prepare_run_dir(out, resume=resume, overwrite=overwrite)
    if resume and ckpt_path.exists():
        state, meta = ckpt.load(ckpt_path, state, expect=config)
        start_epoch, history = _resumed_history(ckpt_path, meta)
        if main:        # the checkpoint's history is the log: each epoch once, whatever the kill
            _write_lines(out / "metrics.jsonl", history)
        if log:
            log(f"resumed from {ckpt_path} at epoch {start_epoch} (step {int(state.step)})")

    state_sh = dist.state_shardings(state, layout)
    state = dist.put(state, state_sh)

    def put(rows):      # this process's share of a global batch, onto its devices
        return dist.put_batch(rows[layout.rows], layout)

    train_step = make_train_step(model, opt, ops, on_nonfinite,
                                 mixed_precision=mixed_precision, loss_scaling=loss_scaling,
                                 augment=augment)
    options = compiler_options(xla_options, name="xla_options")
    on_device = _data_on_device(data_on_device, x_train, y_train)
    if on_device:
        data_sh = (layout.batch if n % layout.data_parallel == 0 else layout.replicated)
        x_dev, y_dev = jax.device_put(x_train, data_sh), jax.device_put(y_train, data_sh)
        gather = compile_gather_step(train_step, batch_size, state, x_dev, y_dev, options,
                                     (state_sh, layout.batch, layout.replicated, data_sh))
    else:
        step_fn = compile_step(train_step, state, put(x_train[:batch_size]),
                               put(y_train[:batch_size]), options,
                               (state_sh, layout.batch, layout.replicated))
    eval_fn = jax.jit(make_eval_step(model, ops, None if mixed_precision is None else policy),
                      in_shardings=(state_sh.params, layout.batch, layout.batch, layout.batch,
                                    state_sh.model_state),
                      out_shardings=layout.replicated)
    t0 = time.perf_counter() - sum(r["seconds"] for r in history[-1:])
    log_every = max(1, epochs // 15)       # about 15 progress lines per run
    bar = _progress(total_steps, f"{model.name}/{ops_name}", progress)
    if bar is not None:
        bar.update(start_epoch * steps_per_epoch)
    for epoch in range(start_epoch, epochs):
        order = epoch_order(seed, epoch, n)
        losses = []
        if on_device:       # (the whole permutation: the step reads its batch_size rows)
            order_dev = jax.device_put(order.astype(np.int32), layout.replicated)
            batches = (None for _ in range(steps_per_epoch))
        else:
            batches = _prefetch((put(x_train[idx]), put(y_train[idx]))
                                for idx in order[:steps_per_epoch * batch_size]
                                .reshape(steps_per_epoch, batch_size))
        for i, batch in enumerate(batches):
            if on_device:
                state, loss = gather(state, x_dev, y_dev, order_dev, np.int32(i))
            else:
                state, loss = step_fn(state, *batch)
            losses.append(loss)
            if bar is not None:
                bar.update(1)
        losses = np.asarray(jax.device_get(losses), np.float64)
        if int(state.bad_step) >= 0 and on_nonfinite == "stop":
            bad = int(state.bad_step)
            if bar is not None:
                bar.close()
            raise NonFiniteError(
                f"jaxconv.train: the loss or a gradient became non-finite at step {bad} (epoch "
                f"{bad // steps_per_epoch}); the params were not updated from that step on"
                + (f", and {ckpt_path} holds the last good epoch" if ckpt_path else "")
                + ". Lower the learning rate, or pass on_nonfinite='skip' (--on-nonfinite skip).")
        finite = losses[np.isfinite(losses)]
        test_loss, test_acc = evaluate(eval_fn, state.params, x_test, y_test, batch_size, put,
                                       state.model_state)
        record = {"epoch": epoch, "step": int(state.step),
                  "train_loss": float(finite.mean()) if finite.size else float("nan"),
                  "test_loss": test_loss, "test_accuracy": test_acc,
                  "skipped_steps": int(state.skipped),
                  "seconds": round(time.perf_counter() - t0, 3)}
        if state.loss_scale is not None:
            record["loss_scale"] = float(state.loss_scale.scale)
        history.append(record)
        if out is not None:
            host_state = dist.fetch(state, layout)      # every process joins the gather
            if main:    # checkpoint first: a log line is written only once its epoch is saved
                ckpt.save(ckpt_path, host_state, {**config, "epoch": epoch, "history": history})
                with open(out / "metrics.jsonl", "a") as f:
                    f.write(json.dumps(record) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
        if log and (epoch % log_every == 0 or epoch + 1 == epochs):
            (bar.write if bar is not None else log)(
                f"epoch {epoch + 1:>3}/{epochs}  train_loss {record['train_loss']:.4f}  "
                f"test_loss {test_loss:.4f}  test_acc {test_acc:.4f}  ({record['seconds']:.1f} s)")
        if on_epoch_end is not None:
            on_epoch_end(epoch, state, record)
    if bar is not None:
        bar.close()
    params = dist.fetch(state.params, layout)
    trained = (params, dist.fetch(state.model_state, layout)) if model.stateful else params
    if out is not None and history and main:
        last = history[-1]
        summary = {**config, "test_accuracy": last["test_accuracy"], "test_loss": last["test_loss"],
                   "train_loss": last["train_loss"], "seconds": last["seconds"],
                   "steps": int(state.step), "skipped_steps": last["skipped_steps"],
                   "mixed_precision": _precision.policy_name(policy),
                   "data_on_device": on_device,
                   "params": param_count(params), "device_count": layout.mesh.size,
                   "processes": jax.process_count(), **versions()}
        text = json.dumps(summary, indent=2) + "\n"
        ckpt.atomic_write(out / "summary.json", lambda f: f.write(text.encode()))
    return trained, history


def summary_line(history: list[dict]) -> str:
    """The last line ``jaxconv train`` prints, from ``fit``'s history (one dict per epoch).

    Example:
      >>> summary_line([{"epoch": 0, "test_accuracy": 0.5, "test_loss": 1.0, "train_loss": 2.0,
      ...                "seconds": 1.5}])
      'test accuracy 0.5000, test loss 1.0000, train loss 2.0000 after 1 epochs (1.5 s)'
    """
    last = history[-1]
    return (f"test accuracy {last['test_accuracy']:.4f}, test loss {last['test_loss']:.4f}, "
            f"train loss {last['train_loss']:.4f} after {last['epoch'] + 1} epochs "
            f"({last['seconds']:.1f} s)")
