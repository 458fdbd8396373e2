r"""The equations of the derivation (``jaxconv derivation``) executed literally, with NumPy
loops (an oracle).

For small inputs only: every function loops over output positions and window taps exactly as the
index sums are written (Eq. 1, 4, 5; the pooling rules, Eq. 11-20; the dense rule, Eq. 26),
in float64, and returns NumPy arrays. The tests compare the hand-written VJPs with these, and
readers can step through Eq. 4 and Eq. 5 here. Argument normalisation (padding forms, output
sizes, ``ceil_mode``) is shared with the library; the arithmetic is not.

Layout as everywhere in jaxconv: activations ``(N, C, *S)``, kernels ``(D, C // groups, *K)``.
"""

from __future__ import annotations

import inspect
import itertools
import math

import numpy as np

from jaxconv._src.core import args as _args
from jaxconv._src.core import windows as _windows
from jaxconv._src.ops import conv as _conv


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def _grid(shape):
    return itertools.product(*(range(s) for s in shape))


_NP_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_source(j, lo, size, mode):
    """Input position that padded position ``j`` holds (None: a zero)."""
    i = j - lo
    if 0 <= i < size:
        return i
    if mode == "zeros":
        return None
    if mode == "reflect":
        return -i if i < 0 else 2 * (size - 1) - i
    if mode == "replicate":
        return 0 if i < 0 else size - 1
    return i % size                                  # circular


def _conv_setup(x, w, b, stride, padding, dilation, groups, flip, padding_mode="zeros"):
    x, w, b = _f64(x), _f64(w), _f64(b)
    cfg = _conv.conv_config(x, w, b, stride, padding, dilation, groups, flip, op="textbook.conv")
    w_eff = w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)] if flip else w
    xp = np.pad(x, [(0, 0), (0, 0)] + list(cfg.padding), mode=_NP_MODE[padding_mode])
    ks = w.shape[2:]
    extents = [_args.dilated_extent(k, r) for k, r in zip(ks, cfg.dilation)]
    outs = _args.conv_out_sizes(x.shape[2:], extents, cfg.stride, cfg.padding)
    return x, w_eff, b, cfg, xp, outs


def conv_forward(x, w, b=None, *, stride=1, padding="VALID", dilation=1, groups=1, flip=False,
                 padding_mode="zeros"):
    """Eq. 1:
    ``y[n,d,i] = sum_c sum_m w[d,c,m] x_pad[n,c,i*s+m*r] + b[d]``.

    Example:
      >>> import jax, jaxconv
      >>> x, w = np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2))
      >>> y = conv_forward(x, w, b=np.array([1.0]))
      >>> y.shape, y.dtype
      ((1, 1, 3, 3), dtype('float64'))
      >>> y[0, 0].tolist()
      [[11.0, 15.0, 19.0], [27.0, 31.0, 35.0], [43.0, 47.0, 51.0]]
      >>> np.allclose(y, jax.jit(jaxconv.conv)(x, w, np.array([1.0])))
      True
    """
    x, w, b, cfg, xp, outs = _conv_setup(x, w, b, stride, padding, dilation, groups, flip,
                                         padding_mode)
    n_, c_ = x.shape[:2]
    d_, cg = w.shape[:2]
    dg = d_ // cfg.groups
    y = np.zeros((n_, d_) + outs)
    for n, d, i in itertools.product(range(n_), range(d_), _grid(outs)):
        g = d // dg
        acc = 0.0 if b is None else b[d]
        for c in range(cg):
            for m in _grid(w.shape[2:]):
                p = tuple(ii * s + mm * r for ii, mm, s, r in zip(i, m, cfg.stride, cfg.dilation))
                acc += w[d, c][m] * xp[n, g * cg + c][p]
        y[(n, d) + i] = acc
    return y


