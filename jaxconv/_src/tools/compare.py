"""Comparison at the scale of a model: :func:`compare_model` and ``jaxconv compare``.

``compare_model(loss, *args)`` runs ``loss(*args, ops=...)`` once, eagerly, with a namespace
that records every op call with its inputs (:mod:`jaxconv._src.tools.recording`, the mechanism
``jaxconv bench --profile`` uses). Identical calls (same op, shapes, dtypes and options) share
a row. For each row, the first such call's recorded inputs and one random cotangent drawn from
the seed go to the hand-written VJP (``ops``) and to the reference's (``reference``, by default
what ``jax.grad`` derives): the relative error ``max |ours - reference| / max |reference|`` of
every differentiable input's gradient, the bytes of the residuals each keeps between forward and
backward, and (``timing=True``) the median forward + backward time of each, compiled alone.
The loss's own gradient with respect to its first argument is compared too.
"""

from __future__ import annotations

import inspect
import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv._src.tools import testing as _testing
from jaxconv._src.tools.recording import Call, call_pieces, record


class CallRow(NamedTuple):
    """One row of a :class:`ModelReport`: a distinct op call and what was measured on it.

    ``index`` is the position of its first occurrence among all calls, ``count`` how many
    calls share it, ``errors`` the relative error of each differentiable input's gradient
    (keyed by the argument's name, ``x``, ``w``, ...), ``residual_bytes`` and ``ms``
    ``(ours, reference)`` (``ms`` ``None`` without timing).

    Example:
      >>> import jaxconv as jc
      >>> x = jnp.linspace(-1.0, 1.0, 6).reshape(2, 3)
      >>> (row,) = compare_model(lambda x, ops: ops.tanh(x).sum(), x, timing=False).rows
      >>> row.op, row.count, row.call, row.max_error < 1e-6
      ('tanh', 1, 'tanh(2x3)', True)
    """
    index: int
    op: str
    call: str
    count: int
    errors: dict
    residual_bytes: tuple
    ms: tuple | None

    @property
    def max_error(self) -> float:
        """The largest relative error of the row's inputs (0 without any)."""
        return max(self.errors.values(), default=0.0)


class ModelReport(NamedTuple):
    """What :func:`compare_model` measured: ``rows`` (:class:`CallRow`, in call order),
    ``loss_error`` (the relative error of the loss's gradient with respect to its first
    argument), the ``rtol`` the rows were judged by and the ``dtype`` of the inputs. ``str()``
    is a table.

    Example:
      >>> x = jnp.linspace(-1.0, 1.0, 6).reshape(2, 3)
      >>> report = compare_model(lambda x, ops: ops.relu(ops.tanh(x)).sum(), x, timing=False)
      >>> report.counts(), report.ok, report.dtype
      ({'tanh': 1, 'relu': 1}, True, 'float32')
      >>> print(str(report).splitlines()[-3])
      2 op calls (2 distinct): 1 tanh, 1 relu
    """
    rows: tuple
    loss_error: float
    rtol: float
    dtype: str

    @property
    def ok(self) -> bool:
        """Every row within ``rtol``."""
        return all(r.max_error <= self.rtol for r in self.rows)

    def counts(self) -> dict:
        """``{op: number of calls}`` over all calls."""
        out: dict = {}
        for r in self.rows:
            out[r.op] = out.get(r.op, 0) + r.count
        return out

    def __str__(self) -> str:
        timed = any(r.ms is not None for r in self.rows)
        head = ["#", "op call", "count", "max rel error (per input)", "residual KiB ours / ref"]
        head += ["fwd+bwd ms ours / ref"] if timed else []
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join("---:" if h in ("#", "count") else "---" for h in head) + "|"]
        for r in self.rows:
            errs = ", ".join(f"{i}: {e:.1e}" for i, e in r.errors.items()) or "—"
            flag = "" if r.max_error <= self.rtol else " **DISAGREES**"
            cells = [str(r.index), f"`{r.call}`", str(r.count), errs + flag,
                     f"{r.residual_bytes[0] / 1024:,.1f} / {r.residual_bytes[1] / 1024:,.1f}"]
            if timed:
                cells.append("—" if r.ms is None else f"{r.ms[0]:.3f} / {r.ms[1]:.3f}")
            lines.append("| " + " | ".join(cells) + " |")
        counts = ", ".join(f"{n} {op}" for op, n in self.counts().items())
        total = sum(r.count for r in self.rows)
        lines.append("")
        lines.append(f"{total} op calls ({len(self.rows)} distinct): {counts}")
        lines.append("")
        lines.append(f"loss gradient (first argument) vs the reference: rel error "
                     f"{self.loss_error:.1e}; {self.dtype}, rtol {self.rtol:g}: "
                     + ("every call agrees" if self.ok else
                        f"{sum(r.max_error > self.rtol for r in self.rows)} call(s) disagree"))
        return "\n".join(lines)


def _arg_names(fn, n: int) -> list[str]:
    """The names of ``fn``'s first ``n`` positional parameters (``arg i`` where unknown)."""
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"arg {i}" for i in range(n)]


