"""Data-parallel scaling: train-step throughput against the number of devices.

Each device count runs in a fresh process (XLA reads ``--xla_force_host_platform_device_count``
at start-up); on a CPU host those are "forced" devices sharing the same cores. With ``--real``
the visible devices (GPUs, TPU cores) are used instead, 1, 2, 4, ... of them.

    python experiments/scaling.py [--devices 1 2 4 8] [--model lenet5] [--batch 128] [--real]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import out_dir

CHILD = r'''
import json, sys, time
import numpy as np, jax
from jaxconv import distributed, models, train
from jaxconv._src.tools import bench
model_name = sys.argv[1]
batch, devices, repeats = map(int, sys.argv[2:5])
shape = {"lenet5": (1, 28, 28), "cnn1d": (1, 40), "vgg_small": (3, 32, 32)}[model_name]
model = models.get(model_name)
opt = train.make_optimizer("adam", 1e-3)
layout = distributed.make_layout(batch, devices, 1, shape)
state = train.init_state(model, opt, shape, seed=0)
sh = distributed.state_shardings(state, layout)
state = distributed.put(state, sh)
rng = np.random.default_rng(0)
x = distributed.put_batch(rng.standard_normal((batch,) + shape).astype(np.float32), layout)
y = distributed.put_batch(rng.integers(0, 10, batch).astype(np.int32), layout)
step = train.compile_step(train.make_train_step(model, opt), state, x, y, {},
                          (sh, layout.batch, layout.replicated))
box = [state]
def run():
    box[0], loss = step(box[0], x, y)
    jax.block_until_ready(loss)
s = bench.interleaved({"step": run}, repeats)["step"]
print(json.dumps({"devices": jax.device_count() if devices == 0 else devices,
                  "ms": 1e3 * float(np.median(s)), "q1": 1e3 * float(np.percentile(s, 25)),
                  "q3": 1e3 * float(np.percentile(s, 75))}))
'''


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--model", default="lenet5", choices=["lenet5", "cnn1d", "vgg_small"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--real", action="store_true", help="use the real visible devices")
    parser.add_argument("--out", default="scaling")
    args = parser.parse_args(argv)
    rows = []
    for n in args.devices:
        env = dict(os.environ)
        if not args.real:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                                f" --xla_force_host_platform_device_count={n}").strip()
        done = subprocess.run([sys.executable, "-c", CHILD, args.model, str(args.batch), str(n),
                               str(args.repeats)], env=env, capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-2000:])
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  {n} device(s): {rows[-1]['ms']:.2f} ms per step", flush=True)
    base = rows[0]["ms"]
    kind = "real" if args.real else "forced host (CPU)"
    print(f"\n{args.model}, global batch {args.batch}, {kind} devices, {os.cpu_count()} cores\n")
    print("| devices | ms / step (IQR) | steps / s | examples / s | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['devices']} | {r['ms']:.2f} ({r['q1']:.2f}–{r['q3']:.2f}) | "
              f"{1e3 / r['ms']:.1f} | {1e3 * args.batch / r['ms']:.0f} | {base / r['ms']:.2f} |")
    (out_dir(args.out) / f"scaling_{args.model}.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