def conv_backward(x, w, delta, *, stride=1, padding="VALID", dilation=1, groups=1, flip=False,
                  padding_mode="zeros"):
    """Returns ``(dE/dx, dE/dw, dE/db)`` for deltas ``(N, D, *O)``.

    * Eq. 4: ``dE/dw[d,c,m] = sum_{n,i} delta[n,d,i] * x_pad[n,c,i*s+m*r]``;
    * Eq. 5: ``dE/dx_pad[n,c,p] = sum_{d,m} delta[n,d,(p-m*r)/s] * w[d,c,m]`` over the ``m`` for
      which ``(p - m*r)/s`` is an output index, then each padded position's value added to the
      input position it holds (cropped, for zero padding);
    * bias: ``dE/db[d] = sum_{n,i} delta[n,d,i]``.

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x, w = np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2))
      >>> delta = np.ones((1, 1, 3, 3))
      >>> dx, dw, db = conv_backward(x, w, delta)
      >>> dx[0, 0].tolist()
      [[1.0, 2.0, 2.0, 1.0], [2.0, 4.0, 4.0, 2.0], [2.0, 4.0, 4.0, 2.0], [1.0, 2.0, 2.0, 1.0]]
      >>> dw[0, 0].tolist(), db.tolist()
      ([[45.0, 54.0], [81.0, 90.0]], [9.0])
      >>> grads = compiled_pullback(jaxconv.conv)((x, w), delta)
      >>> [np.allclose(a, b) for a, b in zip(grads, (dx, dw))]
      [True, True]
    """
    x, w_eff, _, cfg, xp, outs = _conv_setup(x, w, None, stride, padding, dilation, groups, flip,
                                             padding_mode)
    delta = _f64(delta)
    n_, c_ = x.shape[:2]
    d_, cg = w_eff.shape[:2]
    dg = d_ // cfg.groups
    ks = w_eff.shape[2:]
    dw = np.zeros_like(w_eff)
    for d, c, m in itertools.product(range(d_), range(cg), _grid(ks)):           # Eq. 4
        g = d // dg
        acc = 0.0
        for n, i in itertools.product(range(n_), _grid(outs)):
            p = tuple(ii * s + mm * r for ii, mm, s, r in zip(i, m, cfg.stride, cfg.dilation))
            acc += delta[(n, d) + i] * xp[n, g * cg + c][p]
        dw[(d, c) + m] = acc
    dxp = np.zeros_like(xp)
    for n, c, p in itertools.product(range(n_), range(c_), _grid(xp.shape[2:])):  # Eq. 5
        g, cc = divmod(c, cg)
        acc = 0.0
        for d in range(g * dg, (g + 1) * dg):
            for m in _grid(ks):
                q = [pp - mm * r for pp, mm, r in zip(p, m, cfg.dilation)]
                if all(v % s == 0 and 0 <= v // s < o for v, s, o in zip(q, cfg.stride, outs)):
                    i = tuple(v // s for v, s in zip(q, cfg.stride))
                    acc += delta[(n, d) + i] * w_eff[d, cc][m]
        dxp[(n, c) + p] = acc
    dx = np.zeros_like(x)
    for p in _grid(xp.shape[2:]):
        src = tuple(_pad_source(j, lo, size, padding_mode)
                    for j, (lo, _), size in zip(p, cfg.padding, x.shape[2:]))
        if None not in src:
            dx[(slice(None), slice(None)) + src] += dxp[(slice(None), slice(None)) + p]
    if flip:
        dw = dw[(slice(None), slice(None)) + (slice(None, None, -1),) * len(ks)]
    db = delta.sum(axis=(0,) + tuple(range(2, delta.ndim)))
    return dx, dw, db


def _window_taps(cfg: _windows.Window, o):
    """Input positions (unpadded coordinates) of the taps of output ``o``, row-major order."""
    for m in _grid(cfg.window):
        yield tuple(oo * s + mm * d - lo for oo, mm, s, d, (lo, _) in
                    zip(o, m, cfg.stride, cfg.dilation, cfg.padding))


def _inside(pos, sizes):
    return all(0 <= p < s for p, s in zip(pos, sizes))


def max_pool_forward(x, window, stride=None, padding="VALID", ceil_mode=False, *, dilation=1):
    """Returns ``(y, winners)``; ``winners[n, c, o]`` is the input position (a tuple) that won.

    Only real elements are visited; a later one wins if ``val > maxval or isnan(val)`` (ties: the
    first maximum; NaN: the last NaN), as PyTorch's max-pool kernels.

    Example:
      >>> import jax, jaxconv
      >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
      >>> y, winners = max_pool_forward(x, 2)
      >>> y[0, 0].tolist()
      [[5.0, 7.0], [13.0, 15.0]]
      >>> winners[0, 0].tolist()
      [[(1, 1), (1, 3)], [(3, 1), (3, 3)]]
      >>> np.allclose(y, jax.jit(lambda v: jaxconv.max_pool(v, 2))(x))
      True
    """
    x = _f64(x)
    cfg = _windows.pool_config("textbook.max_pool", x, window, stride, padding, ceil_mode,
                               dilation)
    y = np.zeros(x.shape[:2] + cfg.out_sizes)
    winners = np.empty(y.shape, dtype=object)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(cfg.out_sizes)):
        maxval, arg = -np.inf, None
        for pos in _window_taps(cfg, o):
            if not _inside(pos, cfg.in_sizes):
                continue
            val = x[(n, c) + pos]
            if arg is None:
                arg = pos                      # the first real element is the default winner
            if val > maxval or np.isnan(val):
                maxval, arg = val, pos
        y[(n, c) + o], winners[(n, c) + o] = maxval, arg
    return y, winners


def max_pool_backward(x, delta, window, stride=None, padding="VALID", ceil_mode=False, *,
                      dilation=1):
    """Each delta is added to its window's winning unit; overlapping windows accumulate.

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x = np.array([[[[0.0, 1.0, 0.0], [1.0, 5.0, 1.0], [0.0, 1.0, 0.0]]]])
      >>> delta = np.ones((1, 1, 2, 2))
      >>> dx = max_pool_backward(x, delta, 2, stride=1)
      >>> dx[0, 0].tolist()       # the centre wins all four windows
      [[0.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 0.0]]
      >>> (g,) = compiled_pullback(lambda v: jaxconv.max_pool(v, 2, stride=1))((x,), delta)
      >>> np.allclose(g, dx)
      True
    """
    _, winners = max_pool_forward(x, window, stride, padding, ceil_mode, dilation=dilation)
    delta = _f64(delta)
    dx = np.zeros(np.shape(x))
    for idx in _grid(delta.shape):
        dx[idx[:2] + winners[idx]] += delta[idx]
    return dx


def _avg_divisor(cfg, o, count_include_pad, divisor_override):
    """PyTorch's rule: the window clipped to input + declared padding, or to the input only."""
    if divisor_override is not None:
        return float(divisor_override)
    size = 1
    for oo, k, s, (lo, hi), n in zip(o, cfg.window, cfg.stride, cfg.padding, cfg.in_sizes):
        start = oo * s - lo
        end = min(start + k, n + hi)
        if not count_include_pad:
            start, end = max(start, 0), min(end, n)
        size *= end - start
    return float(size)


def avg_pool_forward(x, window, stride=None, padding="VALID", ceil_mode=False,
                     count_include_pad=True, *, divisor_override=None):
    """``y[n,c,o] = (1/m) sum_t x_pad[n,c,o*s+t]``.

    Example:
      >>> import jax, jaxconv
      >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
      >>> avg_pool_forward(x, 2)[0, 0].tolist()
      [[2.5, 4.5], [10.5, 12.5]]
      >>> y = avg_pool_forward(x, 3, stride=2, padding=1, count_include_pad=False)
      >>> y[0, 0].tolist()
      [[2.5, 4.0], [8.5, 10.0]]
      >>> pool = jax.jit(lambda v: jaxconv.avg_pool(v, 3, 2, 1, count_include_pad=False))
      >>> np.allclose(y, pool(x))
      True
    """
    x = _f64(x)
    cfg = _windows.pool_config("textbook.avg_pool", x, window, stride, padding, ceil_mode)
    y = np.zeros(x.shape[:2] + cfg.out_sizes)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(cfg.out_sizes)):
        total = sum(x[(n, c) + pos] for pos in _window_taps(cfg, o) if _inside(pos, cfg.in_sizes))
        y[(n, c) + o] = total / _avg_divisor(cfg, o, count_include_pad, divisor_override)
    return y


