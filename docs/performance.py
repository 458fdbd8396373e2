"""The performance and training tables of the docs, written from the committed results files.

``docs/results/bench.json`` is what ``jaxconv bench --json docs/results/bench.json`` writes and
``docs/results/profile.json`` what ``jaxconv bench --profile lenet5,vgg_small,resnet20 --json
docs/results/profile.json`` writes; ``docs/results/mixed_precision.json`` and
``docs/results/input_pipeline.json`` are what ``experiments/mixed_precision.py`` and
``experiments/input_pipeline.py`` write; nothing here is typed by hand. The tables are formatted by
the same functions that print them in the terminal.
"""

from __future__ import annotations

import json
import pathlib

from jaxconv._src.tools.bench import profile, report


def _environment(env: dict, extra: str = "") -> str:
    return (f"Measured with jax {env['jax']}, jaxlib {env['jaxlib']}, optax {env['optax']}, "
            f"PyTorch {env['torch'] or 'not installed'}, on {env['device']} "
            f"({env['machine']}, {env['cpu_count']} cores){extra}; "
            f"`XLA_FLAGS={env['XLA_FLAGS']!r}`.")


def bench_markdown(results: dict) -> str:
    env = results["environment"]
    lines = [_environment(env, f", float32 matmul {results['matmul_gflops']:.0f} GFLOP/s; "
                               f"{results['repeats']} interleaved rounds, median and "
                               "interquartile range"), "", report.HEADER]
    lines += [report.format_row(row, results["matmul_gflops"]) for row in results["rows"]]
    if results.get("memory"):
        lines += ["", "### Memory of a train step", "", report.memory_table(results["memory"])]
    return "\n".join(lines)


def profile_markdown(results: dict) -> str:
    env = results["environment"]
    parts = [_environment(env)]
    parts += [profile.table(p) for p in results["profiles"]]
    return "\n\n".join(parts)


def markdown(results_dir) -> str:
    """The markdown the performance page includes; a missing results file is an error."""
    results_dir = pathlib.Path(results_dir)
    text = ["## Op and train-step timings", "",
            bench_markdown(json.loads((results_dir / "bench.json").read_text())), "",
            "## Where a train step spends its time", "",
            profile_markdown(json.loads((results_dir / "profile.json").read_text())), ""]
    return "\n".join(text)


def _experiment(name: str):
    """An experiment script's module (for its table function), imported from ``experiments/``
    (on the path, for the scripts' shared ``_common``)."""
    import importlib.util
    import sys
    folder = pathlib.Path(__file__).resolve().parents[1] / "experiments"
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    path = folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_experiment_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def training_markdown(results_dir) -> str:
    """The measured tables of the training page (mixed precision; input pipeline)."""
    results_dir = pathlib.Path(results_dir)
    mixed = json.loads((results_dir / "mixed_precision.json").read_text())
    pipeline = json.loads((results_dir / "input_pipeline.json").read_text())
    recipe = mixed["recipe"]
    return "\n".join([
        "### Mixed precision on MNIST-1D", "",
        f"`jaxconv train`'s MNIST-1D recipe ({recipe['model']}, {recipe['epochs']} epochs, "
        f"{recipe['optimizer']}, lr {recipe['lr']}, {recipe['schedule']}, {recipe['augment']}) "
        f"per policy and seed; jax {mixed['jax']}, {mixed['backend']} ({mixed['device']}); "
        "`python experiments/mixed_precision.py`.", "",
        _experiment("mixed_precision").table(mixed), "",
        "### Where the batches come from", "",
        f"Steps per second of the second epoch (the first compiles); jax {pipeline['jax']}, "
        f"{pipeline['device']}; `python experiments/input_pipeline.py`.", "",
        _experiment("input_pipeline").tables(pipeline), ""])
