"""``jaxconv plot RUN_DIR [RUN_DIR ...]``: the learning curves of runs as one PNG.

Three panels per figure, one line per run: the training and test loss per epoch, and the test
accuracy per epoch, read from each run's ``metrics.jsonl`` (``jaxconv train --out``); each run
is labelled by its folder and, from its ``summary.json`` or checkpoint configuration, what sets
it apart (``ops``, ``mixed_precision``, ...). Needs the ``plot`` extra (matplotlib).
"""

from __future__ import annotations

import json
import pathlib
import sys

from jaxconv._src.tools.cli import Parser

#: The configuration keys a run's label may show when they differ between the runs plotted.
LABEL_KEYS = ("model", "data", "ops", "mixed_precision", "optimizer", "lr", "batch_size",
              "augment", "seed", "dtype")


def read_run(run_dir) -> tuple[list[dict], dict]:
    """``(records, config)`` of a run directory: its ``metrics.jsonl`` lines (one per epoch) and
    its ``summary.json`` (empty when the run has not finished).

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as d:
      ...     _ = (pathlib.Path(d) / "metrics.jsonl").write_text(
      ...         '{"epoch": 0, "train_loss": 2.0, "test_loss": 1.5, "test_accuracy": 0.4}\\n')
      ...     records, config = read_run(d)
      >>> [r["epoch"] for r in records], config
      ([0], {})
    """
    run = pathlib.Path(run_dir)
    log = run / "metrics.jsonl"
    if not log.is_file():
        raise FileNotFoundError(f"jaxconv plot: {run} holds no metrics.jsonl; pass the --out "
                                "folder of a jaxconv train run.")
    records = []
    for number, line in enumerate(log.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"jaxconv plot: line {number} of {log} is not JSON; the file was "
                             "edited or is not a jaxconv run log.") from None
        missing = [k for k in ("epoch", "train_loss", "test_loss", "test_accuracy")
                   if k not in record]
        if missing:
            raise ValueError(f"jaxconv plot: line {number} of {log} lacks {', '.join(missing)}.")
        records.append(record)
    if not records:
        raise ValueError(f"jaxconv plot: {log} is empty: the run has not finished an epoch.")
    summary = run / "summary.json"
    config = json.loads(summary.read_text()) if summary.is_file() else {}
    return records, config


def labels(runs: list[tuple[str, dict]]) -> list[str]:
    """One label per ``(folder name, config)``: the folder name, plus the configuration values
    that differ between the runs (:data:`LABEL_KEYS`).

    Example:
      >>> labels([("a", {"ops": "vjp", "seed": 0}), ("b", {"ops": "autodiff", "seed": 0})])
      ['a (ops=vjp)', 'b (ops=autodiff)']
    """
    varying = [k for k in LABEL_KEYS
               if len({json.dumps(config.get(k)) for _, config in runs}) > 1]
    out = []
    for name, config in runs:
        extra = ", ".join(f"{k}={config.get(k)}" for k in varying if k in config)
        out.append(f"{name} ({extra})" if extra else name)
    return out


def plot(run_dirs, out) -> pathlib.Path:
    """Draw the learning curves of ``run_dirs`` into the PNG ``out``; returns its path.

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as d:
      ...     run = pathlib.Path(d) / "run"
      ...     run.mkdir()
      ...     _ = (run / "metrics.jsonl").write_text("".join(
      ...         json.dumps({"epoch": e, "train_loss": 2 - e, "test_loss": 2.1 - e,
      ...                     "test_accuracy": 0.3 * e}) + "\\n" for e in range(3)))
      ...     png = plot([run], pathlib.Path(d) / "curves.png")
      ...     print(png.read_bytes()[:4])
      b'\\x89PNG'
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("jaxconv plot: needs matplotlib; install the extra with pip install "
                          "\"jaxconv[plot]\" (in a checkout: pip install -e \".[plot]\")."
                          ) from None
    runs = [(pathlib.Path(d), *read_run(d)) for d in run_dirs]
    names = labels([(d.name or str(d), config) for d, _, config in runs])
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for (_, records, _), name, color in zip(runs, names, plt.rcParams["axes.prop_cycle"]()):
        epochs = [r["epoch"] + 1 for r in records]
        c = color["color"]
        ax_loss.plot(epochs, [r["train_loss"] for r in records], color=c, ls="--",
                     label=f"{name}: train")
        ax_loss.plot(epochs, [r["test_loss"] for r in records], color=c, label=f"{name}: test")
        ax_acc.plot(epochs, [r["test_accuracy"] for r in records], color=c, label=name)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="training (dashed) and test loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    parser = Parser(prog="jaxconv plot", description="Draw the learning curves (training and "
                    "test loss, test accuracy per epoch) of one or more jaxconv train runs, "
                    "overlaid, into a PNG.")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="run directories (jaxconv train --out)")
    parser.add_argument("--out", default="curves.png", help="the PNG to write")
    args = parser.parse_args(argv)
    try:
        path = plot(args.runs, args.out)
    except (ImportError, FileNotFoundError, ValueError, OSError) as err:
        print(f"jaxconv plot: error: {str(err).removeprefix('jaxconv plot: ')}",
              file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