def avg_pool_backward(x, delta, window, stride=None, padding="VALID", ceil_mode=False,
                      count_include_pad=True, *, divisor_override=None):
    """Eq. 16: every element of a window receives ``delta / m``; overlapping windows accumulate.

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x = np.zeros((1, 1, 3, 3))
      >>> delta = np.ones((1, 1, 2, 2))
      >>> dx = avg_pool_backward(x, delta, 2, stride=1)
      >>> dx[0, 0].tolist()
      [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]
      >>> (g,) = compiled_pullback(lambda v: jaxconv.avg_pool(v, 2, stride=1))((x,), delta)
      >>> np.allclose(g, dx)
      True
    """
    x, delta = _f64(x), _f64(delta)
    cfg = _windows.pool_config("textbook.avg_pool", x, window, stride, padding, ceil_mode)
    dx = np.zeros_like(x)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(cfg.out_sizes)):
        share = delta[(n, c) + o] / _avg_divisor(cfg, o, count_include_pad, divisor_override)
        for pos in _window_taps(cfg, o):
            if _inside(pos, cfg.in_sizes):
                dx[(n, c) + pos] += share
    return dx


def lp_pool_forward(x, window, p=2.0, stride=None, padding="VALID", ceil_mode=False):
    """``y = (sum_t |x_t|^p)^(1/p)`` over each window.

    Example:
      >>> import jax, jaxconv
      >>> x = np.array([[[3.0, 4.0, 0.0, -5.0]]])
      >>> lp_pool_forward(x, 2).tolist()
      [[[5.0, 5.0]]]
      >>> lp_pool_forward(x, 2, p=1.0).tolist()
      [[[7.0, 5.0]]]
      >>> np.allclose(lp_pool_forward(x, 2), jax.jit(lambda v: jaxconv.lp_pool(v, 2))(x))
      True
    """
    x = _f64(x)
    cfg = _windows.pool_config("textbook.lp_pool", x, window, stride, padding, ceil_mode)
    y = np.zeros(x.shape[:2] + cfg.out_sizes)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(cfg.out_sizes)):
        total = sum(abs(x[(n, c) + pos]) ** p for pos in _window_taps(cfg, o)
                    if _inside(pos, cfg.in_sizes))
        y[(n, c) + o] = total ** (1.0 / p)
    return y


def lp_pool_backward(x, delta, window, p=2.0, stride=None, padding="VALID", ceil_mode=False):
    """``dE/dx_t += delta * x_t |x_t|^(p-2) / y^(p-1)`` per window; windows with ``y = 0`` add 0.

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x = np.array([[[3.0, 4.0, 0.0, -5.0]]])
      >>> delta = np.ones((1, 1, 2))
      >>> dx = lp_pool_backward(x, delta, 2)
      >>> dx.tolist()             # p = 2: x / y
      [[[0.6, 0.8, 0.0, -1.0]]]
      >>> (g,) = compiled_pullback(lambda v: jaxconv.lp_pool(v, 2))((x,), delta)
      >>> np.allclose(g, dx)
      True
    """
    x, delta = _f64(x), _f64(delta)
    y = lp_pool_forward(x, window, p, stride, padding, ceil_mode)
    cfg = _windows.pool_config("textbook.lp_pool", x, window, stride, padding, ceil_mode)
    dx = np.zeros_like(x)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(cfg.out_sizes)):
        yo = y[(n, c) + o]
        if yo == 0:
            continue
        for pos in _window_taps(cfg, o):
            if _inside(pos, cfg.in_sizes):
                v = x[(n, c) + pos]
                dx[(n, c) + pos] += (delta[(n, c) + o] * np.sign(v) * abs(v) ** (p - 1)
                                     / yo ** (p - 1))
    return dx


