"""``jaxconv bench``: the hand-written rules against ``jax.grad`` (and PyTorch, when installed).

Every case is timed the same way: each implementation is compiled first (compile time reported
apart), warmed up, then the implementations are run *interleaved* (one call of each per round, the
order rotating every round) for ``--repeats`` rounds; a round calls a function enough times to
take at least ~20 ms and reports the mean per call; the table gives the median over rounds and
the interquartile range. Every call ends in ``block_until_ready`` (JAX) or returns host values
(PyTorch, eager, ``torch.set_num_threads`` = the number of CPU cores JAX uses). PyTorch and
the XLA-flag variant each run in a child process of their own, so that no implementation's
threads (OpenMP spin-waiting after PyTorch's parallel regions) slow another's.

Rows:

* **op** rows time forward + backward (``jax.vjp`` and the cotangent pulled back) of one op:
  ``jaxconv`` (hand-written rules) vs ``jaxconv.autodiff`` under ``jax.grad`` vs
  ``torch.nn.functional`` + autograd;
* **step** rows time one jitted training step (forward, backward, Adam update) of a model;
* the ``[eigen]`` columns rerun both in a child process with
  ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`` (XLA's Eigen
  convolutions instead of YNNPACK's on CPU); XLA reads flags only at start-up;
* the ``fit`` column (step rows) times the hand-written step compiled exactly as
  ``jaxconv.train.fit`` and ``jaxconv train`` compile it (``train.compiler_options("auto")``:
  Eigen convolutions on CPU through a per-compilation option), in the same process and rounds
  as the first two columns, and its ratio to PyTorch: what a training run gets.

Also reported: the machine's float32 matmul throughput (so conv rows read as % of peak), the
bytes of residuals a train step keeps between forward and backward (from what ``jax.vjp``
holds), the temp memory XLA allocates for a train step, versions and ``XLA_FLAGS``.

    jaxconv bench [--quick] [--repeats 7] [--only conv,step] [--json FILE] [--no-eigen]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

EIGEN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"


# ----------------------------------------------------------------------------------------------
# timing

def _calls_per_sample(fn: Callable, target_s: float = 0.02) -> int:
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    return max(1, int(target_s / max(dt, 1e-7)))


def interleaved(fns: dict[str, Callable], repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each function, ``repeats`` samples each, measured round-robin."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    number = {k: _calls_per_sample(fn) for k, fn in fns.items()}
    names = list(fns)
    samples: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:
            fn, n = fns[k], number[k]
            t = time.perf_counter()
            for _ in range(n):
                fn()
            samples[k].append((time.perf_counter() - t) / n)
    return samples


def summarize(samples: list[float]) -> dict:
    q = np.percentile(samples, [25, 50, 75])
    return {"median_ms": 1e3 * float(q[1]), "q1_ms": 1e3 * float(q[0]), "q3_ms": 1e3 * float(q[2]),
            "min_ms": 1e3 * min(samples), "n": len(samples)}


def _compiled(fn, *args):
    """``(compiled, seconds to lower + compile)`` for ``jax.jit(fn)``."""
    import jax
    t = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Float32 matmul throughput of the default JAX device (GFLOP/s)."""
    import jax.numpy as jnp
    a = jnp.ones((n, n), jnp.float32)
    f, _ = _compiled(lambda a, b: a @ b, a, a)
    s = interleaved({"mm": lambda: f(a, a).block_until_ready()}, repeats)["mm"]
    return 2 * n ** 3 / statistics.median(s) / 1e9


# ----------------------------------------------------------------------------------------------
# cases

@dataclasses.dataclass
class Case:
    kind: str                 # "op" or "step"
    name: str
    build: Callable           # (impl) -> zero-arg callable, or None if impl not available
    flops: float = 0.0        # forward + backward FLOPs (conv rows)
    compile_s: dict = dataclasses.field(default_factory=dict)


