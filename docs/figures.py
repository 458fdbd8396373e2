"""The figures of the rules pages, drawn from real outputs of the jaxconv ops.

Every number in a figure is computed here with ``jax.vjp`` of the public op (``jc.conv``,
``jc.max_pool``, ``jc.avg_pool``), and each figure is checked against the formula it
illustrates (the derivation's Eq. 6, 12 and 16) before it is written, so a change in a
backward rule fails the docs build instead of producing a figure that no longer tells the truth.
Nothing is random; the inputs are small hand-picked arrays.

Run ``python docs/figures.py [OUT_DIR]`` (default ``docs/_static/figures``); the Sphinx
configuration calls :func:`main` on every build.
"""

from __future__ import annotations

import functools
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import jaxconv as jc  # noqa: E402

DPI = 110
CMAP = "Greys"
ACCENT = "#d62728"  # the one colour besides the grey scale: what the caption points at
PAD_TEXT = "#9a9a9a"  # the values of zero padding


# --------------------------------------------------------------------------------- drawing
def _fmt(v: float) -> str:
    v = float(v)
    if v == 0:
        return "0"
    if v == round(v):
        return str(int(round(v)))
    return f"{v:.3g}"


def _grid(ax, a, title, *, vmax=None, boxes=(), box_color=ACCENT, padding=0, fontsize=9):
    """Draw the 2-d array ``a`` as grey cells with their values written in them.

    ``boxes``: ``(row, col, height, width)`` rectangles outlined in ``box_color``;
    ``padding``: width of a border of zero padding, drawn with grey text and a dashed frame
    around the unpadded part.
    """
    a = np.asarray(a, dtype=np.float64)
    vmax = float(np.abs(a).max()) if vmax is None else vmax
    vmax = vmax or 1.0
    ax.imshow(np.abs(a), cmap=CMAP, vmin=0.0, vmax=vmax * 1.35, interpolation="nearest")
    rows, cols = a.shape
    for i in range(rows):
        for j in range(cols):
            in_pad = not (padding <= i < rows - padding and padding <= j < cols - padding)
            dark = abs(a[i, j]) / (vmax * 1.35) > 0.5
            color = PAD_TEXT if in_pad else ("white" if dark else "black")
            ax.text(j, i, _fmt(a[i, j]), ha="center", va="center", color=color,
                    fontsize=fontsize)
    # cell grid
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="#c8c8c8", linewidth=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if padding:
        ax.add_patch(Rectangle((padding - 0.5, padding - 0.5), cols - 2 * padding,
                               rows - 2 * padding, fill=False, edgecolor="black",
                               linewidth=1.0, linestyle="--"))
    for (i, j, h, w) in boxes:
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), w, h, fill=False, edgecolor=box_color,
                               linewidth=2.4))
    ax.set_title(title, fontsize=9.5)


def _window_lines(ax, shape, window):
    """Thin black lines between non-overlapping pooling windows."""
    rows, cols = shape
    for r in range(window, rows, window):
        ax.axhline(r - 0.5, color="black", linewidth=1.3)
    for c in range(window, cols, window):
        ax.axvline(c - 0.5, color="black", linewidth=1.3)


def _save(fig, path):
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"docs/figures.py: {what}; the figure would not show what the "
                           "caption says.")


def _f32(a):
    return jnp.asarray(np.asarray(a, dtype=np.float32))


def _input_grad(f, x, delta):
    """``dE/dx`` for the cotangent ``delta``: the pullback of ``jax.vjp(f, x)``.

    Jitted as a whole: one compilation instead of one per primitive, for speed only.
    """
    def pullback(x, delta):
        y, vjp = jax.vjp(f, x)
        _check(y.shape == delta.shape, f"output shape {y.shape} != delta shape {delta.shape}")
        return vjp(delta)[0]

    return np.asarray(jax.jit(pullback)(_f32(x), _f32(delta)))


