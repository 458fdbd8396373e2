"""The convolution's lowerings, timed part by part: the measurements behind
``jaxconv._src.core.lowering.conv_methods``.

For each layer shape, the forward (Eq. 1), the input gradient (Eq. 5-6) and the weight gradient
(Eq. 4) are jitted alone, once per method, and timed (median of ``--calls``), compiled with XLA's
default options and with Eigen convolutions (``jaxconv.train.CPU_EIGEN_CONVOLUTIONS``, what
``fit`` and ``jaxconv.jit`` use on CPU). The last column is the method the lowering module picks.

    python experiments/conv_lowering.py [--only 3d] [--calls 5]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from _common import median_ms

from jaxconv._src.core import lowering
from jaxconv._src.ops import conv as _conv
from jaxconv.train import CPU_EIGEN_CONVOLUTIONS

# (label, x shape, w shape, stride, padding, groups)
LAYERS = [
    ("3d 1->16 3^3 16^3 B8", (8, 1, 16, 16, 16), (16, 1, 3, 3, 3), 1, 1, 1),
    ("3d 16->16 3^3 16^3 B8", (8, 16, 16, 16, 16), (16, 16, 3, 3, 3), 1, 1, 1),
    ("3d 16->32 3^3 s2 16^3 B8", (8, 16, 16, 16, 16), (32, 16, 3, 3, 3), 2, 1, 1),
    ("3d 32->32 3^3 8^3 B8", (8, 32, 8, 8, 8), (32, 32, 3, 3, 3), 1, 1, 1),
    ("2d 64->64 3x3 32x32 B64", (64, 64, 32, 32), (64, 64, 3, 3), 1, 1, 1),
    ("2d 16->16 3x3 32x32 B64", (64, 16, 32, 32), (16, 16, 3, 3), 1, 1, 1),
    ("2d 32->32 3x3 16x16 B64", (64, 32, 16, 16), (32, 32, 3, 3), 1, 1, 1),
    ("2d 64->64 3x3 8x8 B64", (64, 64, 8, 8), (64, 64, 3, 3), 1, 1, 1),
    ("2d 1->6 5x5 28x28 B128", (128, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1),
    ("2d 3->32 3x3 32x32 B64", (64, 3, 32, 32), (32, 3, 3, 3), 1, 1, 1),
    ("2d 1->16 3x3 32x32 B32", (32, 1, 32, 32), (16, 1, 3, 3), 1, 1, 1),
    ("2d 6->16 5x5 14x14 B128", (128, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1),
    ("2d dw 64 3x3 32x32 B64", (64, 64, 32, 32), (64, 1, 3, 3), 1, 1, 64),
    ("2d 12->12 7x7 16x16 B64", (64, 12, 16, 16), (12, 12, 7, 7), 1, 3, 1),
    ("2d 6->8 7x7 28x28 B64", (64, 6, 28, 28), (8, 6, 7, 7), 1, 3, 1),
    ("2d 3->64 7x7 s2 64x64 B32", (32, 3, 64, 64), (64, 3, 7, 7), 2, 3, 1),
    ("2d 32->64 3x3 16x16 B64", (64, 32, 16, 16), (64, 32, 3, 3), 1, 1, 1),
    ("2d 128->128 3x3 8x8 B64", (64, 128, 8, 8), (128, 128, 3, 3), 1, 1, 1),
    ("1d 25->25 5 40 B128", (128, 25, 40), (25, 25, 5), 1, 2, 1),
]
PARTS = {"forward": ("lax", "taps", "depth"), "input_grad": ("lax", "col2im", "depth"),
         "weight_grad": ("lax", "gemm", "taps", "depth")}


def part_fn(part, method, win, groups):
    if part == "forward":
        return lambda x, w, d: _conv.correlate(x, w, win, groups, method)
    if part == "input_grad":
        return lambda x, w, d: _conv.input_grad(d, w, win, groups, x.dtype, method)
    return lambda x, w, d: _conv.weight_grad(x, d, win, groups, x.dtype, method)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="substring of the layer labels")
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__}, {jax.default_backend()}; float32, ms (XLA defaults / Eigen)")
    print("| layer | part | method ms | | | | chosen |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for label, xs, ws, stride, padding, groups in LAYERS:
        if args.only not in label:
            continue
        n = len(xs) - 2
        x = jnp.asarray(rng.standard_normal(xs), jnp.float32)
        w = jnp.asarray(rng.standard_normal(ws), jnp.float32)
        cfg = _conv.conv_config(x, w, None, stride, padding, 1, groups, False)
        win = cfg.window
        d = jnp.asarray(rng.standard_normal((xs[0], ws[0]) + win.out_sizes), jnp.float32)
        chosen = lowering.conv_methods(xs, ws, win, groups, x.dtype)
        for part, methods in PARTS.items():
            cells = []
            for method in methods:
                if (method == "taps" and ws[1] * win.taps > 128) or (method == "depth"
                                                                      and n == 1):
                    cells.append(f"{method} —")
                    continue
                lowered = jax.jit(part_fn(part, method, win, groups)).lower(x, w, d)
                ms = [median_ms(lowered.compile(compiler_options=opts), x, w, d, calls=args.calls)
                      for opts in ({}, CPU_EIGEN_CONVOLUTIONS)]
                cells.append(f"{method} {ms[0]:.1f} / {ms[1]:.1f}")
            cells += [""] * (4 - len(cells))
            print(f"| {label} (n={n}) | {part} | " + " | ".join(cells)
                  + f" | {getattr(chosen, part)} |", flush=True)


if __name__ == "__main__":
    main()
