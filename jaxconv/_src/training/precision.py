"""Mixed precision: a dtype policy for params, compute and outputs, and dynamic loss scaling.

A :class:`Policy` names three dtypes. The params (and the optimizer state, which ``optax``
builds from them) are kept in ``param_dtype``; each training step casts the params and the
inputs to ``compute_dtype`` and runs the model there, and casts the logits to ``output_dtype``
before the loss. The cast's transpose upcasts the gradients, so they reach the optimizer in
``param_dtype``; inside, the hand-written rules accumulate 16-bit products in float32 as they
always do. Batch norm's statistics are computed in float32 and its running averages keep the
dtype they were created in (float32): the model state is never cast.

The presets (:data:`POLICIES`):

========  ==========  ==========  ==========
name      params      compute     output
========  ==========  ==========  ==========
``none``  float32     float32     float32
``bf16``  float32     bfloat16    float32
``f16``   float32     float16     float32
========  ==========  ==========  ==========

float16 spans only about 6e-8 to 65504, so small gradients underflow to zero. ``f16`` therefore
trains with :class:`LossScaling`: the loss is multiplied by a scale (2**15 to start) before the
backward pass and the gradients divided by it after; a step whose gradients are not finite is
skipped (params, optimizer state and model state unchanged) and the scale divided by
``factor``; after ``period`` finite steps in a row it is multiplied by ``factor``. bfloat16 has
float32's exponent range and needs no scaling.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv._src.core import args as _args

_NAMES = {"float32": jnp.float32, "f32": jnp.float32, "bfloat16": jnp.bfloat16,
          "bf16": jnp.bfloat16, "float16": jnp.float16, "f16": jnp.float16,
          "float64": jnp.float64, "f64": jnp.float64}


class Policy(NamedTuple):
    """The dtypes of mixed-precision training: ``param_dtype`` for the params and optimizer
    state, ``compute_dtype`` for the model's forward and backward pass, ``output_dtype`` for
    the logits and the loss.

    Example:
      >>> policy = get_policy("bf16")
      >>> params = {"w": jnp.ones((2, 2))}
      >>> policy.cast_to_compute(params)["w"].dtype
      dtype(bfloat16)
      >>> policy.cast_to_output(jnp.ones(2, jnp.bfloat16)).dtype
      dtype('float32')
      >>> str(policy)
      'params=float32,compute=bfloat16,output=float32'
    """
    param_dtype: np.dtype
    compute_dtype: np.dtype
    output_dtype: np.dtype

    def cast_to_compute(self, tree):
        """``tree``'s floating leaves in ``compute_dtype`` (integer leaves as they are)."""
        return _cast(tree, self.compute_dtype)

    def cast_to_param(self, tree):
        """``tree``'s floating leaves in ``param_dtype``."""
        return _cast(tree, self.param_dtype)

    def cast_to_output(self, tree):
        """``tree``'s floating leaves in ``output_dtype``."""
        return _cast(tree, self.output_dtype)

    def __str__(self) -> str:
        return (f"params={self.param_dtype.name},compute={self.compute_dtype.name},"
                f"output={self.output_dtype.name}")


def _cast(tree, dtype):
    def cast(leaf):
        leaf = jnp.asarray(leaf)
        return leaf.astype(dtype) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf
    return jax.tree_util.tree_map(cast, tree)


def _policy(params, compute, output) -> Policy:
    return Policy(*(jnp.dtype(d) for d in (params, compute, output)))


#: The mixed-precision presets ``fit(mixed_precision=...)`` and ``jaxconv train
#: --mixed-precision`` take by name (``"f32"`` is ``"none"``).
POLICIES = {"none": _policy(jnp.float32, jnp.float32, jnp.float32),
            "bf16": _policy(jnp.float32, jnp.bfloat16, jnp.float32),
            "f16": _policy(jnp.float32, jnp.float16, jnp.float32)}


