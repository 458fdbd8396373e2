"""Timing: interleaved rounds, medians and quartiles, compile time apart, the matmul peak.

Every implementation of a case is compiled first (its compile time reported apart), warmed up,
then all are run round-robin, the order rotating every round; a round calls a function enough
times to take about 20 ms and records the mean per call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np


def _calls_per_sample(fn: Callable, target_s: float = 0.02) -> int:
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    return max(1, int(target_s / max(dt, 1e-7)))


def interleaved(fns: dict[str, Callable], repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each function, ``repeats`` samples each, measured round-robin."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    number = {k: _calls_per_sample(fn) for k, fn in fns.items()}
    names = list(fns)
    samples: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:
            fn, n = fns[k], number[k]
            t = time.perf_counter()
            for _ in range(n):
                fn()
            samples[k].append((time.perf_counter() - t) / n)
    return samples


def summarize(samples: list[float]) -> dict:
    q = np.percentile(samples, [25, 50, 75])
    return {"median_ms": 1e3 * float(q[1]), "q1_ms": 1e3 * float(q[0]), "q3_ms": 1e3 * float(q[2]),
            "min_ms": 1e3 * min(samples), "n": len(samples)}


def compiled(fn, *args):
    """``(compiled, seconds to lower + compile)`` for ``jax.jit(fn)``."""
    import jax
    t = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Float32 matmul throughput of the default JAX device (GFLOP/s)."""
    import jax.numpy as jnp
    a = jnp.ones((n, n), jnp.float32)
    f, _ = compiled(lambda a, b: a @ b, a, a)
    s = interleaved({"mm": lambda: f(a, a).block_until_ready()}, repeats)["mm"]
    return 2 * n ** 3 / statistics.median(s) / 1e9
