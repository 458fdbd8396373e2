r"""Inverted dropout with an explicit PRNG key.

Shapes: ``x`` any shape; ``key`` a JAX PRNG key; ``rate`` the drop probability ``q`` in [0, 1).

Forward: ``y = x * keep / (1 - q)`` with ``keep ~ Bernoulli(1 - q)`` per element.
Backward: ``dE/dx = delta * keep / (1 - q)`` (the same mask; the key gets no gradient).
Residual: the ``keep`` mask (a boolean, one byte per element).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec


def _mask(x, rate, key):
    return jax.random.bernoulli(key, 1.0 - rate, x.shape)


def forward(x, key, rate):
    keep = _mask(x, rate, key)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype)).astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _dropout(x, key, rate):
    return forward(x, key, rate)


# _dropout_fwd :: (x, key) -> (y, keep)
def _dropout_fwd(x, key, rate):
    keep = _mask(x, rate, key)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype)).astype(x.dtype), keep


# _dropout_bwd :: (rate, keep, CT y) -> (CT x, CT key)
def _dropout_bwd(rate, keep, delta):
    dx = jnp.where(keep, delta / (1.0 - rate), jnp.zeros((), delta.dtype)).astype(delta.dtype)
    return dx, None


_dropout.defvjp(_dropout_fwd, _dropout_bwd)


def _check_key(key) -> None:
    """One PRNG key: a typed key of shape ``()`` or a legacy ``uint32[2]`` key."""
    typed = hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    legacy = (hasattr(key, "dtype") and key.dtype == jnp.uint32 and tuple(key.shape) == (2,))
    if typed and key.shape != ():
        raise ValueError(f"jaxconv.dropout: `key` must be one PRNG key; got a batch of shape "
                         f"{tuple(key.shape)}. Use jax.vmap over the keys, or pass key[0].")
    if not (typed or legacy):
        got = (f"{key.dtype}{list(key.shape)}" if hasattr(key, "dtype")
               else f"{type(key).__name__} {key!r}")
        raise TypeError(f"jaxconv.dropout: `key` must be a PRNG key (jax.random.key(seed)); got "
                        f"{got}.")


def dropout(x, rate, key):
    """Inverted dropout: zero each element with probability ``rate``, scale the rest by
    ``1 / (1 - rate)``; the backward pass applies the same mask and scale
    (derivation, Eq. 27).

    Args:
      x: any shape, floating dtype.
      rate: drop probability in ``[0, 1)``; ``0`` returns ``x`` unchanged.
      key: a JAX PRNG key (``jax.random.key(seed)``).

    Returns:
      same shape and dtype as ``x``.

    Example:
      >>> import jax, jax.numpy as jnp, jaxconv as jc
      >>> jc.dropout(jnp.ones(4), 0.0, jax.random.key(0))
      Array([1., 1., 1., 1.], dtype=float32)
    """
    _args.check_float("dropout", "x", x)
    rate = _args.check_number("dropout", "rate", rate, low=0, high=1, high_open=True)
    _check_key(key)
    if rate == 0:
        return x
    return _dropout(x, key, rate)


# jaxconv.autodiff.dropout: the same function with the rule replaced by the plain forward
AUTODIFF = {"_dropout": forward}


# ----- the registry entry ------------------------------------------------------------------------

def _call(ops, case):          # a fixed key: one mask, so the op is linear in x
    rate, key = case.kwargs["rate"], jax.random.key(case.kwargs.get("seed", 0))
    return lambda x: ops.dropout(x, rate, key)


SPECS = (_spec.OpSpec(
    dropout, kind="regularisation", call=_call,
    rule=("`y = x · keep / (1 - q)`, `keep ~ Bernoulli(1 - q)` from the key (Eq. 27)",
          "`delta · keep / (1 - q)` (Eq. 27)", "the keep mask (bool)"),
    cases=lambda exhaustive: [_spec.Case("dropout", ((3, 4, 5),), (("rate", 0.5),)),
                              _spec.Case("dropout", ((7,),), (("rate", 0.1), ("seed", 3)))],
    examples=(_spec.Example("dropout", lambda ops, x: ops.dropout(x, 0.5, jax.random.key(0)),
                            ((3, 4),)),),
    opt_outs={"textbook": "the mask comes from jax.random, which NumPy loops cannot draw; the "
                          "rule (the same mask and scale, Eq. 27) is checked against autodiff "
                          "with the same key",
              "pytorch": "PyTorch draws its masks from its own generator; the rate and the "
                         "1 / (1 - rate) scale are pinned by tests/test_semantics.py"}),)
