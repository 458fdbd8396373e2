r"""Element-wise activations: the ``f'(x)`` factor of the delta recursion
(``docs/derivation.md``, Eq. 21 and 33) lives in each activation's own rule.

Every rule is ``delta_in = delta_out * f'(x)``, any shape in, same shape out, and saves the
smallest residual its derivative can be written in:

==========  ==================================  ==================================
activation  derivative                          residual
==========  ==================================  ==================================
relu        ``f'(x) = [x > 0]`` (0 at x = 0)    a boolean mask (1 byte per element)
sigmoid     ``f'(x) = s (1 - s)``, ``s = f(x)``  the output ``s`` (16-bit: ``x``)
tanh        ``f'(x) = 1 - t^2``, ``t = f(x)``    the output ``t`` (16-bit: ``x``)
==========  ==================================  ==================================

relu propagates NaN (``relu(nan) = nan``) and gives NaN inputs a zero gradient, as PyTorch.
16-bit inputs are evaluated, and differentiated, in float32 and rounded once to their dtype; their
sigmoid and tanh keep the input (as many bytes as the output) and recompute the output in float32
for the derivative, since ``1 - s`` of a 16-bit ``s`` near 1 keeps almost no correct bits.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._src.core import args as _args


def _in_acc(fn, x):
    """``fn(x)`` evaluated in float32 for 16-bit inputs (then cast back), as-is otherwise."""
    return fn(x.astype(_args.acc_dtype(x.dtype))).astype(x.dtype)


def _times(delta, factor):
    """``delta * factor`` computed in float32 for 16-bit inputs, in ``delta``'s dtype."""
    acc = _args.acc_dtype(delta.dtype)
    return (delta.astype(acc) * factor).astype(delta.dtype)


def _low_precision(x) -> bool:
    return _args.acc_dtype(x.dtype) != x.dtype


def _output_residual(x, y):
    """The residual of a rule written in its output ``y``: ``y`` for 32/64-bit inputs; for
    16-bit inputs ``x`` instead (as many bytes), from which the backward pass recomputes ``y`` in
    float32: ``1 - s`` or ``1 - t^2`` of an output rounded to 16 bits cancels near saturation."""
    return x if _low_precision(x) else y


def _output_in_acc(fn, res):
    """The output ``fn(x)`` in the accumulation dtype, from :func:`_output_residual`."""
    acc = _args.acc_dtype(res.dtype)
    return (fn(res.astype(acc)) if _low_precision(res) else res).astype(acc)


# ----- relu: Eq. 22 ------------------------------------------------------------------------------

def _relu_value(x):
    return jnp.where((x > 0) | jnp.isnan(x), x, jnp.zeros((), x.dtype))


@jax.custom_vjp
def _relu(x):
    return _relu_value(x)


# _relu_fwd :: x -> (y, x > 0)
def _relu_fwd(x):
    return _relu_value(x), x > 0


# _relu_bwd :: (mask, CT y) -> (CT x,)
def _relu_bwd(mask, delta):
    return (jnp.where(mask, delta, jnp.zeros((), delta.dtype)),)


_relu.defvjp(_relu_fwd, _relu_bwd)


def relu(x):
    """Element-wise ``max(x, 0)``; backward ``delta * [x > 0]`` (``docs/derivation.md``,
    Eq. 22; residual: a boolean mask). NaN propagates, with a zero gradient.

    Args:
      x: any shape, floating dtype.

    Returns:
      same shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.relu(jnp.array([-1.0, 0.0, 2.0]))
      Array([0., 0., 2.], dtype=float32)
    """
    x = _args.as_float_array("relu", "x", x)
    return _relu(x)


# ----- sigmoid and tanh: Eq. 23-24, one rule written in the output ------------------------------

# f'(x) of each smooth activation, written in its output f = f(x)
_DERIVATIVE_FROM_OUTPUT = {lax.logistic: lambda s: s * (1 - s),     # sigmoid, Eq. 23
                           lax.tanh: lambda t: 1 - t * t}             # tanh, Eq. 24


def _smooth_value(fn, x):
    return _in_acc(fn, x)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _smooth(fn, x):
    return _smooth_value(fn, x)


# _smooth_fwd :: x -> (f, f)   (16-bit inputs: (f, x))
def _smooth_fwd(fn, x):
    y = _smooth_value(fn, x)
    return y, _output_residual(x, y)


# _smooth_bwd :: (fn, f or x, CT f) -> (CT x,):  delta * f'(x), f'(x) written in f
def _smooth_bwd(fn, res, delta):
    f = _output_in_acc(fn, res)
    return (_times(delta, _DERIVATIVE_FROM_OUTPUT[fn](f)),)


_smooth.defvjp(_smooth_fwd, _smooth_bwd)


def sigmoid(x):
    """Element-wise ``1 / (1 + exp(-x))``; backward ``delta * s * (1 - s)``
    (``docs/derivation.md``, Eq. 23; residual: ``s``, or ``x`` for 16-bit inputs).

    Args:
      x: any shape, floating dtype.

    Returns:
      same shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.sigmoid(jnp.array([0.0]))
      Array([0.5], dtype=float32)
    """
    x = _args.as_float_array("sigmoid", "x", x)
    return _smooth(lax.logistic, x)


def tanh(x):
    """Element-wise ``tanh(x)``; backward ``delta * (1 - t^2)`` (``docs/derivation.md``,
    Eq. 24; residual: ``t``, or ``x`` for 16-bit inputs).

    Args:
      x: any shape, floating dtype.

    Returns:
      same shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.tanh(jnp.array([0.0]))
      Array([0.], dtype=float32)
    """
    x = _args.as_float_array("tanh", "x", x)
    return _smooth(lax.tanh, x)


# jaxconv.autodiff.relu / sigmoid / tanh: the same functions with the rules replaced
AUTODIFF = {"_relu": _relu_value, "_smooth": _smooth_value}