def _rng_arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _jax_vjp_callable(case: Case, impl: str, op_name: str, arrays, kwargs, labels=None):
    """A compiled forward + backward of ``op_name`` for ``impl`` in {"jaxconv", "autodiff"}:
    returns the output and the cotangents of a fixed random output cotangent."""
    import jax
    import jax.numpy as jnp

    import jaxconv
    ops = jaxconv if impl == "jaxconv" else jaxconv.autodiff
    op = getattr(ops, op_name)
    args = [jnp.asarray(a) for a in arrays]

    def call(*p):
        return op(p[0], labels, **kwargs) if labels is not None else op(*p, **kwargs)

    shape = jax.eval_shape(call, *args).shape
    ct = jnp.asarray(np.random.default_rng(2).standard_normal(shape).astype(np.float32))

    def f(ct, *a):
        out, vjp = jax.vjp(call, *a)
        return out, vjp(ct)

    compiled, seconds = _compiled(f, ct, *args)
    case.compile_s[impl] = seconds
    return lambda: jax.block_until_ready(compiled(ct, *args))


def conv_case(name, x_shape, w_shape, stride=1, padding=0, groups=1) -> Case:
    n = len(x_shape) - 2
    arrays = _rng_arrays([x_shape, w_shape, (w_shape[0],)])
    kwargs = dict(stride=stride, padding=padding, groups=groups)

    def build(impl):
        if impl in ("jaxconv", "autodiff"):
            return _jax_vjp_callable(case, impl, "conv", arrays, kwargs)
        torch = _torch()
        same = isinstance(padding, str) and padding.upper() == "SAME"
        if torch is None or (same and stride != 1):
            return None
        fn = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d,
              3: torch.nn.functional.conv3d}[n]
        x, w, b = (torch.tensor(a, requires_grad=True) for a in arrays)
        pad = padding.lower() if isinstance(padding, str) else padding

        def run():
            x.grad = w.grad = b.grad = None
            y = fn(x, w, b, stride=stride, padding=pad, groups=groups)
            y.backward(torch.ones_like(y))
            return x.grad
        return run

    import jax

    import jaxconv
    out = jax.eval_shape(lambda x, w: jaxconv.conv(x, w, stride=stride, padding=padding,
                                                    groups=groups),
                         jax.ShapeDtypeStruct(x_shape, np.float32),
                         jax.ShapeDtypeStruct(w_shape, np.float32)).shape
    fwd = 2.0 * np.prod(out) * np.prod(w_shape[1:])
    case = Case("op", name, build, flops=3 * fwd)
    return case


def pool_case(name, op_name, x_shape, window, stride, padding=0) -> Case:
    arrays = _rng_arrays([x_shape])
    n = len(x_shape) - 2

    def build(impl):
        if impl in ("jaxconv", "autodiff"):
            return _jax_vjp_callable(case, impl, op_name, arrays,
                                     dict(window=window, stride=stride, padding=padding))
        torch = _torch()
        if torch is None:
            return None
        fn = getattr(torch.nn.functional, f"{op_name}{n}d")
        x = torch.tensor(arrays[0], requires_grad=True)

        def run():
            x.grad = None
            y = fn(x, window, stride, padding)
            y.backward(torch.ones_like(y))
            return x.grad
        return run

    case = Case("op", name, build)
    return case


def xent_case(name, n, k) -> Case:
    arrays = _rng_arrays([(n, k)])
    labels = np.random.default_rng(1).integers(0, k, n).astype(np.int32)

    def build(impl):
        if impl in ("jaxconv", "autodiff"):
            return _jax_vjp_callable(case, impl, "softmax_cross_entropy", arrays, {}, labels)
        torch = _torch()
        if torch is None:
            return None
        z = torch.tensor(arrays[0], requires_grad=True)
        t = torch.tensor(labels, dtype=torch.long)

        def run():
            z.grad = None
            torch.nn.functional.cross_entropy(z, t).backward()
            return z.grad
        return run

    case = Case("op", name, build)
    return case


def _torch_model(name, num_classes=10):
    torch = _torch()
    nn = torch.nn
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, num_classes))
    if name == "cnn1d":
        return nn.Sequential(nn.Conv1d(1, 25, 5, 2, 1), nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1),
                             nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(125, num_classes))
    if name == "vgg_small":
        layers, c = [], 3
        for w in (32, 64, 128):
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1),
                       nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 256), nn.ReLU(),
                             nn.Dropout(0.3), nn.Linear(256, num_classes))
    raise ValueError(name)


