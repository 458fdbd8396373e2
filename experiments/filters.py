"""Learned first-layer filters of LeNet-5 on the 8x8 digits, and the feature maps of one input.

    python experiments/filters.py [--seed 0] [--out DIR]
"""

from __future__ import annotations

import argparse

import jax
import numpy as np
from _common import out_dir, pyplot
from digits_lenet import RECIPE

import jaxconv
from jaxconv import data, models, train


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--index", type=int, default=0, help="test image to show")
    parser.add_argument("--out", default="filters")
    args = parser.parse_args(argv)
    plt = pyplot()
    if plt is None:
        return 1
    out = out_dir(args.out)
    ds = data.load("digits")
    model = models.lenet5()
    params, hist = train.fit(model, ds, **RECIPE, seed=args.seed, log=None)
    w = np.asarray(params["conv0"]["w"])[:, 0]                # (6, 5, 5)
    x = ds.x_test[args.index:args.index + 1]
    fmap = np.asarray(jax.jit(lambda p, v: jaxconv.relu(
        jaxconv.conv(v, p["conv0"]["w"], p["conv0"]["b"], padding=2)))(params, x))[0]
    fig, axes = plt.subplots(2, 7, figsize=(12, 4))
    axes[0, 0].imshow(x[0, 0], cmap="gray_r")
    axes[0, 0].set_title(f"input (label {ds.y_test[args.index]})")
    axes[1, 0].axis("off")
    lim = np.abs(w).max()
    for i in range(6):
        axes[0, i + 1].imshow(w[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[0, i + 1].set_title(f"filter {i}")
        axes[1, i + 1].imshow(fmap[i], cmap="viridis")
        axes[1, i + 1].set_title(f"relu(conv) map {i}")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"LeNet-5 first layer after training on digits "
                 f"(test accuracy {hist[-1]['test_accuracy']:.3f})")
    fig.tight_layout()
    fig.savefig(out / "filters.png", dpi=120)
    print(f"saved {out / 'filters.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