def _normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf, otypes=[np.float64])(x / math.sqrt(2.0)))


def _along_last(fn, x, delta, axis):
    """``fn`` of the slices along ``axis``: moved last, applied, moved back."""
    out = fn(np.moveaxis(x, axis, -1), np.moveaxis(delta, axis, -1))
    return np.moveaxis(out, -1, axis)


def activation_backward(name, x, delta, **options):
    """Eq. 21's ``f'(x)`` factor (Eq. 22-24, 34-39 and 51): ``delta * f'(x)``, and the
    vector-Jacobian products of softmax and log_softmax (Eq. 40-41) through their full
    Jacobians along ``axis``. Options as the ops take them: ``negative_slope`` (leaky_relu),
    ``alpha`` (elu), ``approximate`` (gelu: "none" or "tanh"), ``beta`` and ``threshold``
    (softplus), ``axis`` (softmax, log_softmax).

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x, delta = np.array([-1.0, 0.5, 2.0]), np.ones(3)
      >>> activation_backward("relu", x, delta).tolist()
      [0.0, 1.0, 1.0]
      >>> activation_backward("leaky_relu", x, delta, negative_slope=0.1).tolist()
      [0.1, 1.0, 1.0]
      >>> delta = np.array([1.0, 0.0, -1.0])
      >>> (g,) = compiled_pullback(jaxconv.softmax)((x,), delta)
      >>> np.allclose(activation_backward("softmax", x, delta), g)
      True
    """
    x, delta = _f64(x), _f64(delta)
    if name not in _ACTIVATIONS:
        raise ValueError(f"jaxconv.textbook.activation_backward: unknown activation {name!r}; "
                         f"expected one of {', '.join(repr(a) for a in _ACTIVATIONS)}.")
    takes = list(inspect.signature(_ACTIVATIONS[name]).parameters)[2:]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise TypeError(f"jaxconv.textbook.activation_backward: {name} takes "
                        f"{', '.join(takes) or 'no options'}; remove {', '.join(unknown)}.")
    return _ACTIVATIONS[name](x, delta, **options)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _sigmoid_slope(x):                                                          # Eq. 23
    s = _sigmoid(x)
    return s * (1.0 - s)


def _gelu(x, delta, approximate="none"):
    if approximate == "none":                                                   # Eq. 36
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return delta * (_normal_cdf(x) + x * pdf)
    c, k = math.sqrt(2.0 / math.pi), 0.044715                                   # Eq. 37
    t = np.tanh(c * (x + k * x ** 3))
    return delta * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t ** 2) * c * (1.0 + 3.0 * k * x ** 2))


def _softplus(x, delta, beta=1.0, threshold=20.0):                             # Eq. 39
    z = beta * x
    return delta * np.where(z > threshold, 1.0, 1.0 / (1.0 + np.exp(-np.minimum(z, 700))))


def _normalized(name):
    """softmax / log_softmax (Eq. 40-41): ``delta`` times the full Jacobian along ``axis``."""
    def backward(x, delta, axis=-1):
        def vjp(v, d):
            e = np.exp(v - v.max(axis=-1, keepdims=True))
            p = e / e.sum(axis=-1, keepdims=True)
            eye = np.eye(v.shape[-1])
            if name == "softmax":      # J[k, j] = dy_k / dx_j = y_k ([k = j] - y_j)
                jac = p[..., :, None] * (eye - p[..., None, :])
            else:                      # J[k, j] = [k = j] - softmax_j
                jac = eye - p[..., None, :]
            return np.einsum("...k,...kj->...j", d, jac)
        return _along_last(vjp, x, delta, axis)
    return backward


# each activation's delta * f'(x), with the options the op takes
_ACTIVATIONS = {
    "relu": lambda x, delta: delta * (x > 0),                                   # Eq. 22
    "sigmoid": lambda x, delta: delta * _sigmoid_slope(x),                      # Eq. 23
    "tanh": lambda x, delta: delta * (1.0 - np.tanh(x) ** 2),                   # Eq. 24
    "leaky_relu": lambda x, delta, negative_slope=0.01:                         # Eq. 34
        delta * np.where(x > 0, 1.0, negative_slope),
    "elu": lambda x, delta, alpha=1.0:                                          # Eq. 35
        delta * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))),
    "gelu": _gelu,
    "silu": lambda x, delta: delta * (_sigmoid(x) + x * _sigmoid_slope(x)),     # Eq. 38
    "softplus": _softplus,
    "hardswish": lambda x, delta:                                               # Eq. 51
        delta * np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0)),
    "softmax": _normalized("softmax"),
    "log_softmax": _normalized("log_softmax"),
}


def dense_backward(x, w, delta):
    """Eq. 26, the MLP rule, as loops: ``dx[n,i] = sum_j delta[n,j] w[i,j]``,
    ``dw[i,j] = sum_n x[n,i] delta[n,j]``, ``db[j] = sum_n delta[n,j]``.

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x, w = np.array([[1.0, 2.0]]), np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
      >>> delta = np.ones((1, 3))
      >>> dx, dw, db = dense_backward(x, w, delta)
      >>> dx.tolist(), dw.tolist(), db.tolist()
      ([[0.0, 3.0]], [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]], [1.0, 1.0, 1.0])
      >>> grads = compiled_pullback(jaxconv.dense)((x, w, np.zeros(3)), delta)
      >>> [np.allclose(a, b) for a, b in zip(grads, (dx, dw, db))]
      [True, True, True]
    """
    x, w, delta = _f64(x), _f64(w), _f64(delta)
    n_, i_ = x.shape
    j_ = w.shape[1]
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for n, i, j in itertools.product(range(n_), range(i_), range(j_)):
        dx[n, i] += delta[n, j] * w[i, j]
        dw[i, j] += x[n, i] * delta[n, j]
    return dx, dw, delta.sum(axis=0)