def step_case(name, model_name, input_shape, batch) -> Case:
    x = np.random.default_rng(0).standard_normal((batch,) + input_shape).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 10, batch).astype(np.int32)

    def build(impl):
        if impl in ("jaxconv", "autodiff", "jaxconv_fit"):
            import jax

            import jaxconv
            from jaxconv import models, train
            ops = jaxconv.autodiff if impl == "autodiff" else jaxconv
            model = models.get(model_name)
            opt = train.make_optimizer("adam", 1e-3)
            state = train.init_state(model, opt, input_shape, seed=0)
            step = train.make_train_step(model, opt, ops)
            t = time.perf_counter()
            options = train.compiler_options("auto") if impl == "jaxconv_fit" else {}
            compiled = train.compile_step(step, state, x, y, options)
            case.compile_s[impl] = time.perf_counter() - t
            box = [state]
            xd, yd = jax.device_put(x), jax.device_put(y)

            def run():
                box[0], loss = compiled(box[0], xd, yd)
                return jax.block_until_ready(loss)
            return run
        torch = _torch()
        if torch is None:
            return None
        torch.manual_seed(0)
        model = _torch_model(model_name)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.long)

        def run():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xt), yt)
            loss.backward()
            opt.step()
            return loss.item()
        return run

    case = Case("step", name, build)
    return case


def default_cases(quick: bool = False) -> list[Case]:
    if quick:
        return [conv_case("conv2d 8->8 3x3 16x16 B8", (8, 8, 16, 16), (8, 8, 3, 3), padding=1),
                pool_case("max_pool 3x3/2 16x16 C8 B8", "max_pool", (8, 8, 16, 16), 3, 2, 1),
                step_case("step cnn1d B=100", "cnn1d", (1, 40), 100)]
    return [
        conv_case("conv2d 64->64 3x3 32x32 B64", (64, 64, 32, 32), (64, 64, 3, 3), padding=1),
        conv_case("conv2d 64->128 3x3/2 32x32 B64", (64, 64, 32, 32), (128, 64, 3, 3), 2, 1),
        conv_case("conv2d 3->32 3x3 32x32 B64", (64, 3, 32, 32), (32, 3, 3, 3), padding=1),
        conv_case("conv2d 1->6 5x5 28x28 B128 (lenet c1)", (128, 1, 28, 28), (6, 1, 5, 5),
                  padding=2),
        conv_case("conv2d 6->16 5x5 14x14 B128 (lenet c2)", (128, 6, 14, 14), (16, 6, 5, 5)),
        conv_case("conv2d depthwise 64 3x3 32x32 B64", (64, 64, 32, 32), (64, 1, 3, 3),
                  padding=1, groups=64),
        conv_case("conv1d 1->25 k5/2 L40 B100 (cnn1d c1)", (100, 1, 40), (25, 1, 5), 2, 1),
        conv_case("conv1d 25->25 k3/2 L19 B100 (cnn1d c2)", (100, 25, 19), (25, 25, 3), 2, 1),
        conv_case("conv3d 16->16 3x3x3 16^3 B8", (8, 16, 16, 16, 16), (16, 16, 3, 3, 3),
                  padding=1),
        pool_case("max_pool 2x2/2 32x32 C64 B64", "max_pool", (64, 64, 32, 32), 2, 2),
        pool_case("max_pool 3x3/2 32x32 C64 B64 (overlapping)", "max_pool", (64, 64, 32, 32),
                  3, 2, 1),
        pool_case("max_pool 2x2/2 28x28 C6 B128 (lenet)", "max_pool", (128, 6, 28, 28), 2, 2),
        pool_case("avg_pool 2x2/2 32x32 C64 B64", "avg_pool", (64, 64, 32, 32), 2, 2),
        pool_case("avg_pool 3x3/2 32x32 C64 B64 (overlapping)", "avg_pool", (64, 64, 32, 32),
                  3, 2, 1),
        xent_case("softmax_cross_entropy 4096x1000", 4096, 1000),
        step_case("step lenet5 B=128 28x28", "lenet5", (1, 28, 28), 128),
        step_case("step cnn1d B=100 (MNIST-1D)", "cnn1d", (1, 40), 100),
        step_case("step vgg_small B=64 32x32", "vgg_small", (3, 32, 32), 64),
    ]


_TORCH = []


def _torch():
    """PyTorch if importable (optional), set to the thread count JAX uses; else None."""
    if not _TORCH:
        try:
            import torch
            torch.set_num_threads(os.cpu_count() or 1)
            _TORCH.append(torch)
        except ImportError:
            _TORCH.append(None)
    return _TORCH[0]


