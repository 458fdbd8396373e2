"""The full benchmark sweep, with plots: the ``jaxconv bench`` table, then how a train step's time
scales with the batch size (LeNet-5, 28x28) and with the image size (the small VGG, batch 32),
for the hand-written rules and for jax.grad through ``jaxconv.autodiff``.

    python experiments/bench.py [--repeats 7] [--out DIR] [--skip-table]

For each doubling of the batch the table gives ``t(2B) / t(B)``: 2.0 is linear growth; below 2
fixed per-step costs (dispatch, the optimizer update, small kernels that do not fill both cores)
are still being amortised; above 2 the working set has outgrown the caches.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from _common import out_dir, pyplot

from jaxconv._src.tools import bench


def sweep(model_name, shapes_batches, repeats):
    """Median ms per step for jaxconv and autodiff at each (input_shape, batch)."""
    rows = []
    for shape, batch in shapes_batches:
        case = bench.step_case(f"{model_name} {shape} B={batch}", model_name, shape, batch)
        fns = {impl: case.build(impl) for impl in ("jaxconv", "autodiff")}
        samples = bench.interleaved(fns, repeats)
        row = {"shape": list(shape), "batch": batch,
               **{k: bench.summarize(v)["median_ms"] for k, v in samples.items()}}
        rows.append(row)
        print(f"  {model_name} {shape} B={batch}: jaxconv {row['jaxconv']:.2f} ms, "
              f"autodiff {row['autodiff']:.2f} ms", flush=True)
    return rows


def _growth(rows, key, i):
    return rows[i][key] / rows[i - 1][key] if i else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="+",
                        default=[16, 32, 64, 128, 256, 512, 1024])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 48, 64, 96])
    parser.add_argument("--out", default="bench")
    parser.add_argument("--skip-table", action="store_true", help="only the scaling sweeps")
    args = parser.parse_args(argv)
    out = out_dir(args.out)
    if not args.skip_table:
        bench.main(["--repeats", str(args.repeats), "--json", str(out / "bench.json")])

    print("\nscaling with the batch size (lenet5, 1x28x28):")
    by_batch = sweep("lenet5", [((1, 28, 28), b) for b in args.batches], args.repeats)
    print("\nscaling with the image size (vgg_small, batch 32):")
    by_size = sweep("vgg_small", [((3, s, s), 32) for s in args.sizes], args.repeats)

    print("\n| batch | jaxconv ms | autodiff ms | jaxconv / autodiff | jaxconv us/example "
          "| autodiff us/example | t(2B)/t(B) jaxconv | t(2B)/t(B) autodiff |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, r in enumerate(by_batch):
        print(f"| {r['batch']} | {r['jaxconv']:.2f} | {r['autodiff']:.2f} | "
              f"{r['jaxconv'] / r['autodiff']:.2f} | {1e3 * r['jaxconv'] / r['batch']:.1f} | "
              f"{1e3 * r['autodiff'] / r['batch']:.1f} | {_growth(by_batch, 'jaxconv', i):.2f} | "
              f"{_growth(by_batch, 'autodiff', i):.2f} |")
    print("\n| image | jaxconv ms | autodiff ms | jaxconv / autodiff | jaxconv ns/pixel/example "
          "| autodiff ns/pixel/example |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in by_size:
        px = r["shape"][1] * r["shape"][2] * 32
        print(f"| {r['shape'][1]}x{r['shape'][2]} | {r['jaxconv']:.1f} | {r['autodiff']:.1f} | "
              f"{r['jaxconv'] / r['autodiff']:.2f} | {1e6 * r['jaxconv'] / px:.0f} | "
              f"{1e6 * r['autodiff'] / px:.0f} |")
    (out / "scaling.json").write_text(json.dumps({"batch": by_batch, "image": by_size},
                                                 indent=1))
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        b = np.array([r["batch"] for r in by_batch])
        for impl, style in (("jaxconv", "o-"), ("autodiff", "s--")):
            t = np.array([r[impl] for r in by_batch])
            axes[0].loglog(b, t, style, label=impl, base=2)
            axes[1].semilogx(b, 1e3 * t / b, style, label=impl, base=2)
            px = np.array([r["shape"][1] ** 2 for r in by_size])
            axes[2].loglog(px, [r[impl] for r in by_size], style, label=impl)
        axes[0].loglog(b, by_batch[0]["jaxconv"] * b / b[0], ":", color="gray", label="linear")
        axes[0].set(xlabel="batch", ylabel="ms per step", title="lenet5 train step")
        axes[1].set(xlabel="batch", ylabel="us per example", title="lenet5, per example")
        axes[2].set(xlabel="pixels per image", ylabel="ms per step",
                    title="vgg_small train step, batch 32")
        for ax in axes:
            ax.legend()
        fig.tight_layout()
        fig.savefig(out / "scaling.png", dpi=120)
        print(f"saved {out / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