def mse_backward(y, t, reduction="sum"):
    """Eq. 28: ``dE/dy_p = y_p - t_p`` (divided by the element count for "mean").

    Example:
      >>> import jax, jaxconv
      >>> y, t = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 0.0, 1.0, 0.0])
      >>> mse_backward(y, t).tolist()
      [0.0, 2.0, 2.0, 4.0]
      >>> mse_backward(y, t, "mean").tolist()
      [0.0, 0.5, 0.5, 1.0]
      >>> np.allclose(mse_backward(y, t), jax.jit(jax.grad(jaxconv.mse))(y, t))
      True
    """
    y, t = _f64(y), _f64(t)
    return (y - t) / (y.size if reduction == "mean" else 1)


def softmax_cross_entropy_backward(logits, labels, reduction="mean", label_smoothing=0.0,
                                   ignore_index=None, weights=None):
    """``dE/dz_n = w_n (softmax(z_n) * sum_k t_nk - t_n)`` (``t`` one-hot for integer labels,
    smoothed ``(1 - eps) t + eps / K``), rows with ``ignore_index`` zero, "mean" divided by the
    sum of the weights of the rows kept (PyTorch).

    Example:
      >>> import jax, jaxconv
      >>> logits, labels = np.zeros((2, 3)), np.array([0, 2])
      >>> np.round(softmax_cross_entropy_backward(logits, labels), 4).tolist()
      [[-0.3333, 0.1667, 0.1667], [0.1667, 0.1667, -0.3333]]
      >>> g = softmax_cross_entropy_backward(logits, labels, ignore_index=2)
      >>> np.round(g[0], 4).tolist(), bool(np.all(g[1] == 0))      # row 1 ignored
      ([-0.6667, 0.3333, 0.3333], True)
      >>> g = jax.jit(jax.grad(jaxconv.softmax_cross_entropy))(logits, labels)
      >>> np.allclose(softmax_cross_entropy_backward(logits, labels), g)
      True
    """
    z = _f64(logits)
    n, k = z.shape
    labels = np.asarray(labels)
    kept = np.ones(n, bool)
    if np.issubdtype(labels.dtype, np.integer):
        if ignore_index is not None:
            kept = labels != ignore_index
        t = np.eye(k)[np.where(kept, labels, 0)]
    else:
        t = labels.astype(np.float64)
    t = t * (1 - label_smoothing) + label_smoothing / k
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    w = np.ones(n) if weights is None else _f64(weights)
    w = np.where(kept, w, 0.0)
    dz = (p * t.sum(axis=1, keepdims=True) - t) * w[:, None]
    return dz / (w.sum() if reduction == "mean" else 1)


def sigmoid_binary_cross_entropy_backward(logits, targets, reduction="mean"):
    """``dE/dz = sigmoid(z) - t``, ``dE/dt = -z`` (divided by the element count for "mean").

    Example:
      >>> import jax, jaxconv
      >>> z, t = np.array([1.0, -2.0]), np.array([1.0, 0.0])
      >>> dz, dt = sigmoid_binary_cross_entropy_backward(z, t)
      >>> np.round(dz, 4).tolist(), dt.tolist()
      ([-0.1345, 0.0596], [-0.5, 1.0])
      >>> grads = jax.jit(jax.grad(jaxconv.sigmoid_binary_cross_entropy, argnums=(0, 1)))(z, t)
      >>> [np.allclose(a, b) for a, b in zip(grads, (dz, dt))]
      [True, True]
    """
    z, t = _f64(logits), _f64(targets)
    scale = z.size if reduction == "mean" else 1
    return (1 / (1 + np.exp(-z)) - t) / scale, -z / scale


def huber_backward(y, t, reduction="mean", delta=1.0):
    """``dE/dy = d`` where ``|d| < delta``, else ``delta * sign(d)``; ``dE/dt = -dE/dy``.

    Example:
      >>> import jax, jaxconv
      >>> y, t = np.array([0.5, 3.0, -2.0]), np.zeros(3)
      >>> dy, dt = huber_backward(y, t, "sum")
      >>> dy.tolist(), dt.tolist()
      ([0.5, 1.0, -1.0], [-0.5, -1.0, 1.0])
      >>> np.allclose(dy, jax.jit(jax.grad(jaxconv.huber), static_argnums=2)(y, t, "sum"))
      True
    """
    d = _f64(y) - _f64(t)
    g = np.where(np.abs(d) < delta, d, delta * np.sign(d)) / (d.size if reduction == "mean" else 1)
    return g, -g


