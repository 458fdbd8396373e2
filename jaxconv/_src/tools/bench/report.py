"""Reporting: the environment line and the markdown tables ``jaxconv bench`` prints."""

from __future__ import annotations

import os
import platform

from jaxconv._src.tools.bench import baselines


def environment() -> dict:
    """The versions ``fit`` records (:func:`jaxconv.train.versions`), plus what a timing
    depends on: PyTorch's version, the first device, the cores, the machine, ``XLA_FLAGS``."""
    import jax

    from jaxconv._src.training.fit import versions
    return {**versions(), "torch": baselines.torch_version(), "device": str(jax.devices()[0]),
            "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}


def _ms(row, impl):
    r = row.get(impl)
    return f"{r['median_ms']:.3f} ({r['q1_ms']:.3f}–{r['q3_ms']:.3f})" if r else "—"


def _ratio(row, a, b):
    if a in row and b in row:
        return f"{row[a]['median_ms'] / row[b]['median_ms']:.2f}"
    return "—"


HEADER = ("| case | jaxconv ms (IQR) | autodiff ms (IQR) | jaxconv / autodiff "
           "| jaxconv[eigen] ms | autodiff[eigen] ms | jaxconv / autodiff [eigen] | torch ms "
           "| jaxconv / torch | fit ms (/ torch) | jaxconv GFLOP/s (% peak) |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def format_row(row, peak=None) -> str:
    gflops = ""
    if row.get("flops") and "jaxconv" in row:
        g = row["flops"] / row["jaxconv"]["median_ms"] / 1e6
        gflops = f"{g:.0f}" + (f" ({100 * g / peak:.0f}%)" if peak else "")
    return (f"| {row['name']} | {_ms(row, 'jaxconv')} | {_ms(row, 'autodiff')} | "
            f"{_ratio(row, 'jaxconv', 'autodiff')} | {_ms1(row, 'jaxconv_eigen')} | "
            f"{_ms1(row, 'autodiff_eigen')} | {_ratio(row, 'jaxconv_eigen', 'autodiff_eigen')} | "
            f"{_ms1(row, 'torch')} | {_ratio(row, 'jaxconv', 'torch')} | "
            f"{_fit(row)} | {gflops} |")


def _fit(row) -> str:
    if "jaxconv_fit" not in row:
        return "—"
    return f"{_ms1(row, 'jaxconv_fit')} ({_ratio(row, 'jaxconv_fit', 'torch')})"


def _ms1(row, impl):
    r = row.get(impl)
    return f"{r['median_ms']:.3f}" if r else "—"


def memory_table(memory: list[dict]) -> str:
    """The residual and XLA temp bytes per train step, jaxconv vs autodiff."""
    lines = ["| train step | residual bytes jaxconv | residual bytes autodiff | ratio "
             "| XLA temp bytes jaxconv | XLA temp bytes autodiff |",
             "|---|---:|---:|---:|---:|---:|"]
    for m in memory:
        lines.append(f"| {m['model']} B={m['batch']} | {m['residual_bytes_jaxconv']:,} | "
                     f"{m['residual_bytes_autodiff']:,} | "
                     f"{m['residual_bytes_jaxconv'] / m['residual_bytes_autodiff']:.2f} | "
                     f"{m['temp_bytes_jaxconv']:,} | {m['temp_bytes_autodiff']:,} |")
    return "\n".join(lines)
