r"""The equations of the source documents executed literally, with NumPy loops (an oracle).

For small inputs only: every function loops over output positions and window taps exactly as the
index sums are written (000 Eq. 7, 13, 20; the pooling rules of 000 and 004; the MLP rule of 003),
in float64, and returns NumPy arrays. The tests compare the hand-written VJPs with these, and
readers can step through Eq. 13 and Eq. 21 here. Argument normalisation (padding forms, output
sizes, ``ceil_mode``) is shared with the library; the arithmetic is not.

Layout as everywhere in jaxconv: activations ``(N, C, *S)``, kernels ``(D, C // groups, *K)``.
"""

from __future__ import annotations

import itertools

import numpy as np

from . import _args, _conv, _windows


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def _grid(shape):
    return itertools.product(*(range(s) for s in shape))


def _conv_setup(x, w, b, stride, padding, dilation, groups, flip):
    x, w, b = _f64(x), _f64(w), _f64(b)
    cfg = _conv.conv_config(x, w, b, stride, padding, dilation, groups, flip, op="textbook.conv")
    w_eff = w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)] if flip else w
    xp = np.pad(x, [(0, 0), (0, 0)] + list(cfg.padding))
    ks = w.shape[2:]
    extents = [_args.dilated_extent(k, r) for k, r in zip(ks, cfg.dilation)]
    outs = _args.conv_out_sizes(x.shape[2:], extents, cfg.stride, cfg.padding)
    return x, w_eff, b, cfg, xp, outs


def conv_forward(x, w, b=None, *, stride=1, padding="VALID", dilation=1, groups=1, flip=False):
    """Eq. 7 (Eq. 4 with channels):
    ``y[n,d,i] = sum_c sum_m w[d,c,m] x_pad[n,c,i*s+m*r] + b[d]``."""
    x, w, b, cfg, xp, outs = _conv_setup(x, w, b, stride, padding, dilation, groups, flip)
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


def conv_backward(x, w, delta, *, stride=1, padding="VALID", dilation=1, groups=1, flip=False):
    """Returns ``(dE/dx, dE/dw, dE/db)`` for deltas ``(N, D, *O)``.

    * Eq. 13: ``dE/dw[d,c,m] = sum_{n,i} delta[n,d,i] * x_pad[n,c,i*s+m*r]``;
    * Eq. 20: ``dE/dx_pad[n,c,p] = sum_{d,m} delta[n,d,(p-m*r)/s] * w[d,c,m]`` over the ``m`` for
      which ``(p - m*r)/s`` is an output index, then cropped by the padding;
    * bias: ``dE/db[d] = sum_{n,i} delta[n,d,i]``.
    """
    x, w_eff, _, cfg, xp, outs = _conv_setup(x, w, None, stride, padding, dilation, groups, flip)
    delta = _f64(delta)
    n_, c_ = x.shape[:2]
    d_, cg = w_eff.shape[:2]
    dg = d_ // cfg.groups
    ks = w_eff.shape[2:]
    dw = np.zeros_like(w_eff)
    for d, c, m in itertools.product(range(d_), range(cg), _grid(ks)):           # Eq. 13
        g = d // dg
        acc = 0.0
        for n, i in itertools.product(range(n_), _grid(outs)):
            p = tuple(ii * s + mm * r for ii, mm, s, r in zip(i, m, cfg.stride, cfg.dilation))
            acc += delta[(n, d) + i] * xp[n, g * cg + c][p]
        dw[(d, c) + m] = acc
    dxp = np.zeros_like(xp)
    for n, c, p in itertools.product(range(n_), range(c_), _grid(xp.shape[2:])):  # Eq. 20
        g, cc = divmod(c, cg)
        acc = 0.0
        for d in range(g * dg, (g + 1) * dg):
            for m in _grid(ks):
                q = [pp - mm * r for pp, mm, r in zip(p, m, cfg.dilation)]
                if all(v % s == 0 and 0 <= v // s < o for v, s, o in zip(q, cfg.stride, outs)):
                    i = tuple(v // s for v, s in zip(q, cfg.stride))
                    acc += delta[(n, d) + i] * w_eff[d, cc][m]
        dxp[(n, c) + p] = acc
    crop = tuple(slice(lo, lo + size) for (lo, _), size in zip(cfg.padding, x.shape[2:]))
    dx = dxp[(slice(None), slice(None)) + crop]
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
    """Each delta is added to its window's winning unit; overlapping windows accumulate."""
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
    """``y[n,c,o] = (1/m) sum_t x_pad[n,c,o*s+t]``."""
    x = _f64(x)
    cfg = _windows.pool_config("textbook.avg_pool", x, window, stride, padding, ceil_mode)
    y = np.zeros(x.shape[:2] + cfg.out_sizes)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(cfg.out_sizes)):
        total = sum(x[(n, c) + pos] for pos in _window_taps(cfg, o) if _inside(pos, cfg.in_sizes))
        y[(n, c) + o] = total / _avg_divisor(cfg, o, count_include_pad, divisor_override)
    return y


def avg_pool_backward(x, delta, window, stride=None, padding="VALID", ceil_mode=False,
                      count_include_pad=True, *, divisor_override=None):
    """004: every element of a window receives ``delta / m``; overlapping windows accumulate."""
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
    """``y = (sum_t |x_t|^p)^(1/p)`` over each window."""
    x = _f64(x)
    cfg = _windows.pool_config("textbook.lp_pool", x, window, stride, padding, ceil_mode)
    y = np.zeros(x.shape[:2] + cfg.out_sizes)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), _grid(cfg.out_sizes)):
        total = sum(abs(x[(n, c) + pos]) ** p for pos in _window_taps(cfg, o)
                    if _inside(pos, cfg.in_sizes))
        y[(n, c) + o] = total ** (1.0 / p)
    return y


def lp_pool_backward(x, delta, window, p=2.0, stride=None, padding="VALID", ceil_mode=False):
    """``dE/dx_t += delta * x_t |x_t|^(p-2) / y^(p-1)`` per window; windows with ``y = 0`` add 0."""
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


def activation_backward(name, x, delta):
    """Eq. 21's ``f'(x)`` factor: ``delta * f'(x)`` for relu, sigmoid, tanh."""
    x, delta = _f64(x), _f64(delta)
    if name == "relu":
        return delta * (x > 0)
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-x))
        return delta * s * (1.0 - s)
    if name == "tanh":
        return delta * (1.0 - np.tanh(x) ** 2)
    raise ValueError(f"jaxconv.textbook.activation_backward: unknown activation {name!r}; "
                     "expected 'relu', 'sigmoid' or 'tanh'.")


def dense_backward(x, w, delta):
    """003's MLP rule, as loops: ``dx[n,i] = sum_j delta[n,j] w[i,j]``, ``dw[i,j] = sum_n x[n,i]
    delta[n,j]``, ``db[j] = sum_n delta[n,j]``."""
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
    """Eq. 9: ``dE/dy_p = y_p - t_p`` (divided by the element count for "mean")."""
    y, t = _f64(y), _f64(t)
    return (y - t) / (y.size if reduction == "mean" else 1)


def softmax_cross_entropy_backward(logits, labels, reduction="mean"):
    """``dE/dz_n = softmax(z_n) * sum_k t_nk - t_n`` (one-hot ``t`` for integer labels)."""
    z = _f64(logits)
    labels = np.asarray(labels)
    if np.issubdtype(labels.dtype, np.integer):
        t = np.eye(z.shape[1])[labels]
    else:
        t = labels.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    dz = p * t.sum(axis=1, keepdims=True) - t
    return dz / (z.shape[0] if reduction == "mean" else 1)