# ------------------------------------------------------------------- 1. conv input gradient
def conv_input_gradient(path):
    k = 3
    w = np.arange(1, k * k + 1, dtype=np.float32).reshape(k, k)  # 1..9: rotation is visible
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)  # irrelevant: conv is linear in x
    rot = w[::-1, ::-1]

    # Two deltas: a single 1 at the centre, a single 1 at the top-right corner. For each, one
    # output cell whose sum is spelled out: (delta position, dE/dx cell).
    cases = [((1, 1), (1, 3)), ((0, 2), (2, 4))]
    fig, axes = plt.subplots(2, 4, figsize=(9.4, 6.8), layout="constrained",
                             gridspec_kw={"width_ratios": [3, 3, 7, 5]})
    for row, ((p, q), (i, j)) in enumerate(cases):
        delta = np.zeros((k, k), np.float32)
        delta[p, q] = 1.0
        dx = _input_grad(lambda x: jc.conv(x, _f32(w)[None, None]), x,
                         delta[None, None])[0, 0]

        # Eq. 6: full correlation of the zero-padded deltas with rot180(w) ...
        padded = np.pad(delta, k - 1)
        expected = np.array([[np.sum(padded[a:a + k, b:b + k] * rot) for b in range(5)]
                             for a in range(5)])
        _check(np.allclose(dx, expected, atol=1e-5),
               f"jax.vjp of jc.conv gives {dx.tolist()}, Eq. 6 gives {expected.tolist()}")
        # ... which for a single unit delta is the kernel itself placed at the delta.
        placed = np.zeros((5, 5), np.float32)
        placed[p:p + k, q:q + k] = w
        _check(np.array_equal(dx, placed), "a unit delta does not reproduce w at its position")

        # The tap of rot180(w) that meets the 1 when the window of dE/dx[i, j] slides over it.
        ta, tb = p + k - 1 - i, q + k - 1 - j
        _check(0 <= ta < k and 0 <= tb < k and dx[i, j] == rot[ta, tb],
               "the highlighted tap is not the one that makes the highlighted cell")

        _grid(axes[row, 0], w, "kernel w", vmax=9)
        _grid(axes[row, 1], rot, "rot180(w)", vmax=9, boxes=[(ta, tb, 1, 1)])
        _grid(axes[row, 2], padded, f"delta (1 at [{p},{q}]), padded by K-1 = {k - 1}",
              vmax=1, padding=k - 1, boxes=[(i, j, k, k)])
        _grid(axes[row, 3], dx, "dE/dx = full conv(delta, rot180(w))", vmax=9,
              boxes=[(i, j, 1, 1)])
        axes[row, 3].set_xlabel(
            f"dE/dx[{i},{j}] = window (red) \u00b7 rot180(w)\n"
            f"= 1 \u00d7 rot180(w)[{ta},{tb}] = {_fmt(dx[i, j])}", fontsize=8.5)
    fig.suptitle("Input gradient of conv (5x5 input, 3x3 kernel, VALID, stride 1), "
                 "from jax.vjp of jc.conv", fontsize=10.5)
    _save(fig, path)


# -------------------------------------------------------------------- 2. max pool routing
MAX_X = np.array([[3, 9, 1, 5],
                  [7, 16, 2, 12],
                  [4, 6, 14, 8],
                  [13, 10, 11, 15]], dtype=np.float32)


def _max_pool_expected(x, delta, window, stride):
    """Eq. 12 with loops: each delta goes to the (unique) maximum of its window."""
    dx = np.zeros_like(x)
    winners = []
    for a in range(delta.shape[0]):
        for b in range(delta.shape[1]):
            win = x[a * stride:a * stride + window, b * stride:b * stride + window]
            r, c = np.unravel_index(np.argmax(win), win.shape)
            _check(np.sum(win == win[r, c]) == 1, "tie in a max-pool window")
            dx[a * stride + r, b * stride + c] += delta[a, b]
            winners.append((a * stride + r, b * stride + c))
    return dx, sorted(set(winners))