def get_policy(spec=None) -> Policy:
    """The :class:`Policy` of ``spec``: ``None``, a preset name (``"none"``/``"f32"``,
    ``"bf16"``, ``"f16"``), a :class:`Policy`, or a string
    ``"params=float32,compute=bfloat16,output=float32"`` (each dtype ``float32``,
    ``bfloat16``, ``float16``, ``float64`` or their short names; omitted keys are float32).

    Example:
      >>> get_policy("f16").compute_dtype
      dtype('float16')
      >>> print(get_policy("compute=bf16"))
      params=float32,compute=bfloat16,output=float32
      >>> try:
      ...     get_policy("params=int8")
      ... except ValueError as err:
      ...     print(err)
      jaxconv.train: `mixed_precision` (='params=int8') has the dtype 'int8' for params; use
      float32, bfloat16, float16 or float64 (e.g.
      'params=float32,compute=bfloat16,output=float32', or a preset: none, bf16, f16).
    """
    if spec is None:
        return POLICIES["none"]
    if isinstance(spec, Policy):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"jaxconv.train: `mixed_precision` (={spec!r}) must be None, a preset "
                        f"name ({', '.join(POLICIES)}), a Policy or a 'params=...,compute=...,"
                        "output=...' string.")
    if spec == "f32":
        spec = "none"
    if spec in POLICIES:
        return POLICIES[spec]
    example = ("(e.g. 'params=float32,compute=bfloat16,output=float32', or a preset: "
               f"{', '.join(POLICIES)})")
    dtypes = {"params": "float32", "compute": "float32", "output": "float32"}
    for item in spec.split(","):
        key, eq, name = (s.strip() for s in item.partition("="))
        if not eq or key not in dtypes:
            raise ValueError(f"jaxconv.train: `mixed_precision` (={spec!r}) is neither a preset "
                             f"nor a list of key=dtype with keys params, compute, output "
                             f"{example}.")
        if name not in _NAMES:
            raise ValueError(f"jaxconv.train: `mixed_precision` (={spec!r}) has the dtype "
                             f"{name!r} for {key}; use float32, bfloat16, float16 or float64 "
                             f"{example}.")
        dtypes[key] = _NAMES[name]
    return _policy(dtypes["params"], dtypes["compute"], dtypes["output"])


def policy_name(policy: Policy) -> str:
    """A preset's name, or the policy's ``params=...`` string (what run configs record).

    Example:
      >>> policy_name(get_policy("bf16")), policy_name(get_policy("compute=float16,output=float16"))
      ('bf16', 'params=float32,compute=float16,output=float16')
    """
    return next((name for name, p in POLICIES.items() if p == policy), str(policy))


def loss_scaling_for(policy: Policy, loss_scaling=None):
    """The loss scaling a run with ``policy`` trains with: ``loss_scaling`` checked (a
    :class:`LossScaling` or its fields as a tuple), by default :class:`LossScaling` when the
    compute dtype is float16 and none otherwise.

    Example:
      >>> loss_scaling_for(get_policy("f16")).initial, loss_scaling_for(get_policy("bf16"))
      (32768.0, None)
    """
    if loss_scaling is None:
        return LossScaling() if policy.compute_dtype == jnp.float16 else None
    return LossScaling(*loss_scaling).check()


class LossScaleState(NamedTuple):
    """The dynamic loss scale a float16 run carries from step to step (a pytree; part of
    :class:`jaxconv.train.TrainState` and so of every checkpoint): the scale (float32) and the
    number of finite steps since it last changed (int32).

    Example:
      >>> state = LossScaling().init()
      >>> float(state.scale), int(state.good_steps)
      (32768.0, 0)
    """
    scale: jax.Array
    good_steps: jax.Array


class LossScaling(NamedTuple):
    """Dynamic loss scaling: start at ``initial``; after a step with non-finite gradients divide
    the scale by ``factor`` (not below ``minimum``); after ``period`` finite steps in a row
    multiply it by ``factor``.

    Example:
      >>> scaling = LossScaling(initial=8.0, period=2, factor=2.0)
      >>> s = scaling.init()
      >>> for finite in (True, True, False, True):
      ...     s = scaling.adjust(s, jnp.asarray(finite))
      ...     print(float(s.scale), int(s.good_steps))
      8.0 1
      16.0 0
      8.0 0
      8.0 1
    """
    initial: float = 2.0 ** 15
    period: int = 2000
    factor: float = 2.0
    minimum: float = 1.0

    def check(self) -> LossScaling:
        """``self`` after checking its fields (each names itself in the error)."""
        _args.check_number("train", "loss_scaling.initial", self.initial, low=1)
        _args.check_int("train", "loss_scaling.period", self.period, minimum=1)
        _args.check_number("train", "loss_scaling.factor", self.factor, low=1, low_open=True,
                           expect="a number > 1")
        _args.check_number("train", "loss_scaling.minimum", self.minimum, low=0, low_open=True,
                           expect="a positive number")
        return self

    def init(self) -> LossScaleState:
        """The state of step 0."""
        return LossScaleState(jnp.asarray(self.initial, jnp.float32), jnp.asarray(0, jnp.int32))

    def adjust(self, state: LossScaleState, finite) -> LossScaleState:
        """The state after a step whose gradients were ``finite`` (a bool array) or not."""
        grow = finite & (state.good_steps + 1 >= self.period)
        grown = state.scale * self.factor
        grown = jnp.where(jnp.isfinite(grown), grown, state.scale)
        shrunk = jnp.maximum(state.scale / self.factor, jnp.float32(self.minimum))
        scale = jnp.where(finite, jnp.where(grow, grown, state.scale), shrunk)
        good = jnp.where(finite & ~grow, state.good_steps + 1, 0).astype(jnp.int32)
        return LossScaleState(scale.astype(jnp.float32), good)