# ----------------------------------------------------------------------------------------------
# memory

def residual_bytes(model_name, input_shape, batch, ops) -> int:
    """Bytes of the arrays ``jax.vjp`` keeps between a train step's forward and backward."""
    import jax
    import jax.numpy as jnp

    from jaxconv import models, train
    model = models.get(model_name)
    params = model.init(jax.random.key(0), input_shape)
    x = jnp.zeros((batch,) + input_shape, jnp.float32)
    y = jnp.zeros((batch,), jnp.int32)
    loss = train.loss_fn(model, ops)
    _, vjp = jax.vjp(lambda p: loss(p, x, y, jax.random.key(1))[0], params)
    return sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(vjp))


def step_temp_bytes(model_name, input_shape, batch, ops) -> int | None:
    """XLA's temp allocation for one compiled train step (its peak working memory)."""
    import jax

    from jaxconv import models, train
    model = models.get(model_name)
    opt = train.make_optimizer("adam", 1e-3)
    state = train.init_state(model, opt, input_shape, seed=0)
    x = np.zeros((batch,) + input_shape, np.float32)
    y = np.zeros((batch,), np.int32)
    compiled = jax.jit(train.make_train_step(model, opt, ops)).lower(state, x, y).compile()
    analysis = compiled.memory_analysis()
    return None if analysis is None else int(analysis.temp_size_in_bytes)


# ----------------------------------------------------------------------------------------------

def run_cases(cases, impls, repeats, log=print) -> list[dict]:
    rows = []
    for case in cases:
        fns = {}
        for impl in impls:
            if impl == "jaxconv_fit" and case.kind != "step":
                continue
            fn = case.build(impl)
            if fn is not None:
                fns[impl] = fn
        samples = interleaved(fns, repeats)
        row = {"kind": case.kind, "name": case.name, "flops": case.flops,
               "compile_s": case.compile_s, **{k: summarize(v) for k, v in samples.items()}}
        rows.append(row)
        if log:
            log(_format_row(row))
    return rows


def _torch_version() -> str | None:
    """The installed PyTorch version, found without importing it: importing torch into this
    process slows JAX here by a third (its thread pools), so only child processes import it."""
    import importlib.metadata
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        return None
    return importlib.metadata.version("torch")


def environment() -> dict:
    import jax
    import jaxlib
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "torch": _torch_version(),
            "backend": jax.default_backend(), "device": str(jax.devices()[0]),
            "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}


def _ms(row, impl):
    r = row.get(impl)
    return f"{r['median_ms']:.3f} ({r['q1_ms']:.3f}–{r['q3_ms']:.3f})" if r else "—"


def _ratio(row, a, b):
    if a in row and b in row:
        return f"{row[a]['median_ms'] / row[b]['median_ms']:.2f}"
    return "—"


