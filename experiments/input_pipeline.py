"""Where the batches come from: the data set on the device (each step gathers its batch inside
the jitted step) against the host path (each batch sliced on the host and copied, the next copy
overlapping the running step), in steps per second; and the time of one epoch of He et al.'s
CIFAR-10 recipe (ResNet-20, batch 128, crop:4,flip) on files of the real size.

Steps per second: both paths are compiled as ``fit`` compiles them, then timed in interleaved
rounds of a fixed number of steps (the order alternating), median and quartiles.
The CIFAR-10 files (50,000 + 10,000 records of random bytes in the official binary format) are
written to a temporary folder; the epoch runs ``jaxconv train``'s cifar10 recipe through
``fit``. Results go to ``docs/results/input_pipeline.json`` (the documentation's tables).

    python experiments/input_pipeline.py [--no-cifar-epoch] [--json PATH]

``--no-cifar-epoch`` keeps the epoch time already in the JSON file.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import tempfile
import time

import jax
import numpy as np
from _common import write_json

import jaxconv
from jaxconv import data, models, train
from jaxconv._src.tools.cli import RECIPES

# (model, input shape, training examples, batch, augmentation, rounds, steps per round)
CASES = (("lenet5", (1, 28, 28), 12800, 128, "none", 9, 40),
         ("resnet20", (3, 32, 32), 5120, 128, "crop:4,flip", 5, 6))


def steps_per_second(model_name, shape, n, batch, augment, rounds, steps) -> list[dict]:
    """Both paths as ``fit`` runs them (its compiled gather step on the data set put on the
    device; its compiled step fed by host slices through its double buffer), compiled once,
    then ``rounds`` interleaved rounds of ``steps`` steps each: the median steps per second."""
    from jaxconv._src.core.compile import compiler_options
    from jaxconv._src.training.fit import _prefetch
    ds = data.synthetic(n, batch, shape, 10)
    model, opt = models.get(model_name), train.make_optimizer("adam", 1e-3)
    step = train.make_train_step(model, opt, augment=data.augmentation(augment))
    options = compiler_options("auto")
    states = {on: train.init_state(model, opt, shape, seed=0) for on in (True, False)}
    x_dev, y_dev = jax.device_put(ds.x_train), jax.device_put(ds.y_train)
    gather = train.compile_gather_step(step, batch, states[True], x_dev, y_dev, options)
    host = train.compile_step(step, states[False], ds.x_train[:batch], ds.y_train[:batch],
                              options)
    order = train.epoch_order(0, 0, n).astype(np.int32)
    order_dev = jax.device_put(order)

    def run(on_device, start):
        state, t = states[on_device], time.perf_counter()
        if on_device:
            for i in range(start, start + steps):
                state, loss = gather(state, x_dev, y_dev, order_dev, np.int32(i))
        else:
            rows = order[start * batch:(start + steps) * batch].reshape(steps, batch)
            for xb, yb in _prefetch((jax.device_put(ds.x_train[r]), jax.device_put(ds.y_train[r]))
                                    for r in rows):
                state, loss = host(state, xb, yb)
        jax.block_until_ready(loss)
        states[on_device] = state
        return steps / (time.perf_counter() - t)

    run(True, 0), run(False, 0)                     # warm-up
    rates = {True: [], False: []}
    for r in range(rounds):
        for on_device in ((True, False) if r % 2 == 0 else (False, True)):
            rates[on_device].append(run(on_device, (r * steps) % (n // batch - steps)))
    return [{"model": model_name, "input": list(shape), "examples": n, "batch": batch,
             "augment": augment, "data_on_device": on, "rounds": rounds, "steps": steps,
             "steps_per_second": round(statistics.median(rates[on]), 2),
             "quartiles": [round(float(q), 2) for q in np.percentile(rates[on], [25, 75])]}
            for on in (True, False)]


def cifar_epoch(folder) -> dict:
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}.bin", 10000) for i in range(1, 6)] + [("test_batch.bin",
                                                                             10000)]:
        data.write_cifar(pathlib.Path(folder) / name,
                         rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8),
                         rng.integers(0, 10, (n, 1), dtype=np.uint8))
    ds = data.load("cifar10", data_dir=folder)
    recipe = dict(RECIPES["cifar10"])
    model_name, augment = recipe.pop("model"), recipe.pop("augment")
    recipe["epochs"] = 1
    _, hist = train.fit(models.get(model_name), ds, **recipe, log=None, data_name="cifar10",
                        augment=data.augmentation(augment))
    return {"model": model_name, "augment": augment, "train_examples": len(ds.x_train),
            "test_examples": len(ds.x_test), "steps": hist[0]["step"],
            "epoch_seconds": hist[0]["seconds"], "recipe_epochs": RECIPES["cifar10"]["epochs"]}


def tables(results: dict) -> str:
    """The markdown the documentation shows from a results file."""
    lines = ["| model | input | batch | augment | on the device (steps/s) | host, double-buffered "
             "(steps/s) | device / host |", "|---|---|---:|---|---:|---:|---:|"]
    q = "{0[0]:.1f}-{0[1]:.1f}"
    rows = results["pipeline"]
    for dev in [r for r in rows if r["data_on_device"]]:
        host = next(r for r in rows if not r["data_on_device"] and r["model"] == dev["model"])
        lines.append(f"| {dev['model']} | {'x'.join(map(str, dev['input']))} | {dev['batch']} "
                     f"| {dev['augment']} | {dev['steps_per_second']:.1f} "
                     f"({q.format(dev['quartiles'])}) | {host['steps_per_second']:.1f} "
                     f"({q.format(host['quartiles'])}) | "
                     f"{dev['steps_per_second'] / host['steps_per_second']:.2f} |")
    c = results.get("cifar_epoch")
    if c:
        total = c["epoch_seconds"] * c["recipe_epochs"] / 3600
        lines += ["", f"One epoch of the CIFAR-10 recipe ({c['model']}, {c['steps']} steps of "
                  f"batch 128, {c['augment']}, then evaluation of {c['test_examples']:,} test "
                  f"images) took **{c['epoch_seconds']:.0f} s** on {results['device']}; the "
                  f"recipe's {c['recipe_epochs']} epochs would take about {total:.1f} hours "
                  "there."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-cifar-epoch", action="store_true")
    parser.add_argument("--json", default=str(pathlib.Path(__file__).resolve().parents[1]
                                              / "docs" / "results" / "input_pipeline.json"))
    args = parser.parse_args(argv)
    import os
    results = {"jax": jax.__version__, "jaxconv": jaxconv.__version__,
               "backend": jax.default_backend(),
               "device": f"{jax.default_backend().upper()} ({os.cpu_count()} cores)"
               if jax.default_backend() == "cpu" else str(jax.devices()[0].device_kind),
               "pipeline": []}
    for case in CASES:
        for row in steps_per_second(*case):
            results["pipeline"].append(row)
            print(f"{row['model']:9s} on device {row['data_on_device']!s:5s}: "
                  f"{row['steps_per_second']:.2f} steps/s (quartiles {row['quartiles']})",
                  flush=True)
    path = pathlib.Path(args.json)
    if args.no_cifar_epoch and path.exists():      # keep the last measured epoch
        results["cifar_epoch"] = json.loads(path.read_text()).get("cifar_epoch")
    if not args.no_cifar_epoch:
        with tempfile.TemporaryDirectory() as folder:
            results["cifar_epoch"] = cifar_epoch(folder)
        print(f"cifar10 epoch: {results['cifar_epoch']}", flush=True)
    write_json(path, results)
    print("\n" + tables(results) + f"\n\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
