r"""Dense (fully connected) layer with the MLP delta rule (derivation, Eq. 25-26).

Shapes: ``x`` (the layer input ``a^{l-1}``) is ``(N, I)``, ``w`` is ``(I, J)``, ``b`` is ``(J,)``,
``z`` and ``delta = dE/dz`` are ``(N, J)``.

Forward: ``z = x @ w + b``.

Backward (Eq. 26, the dense case of ``delta^{l-1} = (W^l)^T delta^l * f'``, Eq. 33; the
``f'`` factor being the activation's own rule; with row-vector activations the transpose moves
to the right)::

    dE/dx = delta @ w^T          (N, J) @ (J, I) -> (N, I)
    dE/dw = x^T @ delta          (I, N) @ (N, J) -> (I, J)
    dE/db = sum_n delta[n]       (J,)

Residuals: ``x`` (for ``dE/dw``) and ``w`` (for ``dE/dx``), each only if that gradient is
requested (``symbolic_zeros``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec


class DenseConfig(NamedTuple):
    has_bias: bool
    precision: lax.Precision | None = None     # of the forward's and both gradients' products


def _matmul(a, b, contract_a, contract_b, out_dtype, precision=None):
    dims = (((contract_a,), (contract_b,)), ((), ()))
    out = lax.dot_general(a, b, dims, precision=precision,
                          preferred_element_type=_args.acc_dtype(a.dtype))
    return out.astype(out_dtype)


def forward(x, w, b, cfg: DenseConfig):
    """``(N, I), (I, J), (J,) | None -> (N, J)``."""
    acc = _args.acc_dtype(x.dtype)
    z = lax.dot_general(x, w, (((1,), (0,)), ((), ())), precision=cfg.precision,
                        preferred_element_type=acc)
    if cfg.has_bias:
        z = z + b.astype(acc)[None, :]
    return z.astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _dense(x, w, b, cfg):
    return forward(x, w, b, cfg)


# _dense_fwd :: (x, w, b) -> (z, (x if dE/dw is wanted, w if dE/dx is, () if dE/db is))
def _dense_fwd(x, w, b, cfg):
    z = forward(x.value, w.value, None if b is None else b.value, cfg)
    return z, _args.wanted(x, w, b)


# _dense_bwd :: (cfg, residuals, CT z) -> (CT x, CT w, CT b)
def _dense_bwd(cfg, res, delta):
    x, w, want_b = res
    if isinstance(delta, SymbolicZero):
        return None, None, None
    dx = None if w is None else _matmul(delta, w, 1, 1, w.dtype, cfg.precision)   # delta @ w^T
    dw = None if x is None else _matmul(x, delta, 0, 0, x.dtype, cfg.precision)   # x^T @ delta
    db = (None if want_b is None else
          jnp.sum(delta, axis=0, dtype=_args.acc_dtype(delta.dtype)).astype(delta.dtype))
    return dx, dw, db


_dense.defvjp(_dense_fwd, _dense_bwd, symbolic_zeros=True)


def dense_config(x, w, b, precision=None) -> DenseConfig:
    op = "dense"
    _args.check_float(op, "x", x)
    _args.check_float(op, "w", w)
    if b is not None:
        _args.check_float(op, "b", b)
    _args.check_same_dtype(op, x=x, w=w, b=b)
    _args.check_ndim(op, "x", x, 2, "(N, in_features)")
    _args.check_ndim(op, "w", w, 2, "(in_features, out_features)")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"jaxconv.dense: `x` has {x.shape[1]} features (shape {tuple(x.shape)}) "
                         f"but `w` expects {w.shape[0]} (shape {tuple(w.shape)}); w must be "
                         "(in_features, out_features). Flatten conv outputs with x.reshape(N, -1).")
    if b is not None and tuple(b.shape) != (w.shape[1],):
        raise ValueError(f"jaxconv.dense: `b` must have shape ({w.shape[1]},); "
                         f"got {tuple(b.shape)}.")
    return DenseConfig(b is not None, _args.check_precision(op, precision))


def dense(x, w, b=None, *, precision=None):
    r"""Fully connected layer ``z = x @ w + b`` with the MLP delta rule.

    .. math::
        \frac{\partial E}{\partial x} = \delta w^T, \quad
        \frac{\partial E}{\partial w} = x^T \delta, \quad
        \frac{\partial E}{\partial b} = \textstyle\sum_n \delta_n

    (derivation, Eq. 25-26.)

    Args:
      x: ``(N, in_features)``, floating dtype.
      w: ``(in_features, out_features)``.
      b: optional ``(out_features,)``.
      precision: of the three matrix products (as :func:`jaxconv.conv`'s).

    Returns:
      ``(N, out_features)``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.dense(jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.zeros(4))
      Array([[3., 3., 3., 3.],
             [3., 3., 3., 3.]], dtype=float32)
    """
    return _dense(x, w, b, dense_config(x, w, b, precision))


# jaxconv.autodiff.dense: the same function with the rule replaced by the plain forward
AUTODIFF = {"_dense": forward}


# ----- the registry entry ------------------------------------------------------------------------

def _textbook(tb, case, inputs, delta):
    dx, dw, db = tb.dense_backward(inputs[0], inputs[1], delta)
    return (dx, dw, db)[:len(inputs)]


SPECS = (_spec.OpSpec(
    dense, kind="dense", textbook=_textbook, pytorch="F.linear",
    rule=("`z = x @ w + b` (Eq. 25)",
          "`delta @ wᵀ`, `xᵀ @ delta`, `Σ_n delta` (the MLP delta rule, Eq. 26)", "`x`, `w`"),
    cases=lambda exhaustive: [_spec.Case("dense", ((5, 7), (7, 3), (3,))),
                              _spec.Case("dense", ((5, 7), (7, 3)))],
    examples=(_spec.Example("dense", lambda ops, x, w, b: ops.dense(x, w, b),
                            ((2, 5), (5, 3), (3,))),)),)
