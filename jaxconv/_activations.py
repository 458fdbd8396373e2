r"""Element-wise activations: the ``f'(x)`` factor of 000 Eq. 21 (and of 003's
``delta^l = (W^{l+1})^T delta^{l+1} * sigma'(z^l)``) lives in each activation's own rule.

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


def _low_precision(x) -> bool:
    return _args.acc_dtype(x.dtype) != x.dtype


def _smooth(inner, derivative):
    """The custom-VJP function of the smooth activation ``inner`` (a lax function, evaluated in
    the accumulation dtype) whose derivative is written in its output ``f`` (``derivative(f)``);
    any shape in, same shape out.

    Residual: the output ``f`` for 32/64-bit inputs. For 16-bit inputs, the input ``x``
    instead (as many bytes) and ``f`` is recomputed from it in float32 in the backward pass:
    ``1 - s`` or ``1 - t^2`` from an output rounded to 16 bits cancels catastrophically near
    saturation, and would be less accurate than ``jax.grad``'s float32 derivative."""
    value = _in_acc(inner)

    @jax.custom_vjp
    def fn(x):
        return value(x)

    def fwd(x):
        y = value(x)
        return y, x if _low_precision(x) else y

    def bwd(res, delta):
        acc = _args.acc_dtype(res.dtype)
        f = (inner(res.astype(acc)) if _low_precision(res) else res).astype(acc)
        return (_times(delta, derivative(f)),)

    fn.defvjp(fwd, bwd)
    return fn


# sigmoid: f'(x) = s (1 - s); tanh: f'(x) = 1 - t^2
_sigmoid = _smooth(lax.logistic, lambda s: s * (1 - s))
_tanh = _smooth(lax.tanh, lambda t: 1 - t * t)


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
