r"""Average pooling: each delta is spread evenly over its window.

Shapes: ``x`` is ``(N, C, *L)``, the output ``y`` and the deltas are ``(N, C, *O)``.

Forward::

    y[n, c, o] = (1 / m[o]) * sum_t x_pad[n, c, o*s + t]

where ``m[o]`` is the window size ``prod(window)`` (``count_include_pad=True``: declared padding
counts, the ceil-mode overhang does not, as PyTorch), the number of real elements in the window
(``count_include_pad=False``), or ``divisor_override``.

Backward (derivation, Eq. 16): each delta spread over its window, ``1/m`` per
element::

    dE/dx[n, c, p] = sum_{o, t : o*s + t - lo = p} delta[n, c, o] / m[o]

an up-sampling of ``delta / m``: the transpose of the windowed sum
(:func:`jaxconv._src.core.windows.window_sum_transpose`); overlapping windows accumulate.

Residuals: none (``m`` is a static function of the shapes).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import numpy as np

from jaxconv._src.core import args as _args
from jaxconv._src.core import spec as _spec
from jaxconv._src.core import windows as _windows


class AvgConfig(NamedTuple):
    window: _windows.Window
    count_include_pad: bool
    divisor_override: int | None
    divisor: float | tuple[float, ...]   # m: one float when uniform, else one per output (flat)


def _divisor(cfg: AvgConfig, dtype):
    """The ``m[o]`` of the forward in ``dtype``: a scalar, or a static ``(1, 1, *O)`` array."""
    m = cfg.divisor
    if isinstance(m, float):
        return np.asarray(m, dtype)
    return np.asarray(m, dtype).reshape((1, 1) + cfg.window.out_sizes)


def forward(x, cfg: AvgConfig):
    """``(N, C, *L) -> (N, C, *O)``, summed in float32 for 16-bit inputs."""
    acc = _args.acc_dtype(x.dtype)
    s = _windows.window_sum(_windows.pad(x.astype(acc), cfg.window, 0), cfg.window)
    return (s / _divisor(cfg, acc)).astype(x.dtype)


def spread(delta, cfg: AvgConfig):
    """``(N, C, *O) -> (N, C, *L)``: ``delta / m`` up-sampled over every window.

    (:func:`jaxconv._src.core.windows.window_sum_transpose`)."""
    acc = _args.acc_dtype(delta.dtype)
    g = delta.astype(acc) / _divisor(cfg, acc)
    return _windows.window_sum_transpose(g, cfg.window).astype(delta.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _avg_pool(x, cfg):
    return forward(x, cfg)


# _avg_pool_fwd :: x -> (y, ())
def _avg_pool_fwd(x, cfg):
    return forward(x, cfg), ()


# _avg_pool_bwd :: (cfg, (), CT y) -> (CT x,)
def _avg_pool_bwd(cfg, _, delta):
    return (spread(delta, cfg),)


_avg_pool.defvjp(_avg_pool_fwd, _avg_pool_bwd)


def avg_config(x, window, stride, padding, ceil_mode, count_include_pad,
               divisor_override) -> AvgConfig:
    """Validate the arguments of :func:`avg_pool` and normalise them to a config."""
    op = "avg_pool"
    win = _windows.pool_config(op, x, window, stride, padding, ceil_mode)
    _args.check_bool(op, "count_include_pad", count_include_pad)
    divisor_override = _args.check_int(op, "divisor_override", divisor_override, minimum=1,
                                       optional=True)
    if divisor_override is not None:
        m = float(divisor_override)
    else:
        sizes = _windows.window_sizes(win, include_pad=count_include_pad).ravel()
        m = float(sizes[0]) if (sizes == sizes[0]).all() else tuple(sizes.tolist())
    return AvgConfig(win, count_include_pad, divisor_override, m)


def avg_pool(x, window, stride=None, padding="VALID", ceil_mode=False, count_include_pad=True,
             *, divisor_override=None):
    r"""N-d average pooling, channels first; the backward spreads ``delta / m`` over windows.

    .. math::
        y[n, c, o] = \frac{1}{m[o]} \sum_{t} x_{pad}[n, c, o s + t]

    (derivation, Eq. 15-16.)

    Args:
      x: ``(N, C, *L)`` with 1, 2 or 3 spatial axes, floating dtype.
      window: window size; int or one per spatial axis.
      stride: int or one per axis; defaults to ``window``.
      padding: ``"VALID"``, ``"SAME"``, int, one int per axis, or ``(low, high)`` pairs
        (zeros).
      ceil_mode: round the output size up (PyTorch rule).
      count_include_pad: whether the declared zero padding counts in ``m``.
      divisor_override: use this ``m`` for every window instead.

    Returns:
      ``(N, C, *O)``.

    Example:
      >>> import jax.numpy as jnp, jaxconv as jc
      >>> jc.avg_pool(jnp.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
      Array([[ 2.5,  4.5],
             [10.5, 12.5]], dtype=float32)
    """
    cfg = avg_config(x, window, stride, padding, ceil_mode, count_include_pad, divisor_override)
    return _avg_pool(x, cfg)


# jaxconv.autodiff.avg_pool: the same function with the rule replaced by the plain forward
AUTODIFF = {"_avg_pool": forward}


# ----- the registry entry ------------------------------------------------------------------------

SPECS = (_spec.OpSpec(
    avg_pool, kind="pooling", pytorch="F.avg_pool1d/2d/3d",
    rule=("`y = (1/m) Σ window`, `m` the window size, the elements inside the input "
          "(`count_include_pad=False`) or `divisor_override` (Eq. 15)",
          "`delta / m` spread over the window (Eq. 16)", "none"),
    textbook=lambda tb, case, inputs, delta: (tb.avg_pool_backward(inputs[0], delta,
                                                                   **case.kwargs),),
    cases=lambda exhaustive: _spec.pool_cases("avg_pool", [
        (("padding", 1), ("count_include_pad", False), ("window", 3), ("stride", 2)),
        (("divisor_override", 5), ("window", 2))], exhaustive),
    examples=(_spec.Example(
        "avg_pool", lambda ops, x: ops.avg_pool(x, 3, 2, 1, count_include_pad=False),
        ((2, 3, 6, 6),)),)),)
