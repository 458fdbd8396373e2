"""The ``jaxconv`` command: ``train``, ``check``, ``bench``, ``compare``, ``plot``,
``derivation``, ``--version``.

``jaxconv train`` with no options trains the MNIST-1D paper's CNN on MNIST-1D (generated offline)
through the hand-written rules and prints the test accuracy. Each dataset has a default recipe
(model, epochs, batch size, optimizer, learning rate); every option overrides its part.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

# He et al. 2016, Sec. 4.2: SGD momentum 0.9, weight decay 1e-4, batch 128, lr 0.1 divided
# by 10 at 32k and 48k of 64k iterations (50% and 75%), crop 32 from the image padded by 4
# and horizontal flips; 164 epochs of 50000 // 128 = 390 steps: 63960 iterations.
_HE2016 = dict(model="resnet20", epochs=164, batch_size=128, optimizer="sgd", lr=0.1,
               schedule="multistep", weight_decay=1e-4, augment="crop:4,flip")

# Default recipe per dataset; command-line options override single entries.
RECIPES = {
    "mnist1d": dict(model="cnn1d", epochs=150, batch_size=100, optimizer="adamw", lr=1e-2,
                    schedule="cosine", weight_decay=5e-2, augment="shift:3"),
    "digits": dict(model="lenet5", epochs=40, batch_size=32, optimizer="adam", lr=2e-3,
                   schedule="cosine", weight_decay=1e-4, augment="none"),
    "mnist": dict(model="lenet5", epochs=10, batch_size=128, optimizer="adam", lr=1e-3,
                  schedule="cosine", weight_decay=1e-4, augment="none"),
    "fashion-mnist": dict(model="lenet5", epochs=15, batch_size=128, optimizer="adam", lr=1e-3,
                          schedule="cosine", weight_decay=1e-4, augment="none"),
    "cifar10": _HE2016,
    "cifar100": _HE2016,
    "synthetic": dict(model="lenet5", epochs=3, batch_size=32, optimizer="adam", lr=1e-3,
                      schedule="constant", weight_decay=1e-4, augment="none"),
}


def _recipe_default(key: str) -> str:
    """``(default: the dataset's recipe: mnist1d 150, digits 40, ...)`` for one recipe entry."""
    return ("(default: the dataset's recipe: "
            + ", ".join(f"{name} {recipe[key]}" for name, recipe in RECIPES.items()) + ")")


class _HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default after its help, unless the help already says it or there is
    none to show (``None``, ``False``)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and "default" not in text
                and not any(action.default is v for v in (None, False, argparse.SUPPRESS))):
            text += " (default: %(default)s)"
        return text


