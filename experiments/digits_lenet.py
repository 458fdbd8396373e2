"""LeNet-5 on scikit-learn's 8x8 handwritten digits, trained through the hand-written rules.

    python experiments/digits_lenet.py [--seeds 0 1 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json

from _common import mean_spread, out_dir, pyplot

from jaxconv import data, models, train

RECIPE = dict(epochs=40, batch_size=32, optimizer="adam", lr=2e-3, schedule="cosine")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="digits")
    args = parser.parse_args(argv)
    out = out_dir(args.out)
    ds = data.load("digits")
    accs, hists = [], {}
    for seed in args.seeds:
        _, hist = train.fit(models.lenet5(), ds, **RECIPE, seed=seed, log=None, data_name="digits")
        accs.append(hist[-1]["test_accuracy"])
        hists[seed] = hist
        print(f"seed {seed}: test accuracy {accs[-1]:.4f} ({hist[-1]['seconds']:.1f} s)",
              flush=True)
    print(f"\n| model | data | train/test | test accuracy (%) over seeds {args.seeds} |")
    print("|---|---|---|---:|")
    print(f"| lenet5 | digits 8x8 | {len(ds.x_train)}/{len(ds.x_test)} | {mean_spread(accs)} |")
    (out / "results.json").write_text(json.dumps({"recipe": RECIPE, "accuracy": accs,
                                                  "history": hists}, indent=1))
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        for seed, hist in hists.items():
            ax.plot([h["test_accuracy"] for h in hist], label=f"seed {seed}")
        ax.set(xlabel="epoch", ylabel="test accuracy", title="LeNet-5 on 8x8 digits", ylim=(0.8, 1))
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "digits_accuracy.png", dpi=120)
        print(f"saved {out / 'digits_accuracy.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
