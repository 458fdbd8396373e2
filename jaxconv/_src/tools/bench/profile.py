"""``jaxconv bench --profile MODEL``: where a train step spends its time, op by op.

The model's loss is traced once with a namespace of ops that records every call (op, argument
shapes, options) on its way to jaxconv's. Each distinct call is then timed alone, forward and
backward (one compiled ``jax.value_and_grad`` of the op's output against a fixed random
cotangent, with respect to the arguments the step differentiates: params and activations, not
the input batch), for the hand-written rules and for
``jaxconv.autodiff``, each compiled with XLA's defaults and with the options ``fit`` and
:func:`jaxconv.jit` use (Eigen convolutions on CPU); the interleaved rounds of :mod:`.timing`,
median. The whole step is timed the same ways; what the ops do not account for is the rest of
the step (reshapes, the optimizer update, and what fusion across ops saves or costs).
"""

from __future__ import annotations

import numpy as np

from jaxconv._src.tools.bench import cases, timing
from jaxconv._src.tools.recording import Call, call_pieces, record


def record_calls(model_name: str, input_shape, batch: int) -> list[Call]:
    """Every jaxconv op call of one training-mode loss evaluation of the model, in order
    (traced: arrays recorded as shapes; :mod:`jaxconv._src.tools.recording`)."""
    import jax
    import jax.numpy as jnp

    import jaxconv
    from jaxconv._src.nn import models
    from jaxconv._src.training import fit as train

    model = models.get(model_name)
    state = train.init_state(model, train.make_optimizer("adam", 1e-3), input_shape, seed=0)
    x = jnp.zeros((batch,) + tuple(input_shape), jnp.float32)
    y = jnp.zeros((batch,), jnp.int32)

    def run(ops):
        loss = train.loss_fn(model, ops)
        jax.eval_shape(lambda p: loss(p, x, y, jax.random.key(1), state.model_state)[0],
                       state.params)
    return record(run, jaxconv)


def _concrete(v, rng):
    """A value for a recorded argument: floats uniform in [0.5, 1.5) (positive: variances),
    integers zero (labels), keys ``key(0)``; anything else as recorded."""
    import jax
    import jax.numpy as jnp
    if not isinstance(v, jax.ShapeDtypeStruct):
        return v
    if jax.dtypes.issubdtype(v.dtype, jax.dtypes.prng_key):
        return jax.random.key(0)
    if jnp.issubdtype(v.dtype, jnp.floating):
        return jnp.asarray(rng.uniform(0.5, 1.5, v.shape), v.dtype)
    return jnp.zeros(v.shape, v.dtype)


def call_fn(call: Call, ops, options: dict):
    """A zero-argument callable running the call's forward and backward, compiled with
    ``options``."""
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(0)
    apply, inputs = call_pieces(call, ops, [_concrete(a, rng) for a in call.args],
                                {k: _concrete(v, rng) for k, v in call.kwargs.items()})
    outs = jax.eval_shape(apply, *inputs)
    cts = jax.tree_util.tree_map(
        lambda s: (jnp.asarray(rng.standard_normal(s.shape), s.dtype)
                   if jnp.issubdtype(s.dtype, jnp.floating) else None), outs)

    def scalar(*d, cts):      # the cotangents are arguments: XLA must not fold them
        pairs = zip(jax.tree_util.tree_leaves(apply(*d)), jax.tree_util.tree_leaves(cts))
        return sum(jnp.vdot(o, c) for o, c in pairs)

    if not inputs:
        compiled = jax.jit(apply).lower().compile(compiler_options=options or None)
        return lambda: jax.block_until_ready(compiled())
    f = jax.value_and_grad(scalar, argnums=tuple(range(len(inputs))))
    compiled = jax.jit(f).lower(*inputs, cts=cts).compile(compiler_options=options or None)
    return lambda: jax.block_until_ready(compiled(*inputs, cts=cts))


def profile(model_name: str, input_shape, batch: int, repeats: int = 5) -> dict:
    """The per-op breakdown of one model's train step: ``{"rows": [...], "step": {...}}``, each
    row with the op call, its count in the step and the median ms per call of ``jaxconv``,
    ``autodiff``, ``jaxconv_fast``, ``autodiff_fast`` (``_fast``: compiled with
    ``train.compiler_options("auto")``)."""
    import jaxconv
    from jaxconv._src.core.compile import compiler_options
    fast = compiler_options("auto")
    variants = {"jaxconv": (jaxconv, {}), "autodiff": (jaxconv.autodiff, {}),
                "jaxconv_fast": (jaxconv, fast), "autodiff_fast": (jaxconv.autodiff, fast)}
    distinct: dict = {}
    for call in record_calls(model_name, input_shape, batch):
        distinct.setdefault(call.key(), [call, 0])[1] += 1
    rows = []
    for call, count in distinct.values():
        fns = {name: call_fn(call, ops, opts) for name, (ops, opts) in variants.items()}
        medians = {k: timing.summarize(v)["median_ms"]
                   for k, v in timing.interleaved(fns, repeats).items()}
        rows.append({"op": call.op, "call": call.label(), "count": count, **medians})
    x = np.random.default_rng(0).standard_normal((batch,) + tuple(input_shape)).astype(np.float32)
    y = np.zeros((batch,), np.int32)
    fns = {name: cases.compiled_step(model_name, tuple(input_shape), x, y, ops, opts)[0]
           for name, (ops, opts) in variants.items()}
    step = {k: timing.summarize(v)["median_ms"]
            for k, v in timing.interleaved(fns, repeats).items()}
    return {"model": model_name, "batch": batch, "rows": rows, "step": step}


def table(result: dict) -> str:
    """The breakdown as markdown, the costliest calls (by count x hand-written fast ms) first."""
    cols = ("jaxconv", "autodiff", "jaxconv_fast", "autodiff_fast")
    step = result["step"]
    head = (f"**{result['model']} B={result['batch']}**: per op call, forward + backward, ms "
            "(`fast`: compiled as `fit` / `jaxconv.jit`); share = count x jaxconv fast / step\n\n"
            "| op call | count | jaxconv | autodiff | jaxconv fast | autodiff fast | "
            "share of step (fast) |\n|---|---:|---:|---:|---:|---:|---:|")
    rows = sorted(result["rows"], key=lambda r: -r["count"] * r["jaxconv_fast"])
    lines = [head]
    for r in rows:
        share = r["count"] * r["jaxconv_fast"] / step["jaxconv_fast"]
        lines.append(f"| `{r['call']}` | {r['count']} | "
                     + " | ".join(f"{r[c]:.3f}" for c in cols) + f" | {share:.0%} |")
    sums = {c: sum(r["count"] * r[c] for r in rows) for c in cols}
    lines.append("| sum of the op calls | | " + " | ".join(f"{sums[c]:.3f}" for c in cols)
                 + f" | {sums['jaxconv_fast'] / step['jaxconv_fast']:.0%} |")
    lines.append("| whole train step (Adam) | | " + " | ".join(f"{step[c]:.3f}" for c in cols)
                 + " | 100% |")
    return "\n".join(lines)
