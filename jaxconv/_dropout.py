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

from . import _args


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


def _make(impl):
    def dropout(x, rate, key):
        """Inverted dropout: zero each element with probability ``rate``, scale the rest by
        ``1 / (1 - rate)``; the backward pass applies the same mask and scale.

        Args:
          x: any shape, floating dtype.
          rate: drop probability in ``[0, 1)``; ``0`` returns ``x`` unchanged.
          key: a JAX PRNG key (``jax.random.key(seed)``).

        Returns:
          same shape and dtype as ``x``.
        """
        _args.check_float("dropout", "x", x)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"jaxconv.dropout: `rate` (={rate!r}) must be a number in [0, 1).")
        if rate == 0:
            return x
        return impl(x, key, float(rate))
    return dropout


dropout = _make(_dropout)
dropout_autodiff = _make(forward)
