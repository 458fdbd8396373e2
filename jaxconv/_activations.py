r"""Element-wise activations: the ``f'(x)`` factor of 000 Eq. 21 (and of 003's
``delta^l = (W^{l+1})^T delta^{l+1} * sigma'(z^l)``) lives in each activation's own rule.

Every rule is ``delta_in = delta_out * f'(x)``, any shape in, same shape out, and saves the
smallest residual its derivative can be written in:

==========  ==================================  ==================================
activation  derivative                          residual
==========  ==================================  ==================================
relu        ``f'(x) = [x > 0]`` (0 at x = 0)    a boolean mask (1 byte per element)
sigmoid     ``f'(x) = s (1 - s)``, ``s = f(x)``  the output ``s``
tanh        ``f'(x) = 1 - t^2``, ``t = f(x)``    the output ``t``
==========  ==================================  ==================================

relu propagates NaN (``relu(nan) = nan``) and gives NaN inputs a zero gradient, as PyTorch.
16-bit inputs are evaluated, and differentiated, in float32 and rounded once to their dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from . import _args


def _in_acc(fn):
    """``fn`` evaluated in float32 for 16-bit inputs (then cast back), as-is otherwise."""
    def wrapped(x):
        return fn(x.astype(_args.acc_dtype(x.dtype))).astype(x.dtype)
    return wrapped


_logistic, _tanh_value = _in_acc(lax.logistic), _in_acc(lax.tanh)


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


def _times(delta, factor):
    """``delta * factor`` computed in float32 for 16-bit inputs, in ``delta``'s dtype."""
    acc = _args.acc_dtype(delta.dtype)
    return (delta.astype(acc) * factor).astype(delta.dtype)


@jax.custom_vjp
def _sigmoid(x):
    return _logistic(x)


# _sigmoid_fwd :: x -> (s, s)
def _sigmoid_fwd(x):
    s = _logistic(x)
    return s, s


# _sigmoid_bwd :: (s, CT s) -> (CT x,)
def _sigmoid_bwd(s, delta):
    s = s.astype(_args.acc_dtype(s.dtype))
    return (_times(delta, s * (1 - s)),)


_sigmoid.defvjp(_sigmoid_fwd, _sigmoid_bwd)


@jax.custom_vjp
def _tanh(x):
    return _tanh_value(x)


# _tanh_fwd :: x -> (t, t)
def _tanh_fwd(x):
    t = _tanh_value(x)
    return t, t


# _tanh_bwd :: (t, CT t) -> (CT x,)
def _tanh_bwd(t, delta):
    t = t.astype(_args.acc_dtype(t.dtype))
    return (_times(delta, 1 - t * t),)


_tanh.defvjp(_tanh_fwd, _tanh_bwd)


def _make(name, impl, formula):
    def activation(x):
        _args.check_float(name, "x", x)
        return impl(x)
    activation.__name__ = activation.__qualname__ = name
    activation.__doc__ = (f"Element-wise ``{name}``: {formula}.\n\n"
                          "Args:\n  x: any shape, floating dtype.\n\n"
                          "Returns:\n  same shape and dtype.")
    return activation


_FORMULAS = {
    "relu": "``max(x, 0)``; backward ``delta * [x > 0]`` (residual: a boolean mask)",
    "sigmoid": "``1 / (1 + exp(-x))``; backward ``delta * s * (1 - s)`` (residual: ``s``)",
    "tanh": "``tanh(x)``; backward ``delta * (1 - t^2)`` (residual: ``t``)",
}

relu = _make("relu", _relu, _FORMULAS["relu"])
sigmoid = _make("sigmoid", _sigmoid, _FORMULAS["sigmoid"])
tanh = _make("tanh", _tanh, _FORMULAS["tanh"])
relu_autodiff = _make("relu", _relu_value, _FORMULAS["relu"])
sigmoid_autodiff = _make("sigmoid", _logistic, _FORMULAS["sigmoid"])
tanh_autodiff = _make("tanh", _tanh_value, _FORMULAS["tanh"])