_HEADER = ("| case | jaxconv ms (IQR) | autodiff ms (IQR) | jaxconv / autodiff "
           "| jaxconv[eigen] ms | autodiff[eigen] ms | jaxconv / autodiff [eigen] | torch ms "
           "| jaxconv / torch | fit ms (/ torch) | jaxconv GFLOP/s (% peak) |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def _format_row(row, peak=None) -> str:
    gflops = ""
    if row.get("flops") and "jaxconv" in row:
        g = row["flops"] / row["jaxconv"]["median_ms"] / 1e6
        gflops = f"{g:.0f}" + (f" ({100 * g / peak:.0f}%)" if peak else "")
    return (f"| {row['name']} | {_ms(row, 'jaxconv')} | {_ms(row, 'autodiff')} | "
            f"{_ratio(row, 'jaxconv', 'autodiff')} | {_ms1(row, 'jaxconv_eigen')} | "
            f"{_ms1(row, 'autodiff_eigen')} | {_ratio(row, 'jaxconv_eigen', 'autodiff_eigen')} | "
            f"{_ms1(row, 'torch')} | {_ratio(row, 'jaxconv', 'torch')} | "
            f"{_fit(row)} | {gflops} |")


def _fit(row) -> str:
    if "jaxconv_fit" not in row:
        return "—"
    return f"{_ms1(row, 'jaxconv_fit')} ({_ratio(row, 'jaxconv_fit', 'torch')})"


def _ms1(row, impl):
    r = row.get(impl)
    return f"{r['median_ms']:.3f}" if r else "—"


def _child(args, impls, flags="") -> dict[str, dict]:
    """Time ``impls`` in a child process (alone on the machine, with extra ``XLA_FLAGS``)."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flags).strip()
    cmd = [sys.executable, "-m", "jaxconv.bench", "--child", ",".join(impls),
           "--repeats", str(args.repeats)]
    if args.quick:
        cmd.append("--quick")
    if args.only:
        cmd += ["--only", args.only]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return {r["name"]: r for r in json.loads(out.strip().splitlines()[-1])}


def _select(cases, only):
    if not only:
        return cases
    keys = [k.strip() for k in only.split(",") if k.strip()]
    return [c for c in cases if any(k in c.name for k in keys)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="jaxconv bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="three tiny cases, 3 repeats (CI)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 7; quick 3)")
    parser.add_argument("--only", default="", help="comma-separated substrings of case names")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--no-eigen", action="store_true",
                        help="skip the autodiff rerun under XLA's Eigen convolutions")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    cases = _select(default_cases(args.quick), args.only)
    if args.child:
        rows = run_cases(cases, args.child.split(","), args.repeats, log=None)
        print(json.dumps(rows))
        return 0
    env = environment()
    peak = matmul_gflops()
    print(f"jaxconv bench: jax {env['jax']}, jaxlib {env['jaxlib']}, torch {env['torch']}, "
          f"{env['device']}, {env['cpu_count']} cores, XLA_FLAGS={env['XLA_FLAGS']!r}; "
          f"float32 matmul {peak:.0f} GFLOP/s; {args.repeats} interleaved rounds, median (IQR)\n")
    print(_HEADER, flush=True)
    rows = run_cases(cases, ["jaxconv", "autodiff", "jaxconv_fit"], args.repeats, log=None)
    # Each baseline runs alone in its own process: PyTorch's OpenMP threads keep spinning after
    # every parallel region and would slow whatever runs next on the 2 cores.
    eigen = {} if args.no_eigen else _child(args, ["jaxconv", "autodiff"], EIGEN_FLAG)
    torch_rows = _child(args, ["torch"]) if env["torch"] and not args.no_torch else {}
    for row in rows:
        for impl in ("jaxconv", "autodiff"):
            if impl in eigen.get(row["name"], {}):
                row[f"{impl}_eigen"] = eigen[row["name"]][impl]
        if "torch" in torch_rows.get(row["name"], {}):
            row["torch"] = torch_rows[row["name"]]["torch"]
        print(_format_row(row, peak), flush=True)
    print("\ncompile seconds (jaxconv / autodiff): " + "; ".join(
        f"{r['name']}: {r['compile_s'].get('jaxconv', 0):.2f} / "
        f"{r['compile_s'].get('autodiff', 0):.2f}" for r in rows))
    memory = []
    if not args.quick:
        import jaxconv
        for model_name, shape, batch in (("lenet5", (1, 28, 28), 128), ("cnn1d", (1, 40), 100),
                                         ("vgg_small", (3, 32, 32), 64)):
            entry = {"model": model_name, "batch": batch}
            for label, ops in (("jaxconv", jaxconv), ("autodiff", jaxconv.autodiff)):
                entry[f"residual_bytes_{label}"] = residual_bytes(model_name, shape, batch, ops)
                entry[f"temp_bytes_{label}"] = step_temp_bytes(model_name, shape, batch, ops)
            memory.append(entry)
        print("\n| train step | residual bytes jaxconv | residual bytes autodiff | ratio "
              "| XLA temp bytes jaxconv | XLA temp bytes autodiff |\n"
              "|---|---:|---:|---:|---:|---:|")
        for m in memory:
            print(f"| {m['model']} B={m['batch']} | {m['residual_bytes_jaxconv']:,} | "
                  f"{m['residual_bytes_autodiff']:,} | "
                  f"{m['residual_bytes_jaxconv'] / m['residual_bytes_autodiff']:.2f} | "
                  f"{m['temp_bytes_jaxconv']:,} | {m['temp_bytes_autodiff']:,} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "matmul_gflops": peak, "repeats": args.repeats,
                       "rows": rows, "memory": memory}, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
