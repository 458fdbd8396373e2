"""Helpers shared by the experiment scripts (not part of the library)."""

from __future__ import annotations

import json
import pathlib
import statistics
import time

HERE = pathlib.Path(__file__).resolve().parent


def out_dir(path) -> pathlib.Path:
    """``path`` (created); a relative path is taken under ``experiments/out/``."""
    p = pathlib.Path(path)
    p = p if p.is_absolute() else HERE / "out" / p
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_json(path, results) -> pathlib.Path:
    """``results`` as indented JSON at ``path`` (folders made), written to a temporary file
    first and renamed over it, so a killed run never leaves half a results file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    tmp.replace(path)
    return path


def mean_spread(values) -> str:
    """``mean ± standard deviation`` in percent."""
    values = [100 * v for v in values]
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {sd:.1f}"


def pyplot():
    """matplotlib's pyplot on a file backend, or None when the `plot` extra is missing."""
    try:
        import matplotlib
    except ImportError:
        print("(matplotlib is not installed: pip install -e \".[plot]\" for the figure)")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def median_ms(f, *args, calls=5) -> float:
    """Median milliseconds of ``calls`` calls of ``f(*args)`` (JAX: blocked until ready), after
    one warm-up call."""
    import jax
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)