def max_pool_routing(path):
    configs = [(2, 2, np.array([[1, 2], [3, 4]], np.float32)),
               (2, 1, np.ones((3, 3), np.float32))]
    fig, axes = plt.subplots(2, 3, figsize=(8.0, 6.2), layout="constrained",
                             gridspec_kw={"width_ratios": [4, 3, 4]})
    for row, (window, stride, delta) in enumerate(configs):
        dx = _input_grad(functools.partial(jc.max_pool, window=window, stride=stride),
                         MAX_X[None, None], delta[None, None])[0, 0]
        expected, winners = _max_pool_expected(MAX_X, delta, window, stride)
        _check(np.array_equal(dx, expected),
               f"jax.vjp of jc.max_pool gives {dx.tolist()}, Eq. 12 gives {expected.tolist()}")
        boxes = [(r, c, 1, 1) for r, c in winners]
        name = f"window {window}, stride {stride}"
        _grid(axes[row, 0], MAX_X, f"x ({name}); red: winners", boxes=boxes)
        _grid(axes[row, 1], delta, "delta", vmax=4)
        _grid(axes[row, 2], dx, "dE/dx (jax.vjp of jc.max_pool)", vmax=4, boxes=boxes)
        if stride == window:
            for ax in (axes[row, 0], axes[row, 2]):
                _window_lines(ax, MAX_X.shape, window)
        else:
            axes[row, 0].set_xlabel("16 is the max of 4 windows, 14 of 2:\n"
                                    "their deltas add up", fontsize=8.5)
            axes[row, 2].set_xlabel("each of the 9 deltas is 1:\nthe value counts the "
                                    "windows won", fontsize=8.5)
    fig.suptitle("max_pool backward: each delta goes to its window's maximum only",
                 fontsize=10.5)
    _save(fig, path)


# ---------------------------------------------------------------------- 3. avg pool spread
def avg_pool_spread(path):
    x = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    delta = np.array([[4, 8], [2, 12]], np.float32)
    dx = _input_grad(lambda x: jc.avg_pool(x, 2, 2), x[None, None], delta[None, None])[0, 0]
    expected = np.kron(delta, np.ones((2, 2), np.float32)) / 4  # Eq. 16 with m = 4
    _check(np.allclose(dx, expected, atol=1e-6),
           f"jax.vjp of jc.avg_pool gives {dx.tolist()}, Eq. 16 gives {expected.tolist()}")
    y = np.asarray(jc.avg_pool(_f32(x)[None, None], 2, 2))[0, 0]

    fig, axes = plt.subplots(1, 4, figsize=(9.0, 2.9), layout="constrained",
                             gridspec_kw={"width_ratios": [4, 3, 3, 4]})
    _grid(axes[0], x, "x (window 2, stride 2)")
    _window_lines(axes[0], x.shape, 2)
    _grid(axes[1], y, "y = avg_pool(x)")
    _grid(axes[2], delta, "delta", vmax=12)
    _grid(axes[3], dx, "dE/dx = delta / 4 on every cell", vmax=3)
    _window_lines(axes[3], x.shape, 2)
    fig.suptitle("avg_pool backward: each delta is shared equally by its window "
                 "(jax.vjp of jc.avg_pool)", fontsize=10.5)
    _save(fig, path)


# --------------------------------------------------------------------------------- main
FIGURES = {
    "conv_input_gradient.png": conv_input_gradient,
    "max_pool_routing.png": max_pool_routing,
    "avg_pool_spread.png": avg_pool_spread,
}


def main(out_dir="docs/_static/figures"):
    """Write the figures of the rules pages into ``out_dir``; return their paths."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with plt.style.context("default"), jax.default_device(jax.devices("cpu")[0]):
        for name, draw in FIGURES.items():
            draw(out / name)
            paths.append(out / name)
    return paths


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/_static/figures")