def _default_rtol(dtype) -> float:
    tol = _testing.TOLERANCE.get(jnp.dtype(dtype).name, (None,))[0]
    return tol if tol is not None else 8 * _testing.eps(dtype)


def _cotangents(apply, inputs, rng):
    outs = jax.eval_shape(apply, *inputs)
    return jax.tree_util.tree_map(
        lambda s: (jnp.asarray(rng.standard_normal(s.shape), s.dtype)
                   if jnp.issubdtype(s.dtype, jnp.floating) else None), outs)


def _vjp(apply, inputs, cts):
    """``(input gradients, residual bytes)``: ``jax.vjp`` of ``apply`` at ``inputs``."""
    out, pullback = jax.vjp(apply, *inputs)
    cts = jax.tree_util.tree_map(
        lambda o, c: jnp.zeros(o.shape, jax.dtypes.float0) if c is None else c, out, cts,
        is_leaf=lambda v: v is None)
    grads = pullback(cts)
    residuals = sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(pullback)
                    if hasattr(leaf, "nbytes"))
    return grads, residuals


def _timed(call: Call, ops, reference, repeats) -> tuple[float, float]:
    """Median ms of the call's compiled forward + backward, ours and the reference's, timed in
    interleaved rounds as ``jaxconv bench --profile`` times them (its :func:`call_fn`)."""
    from jaxconv._src.core.compile import compiler_options
    from jaxconv._src.tools.bench import profile, timing
    options = compiler_options("auto")
    fns = {"ours": profile.call_fn(call, ops, options),
           "reference": profile.call_fn(call, reference, options)}
    samples = timing.interleaved(fns, repeats)
    return tuple(timing.summarize(samples[k])["median_ms"] for k in ("ours", "reference"))


def compare_model(loss, *args, ops=jaxconv, reference=None, rtol=None, seed: int = 0,
                  timing: bool = True, repeats: int = 5) -> ModelReport:
    """Compare every op call of a model's loss, hand-written VJP against a reference's.

    ``loss(*args, ops=...)`` is your loss written against an ops namespace (the README's
    functional scripts, ``model.apply`` wrapped, a Flax or Equinox module's loss). It is run
    once, eagerly, with a namespace that records each op call and its inputs; identical calls
    share a row. For each row the first call's inputs and one random cotangent (drawn from
    ``seed``) are given to ``ops``' VJP and to ``reference``'s.

    Args:
      loss: a function of ``*args`` and the keyword ``ops``.
      *args: its arguments (params first: the loss's gradient is compared with respect to it).
      ops: the namespace under test (:mod:`jaxconv`, or one of your own with the same names).
      reference: the namespace to compare with (default :mod:`jaxconv.autodiff`: what
        ``jax.grad`` derives from the plain forward).
      rtol: the largest relative error a call may have (default: ``jaxconv check``'s,
        :data:`jaxconv.testing.TOLERANCE`, for the dtype of the first floating input; 8 ulps
        for 16-bit dtypes).
      seed: the seed of the cotangents.
      timing: also time each call's compiled forward + backward, ours and the reference's
        (interleaved rounds, as ``jaxconv bench --profile`` times them).
      repeats: timing rounds per row (median).

    Returns:
      A :class:`ModelReport`; ``str(report)`` is a table.

    Raises:
      AssertionError: a call whose gradient differs beyond ``rtol``; the message names the
        first such call and holds the table.

    Example:
      >>> import jaxconv as jc
      >>> def loss(params, x, ops=jc):
      ...     h = ops.relu(ops.conv(x, params["w"], padding=1))
      ...     return ops.mse(ops.max_pool(h, 2), jnp.zeros((2, 3, 2, 2)))
      >>> params = {"w": jax.random.normal(jax.random.key(0), (3, 1, 3, 3))}
      >>> x = jax.random.normal(jax.random.key(1), (2, 1, 4, 4))
      >>> report = compare_model(loss, params, x, timing=False)
      >>> [(r.op, r.count) for r in report.rows]
      [('conv', 1), ('relu', 1), ('max_pool', 1), ('mse', 1)]
      >>> report.ok, report.loss_error < 1e-6
      (True, True)
    """
    reference = jaxconv.autodiff if reference is None else reference
    if not args:
        raise ValueError("jaxconv.testing.compare_model: no `args` given; pass the loss's "
                         "arguments after it, e.g. compare_model(loss, params, x, y).")
    calls = record(lambda rec: loss(*args, ops=rec), ops)
    if not calls:
        raise ValueError("jaxconv.testing.compare_model: `loss` called no op of `ops`; it must "
                         "take the keyword `ops` and call its ops through it.")
    traced = [c for c in calls if any(isinstance(a, jax.ShapeDtypeStruct) for a in c.args)]
    if traced:
        raise ValueError("jaxconv.testing.compare_model: `loss` traces its ops (it is jitted "
                         f"inside, e.g. at {traced[0].label()}); pass the plain, unjitted loss.")
    floats = [a for c in calls for a in c.args if hasattr(a, "dtype")
              and jnp.issubdtype(a.dtype, jnp.floating)]
    dtype = jnp.dtype(floats[0].dtype if floats else jnp.float32)
    rtol = _default_rtol(dtype) if rtol is None else float(rtol)
    groups: dict = {}
    for i, call in enumerate(calls):
        groups.setdefault(call.key(), [i, call, 0])[2] += 1
    rng = np.random.default_rng([0x636D, seed])
    rows = []
    for index, call, count in groups.values():
        ours_fn, inputs = call_pieces(call, ops)
        ref_fn, _ = call_pieces(call, reference)
        errors, residual, ms = {}, (0, 0), None
        if inputs:
            cts = _cotangents(ours_fn, inputs, rng)
            ours, res_ours = _vjp(ours_fn, inputs, cts)
            theirs, res_ref = _vjp(ref_fn, inputs, cts)
            names = _arg_names(getattr(ops, call.op), len(call.args))
            errors = {names[i]: _testing.rel_err(np.asarray(a, np.float64),
                                                 np.asarray(b, np.float64))
                      for i, a, b in zip(call.diff, ours, theirs)}
            residual = (res_ours, res_ref)
            if timing:
                ms = _timed(call, ops, reference, repeats)
        rows.append(CallRow(index, call.op, call.label(), count, errors, residual, ms))
    first, rest = args[0], args[1:]
    g_ours = jax.grad(lambda p: loss(p, *rest, ops=ops))(first)
    g_ref = jax.grad(lambda p: loss(p, *rest, ops=reference))(first)
    loss_error = _testing._total(_testing.leaf_errors(g_ours, g_ref))[1]
    report = ModelReport(tuple(rows), loss_error, rtol, dtype.name)
    bad = next((r for r in report.rows if r.max_error > rtol), None)
    if bad is not None:
        arg, err = max(bad.errors.items(), key=lambda kv: kv[1])
        raise AssertionError(f"jaxconv.testing.compare_model: call #{bad.index} {bad.call} "
                             f"disagrees with the reference: the gradient of `{arg}` is "
                             f"off by {err:.2e} relative > rtol {rtol:g}\n{report}")
    return report