def max_unpool_backward(indices, delta):
    """``dE/dx[n, c, o] = delta[n, c, indices[n, c, o]]`` (flat positions of each plane) for the
    value that was written there: the last ``o`` in flat order with that index; zero for the
    others and for indices outside the plane.

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> delta = np.array([[[10.0, 20.0, 30.0, 40.0]]])
      >>> max_unpool_backward(np.array([[[1, 3]]]), delta).tolist()
      [[[20.0, 40.0]]]
      >>> max_unpool_backward(np.array([[[1, 1]]]), delta).tolist()   # the last write counts
      [[[0.0, 20.0]]]
      >>> idx = np.array([[[1, 3]]])
      >>> unpool = compiled_pullback(lambda v: jaxconv.max_unpool(v, idx, 2))
      >>> np.allclose(unpool((np.ones((1, 1, 2)),), delta)[0], max_unpool_backward(idx, delta))
      True
    """
    delta = _f64(delta)
    flat = delta.reshape(delta.shape[:2] + (-1,))
    idx = np.asarray(indices).reshape(indices.shape[:2] + (-1,))
    dx = np.zeros(idx.shape)
    for n, c in itertools.product(range(idx.shape[0]), range(idx.shape[1])):
        seen = set()
        for o in reversed(range(idx.shape[2])):
            i = int(idx[n, c, o])
            if 0 <= i < flat.shape[2] and i not in seen:
                seen.add(i)
                dx[n, c, o] = flat[n, c, i]
    return dx.reshape(indices.shape)