def plain(text: str) -> str:
    """``text`` without reStructuredText markup (``code``, :func:`name`), for a terminal."""
    text = re.sub(r":[a-z]+:`~?([^`]*)`", r"\1", text)
    return re.sub(r"``([^`]*)``", r"\1", text)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (no usage block), exit code 2,
    whose help shows every default and no markup."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def format_help(self):
        return plain(super().format_help())

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind, low, low_open=False):
    """An argparse type: ``kind`` (int or float), finite, ``> low`` or ``>= low``."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an int' if kind is int else 'a number'}"
                                             f", got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or \
                (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if low_open else '>='} {low}, "
                                             f"got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _augment_spec(spec: str) -> str:
    """An argparse type: ``"none"`` or a comma-separated list of ``shift:K``, ``crop:P`` and
    ``flip``, checked while parsing by :func:`jaxconv.data.augmentation` (which builds it later,
    from the checked text)."""
    from jaxconv._src.training import data
    try:
        data.augmentation(spec)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'none' or a comma-separated list of shift:K, crop:P (integers >= 0) "
            f"and flip (e.g. crop:4,flip), got {spec!r}") from None
    return spec


def train_main(argv=None) -> int:
    from jaxconv._src.nn import models
    from jaxconv._src.training import data as data_mod
    parser = Parser(
        prog="jaxconv train", description="Train a model through jaxconv's hand-written rules "
        "(or jax.grad's, with --ops autodiff) and report test accuracy.")
    parser.add_argument("--data", default="mnist1d", choices=data_mod.DATASETS,
                        help="dataset (default: mnist1d, generated offline)")
    parser.add_argument("--data-dir", default=None, help="folder with the IDX files (mnist, "
                        "fashion-mnist) or the CIFAR binary-version files (cifar10, cifar100: "
                        "the .bin files, the folder the official .tar.gz unpacks to, or the "
                        ".tar.gz itself)")
    parser.add_argument("--model", choices=sorted(models.MODELS),
                        help="model " + _recipe_default("model"))
    parser.add_argument("--epochs", type=_number(int, 1),
                        help="passes over the training set " + _recipe_default("epochs"))
    parser.add_argument("--batch-size", type=_number(int, 1),
                        help="examples per step, over all devices " + _recipe_default("batch_size"))
    parser.add_argument("--optimizer", choices=("sgd", "adam", "adamw"),
                        help="optax optimizer " + _recipe_default("optimizer"))
    parser.add_argument("--lr", type=_number(float, 0, low_open=True),
                        help="peak learning rate " + _recipe_default("lr"))
    parser.add_argument("--schedule", choices=("constant", "cosine", "warmup_cosine", "multistep"),
                        help="learning-rate schedule over the run (multistep: divided by 10 at "
                        "50%% and 75%%) " + _recipe_default("schedule"))
    parser.add_argument("--weight-decay", type=_number(float, 0),
                        help="sgd: L2 added to the gradient; adamw: decoupled; adam takes none "
                             + _recipe_default("weight_decay"))
    parser.add_argument("--weight-decay-mask", choices=("all", "kernels"), default="all",
                        help="decay all params, or only kernels (not biases, not norm scales "
                        "and offsets)")
    parser.add_argument("--momentum", type=_number(float, 0), default=0.9,
                        help="sgd momentum (0: plain)")
    parser.add_argument("--augment", type=_augment_spec,
                        help="none, or a comma-separated list of shift:K (random shifts of up to "
                        "K samples along the last axis), crop:P (random crops from the image "
                        "zero-padded by P) and flip (random horizontal flips), applied on the "
                        "device inside the train step " + _recipe_default("augment"))
    parser.add_argument("--mixed-precision", choices=("none", "bf16", "f16"), default="none",
                        help="none: float32 throughout; bf16/f16: float32 params and optimizer "
                        "state, 16-bit compute, float32 loss and batch-norm statistics; f16 "
                        "with dynamic loss scaling")
    parser.add_argument("--matmul-precision", choices=("default", "high", "highest"),
                        default="default", help="precision of float32 matrix products and "
                        "convolutions: default is the backend's (TF32 on recent NVIDIA GPUs), "
                        "highest is full float32")
    parser.add_argument("--data-on-device", choices=("auto", "yes", "no"), default="auto",
                        help="keep the training set on the devices and gather batches there "
                        "(auto: when it takes at most a quarter of a device's memory)")
    parser.add_argument("--seed", type=_number(int, 0), default=0,
                        help="seed of the initial params, the batch order and the augmentation")
    parser.add_argument("--ops", choices=("vjp", "autodiff"), default="vjp",
                        help="vjp: hand-written rules (default); autodiff: jax.grad's")
    parser.add_argument("--out", default=None, help="run directory: metrics.jsonl, "
                        "checkpoint.npz, summary.json (default: none, nothing is written)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run files already in --out (default: refuse)")
    parser.add_argument("--on-nonfinite", choices=("stop", "skip"), default="stop",
                        help="on a NaN/inf loss or gradient: stop naming the step, or skip it")
    parser.add_argument("--progress", action="store_true", help="show a progress bar (tqdm)")
    parser.add_argument("--devices", type=_number(int, 1), default=None,
                        help="number of devices to train on (default: every visible device)")
    parser.add_argument("--model-parallel", type=_number(int, 1), default=1,
                        help="devices per model replica: conv/dense kernels split by output "
                        "channel (default 1: pure data parallelism)")
    parser.add_argument("--coordinator", default=None, help="multi-host: HOST:PORT of process 0")
    parser.add_argument("--num-processes", type=int, default=None, help="multi-host: processes")
    parser.add_argument("--process-id", type=int, default=None, help="multi-host: this process")
    parser.add_argument("--distributed", action="store_true",
                        help="multi-host, configured from the environment (SLURM, Open MPI, "
                        "TPU pods: whatever jax.distributed.initialize() detects)")
    parser.add_argument("--xla-defaults", action="store_true",
                        help="compile the train step with XLA's default options (by default, "
                        "on CPU, it uses Eigen convolutions instead of YNNPACK's: faster here)")
    args = parser.parse_args(argv)
    if args.resume and args.overwrite:
        parser.error("--resume continues the run in --out and --overwrite replaces it; pass one")

    from jaxconv._src.training import distributed
    multi = [args.coordinator, args.num_processes, args.process_id]
    if any(v is not None for v in multi) or args.distributed:
        if not args.distributed and any(v is None for v in multi):
            parser.error("--coordinator, --num-processes and --process-id go together (or use "
                         "--distributed to read them from the environment)")
        distributed.initialize(*multi)      # before anything else touches JAX

    import jaxconv
    from jaxconv._src.training import fit as train
    recipe = dict(RECIPES[args.data])
    for name in recipe:
        value = getattr(args, name)
        if value is not None:
            recipe[name] = value
    try:
        ds = data_mod.load(args.data, data_dir=args.data_dir)
        model = models.get(recipe.pop("model"), num_classes=ds.num_classes)
        augment = data_mod.augmentation(recipe.pop("augment"))
        ops = jaxconv if args.ops == "vjp" else jaxconv.autodiff
        say = print if distributed.is_main() else (lambda *a, **k: None)
        say(f"jaxconv train: {model.name} on {args.data} {ds.input_shape} "
              f"({len(ds.x_train)} train / {len(ds.x_test)} test), ops={args.ops}, "
              + ", ".join(f"{k}={v}" for k, v in recipe.items())
              + f", augment={getattr(augment, '__name__', 'none')}, seed={args.seed}"
              + f", mixed_precision={args.mixed_precision}", flush=True)
        xla = "default" if args.xla_defaults else "auto"
        import jax
        if args.devices is not None and args.devices > jax.device_count():
            parser.error(f"--devices {args.devices}: only {jax.device_count()} device(s) are "
                         "visible; pass at most that many, or leave --devices out for all")
        say(f"jaxconv train: {jax.device_count() if args.devices is None else args.devices} "
            f"device(s) in {jax.process_count()} process(es), model parallel "
            f"{args.model_parallel}", flush=True)
        if train.compiler_options(xla):
            say(f"jaxconv train: XLA options {train.compiler_options(xla)} (--xla-defaults "
                  "to use XLA's defaults)", flush=True)
        mixed = None if args.mixed_precision == "none" else args.mixed_precision
        on_device = {"auto": None, "yes": True, "no": False}[args.data_on_device]
        with jax.default_matmul_precision(None if args.matmul_precision == "default"
                                          else args.matmul_precision):
            _, history = train.fit(model, ds, **recipe, momentum=args.momentum, seed=args.seed,
                                   ops=ops, out_dir=args.out, resume=args.resume,
                                   overwrite=args.overwrite,
                                   on_nonfinite=args.on_nonfinite, progress=args.progress,
                                   data_name=args.data, augment=augment, xla_options=xla,
                                   devices=args.devices, model_parallel=args.model_parallel,
                                   mixed_precision=mixed, data_on_device=on_device,
                                   weight_decay_mask=args.weight_decay_mask)
    except (ValueError, FileNotFoundError, FileExistsError, ImportError,
            train.NonFiniteError) as err:
        print(f"jaxconv train: error: {err}", file=sys.stderr)
        return 1
    if distributed.is_main():
        print(train.summary_line(history))
        if args.out:
            print(f"wrote {args.out}/summary.json, metrics.jsonl, checkpoint.npz")
    return 0


_COMMANDS = {
    "train": (train_main, "train a model on a dataset through the hand-written rules"),
    "check": ("jaxconv._src.tools.check",
              "verify every hand-written rule against jax.grad and finite differences"),
    "bench": ("jaxconv._src.tools.bench",
              "time the hand-written rules against jax.grad (and PyTorch)"),
    "ops": ("jaxconv._src.tools.ops_table",
            "list the ops and which checks cover each, rank by rank"),
    "compare": ("jaxconv._src.tools.compare",
                "compare every op call of a model, hand-written VJP against jax.grad's"),
    "plot": ("jaxconv._src.tools.plot", "draw the learning curves of run directories as a PNG"),
    "derivation": ("jaxconv._src.tools.derivation",
                   "print the derivation of the rules (the equations docstrings cite)"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--version"]:
        from jaxconv import __version__
        print(f"jaxconv {__version__}")
        return 0
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: jaxconv {" + ",".join(_COMMANDS) + "} [options]\n       jaxconv --version"
              "\n")
        for name, (_, text) in _COMMANDS.items():
            print(f"  {name:<10} {text}")
        print("\n'jaxconv COMMAND --help' describes each command's options.")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in _COMMANDS:
        print(f"jaxconv: unknown command {name!r}; choose from {', '.join(_COMMANDS)}",
              file=sys.stderr)
        return 2
    target = _COMMANDS[name][0]
    if isinstance(target, str):
        target = importlib.import_module(target).main
    return target(rest)


if __name__ == "__main__":
    sys.exit(main())