def main(argv=None) -> int:
    """``jaxconv compare --model M --data D``: :func:`compare_model` on a built-in model."""
    from jaxconv._src.nn import models
    from jaxconv._src.tools.cli import Parser
    from jaxconv._src.training import data as data_mod
    parser = Parser(prog="jaxconv compare", description="Compare every op call of a built-in "
                    "model's training loss, hand-written VJP against jax.grad's (jaxconv."
                    "autodiff): per distinct call its gradient errors, residual bytes and "
                    "forward + backward times, and the whole loss's gradient.")
    parser.add_argument("--model", required=True, choices=sorted(models.MODELS),
                        help="the built-in model whose training loss is compared")
    parser.add_argument("--data", default="synthetic", choices=data_mod.DATASETS,
                        help="the data set whose first examples make the batch")
    parser.add_argument("--data-dir", default=None, help="folder of the IDX or CIFAR files")
    parser.add_argument("--batch-size", type=int, default=8, help="examples in the batch")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="dtype of the params and inputs (float64: exact comparison)")
    parser.add_argument("--rtol", type=float, default=None,
                        help="tolerance per call (default: jaxconv check's for the dtype)")
    parser.add_argument("--seed", type=int, default=0, help="seed of params and cotangents")
    parser.add_argument("--no-timing", action="store_true", help="skip the timings")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size {args.batch_size}: must be >= 1")
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    try:
        ds = data_mod.load(args.data, data_dir=args.data_dir)
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"jaxconv compare: error: {err}", file=sys.stderr)
        return 1
    model = models.get(args.model, num_classes=ds.num_classes)
    n = min(args.batch_size, len(ds.x_train))
    x = jnp.asarray(ds.x_train[:n], args.dtype)
    y = jnp.asarray(ds.y_train[:n])
    init = model.init(jax.random.key(args.seed), ds.input_shape)
    params, state = init if model.stateful else (init, {})
    params = jax.tree.map(lambda p: p.astype(args.dtype), params)
    state = jax.tree.map(lambda p: p.astype(args.dtype), state)
    key = jax.random.key(args.seed + 1)

    def loss(params, x, y, ops):
        if model.stateful:
            logits, _ = model.apply(params, state, x, ops=ops, key=key, train=True)
        else:
            logits = model.apply(params, x, ops=ops, key=key, train=True)
        return ops.softmax_cross_entropy(logits, y)

    print(f"jaxconv compare: {model.name} on {args.data} {ds.input_shape}, batch {n}, "
          f"{args.dtype}: hand-written rules vs jax.grad (jaxconv.autodiff)", flush=True)
    try:
        report = compare_model(loss, params, x, y, rtol=args.rtol, seed=args.seed,
                               timing=not args.no_timing)
    except AssertionError as err:
        print(str(err).split("\n", 1)[1])
        print(f"jaxconv compare: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 1
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
