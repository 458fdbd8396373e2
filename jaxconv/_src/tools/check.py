"""``jaxconv check``: every hand-written rule against ``jax.grad`` and finite differences.

For each op, every configuration of :mod:`jaxconv._src.tools.grid` is run at each requested dtype:

* *vs jax.grad*: the VJP of :mod:`jaxconv` against ``jax.vjp`` of :mod:`jaxconv.autodiff` at the
  same dtype, same inputs and cotangent: max abs error, and that over the largest gradient entry
  (rel);
* *vs finite differences*: the directional derivative ``<VJP(ct), v>`` against a float64 central
  difference ``<ct, f(x + h v) - f(x - h v)> / 2h`` along random directions ``v``; the relative
  error counts what the difference's own error bound (truncation and the outputs' rounding,
  :func:`jaxconv.testing.directional_errors`) cannot explain;
* *vs f64 reference*: for 16-bit dtypes, the relative error of ours and of ``jax.grad`` at that
  dtype against the float64 gradient, side by side (ours must be no worse).

Prints a markdown table and exits 1 if any row is outside its tolerance. The numbers, tolerances,
verdicts and table cells are :mod:`jaxconv.testing`'s (``compiled_pullback``,
``gradient_errors``, ``directional_errors``, ``verdicts``): the harness users check their own
rules with.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np

from jaxconv._src.tools import testing as _testing

DTYPES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32", "f64": "float64"}
# (vs jax.grad rel, vs finite differences rel) per dtype; None: not checked. 16-bit rows are
# judged against the float64 gradient instead (a directional derivative of a 16-bit gradient
# can cancel to nothing, so finite differences say little there): the harness's rule.
TOLERANCE = _testing.TOLERANCE
# The errors of one configuration at one dtype (max abs, and relative to the largest gradient
# entry or to the directional derivative): the harness's.
CaseErrors = _testing.GradientErrors


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


@functools.lru_cache(maxsize=1024)
def _compiled_vjp(case, ops):
    """``(inputs, ct) -> VJP of ct`` (:func:`jaxconv.testing.compiled_pullback`), compiled
    once per case and ops (and per input dtype, by jit's own cache): the float64 reference
    serves every dtype's row of a case."""
    return _testing.compiled_pullback(case.fn(ops))


def _vjp(case, ops, inputs, ct):
    return _compiled_vjp(case, ops)(tuple(inputs), ct)


def check_case(case, dtype, rng) -> CaseErrors:
    """The errors of one configuration at one dtype, by the harness's functions."""
    import jax
    import jax.numpy as jnp

    import jaxconv as jc

    base = case.inputs(np.float64)
    inputs = [jnp.asarray(a, dtype) for a in base]
    out_shape = jax.eval_shape(case.fn(jc), *inputs).shape
    ct = jnp.asarray(rng.standard_normal(out_shape))
    ours = _vjp(case, jc, inputs, ct)
    theirs = _vjp(case, jc.autodiff, inputs, ct)
    # float64 reference: the exact gradient and central differences of <ct, f(x)>
    ref = _vjp(case, jc.autodiff, [jnp.asarray(a) for a in base], ct)
    directions = [[rng.standard_normal(a.shape) for a in base]     # (drawn for every dtype:
                  for _ in range(_testing.FD_DIRECTIONS)]          # one rng stream)
    fd = (0.0, 0.0)
    if TOLERANCE[dtype][1] is not None:    # 16-bit rows are judged against float64 instead
        fd = _testing.directional_errors(case.fn(jc), ct, base, ours, directions,
                                         _testing.max_abs(ref))
    return _testing.gradient_errors(ours, theirs, ref, fd)


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
                row.failures += [f"{case.id}: {v}" for v in _testing.verdicts(errs, dtype)]
            yield row


_HEADER = _testing.table_header(("op", "dtype", "configs") + _testing.ERROR_COLUMNS + ("ok",),
                                right=("configs",) + _testing.ERROR_COLUMNS)


def _format_row(r: Row) -> str:
    errors = CaseErrors(*(getattr(r, f) for f in CaseErrors._fields))
    return _testing.table_row([r.op, r.dtype, r.configs, *_testing.error_cells(errors, r.dtype),
                               "yes" if r.ok else "NO"])


def main(argv=None) -> int:
    from jaxconv._src.tools import grid as _grid
    from jaxconv._src.tools.cli import Parser
    parser = Parser(prog="jaxconv check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", default=",".join(_grid.OPS),
                        help="comma-separated ops (default: all)")
    parser.add_argument("--dtype", default="f32,f64",
                        help="comma-separated dtypes among bf16, f16, f32, f64 (default: f32,f64)")
    parser.add_argument("--quick", action="store_true", help="two configurations per op")
    parser.add_argument("--precision", default="highest", choices=("default", "high", "highest"),
                        help="XLA precision of float32 matrix products and convolutions "
                             "(default: highest, so that GPUs whose default is TF32 compare "
                             "the rules, not TF32 rounding; CPUs are exact in every setting)")
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
    jax.config.update("jax_default_matmul_precision", args.precision)
    start = time.perf_counter()
    print(_HEADER, flush=True)
    rows = []
    for row in run(ops, dtypes, args.quick):
        print(_format_row(row), flush=True)
        rows.append(row)
    print(f"\n{sum(r.configs for r in rows)} configuration runs in "
          f"{time.perf_counter() - start:.1f} s; jax {jax.__version__}, backend "
          f"{jax.default_backend()}, float32 precision {args.precision}")
    failures = [f for r in rows for f in r.failures]
    for f in failures:
        print(f"DISAGREEMENT {f}")
    print("all rules agree" if not failures else f"{len(failures)} disagreement(s)")
    return 1 if failures else 0
