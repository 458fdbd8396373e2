"""Interpolation's two lowerings, timed: per-axis gathers vs the per-axis weight matrix.

The measurement behind ``jaxconv._src.core.lowering.interpolate_methods``: bilinear x2, forward
and backward (one jitted ``jax.vjp``), both lowerings forced on every axis, median of 5 calls.

    python experiments/interpolate_lowering.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from _common import median_ms

from jaxconv._src.tools.lowering import forced_ops

SHAPES = [(64, 64, 32, 32), (16, 16, 64, 64), (4, 8, 128, 128), (1, 4, 256, 256),
          (1, 1, 512, 512)]


def main():
    print(f"jax {jax.__version__}, {jax.default_backend()}; bilinear x2, forward + backward")
    print("| input | gather ms | matmul ms |\n|---|---:|---:|")
    for shape in SHAPES:
        x = jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.float32)
        ct = jnp.ones(shape[:2] + (2 * shape[2], 2 * shape[3]), jnp.float32)
        row = []
        for method in ("gather", "matmul"):
            ops = forced_ops(interpolate=method)

            def f(x, ct, ops=ops):
                y, vjp = jax.vjp(lambda v: ops.interpolate(v, scale_factor=2, mode="bilinear"),
                                 x)
                return y, vjp(ct)
            row.append(median_ms(jax.jit(f), x, ct))
        print(f"| {'x'.join(map(str, shape))} | {row[0]:.1f} | {row[1]:.1f} |")


if __name__ == "__main__":
    main()
