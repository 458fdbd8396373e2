"""Mixed precision on MNIST-1D: test accuracy of ``jaxconv train``'s recipe in float32 (``none``),
``bf16`` and ``f16`` (float32 params and optimizer state, 16-bit compute, dynamic loss scaling
for float16), over several seeds.

Every run is ``jaxconv.train.fit`` with the recipe ``jaxconv train`` uses for MNIST-1D (the
paper's CNN, AdamW, cosine decay, shift:3), so ``jaxconv train --mixed-precision bf16 --seed S``
reproduces a row. The results go to a JSON file (default ``docs/results/mixed_precision.json``,
which the documentation's tables are written from) and a table is printed.

    python experiments/mixed_precision.py [--seeds 0 1 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics

import jax
from _common import write_json

import jaxconv
from jaxconv import data, models, train
from jaxconv._src.tools.cli import RECIPES

POLICIES = ("none", "bf16", "f16")


def table(results: dict) -> str:
    """The markdown table of a results file: mean accuracy and spread per policy, the
    difference to ``none``, seconds per run, steps skipped for overflow and the final scale."""
    runs = results["runs"]
    base = statistics.mean(r["test_accuracy"] for r in runs if r["policy"] == "none")
    lines = ["| mixed precision | test accuracy, mean (seeds) | per seed | vs none | seconds "
             "per run | skipped steps | final loss scale |", "|---|---:|---|---:|---:|---:|---:|"]
    for policy in POLICIES:
        rows = [r for r in runs if r["policy"] == policy]
        if not rows:
            continue
        accs = [r["test_accuracy"] for r in rows]
        mean = statistics.mean(accs)
        scales = {r.get("loss_scale") for r in rows}
        lines.append(
            f"| `{policy}` | {mean:.4f} ({', '.join(str(r['seed']) for r in rows)}) | "
            f"{', '.join(f'{a:.3f}' for a in accs)} | {mean - base:+.4f} | "
            f"{statistics.median(r['seconds'] for r in rows):.1f} | "
            f"{', '.join(str(r['skipped_steps']) for r in rows)} | "
            f"{', '.join('—' if s is None else f'{s:g}' for s in sorted(scales, key=str))} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="(default: the recipe's)")
    parser.add_argument("--json", default=str(pathlib.Path(__file__).resolve().parents[1]
                                              / "docs" / "results" / "mixed_precision.json"))
    args = parser.parse_args(argv)
    recipe = dict(RECIPES["mnist1d"])
    model_name, augment = recipe.pop("model"), data.augmentation(recipe.pop("augment"))
    if args.epochs:
        recipe["epochs"] = args.epochs
    ds = data.load("mnist1d")
    runs = []
    for policy in POLICIES:
        for seed in args.seeds:
            _, hist = train.fit(models.get(model_name), ds, **recipe, seed=seed, log=None,
                                augment=augment, data_name="mnist1d",
                                mixed_precision=None if policy == "none" else policy)
            last = hist[-1]
            runs.append({"policy": policy, "seed": seed, **{k: last[k] for k in (
                "test_accuracy", "test_loss", "train_loss", "seconds", "skipped_steps")},
                "loss_scale": last.get("loss_scale")})
            print(f"{policy:5s} seed {seed}: test accuracy {last['test_accuracy']:.4f} "
                  f"({last['seconds']:.1f} s, {last['skipped_steps']} skipped)", flush=True)
    results = {"recipe": {"model": model_name, **recipe, "augment": augment.__name__},
               "data": "mnist1d", "runs": runs, "jax": jax.__version__,
               "jaxconv": jaxconv.__version__, "backend": jax.default_backend(),
               "device": str(jax.devices()[0].device_kind)}
    path = write_json(args.json, results)
    print("\n" + table(results) + f"\n\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
