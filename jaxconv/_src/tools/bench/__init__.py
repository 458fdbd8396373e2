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

The package, by concern: :mod:`.timing` (interleaved rounds), :mod:`.cases` (what is timed),
:mod:`.baselines` (PyTorch), :mod:`.memory` (residual and temp bytes), :mod:`.report` (tables),
:mod:`.profile` (``--profile``: a train step's time op call by op call).

    jaxconv bench [--quick] [--repeats 7] [--only conv,step] [--json FILE] [--no-eigen]
    jaxconv bench --profile lenet5,vgg_small [--repeats 5]    (the per-op breakdown)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from jaxconv._src.tools.bench import cases as bench_cases
from jaxconv._src.tools.bench import memory as memory_probe
from jaxconv._src.tools.bench import report, timing
from jaxconv._src.tools.bench.cases import step_case as step_case
from jaxconv._src.tools.bench.memory import residual_bytes as residual_bytes
from jaxconv._src.tools.bench.memory import step_temp_bytes as step_temp_bytes
from jaxconv._src.tools.bench.timing import interleaved as interleaved
from jaxconv._src.tools.bench.timing import summarize as summarize

EIGEN_FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"


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
        samples = timing.interleaved(fns, repeats)
        row = {"kind": case.kind, "name": case.name, "flops": case.flops,
               "compile_s": case.compile_s, **{k: timing.summarize(v) for k, v in samples.items()}}
        rows.append(row)
        if log:
            log(report.format_row(row))
    return rows


def _child(args, impls, flags="") -> dict[str, dict]:
    """Time ``impls`` in a child process (alone on the machine, with extra ``XLA_FLAGS``)."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flags).strip()
    cmd = child_command("jaxconv._src.tools.bench", "--child", ",".join(impls),
                        "--repeats", str(args.repeats))
    if args.quick:
        cmd.append("--quick")
    if args.only:
        cmd += ["--only", args.only]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ChildError(impls, done.returncode, done.stderr)
    return {r["name"]: r for r in json.loads(lines[-1])}


def child_command(module, *args) -> list[str]:
    """``python -P -m module args``: ``-P`` keeps the current folder off ``sys.path``, so a
    folder named ``jaxconv`` where the user stands (a checkout, say) cannot shadow the package
    this process runs."""
    return [sys.executable, "-P", "-m", module, *args]


class ChildError(RuntimeError):
    """A timing child process failed; the message holds the end of its stderr."""

    def __init__(self, impls, returncode, stderr):
        tail = "\n".join(stderr.strip().splitlines()[-15:]) or "(no output on stderr)"
        super().__init__(f"the child process timing {', '.join(impls)} exited with code "
                         f"{returncode}; its stderr ends with:\n{tail}")


def _profile(parser, args) -> int:
    from jaxconv._src.tools.bench import profile
    known = {m: (shape, batch) for m, shape, batch in bench_cases.MODELS}
    names = [m.strip() for m in args.profile.split(",") if m.strip()]
    unknown = [m for m in names if m not in known]
    if not names:
        parser.error("--profile names no model; give some of " + ", ".join(known))
    if unknown:
        parser.error(f"--profile: unknown model {unknown[0]!r}; choose from "
                     + ", ".join(known))
    env = report.environment()
    print(f"jaxconv bench --profile: jax {env['jax']}, {env['device']}, {env['cpu_count']} "
          f"cores; {args.repeats} interleaved rounds, median\n")
    results = []
    for name in names:
        shape, batch = known[name]
        if args.quick:
            batch = min(batch, 4)
        results.append(profile.profile(name, shape, batch, args.repeats))
        print(profile.table(results[-1]) + "\n", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "profiles": results}, f, indent=1)
        print(f"wrote {args.json}")
    return 0


def _select(cases, only):
    if not only:
        return cases
    keys = [k.strip() for k in only.split(",") if k.strip()]
    return [c for c in cases if any(k in c.name for k in keys)]


def main(argv=None) -> int:
    from jaxconv._src.tools.cli import Parser
    parser = Parser(prog="jaxconv bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="three tiny cases, 3 repeats (CI)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 7; quick 3)")
    parser.add_argument("--only", default="", help="comma-separated substrings of case names")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--no-eigen", action="store_true",
                        help="skip the autodiff rerun under XLA's Eigen convolutions")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--profile", default="", metavar="MODELS",
                        help="instead of the table: the per-op breakdown of these models' train "
                             "steps (--only, --no-eigen and --no-torch do not apply; "
                             "comma-separated; " + ", ".join(
                                 m for m, _, _ in bench_cases.MODELS) + ")")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    if args.repeats < 3:
        parser.error("--repeats must be at least 3")
    if args.profile:
        return _profile(parser, args)
    cases = _select(bench_cases.default_cases(args.quick), args.only)
    if args.child:
        rows = run_cases(cases, args.child.split(","), args.repeats, log=None)
        print(json.dumps(rows))
        return 0
    env = report.environment()
    peak = timing.matmul_gflops()
    print(f"jaxconv bench: jax {env['jax']}, jaxlib {env['jaxlib']}, torch {env['torch']}, "
          f"{env['device']}, {env['cpu_count']} cores, XLA_FLAGS={env['XLA_FLAGS']!r}; "
          f"float32 matmul {peak:.0f} GFLOP/s; {args.repeats} interleaved rounds, median (IQR)\n")
    print(report.HEADER, flush=True)
    rows = run_cases(cases, ["jaxconv", "autodiff", "jaxconv_fit"], args.repeats, log=None)
    # Each baseline runs alone in its own process: PyTorch's OpenMP threads keep spinning after
    # every parallel region and would slow whatever runs next on the 2 cores.
    try:
        eigen = {} if args.no_eigen else _child(args, ["jaxconv", "autodiff"], EIGEN_FLAG)
        torch_rows = _child(args, ["torch"]) if env["torch"] and not args.no_torch else {}
    except ChildError as err:
        print(f"jaxconv bench: error: {err}", file=sys.stderr)
        return 1
    for row in rows:
        for impl in ("jaxconv", "autodiff"):
            if impl in eigen.get(row["name"], {}):
                row[f"{impl}_eigen"] = eigen[row["name"]][impl]
        if "torch" in torch_rows.get(row["name"], {}):
            row["torch"] = torch_rows[row["name"]]["torch"]
        print(report.format_row(row, peak), flush=True)
    print("\ncompile seconds (jaxconv / autodiff): " + "; ".join(
        f"{r['name']}: {r['compile_s'].get('jaxconv', 0):.2f} / "
        f"{r['compile_s'].get('autodiff', 0):.2f}" for r in rows))
    memory = []
    if not args.quick:
        import jaxconv
        for model_name, shape, batch in bench_cases.MODELS:
            entry = {"model": model_name, "batch": batch}
            for label, ops in (("jaxconv", jaxconv), ("autodiff", jaxconv.autodiff)):
                args_ = (model_name, shape, batch, ops)
                entry[f"residual_bytes_{label}"] = memory_probe.residual_bytes(*args_)
                entry[f"temp_bytes_{label}"] = memory_probe.step_temp_bytes(*args_)
            memory.append(entry)
        print("\n" + report.memory_table(memory))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "matmul_gflops": peak, "repeats": args.repeats,
                       "rows": rows, "memory": memory}, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0