def _transpose_pairs(x, w, stride, padding, output_padding, dilation, groups):
    """Every ``(n, c, i, o, m, p)``: input ``x[n, c, i]`` meets ``w[c, o', m]`` at output
    position ``p = i*s + m*r - lo`` of channel ``o`` (PyTorch's transposed convolution)."""
    from jaxconv._src.ops import conv_transpose as _conv_transpose
    cfg = _conv_transpose.conv_transpose_config(x, w, None, stride, padding, output_padding,
                                                dilation, groups)
    win = cfg.window
    cg_out, cin_g = w.shape[1], x.shape[1] // groups
    pairs = []
    for n, c, i in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(x.shape[2:])):
        for o, m in itertools.product(range(cg_out), _grid(w.shape[2:])):
            p = tuple(ii * s + mm * r - lo for ii, mm, s, r, (lo, _) in
                      zip(i, m, win.stride, win.dilation, win.padding))
            if _inside(p, win.in_sizes):
                pairs.append((n, c, i, (c // cin_g) * cg_out + o, (o,) + m, p))
    return pairs, (x.shape[0], cg_out * groups) + win.in_sizes


def conv_transpose_forward(x, w, b=None, *, stride=1, padding=0, output_padding=0, dilation=1,
                           groups=1):
    """``y[n, o, i*s + m*r - lo] += x[n, c, i] * w[c, o', m]`` over every input position ``i``,
    tap ``m`` and channel ``c`` of ``o``'s group: each input scatters the kernel (PyTorch's
    transposed convolution, the convolution's Eq. 5 run forward, Eq. 9).

    Example:
      >>> import jax, jaxconv
      >>> x, w = np.ones((1, 1, 2)), np.array([[[1.0, 2.0, 3.0]]])
      >>> y = conv_transpose_forward(x, w, stride=2)
      >>> y.tolist()              # two copies of the kernel, overlapping at position 2
      [[[1.0, 2.0, 4.0, 2.0, 3.0]]]
      >>> np.allclose(y, jax.jit(lambda a, b: jaxconv.conv_transpose(a, b, stride=2))(x, w))
      True
    """
    x, w, b = _f64(x), _f64(w), _f64(b)
    pairs, shape = _transpose_pairs(x, w, stride, padding, output_padding, dilation, groups)
    y = np.zeros(shape)
    for n, c, i, o, om, p in pairs:
        y[(n, o) + p] += x[(n, c) + i] * w[(c,) + om]
    if b is not None:
        y += b.reshape((1, -1) + (1,) * (y.ndim - 2))
    return y


def conv_transpose_backward(x, w, delta, *, stride=1, padding=0, output_padding=0, dilation=1,
                            groups=1):
    """``dx[n,c,i] = sum_{o,m} delta[n,o,i*s+m*r-lo] w[c,o',m]`` (the convolution's forward),
    ``dw[c,o',m] = sum_{n,i} x[n,c,i] delta[n,o,i*s+m*r-lo]`` (its weight gradient), ``db``.

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x, w = np.ones((1, 1, 2)), np.array([[[1.0, 2.0, 3.0]]])
      >>> delta = np.arange(5.0).reshape(1, 1, 5)
      >>> dx, dw, db = conv_transpose_backward(x, w, delta, stride=2)
      >>> dx.tolist(), dw.tolist(), db.tolist()
      ([[[8.0, 20.0]]], [[[2.0, 4.0, 6.0]]], [10.0])
      >>> pullback = compiled_pullback(lambda a, b: jaxconv.conv_transpose(a, b, stride=2))
      >>> [np.allclose(a, b) for a, b in zip(pullback((x, w), delta), (dx, dw))]
      [True, True]
    """
    x, w, delta = _f64(x), _f64(w), _f64(delta)
    pairs, _ = _transpose_pairs(x, w, stride, padding, output_padding, dilation, groups)
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for n, c, i, o, om, p in pairs:
        d = delta[(n, o) + p]
        dx[(n, c) + i] += d * w[(c,) + om]
        dw[(c,) + om] += d * x[(n, c) + i]
    return dx, dw, delta.sum(axis=(0,) + tuple(range(2, delta.ndim)))


def _bins(size, out):
    return [range((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def adaptive_pool_backward(kind, x, delta, output_size):
    """PyTorch's bins ``[floor(iL/O), ceil((i+1)L/O))``: ``"avg"`` spreads ``delta / m`` over the
    bin, ``"max"`` gives it to the bin's first maximum (the last NaN if any).

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x, delta = np.array([[[0.0, 1.0, 2.0, 1.0, 3.0]]]), np.ones((1, 1, 2))
      >>> adaptive_pool_backward("max", x, delta, 2).tolist()     # bins [0, 3) and [2, 5)
      [[[0.0, 0.0, 1.0, 0.0, 1.0]]]
      >>> np.round(adaptive_pool_backward("avg", x, delta, 2), 4).tolist()
      [[[0.3333, 0.3333, 0.6667, 0.3333, 0.3333]]]
      >>> (g,) = compiled_pullback(lambda v: jaxconv.adaptive_avg_pool(v, 2))((x,), delta)
      >>> np.allclose(g, adaptive_pool_backward("avg", x, delta, 2))
      True
    """
    x, delta = _f64(x), _f64(delta)
    n = x.ndim - 2
    out = (output_size,) * n if isinstance(output_size, int) else tuple(output_size)
    bins = [_bins(size, o) for size, o in zip(x.shape[2:], out)]
    dx = np.zeros_like(x)
    for nn, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(out)):
        cells = list(itertools.product(*(bins[a][i] for a, i in enumerate(o))))
        d = delta[(nn, c) + o]
        if kind == "avg":
            for cell in cells:
                dx[(nn, c) + cell] += d / len(cells)
            continue
        best, arg = -np.inf, cells[0]
        for cell in cells:
            v = x[(nn, c) + cell]
            if v > best or np.isnan(v):
                best, arg = v, cell
        dx[(nn, c) + arg] += d
    return dx


def _norm_rows(kind, x, num_groups=None, num_axes=1):
    """``x`` as rows of one normalisation set each, the feature index of every element, and the
    inverse permutation: ``(rows (G, M), features (G, M), unflatten)``."""
    x = _f64(x)
    if kind == "batch_norm":       # one set per channel: (C, N * S)
        perm = (1, 0) + tuple(range(2, x.ndim))
        feats = np.broadcast_to(np.arange(x.shape[1]).reshape((1, -1) + (1,) * (x.ndim - 2)),
                                x.shape)
    elif kind == "group_norm":     # one set per example and group: (N * G, C / G * S)
        perm = tuple(range(x.ndim))
        feats = np.broadcast_to(np.arange(x.shape[1]).reshape((1, -1) + (1,) * (x.ndim - 2)),
                                x.shape)
    else:                          # layer norm: one set per leading index: (lead, F)
        perm = tuple(range(x.ndim))
        f = x.shape[x.ndim - num_axes:]
        feats = np.broadcast_to(np.arange(int(np.prod(f))).reshape(f), x.shape)
    xt, ft = x.transpose(perm), feats.transpose(perm)
    if kind == "batch_norm":
        groups = x.shape[1]
    elif kind == "group_norm":
        groups = x.shape[0] * num_groups
    else:
        groups = int(np.prod(x.shape[:x.ndim - num_axes]))
    rows, frows = xt.reshape(groups, -1), ft.reshape(groups, -1)

    def unflatten(r):
        return r.reshape(xt.shape).transpose(np.argsort(perm))
    return rows, frows, unflatten


def norm_backward(kind, x, scale, bias, delta, *, num_groups=None, num_axes=1, eps=1e-5,
                  training=True, mean=None, var=None):
    """Eq. 42-44 (and Eq. 46 for ``training=False`` batch norm) executed set by set: for each
    normalisation set the sums ``mu = sum x / M``, ``var = sum (x - mu)^2 / M`` in loops, then
    ``dx = (g - sum g / M - x_hat * sum g x_hat / M) / sigma`` with ``g = scale * delta``.
    Returns ``(dE/dx, dE/dscale, dE/dbias)`` (None for an absent scale or bias).

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x, delta = np.array([[1.0, 2.0, 3.0, 4.0]]), np.array([[1.0, 0.0, 0.0, 0.0]])
      >>> dx, dscale, dbias = norm_backward("layer_norm", x, np.ones(4), np.zeros(4), delta)
      >>> dx.shape, np.round(dscale, 4).tolist(), dbias.tolist()
      ((1, 4), [-1.3416, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0])
      >>> grads = compiled_pullback(jaxconv.layer_norm)((x, np.ones(4), np.zeros(4)), delta)
      >>> [np.allclose(a, b, atol=1e-6) for a, b in zip(grads, (dx, dscale, dbias))]
      [True, True, True]
    """
    rows, feats, unflatten = _norm_rows(kind, x, num_groups, num_axes)
    drows = _norm_rows(kind, delta, num_groups, num_axes)[0]
    sflat = None if scale is None else _f64(scale).reshape(-1)
    dx = np.zeros_like(rows)
    dscale = None if scale is None else np.zeros_like(sflat)
    dbias = None if bias is None else np.zeros(_f64(bias).size)
    for g_idx in range(rows.shape[0]):
        xr, dr, fr = rows[g_idx], drows[g_idx], feats[g_idx]
        m = len(xr)
        if training:
            mu = sum(xr) / m
            v = sum((xi - mu) ** 2 for xi in xr) / m
        else:                           # batch norm, evaluation: the running statistics
            mu, v = _f64(mean)[g_idx], _f64(var)[g_idx]
        sigma = np.sqrt(v + eps)
        x_hat = [(xi - mu) / sigma for xi in xr]
        g = [dr[j] * (1.0 if sflat is None else sflat[fr[j]]) for j in range(m)]
        mean_g = sum(g) / m
        mean_gx = sum(gj * xh for gj, xh in zip(g, x_hat)) / m
        for j in range(m):
            dx[g_idx, j] = ((g[j] - mean_g - x_hat[j] * mean_gx) / sigma if training
                            else g[j] / sigma)
            if dscale is not None:
                dscale[fr[j]] += dr[j] * x_hat[j]
            if dbias is not None:
                dbias[fr[j]] += dr[j]
    shape = None if scale is None else np.shape(scale)
    return (unflatten(dx), None if dscale is None else dscale.reshape(shape),
            None if dbias is None else dbias.reshape(np.shape(bias)))


def _interpolate_taps(o, in_size, out_size, mode, align_corners, scale_factor):
    """Eq. 47-49 on one axis: the ``(input position, weight)`` pairs output ``o`` reads."""
    if align_corners:                                                   # Eq. 47
        r = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    elif scale_factor is None or (mode == "linear" and in_size == out_size):
        r = in_size / out_size
    else:
        r = 1.0 / scale_factor
    last = in_size - 1
    if mode == "nearest":                                               # Eq. 48
        return [(min(int(np.floor(np.float32(o * r))), last), 1.0)]
    u = o * r if align_corners else max((o + 0.5) * r - 0.5, 0.0)
    if mode == "nearest-exact":
        return [(min(int(np.floor(np.float32(u + 0.5))), last), 1.0)]
    i0 = min(int(np.floor(np.float32(u))), last)                        # Eq. 49
    lam = min(max(u - i0, 0.0), 1.0)
    return [(i0, 1.0 - lam), (min(i0 + 1, last), lam)]


def _interpolate_setup(x, size, scale_factor, mode, align_corners):
    from jaxconv._src.ops import interpolate as _interp
    cfg = _interp.interpolate_config(x, size, scale_factor, mode, align_corners)
    taps = [[_interpolate_taps(o, s, out, cfg.mode, cfg.align_corners, f) for o in range(out)]
            for s, out, f in zip(cfg.in_sizes, cfg.out_sizes, cfg.scale_factors)]
    return cfg, taps


def _interpolate_corners(taps, o):
    """Every ``(input position, product of weights)`` that output position ``o`` reads."""
    for corner in itertools.product(*(taps[a][i] for a, i in enumerate(o))):
        yield tuple(p for p, _ in corner), float(np.prod([w for _, w in corner]))


def interpolate_forward(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Eq. 47-49: ``y[n,c,o] = sum over corners of prod_a w_a * x[n,c,i]`` (PyTorch's rules).

    Example:
      >>> import jax, jaxconv
      >>> x = np.array([[[0.0, 1.0, 2.0]]])
      >>> interpolate_forward(x, scale_factor=2, mode="linear").tolist()
      [[[0.0, 0.25, 0.75, 1.25, 1.75, 2.0]]]
      >>> interpolate_forward(x, size=5).tolist()                 # nearest
      [[[0.0, 0.0, 1.0, 1.0, 2.0]]]
      >>> y = interpolate_forward(x, scale_factor=2, mode="linear")
      >>> resize = jax.jit(lambda v: jaxconv.interpolate(v, scale_factor=2, mode="linear"))
      >>> np.allclose(y, resize(x))
      True
    """
    x = _f64(x)
    cfg, taps = _interpolate_setup(x, size, scale_factor, mode, align_corners)
    y = np.zeros(x.shape[:2] + cfg.out_sizes)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(cfg.out_sizes)):
        y[(n, c) + o] = sum(w * x[(n, c) + p] for p, w in _interpolate_corners(taps, o))
    return y


def interpolate_backward(x, delta, size=None, scale_factor=None, mode="nearest",
                         align_corners=None):
    """Eq. 50: each output's delta, times its product of weights, added to every input it
    read: ``dx[n,c,i] += prod_a w_a * delta[n,c,o]``.

    Example:
      >>> import jaxconv
      >>> from jaxconv.testing import compiled_pullback   # jax.vjp's pullback, compiled
      >>> x, delta = np.zeros((1, 1, 2)), np.ones((1, 1, 5))
      >>> interpolate_backward(x, delta, size=5).tolist()     # nearest: outputs 0-2 read x[0]
      [[[3.0, 2.0]]]
      >>> dx = interpolate_backward(x, delta, size=5, mode="linear")
      >>> up = compiled_pullback(lambda v: jaxconv.interpolate(v, size=5, mode="linear"))
      >>> np.allclose(up((x,), delta)[0], dx)
      True
    """
    x, delta = _f64(x), _f64(delta)
    cfg, taps = _interpolate_setup(x, size, scale_factor, mode, align_corners)
    dx = np.zeros_like(x)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(cfg.out_sizes)):
        for p, w in _interpolate_corners(taps, o):
            dx[(n, c) + p] += w * delta[(n, c) + o]
    return dx
