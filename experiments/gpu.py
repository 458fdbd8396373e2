"""The first run on a GPU, in one call: correctness, bitwise determinism, train-step timings.

1. ``jaxconv check --quick --precision highest``: float32 matrix products and convolutions at
   the highest precision (on Ampere and newer GPUs XLA's default
   float32 convolution is TF32, which would measure TF32 rounding instead of the rules);
2. bitwise determinism: two train steps of each model from the same state give identical
   params and state; the max-pool and interpolation backward passes (scatter-free by design)
   give identical outputs over 10 calls;
3. train steps (forward, backward, Adam), hand-written rules vs ``jax.grad`` through
   ``jaxconv.autodiff``, at GPU batch sizes, interleaved, median: a markdown table to paste;
   ResNet-20 once more in bfloat16 mixed precision (float32 params, bfloat16 compute).

    python experiments/gpu.py                 # a GPU: batches 256 and 1024, about 5 minutes
    python experiments/gpu.py --small         # any backend, tiny sizes (CI runs this on CPU)

Writes ``experiments/out/gpu/results.json`` (``--out DIR`` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from _common import out_dir

from jaxconv._src.tools.bench import child_command

_MODELS = [("lenet5", (1, 28, 28)), ("vgg_small", (3, 32, 32)), ("resnet20", (3, 32, 32))]
FULL = {"models": _MODELS, "timed": _MODELS + [("resnet20", (3, 32, 32), "bf16")],
        "batches": (256, 1024), "repeats": 7, "check_ops": None}
SMALL = {"models": [("lenet5", (1, 28, 28)), ("resnet20", (3, 8, 8))],
         "timed": [("lenet5", (1, 28, 28)), ("resnet20", (3, 8, 8), "bf16")], "batches": (8,),
         "repeats": 3, "check_ops": "relu,max_pool"}


def run_check(ops) -> dict:
    """``jaxconv check --quick`` in a child process with float32 at the highest precision."""
    cmd = child_command("jaxconv._src.tools.cli", "check", "--quick", "--precision", "highest")
    if ops:
        cmd += ["--ops", ops]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    print("\n".join(line for line in lines if not line.startswith("|")) or done.stderr[-2000:])
    return {"ok": done.returncode == 0, "seconds": round(time.perf_counter() - t, 1),
            "summary": lines[-1] if lines else done.stderr[-500:]}


def _leaves(tree):
    import jax
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(tree)]


def step_is_deterministic(model_name, input_shape, batch) -> bool:
    """Two compiled train steps from the same state: bitwise identical params and state."""

    import jaxconv
    from jaxconv import models, train
    model = models.get(model_name)
    opt = train.make_optimizer("adam", 1e-3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + input_shape).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int32)
    state = train.init_state(model, opt, input_shape, seed=0)
    step = train.compile_step(train.make_train_step(model, opt, jaxconv), state, x, y, {})
    results = []
    for _ in range(2):
        fresh = train.init_state(model, opt, input_shape, seed=0)     # the step donates it
        new, _ = step(fresh, x, y)
        results.append(_leaves((new.params, new.model_state)))
    return all(np.array_equal(a, b) for a, b in zip(*results))


def backward_is_deterministic(op_name, shape, calls=10, **kwargs) -> bool:
    """The same VJP called ``calls`` times gives bitwise identical input gradients."""
    import jax
    import jax.numpy as jnp

    import jaxconv
    op = getattr(jaxconv, op_name)
    x = jnp.asarray(np.random.default_rng(1).standard_normal(shape), jnp.float32)
    ct = jnp.asarray(np.random.default_rng(2).standard_normal(
        jax.eval_shape(lambda v: op(v, **kwargs), x).shape), jnp.float32)
    f = jax.jit(lambda v, c: jax.vjp(lambda u: op(u, **kwargs), v)[1](c)[0])
    first = np.asarray(f(x, ct))
    return all(np.array_equal(first, np.asarray(f(x, ct))) for _ in range(calls - 1))


def time_steps(models, batches, repeats) -> list[dict]:
    from jaxconv._src.tools import bench
    rows = []
    for name, shape, *mixed in models:
        mixed = mixed[0] if mixed else None
        for batch in batches:
            case = bench.step_case(f"{name} B={batch}", name, shape, batch, mixed)
            fns = {impl: case.build(impl) for impl in ("jaxconv", "autodiff")}
            samples = bench.interleaved(fns, repeats)
            med = {k: bench.summarize(v)["median_ms"] for k, v in samples.items()}
            rows.append({"model": name, "input": list(shape), "batch": batch,
                         "mixed_precision": mixed or "none",
                         "jaxconv_ms": med["jaxconv"], "autodiff_ms": med["autodiff"],
                         "ratio": med["jaxconv"] / med["autodiff"],
                         "compile_s": {k: round(v, 2) for k, v in case.compile_s.items()}})
            print(f"  {name} {mixed or 'float32'} B={batch}: jaxconv {med['jaxconv']:.2f} ms, "
                  f"autodiff {med['autodiff']:.2f} ms", flush=True)
    return rows


def table(rows) -> str:
    lines = ["| train step | batch | jaxconv ms | autodiff ms | jaxconv / autodiff | "
             "examples/s (jaxconv) |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        mixed = r.get("mixed_precision", "none")
        lines.append(f"| {r['model']} {'x'.join(map(str, r['input']))}"
                     f"{'' if mixed == 'none' else ' ' + mixed} | {r['batch']} | "
                     f"{r['jaxconv_ms']:.2f} | {r['autodiff_ms']:.2f} | {r['ratio']:.2f} | "
                     f"{1e3 * r['batch'] / r['jaxconv_ms']:,.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes, any backend (CI)")
    parser.add_argument("--skip-check", action="store_true", help="skip jaxconv check --quick")
    parser.add_argument("--out", default="gpu", help="output folder (under experiments/out)")
    args = parser.parse_args(argv)
    plan = SMALL if args.small else FULL
    import jax
    import jaxlib
    devices = [str(d) for d in jax.devices()]
    print(f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, backend "
          f"{jax.default_backend()}, devices {devices}", flush=True)
    t0 = time.perf_counter()
    result = {"backend": jax.default_backend(), "devices": devices, "jax": jax.__version__,
              "small": args.small}
    if not args.skip_check:
        print("\n1. jaxconv check --quick (float32 at the highest precision)", flush=True)
        result["check"] = run_check(plan["check_ops"])
    print("\n2. bitwise determinism", flush=True)
    batch = plan["batches"][0]
    det = {f"step {name} B={batch}": step_is_deterministic(name, shape, batch)
           for name, shape in plan["models"]}
    det["max_pool 3x3/2 backward x10"] = backward_is_deterministic(
        "max_pool", (batch, 16, 32, 32), window=3, stride=2, padding=1)
    det["interpolate bilinear x2 backward x10"] = backward_is_deterministic(
        "interpolate", (batch, 16, 16, 16), scale_factor=2, mode="bilinear")
    for name, ok in det.items():
        print(f"  {name}: {'identical' if ok else 'DIFFERENT'}", flush=True)
    result["deterministic"] = det
    print("\n3. train steps, hand-written vs jax.grad", flush=True)
    result["steps"] = time_steps(plan["timed"], plan["batches"], plan["repeats"])
    print("\n" + table(result["steps"]))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    path = out_dir(args.out) / "results.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{result['seconds']} s in all; wrote {path}")
    ok = all(det.values()) and result.get("check", {"ok": True})["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
