"""``jaxconv check``: every hand-written rule against ``jax.grad`` and finite differences.

For each op, every configuration of :mod:`jaxconv._src.tools.grid` is run at each requested dtype:

* *vs jax.grad*: the VJP of :mod:`jaxconv` against ``jax.vjp`` of :mod:`jaxconv.autodiff` at the
  same dtype, same inputs and cotangent: max abs error, and that over the largest gradient entry
  (rel);
* *vs finite differences*: the directional derivative ``<VJP(ct), v>`` against a float64 central
  difference ``(<ct, f(x + eps v)> - <ct, f(x - eps v)>) / 2 eps`` along random directions ``v``;
* *vs f64 reference*: for 16-bit dtypes, the relative error of ours and of ``jax.grad`` at that
  dtype against the float64 gradient, side by side (ours must be no worse).

Prints a markdown table and exits 1 if any row is outside its tolerance.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import NamedTuple

import numpy as np

DTYPES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32", "f64": "float64"}
# (vs jax.grad rel, vs finite differences rel) per dtype
# None: not checked. 16-bit rows are judged against the float64 gradient instead (a directional
# derivative of a 16-bit gradient can cancel to nothing, so finite differences say little there).
TOLERANCE = {"float64": (1e-12, 1e-6), "float32": (1e-5, 1e-4),
             "float16": (None, None), "bfloat16": (None, None)}


@dataclasses.dataclass
class Row:
    op: str
    dtype: str
    configs: int = 0
    ad_abs: float = 0.0
    ad_rel: float = 0.0
    fd_abs: float = 0.0
    fd_rel: float = 0.0
    ref_ours: float = 0.0       # 16-bit: rel error of ours vs the float64 gradient
    ref_autodiff: float = 0.0   # 16-bit: rel error of jax.grad at this dtype vs float64
    failures: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _eps(name) -> float:
    import jax.numpy as jnp
    return float(jnp.finfo(name).eps)


def _max_abs(a):
    return float(np.max(np.abs(np.asarray(a, np.float64)), initial=0.0))


def _rel(err, scale):
    return err / max(scale, 1e-300)


@functools.lru_cache(maxsize=1024)
def _compiled_vjp(case, ops):
    """``(inputs, ct) -> VJP of ct``, compiled once per case and ops (and per input dtype, by
    jit's own cache): the float64 reference serves every dtype's row of a case."""
    import jax

    def run(inputs, ct):
        out, f = jax.vjp(case.fn(ops), *inputs)
        return f(ct.astype(out.dtype))
    return jax.jit(run)


def _vjp(jax, case, ops, inputs, ct):
    return _compiled_vjp(case, ops)(tuple(inputs), ct)


class CaseErrors(NamedTuple):
    """The errors of one configuration at one dtype (max abs, and relative to the largest
    gradient entry or to the directional derivative)."""
    ad_abs: float           # ours vs jax.grad at this dtype
    ad_rel: float
    fd_abs: float           # ours vs float64 central differences
    fd_rel: float
    ref_ours: float         # ours vs the float64 gradient (rel)
    ref_autodiff: float     # jax.grad at this dtype vs the float64 gradient (rel)


def check_case(case, dtype, rng) -> CaseErrors:
    """The errors of one configuration at one dtype."""
    import jax
    import jax.numpy as jnp

    import jaxconv as jc

    base = case.inputs(np.float64)
    inputs = [jnp.asarray(a, dtype) for a in base]
    out_shape = jax.eval_shape(case.fn(jc), *inputs).shape
    ct = jnp.asarray(rng.standard_normal(out_shape))
    ours = _vjp(jax, case, jc, inputs, ct)
    theirs = _vjp(jax, case, jc.autodiff, inputs, ct)
    ad_abs = max(_max_abs(np.asarray(g, np.float64) - np.asarray(h, np.float64))
                 for g, h in zip(ours, theirs))
    ad_scale = max(_max_abs(h) for h in theirs)

    # float64 reference: the exact gradient and central differences of <ct, f(x)>
    ref_inputs = [jnp.asarray(a) for a in base]
    ref = _vjp(jax, case, jc.autodiff, ref_inputs, ct)
    ref_scale = max(_max_abs(r) for r in ref)
    def vs_ref(grads):
        return _rel(max(_max_abs(np.asarray(g, np.float64) - r) for g, r in zip(grads, ref)),
                    ref_scale)
    ref_ours, ref_ad = vs_ref(ours), vs_ref(theirs)

    fd_abs = fd_rel = 0.0
    if TOLERANCE[dtype][1] is None:      # 16-bit rows are judged against float64 instead
        for _ in range(2):               # (the directions drawn all the same: one rng stream)
            [rng.standard_normal(a.shape) for a in base]
        return CaseErrors(ad_abs, _rel(ad_abs, ad_scale), fd_abs, fd_rel, ref_ours, ref_ad)
    f64 = case.fn(jc)
    loss = jax.jit(lambda *a: jnp.sum(f64(*a) * ct))
    eps = 1e-6
    for _ in range(2):
        dirs = [rng.standard_normal(a.shape) for a in base]
        plus = loss(*[jnp.asarray(a + eps * v) for a, v in zip(base, dirs)])
        minus = loss(*[jnp.asarray(a - eps * v) for a, v in zip(base, dirs)])
        fd = (float(plus) - float(minus)) / (2 * eps)
        analytic = sum(float(np.vdot(np.asarray(g, np.float64), v)) for g, v in zip(ours, dirs))
        err = abs(analytic - fd)
        fd_abs = max(fd_abs, err)
        fd_rel = max(fd_rel, _rel(err, max(abs(fd), 1e-3 * ref_scale)))
    return CaseErrors(ad_abs, _rel(ad_abs, ad_scale), fd_abs, fd_rel, ref_ours, ref_ad)


def run(ops, dtypes, quick=False):
    """Yield one :class:`Row` per (op, dtype)."""
    from jaxconv._src.tools import grid as _grid

    rng = np.random.default_rng(0)
    for op in ops:
        cases = _grid.cases(op)
        if quick:
            cases = cases[:2]
        for dtype in dtypes:
            row = Row(op, dtype)
            for case in cases:
                errs = check_case(case, dtype, rng)
                row.configs += 1
                for field in CaseErrors._fields:
                    setattr(row, field, max(getattr(row, field), getattr(errs, field)))
                ad_tol, fd_tol = TOLERANCE[dtype]
                if ad_tol is not None and errs.ad_rel > ad_tol:
                    row.failures.append(f"{case.id}: vs jax.grad rel {errs.ad_rel:.2e} "
                                        f"> {ad_tol:g}")
                if fd_tol is not None and errs.fd_rel > fd_tol:
                    row.failures.append(f"{case.id}: vs finite differences rel "
                                        f"{errs.fd_rel:.2e} > {fd_tol:g}")
                slack = _eps(dtype) / 8
                if ad_tol is None and errs.ref_ours > 1.5 * errs.ref_autodiff + slack:
                    row.failures.append(f"{case.id}: vs f64 {errs.ref_ours:.2e}, worse than "
                                        f"jax.grad's {errs.ref_autodiff:.2e}")
            yield row


_HEADER = ("| op | dtype | configs | vs jax.grad max abs | vs jax.grad rel "
           "| vs finite diff max abs | vs finite diff rel | ours vs f64 rel "
           "| jax.grad vs f64 rel | ok |\n"
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")


def _format_row(r: Row) -> str:
    fd = ((f"{r.fd_abs:.2e}", f"{r.fd_rel:.2e}") if TOLERANCE[r.dtype][1] is not None
          else ("—", "—"))
    return (f"| {r.op} | {r.dtype} | {r.configs} | {r.ad_abs:.2e} | {r.ad_rel:.2e} "
            f"| {fd[0]} | {fd[1]} | {r.ref_ours:.2e} | {r.ref_autodiff:.2e} "
            f"| {'yes' if r.ok else 'NO'} |")


def main(argv=None) -> int:
    from jaxconv._src.tools import grid as _grid
    from jaxconv._src.tools.cli import Parser
    parser = Parser(prog="jaxconv check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", default=",".join(_grid.OPS),
                        help="comma-separated ops (default: all)")
    parser.add_argument("--dtype", default="f32,f64",
                        help="comma-separated dtypes among bf16, f16, f32, f64 (default: f32,f64)")
    parser.add_argument("--quick", action="store_true", help="two configurations per op")
    args = parser.parse_args(argv)
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    if not ops:
        parser.error(f"--ops names no op; give some of {', '.join(_grid.OPS)}, or leave it out "
                     "for all")
    unknown = [o for o in ops if o not in _grid.OPS]
    if unknown:
        parser.error(f"unknown op(s) {unknown}; choose from {', '.join(_grid.OPS)}")
    try:
        dtypes = [DTYPES[d.strip()] for d in args.dtype.split(",")]
    except KeyError as err:
        parser.error(f"unknown dtype {err}; choose from {', '.join(DTYPES)}")

    import jax
    jax.config.update("jax_enable_x64", True)    # the float64 reference needs it
    start = time.perf_counter()
    print(_HEADER, flush=True)
    rows = []
    for row in run(ops, dtypes, args.quick):
        print(_format_row(row), flush=True)
        rows.append(row)
    print(f"\n{sum(r.configs for r in rows)} configuration runs in "
          f"{time.perf_counter() - start:.1f} s; jax {jax.__version__}, backend "
          f"{jax.default_backend()}")
    failures = [f for r in rows for f in r.failures]
    for f in failures:
        print(f"DISAGREEMENT {f}")
    print("all rules agree" if not failures else f"{len(failures)} disagreement(s)")
    return 1 if failures else 0
