r"""Element-wise activations: the ``f'(x)`` factor of the delta recursion
(derivation, Eq. 21 and 33) lives in each activation's own rule.

Every rule is ``delta_in = delta_out * f'(x)``, any shape in, same shape out, and saves the
smallest residual its derivative can be written in:

===========  ============================================  ===================================
activation   derivative                                    residual
===========  ============================================  ===================================
relu         ``f'(x) = [x > 0]`` (0 at x = 0)              a boolean mask (1 byte per element)
sigmoid      ``f'(x) = s (1 - s)``, ``s = f(x)``           the output ``s`` (16-bit: ``x``)
tanh         ``f'(x) = 1 - t^2``, ``t = f(x)``             the output ``t`` (16-bit: ``x``)
leaky_relu   ``f'(x) = 1 if x > 0 else a`` (a at x = 0)    a boolean mask ``x > 0``
elu          ``f'(x) = 1 if x > 0 else a e^x`` (a at 0)    the input ``x``
gelu         ``f'(x) = Phi(x) + x phi(x)`` (or tanh form)  the input ``x``
silu         ``f'(x) = s (1 + x (1 - s))``, ``s = s(x)``   the input ``x``
softplus     ``f'(x) = s(b x)``; 1 where ``b x > thr``     the input ``x``
hardswish    ``0``, ``x / 3 + 1/2``, ``1`` (3 pieces)      the input ``x``
softmax      ``y * (delta - sum(delta * y))`` on axis      the output ``y`` (16-bit: ``x``)
log_softmax  ``delta - e^y * sum(delta)`` on axis          the output ``y`` (16-bit: ``x``)
===========  ============================================  ===================================

relu propagates NaN (``relu(nan) = nan``) and gives NaN inputs a zero gradient, as PyTorch.
16-bit inputs are evaluated, and differentiated, in float32 and rounded once to their dtype; their
sigmoid, tanh, softmax and log_softmax keep the input (as many bytes as the output) and recompute
the output in float32 for the derivative, since ``1 - s`` of a 16-bit ``s`` near 1, or ``e^y`` of
a 16-bit log-probability ``y``, keeps almost no correct bits.

The other activations follow PyTorch's definitions, kinks and NaN included: leaky_relu's
derivative at ``x = 0`` is the slope (its backward is ``x > 0 ? 1 : slope``), and so is its
gradient at a NaN input, as PyTorch's; elu's derivative at ``x = 0`` is ``alpha`` (the negative
branch, as PyTorch's ``x <= 0``), and at NaN it is NaN (PyTorch's vectorised kernel gives NaN,
its scalar loop over the last few elements 1). elu, gelu, silu and softplus cannot be
written in their output (elu's could, as ``y + alpha``, but that cancels for ``x << 0`` and
needs ``alpha > 0`` to tell the branches apart), so they keep the input, one array as large as
the output. softplus is the identity, with gradient 1, where ``beta * x > threshold``, and is
evaluated stably elsewhere (``log(1 + e^z) = max(z, 0) + log1p(e^-|z|)``): where PyTorch's
``log1p(exp(beta x))`` overflows (``beta x > 709`` with a larger threshold) it gives ``x`` and
gradient 1 instead of ``inf`` and NaN. gelu is evaluated as ``x/2 erfc(-x / sqrt 2)`` and its
tanh form as ``x s(2u)`` (PyTorch's ``x/2 (1 + erf(x / sqrt 2))`` and ``x/2 (1 + tanh u)``, the
same functions without the cancellation of ``1 + erf`` and ``1 + tanh`` for ``x << 0``, which in
float32 leaves the tanh form's derivative at ``x = -4`` only 2-3 correct digits). hardswish
takes PyTorch's derivatives at its kinks (0 at -3, 1 at 3) and at NaN (1, as PyTorch's scalar
loop; its vectorised loop gives NaN), but ``hardswish(-inf)`` is 0, the limit, where PyTorch's
``-inf * 0`` gives NaN.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec


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
    """Element-wise ``max(x, 0)``; backward ``delta * [x > 0]`` (derivation,
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
    (derivation, Eq. 23; residual: ``s``, or ``x`` for 16-bit inputs).

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
    """Element-wise ``tanh(x)``; backward ``delta * (1 - t^2)`` (derivation,
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


# ----- leaky_relu: Eq. 34, a mask and the static slope ----------------------------------------

def _leaky_relu_value(slope, x):
    return _in_acc(lambda v: jnp.where(v > 0, v, v * slope), x)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _leaky_relu(slope, x):
    return _leaky_relu_value(slope, x)


# _leaky_relu_fwd :: x -> (y, x > 0)
def _leaky_relu_fwd(slope, x):
    return _leaky_relu_value(slope, x), x > 0


# _leaky_relu_bwd :: (slope, mask, CT y) -> (CT x,):  delta * (1 if x > 0 else slope); NaN: slope
def _leaky_relu_bwd(slope, mask, delta):
    return (_times(delta, jnp.where(mask, 1.0, slope)),)


_leaky_relu.defvjp(_leaky_relu_fwd, _leaky_relu_bwd)


def leaky_relu(x, negative_slope=0.01):
    """Element-wise ``x if x > 0 else negative_slope * x``; backward ``delta`` where ``x > 0``,
    else ``delta * negative_slope`` (derivation, Eq. 34; residual: a boolean mask).
    The slope is the gradient at ``x = 0`` and at NaN, as PyTorch's.

    Args:
      x: any shape, floating dtype.
      negative_slope: a finite Python number (static; negative values are allowed).

    Returns:
      same shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.leaky_relu(jnp.array([-2.0, 0.0, 3.0]), negative_slope=0.5)
      Array([-1.,  0.,  3.], dtype=float32)
    """
    x = _args.as_float_array("leaky_relu", "x", x)
    slope = _args.check_number("leaky_relu", "negative_slope", negative_slope)
    return _leaky_relu(slope, x)


# ----- elu, gelu, silu and softplus: Eq. 35-39, one rule written in the input ------------------

_SQRT_HALF = 0.7071067811865476          # 1 / sqrt(2)
_INV_SQRT_2PI = 0.3989422804014327       # 1 / sqrt(2 pi)
_TANH_C, _TANH_K = 0.7978845608028654, 0.044715     # sqrt(2 / pi) and the cubic's coefficient


def _elu_f(x, alpha):                    # Eq. 35; the exponential branch sees no x > 0, so
    neg = jnp.where(x > 0, jnp.zeros((), x.dtype), x)     # jax.grad has no inf * 0 at x = +inf
    return jnp.where(x > 0, x, alpha * jnp.expm1(neg))


def _elu_df(x, alpha):
    return jnp.where(x > 0, 1.0, alpha * jnp.exp(x))


def _gelu_f(x):                          # Eq. 36: x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2
    return 0.5 * x * lax.erfc(-x * _SQRT_HALF)


def _gelu_df(x):
    return 0.5 * lax.erfc(-x * _SQRT_HALF) + x * _INV_SQRT_2PI * jnp.exp(-0.5 * x * x)


def _gelu_tanh_f(x):                     # Eq. 37: x (1 + tanh u) / 2 = x s(2u), u = c (x + k x^3)
    return x * lax.logistic(2 * _TANH_C * (x + _TANH_K * x * x * x))


def _gelu_tanh_df(x):                    # s + x (1 + tanh u)' / 2, in s = s(2u): no 1 - t^2
    s = lax.logistic(2 * _TANH_C * (x + _TANH_K * x * x * x))
    return s + 2 * x * s * (1 - s) * _TANH_C * (1 + 3 * _TANH_K * x * x)


def _silu_f(x):                          # Eq. 38: x s(x)
    return x * lax.logistic(x)


def _silu_df(x):
    s = lax.logistic(x)
    return s * (1 + x * (1 - s))


def _softplus_f(x, beta, threshold):     # Eq. 39: log(1 + e^(b x)) / b; x where b x > threshold
    bx = x * beta
    return jnp.where(bx > threshold, x, jnp.logaddexp(bx, 0.0) / beta)


def _softplus_df(x, beta, threshold):
    bx = x * beta
    return jnp.where(bx > threshold, 1.0, lax.logistic(bx))


def _hardswish_f(x):                     # Eq. 51: 0, x (x + 3) / 6, x
    mid = jnp.where((x > -3) & (x < 3), x, jnp.zeros((), x.dtype))  # no inf * 0 in jax.grad
    return jnp.where(x <= -3, jnp.zeros((), x.dtype), jnp.where(x < 3, mid * (mid + 3) / 6, x))


def _hardswish_df(x):                    # PyTorch's at the kinks: f'(-3) = 0, f'(3) = 1
    return jnp.where(x <= -3, 0.0, jnp.where(x < 3, x / 3 + 0.5, 1.0))


# f'(x) of each activation written in its input, with the same static options as f
_DERIVATIVE_FROM_INPUT = {_elu_f: _elu_df, _gelu_f: _gelu_df, _gelu_tanh_f: _gelu_tanh_df,
                          _silu_f: _silu_df, _softplus_f: _softplus_df,
                          _hardswish_f: _hardswish_df}


def _from_input_value(fn, options, x):
    return _in_acc(lambda v: fn(v, *options), x)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _from_input(fn, options, x):
    return _from_input_value(fn, options, x)


# _from_input_fwd :: x -> (f, x)
def _from_input_fwd(fn, options, x):
    return _from_input_value(fn, options, x), x


# _from_input_bwd :: (fn, options, x, CT f) -> (CT x,):  delta * f'(x), in float32 for 16-bit x
def _from_input_bwd(fn, options, x, delta):
    xa = x.astype(_args.acc_dtype(x.dtype))
    return (_times(delta, _DERIVATIVE_FROM_INPUT[fn](xa, *options)),)


_from_input.defvjp(_from_input_fwd, _from_input_bwd)


def elu(x, alpha=1.0):
    """Element-wise ``x if x > 0 else alpha * (exp(x) - 1)``; backward ``delta`` where
    ``x > 0``, else ``delta * alpha * exp(x)`` (derivation, Eq. 35; residual: ``x``).
    The gradient at ``x = 0`` is ``alpha``, as PyTorch's; NaN propagates to value and gradient.

    Args:
      x: any shape, floating dtype.
      alpha: a finite Python number (static): ``elu(x) -> -alpha`` as ``x -> -inf``.

    Returns:
      same shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.elu(jnp.array([-1.0, 0.0, 2.0]))
      Array([-0.63212055,  0.        ,  2.        ], dtype=float32)
    """
    x = _args.as_float_array("elu", "x", x)
    alpha = _args.check_number("elu", "alpha", alpha)
    return _from_input(_elu_f, (alpha,), x)


def gelu(x, approximate="none"):
    """Element-wise ``x * Phi(x)``, ``Phi`` the standard normal CDF; backward
    ``delta * (Phi(x) + x * phi(x))`` (derivation, Eq. 36), or PyTorch's tanh
    approximation ``x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` and its derivative (Eq. 37).
    Residual: ``x``.

    Args:
      x: any shape, floating dtype.
      approximate: ``"none"`` (the exact GELU, Eq. 36) or ``"tanh"`` (Eq. 37).

    Returns:
      same shape and dtype.

    Example:
      >>> import jax.numpy as jnp, numpy as np, jaxconv as jc
      >>> np.asarray(jc.gelu(jnp.array([-1.0, 0.0, 1.0])), np.float64).round(4)
      array([-0.1587,  0.    ,  0.8413])
    """
    x = _args.as_float_array("gelu", "x", x)
    _args.check_choice("gelu", "approximate", approximate, ("none", "tanh"))
    return _from_input(_gelu_f if approximate == "none" else _gelu_tanh_f, (), x)


def silu(x):
    """Element-wise ``x * sigmoid(x)`` (the swish); backward ``delta * s * (1 + x * (1 - s))``,
    ``s = sigmoid(x)`` (derivation, Eq. 38; residual: ``x``).

    Args:
      x: any shape, floating dtype.

    Returns:
      same shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.silu(jnp.array([0.0, 1.0]))
      Array([0.       , 0.7310586], dtype=float32)
    """
    x = _args.as_float_array("silu", "x", x)
    return _from_input(_silu_f, (), x)


def softplus(x, beta=1.0, threshold=20.0):
    """Element-wise ``log(1 + exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold``
    (as PyTorch); backward ``delta * sigmoid(beta * x)``, and ``delta`` where the identity holds
    (derivation, Eq. 39; residual: ``x``). Evaluated stably: no overflow for any
    ``threshold``.

    Args:
      x: any shape, floating dtype.
      beta: a positive finite Python number (static).
      threshold: a finite Python number (static); above it (in ``beta * x``) softplus is the
        identity.

    Returns:
      same shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.softplus(jnp.array([0.0, 30.0]))
      Array([ 0.6931472, 30.       ], dtype=float32)
    """
    x = _args.as_float_array("softplus", "x", x)
    beta = _args.check_number("softplus", "beta", beta, low=0, low_open=True,
                              expect="a positive finite number")
    threshold = _args.check_number("softplus", "threshold", threshold)
    return _from_input(_softplus_f, (beta, threshold), x)


def hardswish(x):
    """Element-wise ``x * min(max(x + 3, 0), 6) / 6`` (MobileNetV3's hard swish): 0 for
    ``x <= -3``, ``x (x + 3) / 6`` between, ``x`` from 3 on; backward ``delta`` times 0,
    ``x / 3 + 1/2`` and 1 on the three pieces (derivation, Eq. 51; residual: ``x``). As
    PyTorch's, the gradient is 0 at ``x = -3``, 1 at ``x = 3`` and 1 at NaN; unlike PyTorch's,
    ``hardswish(-inf)`` is 0 (the limit), not ``-inf * 0 = nan``.

    Args:
      x: any shape, floating dtype.

    Returns:
      same shape and dtype.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.hardswish(jnp.array([-4.0, 0.0, 1.5, 4.0]))
      Array([0.   , 0.   , 1.125, 4.   ], dtype=float32)
    """
    x = _args.as_float_array("hardswish", "x", x)
    return _from_input(_hardswish_f, (), x)


# ----- softmax and log_softmax: Eq. 40-41, one rule written in the output along an axis --------

def _max_no_grad(x, axis):
    """The row maxima, subtracted only for range (the result does not depend on them); an empty
    axis gives -inf, not an error."""
    return lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True, initial=-jnp.inf))


def _softmax_f(x, axis):                 # Eq. 40
    e = jnp.exp(x - _max_no_grad(x, axis))
    return e / jnp.sum(e, axis=axis, keepdims=True)


def _log_softmax_f(x, axis):             # Eq. 41
    s = x - _max_no_grad(x, axis)
    return s - jnp.log(jnp.sum(jnp.exp(s), axis=axis, keepdims=True))


# the vector-Jacobian product of each, written in its output y and the cotangent delta
_VJP_FROM_OUTPUT = {
    _softmax_f: lambda y, d, axis: y * (d - jnp.sum(d * y, axis=axis, keepdims=True)),
    _log_softmax_f: lambda y, d, axis: d - jnp.exp(y) * jnp.sum(d, axis=axis, keepdims=True)}


def _normalized_value(fn, axis, x):
    return _in_acc(functools.partial(fn, axis=axis), x)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _normalized(fn, axis, x):
    return _normalized_value(fn, axis, x)


# _normalized_fwd :: x -> (y, y)   (16-bit inputs: (y, x))
def _normalized_fwd(fn, axis, x):
    y = _normalized_value(fn, axis, x)
    return y, _output_residual(x, y)


# _normalized_bwd :: (fn, axis, y or x, CT y) -> (CT x,):  softmax y * (delta - sum(delta y)),
# log_softmax delta - e^y sum(delta), the sums along `axis`
def _normalized_bwd(fn, axis, res, delta):
    y = _output_in_acc(functools.partial(fn, axis=axis), res)
    return (_VJP_FROM_OUTPUT[fn](y, delta.astype(y.dtype), axis).astype(delta.dtype),)


_normalized.defvjp(_normalized_fwd, _normalized_bwd)


def _axis(op, axis, x) -> int:
    """``axis`` as an index in ``[0, max(x.ndim, 1))``; a 0-d ``x`` counts as one element along
    axis 0 (or -1), as in PyTorch."""
    axis = _args.check_int(op, "axis", axis)
    n = max(x.ndim, 1)
    if not -n <= axis < n:
        raise ValueError(f"jaxconv.{op}: `axis` (={axis}) is out of range for `x` of shape "
                         f"{tuple(x.shape)} ({x.ndim} dimensions); pass an axis in "
                         f"[{-n}, {n - 1}], e.g. axis=-1 for the last one.")
    return axis % n


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (computed as ``exp(x - max)``, so large logits
    do not overflow); backward ``y * (delta - sum(delta * y, axis))``
    (derivation, Eq. 40; residual: ``y``, or ``x`` for 16-bit inputs).

    Args:
      x: any shape, floating dtype.
      axis: the int axis normalised over (static; negative counts from the end).

    Returns:
      same shape and dtype; each slice along ``axis`` sums to 1.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.softmax(jnp.array([0.0, 0.0, jnp.log(2.0)]))
      Array([0.25, 0.25, 0.5 ], dtype=float32)
    """
    x = _args.as_float_array("softmax", "x", x)
    axis = _axis("softmax", axis, x)
    if x.ndim == 0:
        return _normalized(_softmax_f, 0, x[None])[0]
    return _normalized(_softmax_f, axis, x)


def log_softmax(x, axis=-1):
    """``x - log(sum(exp(x)))`` along ``axis`` (computed as ``x - max - log(sum(exp(x - max)))``,
    finite for logits of any size); backward ``delta - exp(y) * sum(delta, axis)``
    (derivation, Eq. 41; residual: ``y``, or ``x`` for 16-bit inputs).

    Args:
      x: any shape, floating dtype.
      axis: the int axis normalised over (static; negative counts from the end).

    Returns:
      same shape and dtype; ``exp`` of each slice along ``axis`` sums to 1.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.log_softmax(jnp.array([0.0, 0.0]))
      Array([-0.6931472, -0.6931472], dtype=float32)
    """
    x = _args.as_float_array("log_softmax", "x", x)
    axis = _axis("log_softmax", axis, x)
    if x.ndim == 0:
        return _normalized(_log_softmax_f, 0, x[None])[0]
    return _normalized(_log_softmax_f, axis, x)


# jaxconv.autodiff's activations: the same functions with the rules replaced by the plain forwards
AUTODIFF = {"_relu": _relu_value, "_smooth": _smooth_value, "_leaky_relu": _leaky_relu_value,
            "_from_input": _from_input_value, "_normalized": _normalized_value}


# ----- the registry entries ----------------------------------------------------------------------
# An activation's grid: its defaults on a 3-d and a 1-d input, then each option's extremes; its
# textbook loop: the activation's entry in textbook.activation_backward; its edge, NumPy and
# 16-bit checks: its example calls.

def _textbook(tb, case, inputs, delta):
    return (tb.activation_backward(case.op, inputs[0], delta, **case.kwargs),)


def _entry(fn, examples, rule, options=(), kink=None, spread=1.0, pytorch=None):
    """The registry entry of activation ``fn``: ``examples`` ``{name: call(ops, x)}``, calls of
    it; ``rule`` ``(f(x), backward, residual)`` for the docs' table of rules; ``options``
    ``[(shape, ((name, value), ...)), ...]`` the grid's option cases (default:
    the defaults on a 1-d input); ``kink(kwargs)`` where its derivative jumps, a number or a
    tuple (the grid's inputs keep away from it); ``spread`` the scale of the grid's
    standard-normal inputs (to reach every piece); ``pytorch`` its PyTorch counterpart (default
    ``F.<name>``)."""
    name = fn.__name__
    extra = list(options) or [((7,), ())]

    def condition(case, arrays, rng):
        arrays = [arrays[0] * spread] + arrays[1:] if spread != 1.0 else arrays
        return arrays if kink is None else _spec.away_from(arrays, kink(case.kwargs))

    return _spec.OpSpec(
        fn, kind="activation", textbook=_textbook, condition=condition, rule=rule,
        pytorch=pytorch or f"F.{name}",
        cases=lambda exhaustive: [_spec.Case(name, ((3, 4, 5),))] + [
            _spec.Case(name, (shape,), opts) for shape, opts in extra],
        examples=tuple(_spec.Example(k, call, ((2, 3, 4),)) for k, call in examples.items()))


def _softplus_kink(kw):                   # the switch to the identity, beta x = threshold
    return kw.get("threshold", 20.0) / kw.get("beta", 1.0)


SPECS = (
    _entry(relu, {"relu": lambda ops, x: ops.relu(x)}, kink=lambda kw: 0.0,
           rule=("`max(x, 0)`; NaN stays NaN", "`delta · [x > 0]`: 0 at 0 and at NaN (Eq. 22)",
                 "a mask (bool)")),
    _entry(sigmoid, {"sigmoid": lambda ops, x: ops.sigmoid(x)}, pytorch="torch.sigmoid",
           rule=("`s = 1 / (1 + e⁻ˣ)`", "`delta · s(1 - s)` (Eq. 23)",
                 "`s` (16-bit: `x`, recomputed in float32)")),
    _entry(tanh, {"tanh": lambda ops, x: ops.tanh(x)}, pytorch="torch.tanh",
           rule=("`t = tanh x`", "`delta · (1 - t²)` (Eq. 24)",
                 "`t` (16-bit: `x`, recomputed in float32)")),
    _entry(leaky_relu, {"leaky_relu": lambda ops, x: ops.leaky_relu(x, -0.3)},
           kink=lambda kw: 0.0,
           options=[((7,), (("negative_slope", 0.2),)), ((4, 5), (("negative_slope", -0.5),))],
           rule=("`x` for `x > 0`, else `a x`", "`delta · 1` or `delta · a` (`a` at 0) (Eq. 34)",
                 "a mask (bool)")),
    _entry(elu, {"elu": lambda ops, x: ops.elu(x, 0.7)}, kink=lambda kw: 0.0,
           options=[((7,), (("alpha", 0.5),)), ((4, 5), (("alpha", 2.0),))],
           rule=("`x` for `x > 0`, else `a (eˣ - 1)`",
                 "`delta · 1` or `delta · a eˣ` (`a` at 0) (Eq. 35)", "`x`")),
    _entry(gelu, {"gelu": lambda ops, x: ops.gelu(x),
                  "gelu_tanh": lambda ops, x: ops.gelu(x, approximate="tanh")},
           options=[((7,), ()), ((3, 4, 5), (("approximate", "tanh"),))],
           rule=("`x Φ(x)`, or its tanh form", "`delta · (Φ + xφ)` (Eq. 36), or the tanh "
                 "form's derivative (Eq. 37)", "`x`")),
    _entry(silu, {"silu": lambda ops, x: ops.silu(x)},
           rule=("`x s(x)`", "`delta · s(1 + x(1 - s))` (Eq. 38)", "`x`")),
    _entry(softplus, {"softplus": lambda ops, x: ops.softplus(x, 2.0, 3.0)}, kink=_softplus_kink,
           options=[((7,), ()), ((3, 4, 5), (("beta", 2.0), ("threshold", 1.0)))],
           rule=("`log(1 + e^(βx)) / β`; `x` where `βx > threshold`",
                 "`delta · s(βx)`; `delta` past the threshold (Eq. 39)", "`x`")),
    _entry(hardswish, {"hardswish": lambda ops, x: ops.hardswish(x)}, kink=lambda kw: (-3.0, 3.0),
           spread=3.0, rule=("`0`, `x(x + 3)/6`, `x` on `x ≤ -3`, `-3 < x < 3`, `x ≥ 3`",
                             "`delta` times `0`, `x/3 + ½`, `1` (Eq. 51)", "`x`")),
    _entry(softmax, {"softmax": lambda ops, x: ops.softmax(x, axis=1)},
           options=[((3, 4, 5), (("axis", 0),)), ((3, 4, 5), (("axis", 1),)), ((7,), ())],
           rule=("`exp(x - max) / Σ exp(x - max)` along `axis`",
                 "`y·(delta - Σ delta·y)` along `axis` (Eq. 40)",
                 "`y` (16-bit: `x`, recomputed in float32)")),
    _entry(log_softmax, {"log_softmax": lambda ops, x: ops.log_softmax(x)},
           options=[((3, 4, 5), (("axis", 0),)), ((3, 4, 5), (("axis", 1),)), ((7,), ())],
           rule=("`x - max - log Σ exp(x - max)` along `axis`",
                 "`delta - eʸ·Σ delta` along `axis` (Eq. 41)",
                 "`y` (16-bit: `x`, recomputed in float32)")),
)
