"""Checking a hand-written VJP rule against the same math differentiated by JAX: the harness that
verifies jaxconv's own rules (``jaxconv check``, ``tests/``), offered for users' rules.

* :func:`check_vjp`: one call runs every check on ``fn`` (with its ``custom_vjp`` rule) against
  ``reference`` (the same math, no rule): primal outputs; the VJP of random cotangents against
  ``jax.vjp`` of the reference (float64 to 1e-12, float32 to 1e-5 relative to the largest entry;
  16-bit dtypes no less accurate than the reference against the float64 gradient); finite
  differences (a float64 central difference along random directions, and
  ``jax.test_util.check_grads(order, modes=["rev"])`` in float64); the same gradients eagerly,
  under ``jit`` and per example under ``vmap``; and each argument's gradient asked for alone. It
  raises
  ``AssertionError`` naming the check, transform, dtype and argument of the first disagreement,
  or returns a :class:`Report` whose ``str()`` is a markdown table.
* Its building blocks, which ``jaxconv check`` and the test suite use: :func:`leaf_errors`,
  :func:`assert_rel_close`, :func:`assert_trees_close`, :func:`compiled_vjp`,
  :func:`compiled_pullback`, :func:`check_grads_rev`, :func:`cotangent_loss`,
  :func:`directional_errors`, :func:`gradient_errors`, :func:`verdicts`, :func:`no_worse`, and the
  table cells.
* :func:`cases`: the product of options as readable, pytest-ready parametrisations.

Tolerances (:data:`jaxconv.testing.TOLERANCE`) are those of ``jaxconv check``. The 16-bit rule
(:func:`no_worse`): ``err(fn) <= 1.5 err(reference) + eps / 8``, both errors relative to the
largest entry of the float64 gradient (a 16-bit directional derivative can cancel to nothing,
so finite differences say little there).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv._src.core.args import is_int

DTYPES = ("float64", "float32", "bfloat16", "float16")
#: The transforms :func:`jaxconv.testing.check_vjp` can run the gradients under.
TRANSFORMS = ("eager", "jit", "vmap")
#: ``(vs the reference rel, vs finite differences rel)`` per dtype; ``None``: judged against
#: the float64 gradient instead (16-bit), by :func:`jaxconv.testing.no_worse`.
TOLERANCE = {"float64": (1e-12, 1e-6), "float32": (1e-5, 1e-4),
             "float16": (None, None), "bfloat16": (None, None)}
SLACK = 1.5          # 16-bit: fn's error may be 1.5x the reference's, plus eps / 8
FD_EPS = 1e-6        # the float64 central difference's step
FD_ROUNDING_ULPS = 4  # the rounding of each output of f in float64, in ulps of its value
_EPS64 = float(np.finfo(np.float64).eps)
FD_DIRECTIONS = 2    # random directions per check


def eps(dtype) -> float:
    """The machine epsilon of ``dtype`` (``2**-7`` for bfloat16, ``2**-10`` for float16)."""
    return float(jnp.finfo(dtype).eps)


def no_worse(ours: float, reference: float, dtype) -> bool:
    """Whether ``ours`` (an error against the float64 result) is no worse than ``reference``'s
    at the 16-bit ``dtype``: ``ours <= 1.5 * reference + eps(dtype) / 8``.

    Example:
      >>> no_worse(0.010, 0.008, "bfloat16")     # allowed: 1.5 * 0.008 + 2**-7 / 8 = 0.013
      True
      >>> no_worse(0.020, 0.008, "bfloat16")
      False
    """
    return ours <= SLACK * reference + eps(dtype) / 8


# ---------------------------------------------------------------------------------------------
# Comparing arrays and pytrees


class LeafError(NamedTuple):
    """How far one array is from the expected one (both read as float64).

    ``rel`` is ``abs_err / scale``: the error relative to the largest expected entry. A NaN or
    infinity where the other side has another value counts as an infinite error.

    Example:
      >>> e = leaf_errors({"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, 2.5])})[0]
      >>> jax.tree_util.keystr(e.path), e.abs_err, e.scale, e.rel
      ("['w']", 0.5, 2.5, 0.2)
      >>> e.index, e.actual, e.expected, e.shape
      ((1,), 2.0, 2.5, (2,))
    """
    path: tuple          # the leaf's pytree key path (``jax.tree_util.keystr`` formats it)
    abs_err: float       # max |actual - expected|
    scale: float         # max |expected| over its finite entries
    index: tuple         # where the max abs error is
    actual: float        # the two values there
    expected: float
    shape: tuple

    @property
    def rel(self) -> float:
        return self.abs_err / max(self.scale, 1e-300)


def _leaf_error(path, actual, expected) -> LeafError:
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"{jax.tree_util.keystr(path) or 'the array'}: shape "
                             f"{actual.shape}, expected {expected.shape}")
    with np.errstate(invalid="ignore"):
        diff = np.abs(actual - expected)
        same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    diff = np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))
    finite = np.abs(expected[np.isfinite(expected)])
    err = float(np.max(diff, initial=0.0))
    index = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape)) if diff.size \
        else ()
    at = (float(actual[index]), float(expected[index])) if diff.size else (0.0, 0.0)
    return LeafError(path, err, float(np.max(finite, initial=0.0)), index, *at, actual.shape)


def leaf_errors(actual, expected) -> list[LeafError]:
    """One :class:`LeafError` per leaf of two pytrees of the same structure (arrays of the same
    shapes), in ``jax.tree_util`` order.

    Example:
      >>> errors = leaf_errors((np.ones(2), {"b": np.zeros(1)}), (np.ones(2), {"b": np.ones(1)}))
      >>> [(jax.tree_util.keystr(e.path), e.rel) for e in errors]
      [('[0]', 0.0), ("[1]['b']", 1.0)]
    """
    pairs, tree = jax.tree_util.tree_flatten_with_path(actual)
    leaves, other = jax.tree_util.tree_flatten(expected)
    if tree != other:
        raise AssertionError(f"structures differ: {tree} and expected {other}")
    return [_leaf_error(path, a, e) for (path, a), e in zip(pairs, leaves)]


def max_abs(tree) -> float:
    """The largest absolute finite entry of every leaf of ``tree`` (0 if there is none).

    Example:
      >>> max_abs({"a": np.array([1.0, -3.0]), "b": np.array([np.inf, 2.0])})   # inf skipped
      3.0
      >>> max_abs({})
      0.0
    """
    return max((float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0))
                for a in map(np.asarray, jax.tree_util.tree_leaves(tree))), default=0.0)


def _total(errors) -> tuple[float, float]:
    """``(max abs error, that over the largest expected entry)`` over every leaf."""
    err = max((e.abs_err for e in errors), default=0.0)
    return err, err / max(max((e.scale for e in errors), default=0.0), 1e-300)


def rel_err(actual, expected) -> float:
    """``max |actual - expected| / max |expected|`` (0 for empty arrays).

    Example:
      >>> rel_err(np.array([1.0, 3.0]), np.array([1.0, 2.0]))      # |3 - 2| / 2
      0.5
    """
    return _leaf_error((), actual, expected).rel


def assert_rel_close(actual, expected, rtol=1e-12, what=""):
    """Same shape, a dtype equal to the expected one (or an expected float64), and
    ``max |actual - expected| <= rtol * max |expected|``; else ``AssertionError`` with the
    error, its index and the values there.

    Example:
      >>> assert_rel_close(np.ones(3), np.ones(3) + 1e-14)
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.dtype != expected.dtype and expected.dtype != np.float64:
        raise AssertionError(f"{what}: dtype {actual.dtype}, expected {expected.dtype}")
    e = _leaf_error((), actual, expected)
    if not e.rel <= rtol:
        raise AssertionError(f"{what}: max rel err {e.rel:.3e} > {rtol:g} at index {e.index}: "
                             f"{e.actual!r}, expected {e.expected!r}")


def assert_trees_close(actual, expected, rtol=1e-12, what=""):
    """:func:`assert_rel_close` leaf by leaf over two pytrees of the same structure (each leaf
    relative to its own largest entry), naming the leaf that disagrees by its path.

    Example:
      >>> assert_trees_close({"w": np.ones(2)}, {"w": np.ones(2)})
    """
    pairs, tree = jax.tree_util.tree_flatten_with_path(actual)
    leaves, other = jax.tree_util.tree_flatten(expected)
    if tree != other:
        raise AssertionError(f"structures differ: {tree} and expected {other}")
    for (path, a), e in zip(pairs, leaves):
        assert_rel_close(a, e, rtol, what=f"{what} {jax.tree_util.keystr(path)}".strip())


# ---------------------------------------------------------------------------------------------
# Compiled VJPs and finite differences


def _cast_like(ct, out):
    return jax.tree.map(lambda c, o: jnp.asarray(c).astype(o.dtype), ct, out)


def _vjp_fn(f, output=True):
    """``(args, ct) -> (f(*args), vjp of ct)`` (``output=False``: the vjp alone), the cotangent
    cast to the output's dtypes."""
    def run(args, ct):
        out, pullback = jax.vjp(f, *args)
        grads = pullback(_cast_like(ct, out))
        return (out, grads) if output else grads
    return run


def compiled_vjp(f):
    """``(args, ct) -> (f(*args), vjp of ct)``, compiled once: the forward and the pullback of
    any inputs and cotangent of the same shapes (``ct`` is cast to the output's dtypes).

    Example:
      >>> vjp = compiled_vjp(jnp.sin)
      >>> out, (dx,) = vjp((jnp.zeros(2),), jnp.ones(2))
      >>> dx.tolist()
      [1.0, 1.0]
    """
    return jax.jit(_vjp_fn(f))


def compiled_pullback(f):
    """``(args, ct) -> vjp of ct``: :func:`compiled_vjp` without the primal output, so that the
    program XLA compiles is the gradient's alone (``jaxconv check`` reports its rounding).

    Example:
      >>> pullback = compiled_pullback(lambda x: x ** 2)
      >>> (dx,) = pullback((jnp.array([1.0, 2.0]),), jnp.ones(2))
      >>> dx.tolist()
      [2.0, 4.0]
    """
    return jax.jit(_vjp_fn(f, output=False))


def check_grads_rev(f, args, order=2, vjp=None):
    """``jax.test_util.check_grads(f, args, order, modes=["rev"])``: the same recursion of
    ``jax.test_util.check_vjp`` (a random tangent's central difference against the VJP of a
    random cotangent, then the same for ``x -> vjp(f, x)(f(x))`` at the next order), with every
    function it differentiates compiled once (``vjp``: ``compiled_vjp(f)``, if already built)
    instead of re-traced at each evaluation.

    Raises:
      AssertionError: ``check_grads order k (reverse mode): ...`` with JAX's message, ``k`` the
        order that disagrees.

    Example:
      >>> check_grads_rev(jnp.sin, (jnp.array([0.5, 1.0]),))     # passes: returns None
      >>> @jax.custom_vjp
      ... def bad_sin(x):
      ...     return jnp.sin(x)
      >>> bad_sin.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (2 * jnp.cos(x) * g,))
      >>> try:
      ...     check_grads_rev(bad_sin, (jnp.array([0.5, 1.0]),), order=1)
      ... except AssertionError as err:
      ...     print(str(err).split(":")[0])
      check_grads order 1 (reverse mode)
    """
    _check_grads_rev(f, tuple(args), order, vjp, 1)


def _check_grads_rev(f, args, order, vjp, level, compile=True):
    import jax.test_util  # noqa: F401  (imported on use: it loads numpy.testing)
    vjp = (compiled_vjp if compile else _vjp_fn)(f) if vjp is None else vjp
    ct0 = jax.tree.map(jnp.zeros_like, jax.eval_shape(f, *args))
    try:
        jax.test_util.check_vjp(lambda *a: vjp(a, ct0)[0],
                                lambda *a: (vjp(a, ct0)[0], lambda ct: vjp(a, ct)[1]), args)
    except AssertionError as err:
        raise AssertionError(f"check_grads order {level} (reverse mode): "
                             f"{str(err).strip()}") from None
    if order > 1:
        def f_vjp(*a):
            out, pullback = jax.vjp(f, *a)
            return pullback(out)
        _check_grads_rev(f_vjp, args, order - 1, None, level + 1, compile)


def cotangent_loss(f, ct):
    """``<ct, f(*args)>`` as a compiled function of ``args`` (the loss whose gradient is the VJP
    of ``ct``).

    Example:
      >>> loss = cotangent_loss(lambda x: x ** 2, jnp.array([1.0, 2.0]))
      >>> x = jnp.array([1.0, 2.0])
      >>> float(loss(x)), jax.grad(loss)(x).tolist()     # <ct, x**2>, and its VJP 2 x ct
      (9.0, [2.0, 8.0])
    """
    def loss(*args):
        out = jax.tree_util.tree_leaves(f(*args))
        terms = [jnp.sum(o * c) for o, c in zip(out, jax.tree_util.tree_leaves(ct))]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total
    return jax.jit(loss)


def directional_errors(f, ct, args, grads, directions, scale,
                       step=FD_EPS) -> tuple[float, float]:
    """``(max abs, max rel)`` error of the directional derivative ``<grads, v>`` of
    ``L(x) = <ct, f(x)>`` against its float64 central difference, for each ``v`` of
    ``directions``; ``rel`` counts only the part of the error that the central difference's own
    error bound cannot explain.

    The central difference along ``v`` with step ``h`` is taken output element by output
    element, then contracted with ``ct`` (so the loss's summation adds no rounding)::

        D(h) = sum_i ct_i (f_i(x + h v) - f_i(x - h v)) / 2h

    Its error is bounded by the truncation ``h^2 |d^3 L / dt^3| / 6``, estimated from a second
    step as ``|D(2h) - D(h)| / 3``, plus the rounding of the outputs, ``FD_ROUNDING_ULPS`` (4)
    ulps of each one's value: ``FD_ROUNDING_ULPS * eps * sum_i |ct_i| (|f_i(x + h v)| +
    |f_i(x - h v)|) / 2h``. ``rel`` is ``max(|<grads, v> - D(h)| - bound, 0)`` over
    ``max(|D(h)|, 1e-3 scale)`` (``scale``: the largest gradient entry, so that a direction with
    a near-zero derivative does not divide by zero); ``abs`` is the whole error
    ``|<grads, v> - D(h)|``.

    Args:
      f: the function (of ``*args``, float64), its output an array or a pytree of arrays.
      ct: the cotangent, shaped like ``f``'s output.
      args: the float64 point, a tuple (or list) of arrays or pytrees.
      grads: ``L``'s gradient there to check (the VJP of ``ct``), shaped like ``args``.
      directions: pytrees like ``args``.
      scale: the largest entry of the exact gradient.
      step: ``h``.

    Example:
      >>> import numpy as np
      >>> with jax.enable_x64(True):
      ...     x = jnp.array([0.5, -1.0, 2.0], jnp.float64)
      ...     ct = jnp.ones(3, jnp.float64)
      ...     v = [(np.array([1.0, 2.0, 3.0]),)]
      ...     right = directional_errors(jnp.sin, ct, (x,), (jnp.cos(x),), v, 1.0)
      ...     wrong = directional_errors(jnp.sin, ct, (x,), (1.0001 * jnp.cos(x),), v, 1.0)
      >>> bool(right[1] == 0.0), bool(wrong[1] > 1e-5)
      (True, True)
    """
    f = jax.jit(f)
    cts = [np.asarray(c, np.float64) for c in jax.tree_util.tree_leaves(ct)]

    def central(h, v):
        def outputs(t):
            point = jax.tree.map(lambda a, d: jnp.asarray(a + t * d), args, v)
            return [np.asarray(o, np.float64) for o in jax.tree_util.tree_leaves(f(*point))]
        plus, minus = outputs(h), outputs(-h)
        diff = math.fsum(float(np.sum(c * (p - m))) for c, p, m in zip(cts, plus, minus))
        size = math.fsum(float(np.sum(np.abs(c) * (np.abs(p) + np.abs(m))))
                         for c, p, m in zip(cts, plus, minus))
        return diff / (2 * h), size

    fd_abs = fd_rel = 0.0
    for v in directions:
        d1, size = central(step, v)
        d2, _ = central(2 * step, v)
        bound = abs(d2 - d1) / 3 + FD_ROUNDING_ULPS * _EPS64 * size / (2 * step)
        analytic = math.fsum(float(np.vdot(np.asarray(g, np.float64), d)) for g, d in
                             zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(v)))
        err = abs(analytic - d1)
        fd_abs = max(fd_abs, err)
        fd_rel = max(fd_rel, max(err - bound, 0.0) / max(abs(d1), 1e-3 * scale, 1e-300))
    return fd_abs, fd_rel


# ---------------------------------------------------------------------------------------------
# One gradient's errors, their verdicts, their table cells


class GradientErrors(NamedTuple):
    """The errors of one gradient at one dtype: max abs, and relative to the largest entry of
    the expected gradient (over every argument) or to the directional derivative.

    Example:
      >>> @jax.custom_vjp
      ... def cube(x):
      ...     return x ** 3
      >>> cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3 * x ** 2 * g,))
      >>> report = check_vjp(cube, lambda x: x ** 3, jnp.linspace(-1.0, 1.0, 5), order=1)
      >>> errors = report.rows[0].gradient
      >>> errors._fields
      ('ad_abs', 'ad_rel', 'fd_abs', 'fd_rel', 'ref_ours', 'ref_autodiff')
      >>> errors.ad_rel, errors.fd_rel < 1e-6
      (0.0, True)
    """
    ad_abs: float           # ours vs jax.grad of the reference at this dtype
    ad_rel: float
    fd_abs: float           # ours vs float64 central differences
    fd_rel: float
    ref_ours: float         # ours vs the float64 gradient (rel)
    ref_autodiff: float     # jax.grad at this dtype vs the float64 gradient (rel)


def gradient_errors(ours, theirs, exact, fd=(0.0, 0.0)) -> GradientErrors:
    """The :class:`GradientErrors` of the gradient ``ours`` (pytree) given the reference's at the
    same dtype (``theirs``), the float64 one (``exact``) and :func:`directional_errors`'s
    ``fd``.

    Example:
      >>> ours = exact = {"w": np.array([1.0, 2.0])}
      >>> theirs = {"w": np.array([1.0, 2.5])}
      >>> gradient_errors(ours, theirs, exact)
      GradientErrors(ad_abs=0.5, ad_rel=0.2, fd_abs=0.0, fd_rel=0.0, ref_ours=0.0,
                     ref_autodiff=0.25)
    """
    ad_abs, ad_rel = _total(leaf_errors(ours, theirs))
    ref_ours = _total(leaf_errors(ours, exact))[1]
    ref_autodiff = _total(leaf_errors(theirs, exact))[1]
    return GradientErrors(ad_abs, ad_rel, fd[0], fd[1], ref_ours, ref_autodiff)


def verdicts(errors: GradientErrors, dtype) -> list[str]:
    """What is outside :data:`jaxconv.testing.TOLERANCE`, one line each; empty if nothing.

    Example:
      >>> verdicts(GradientErrors(0.0, 1e-3, 0.0, 0.0, 0.0, 0.0), "float32")
      ['vs jax.grad rel 1.00e-03 > 1e-05']
      >>> verdicts(GradientErrors(0.0, 0.0, 0.0, 0.0, 0.02, 0.01), "bfloat16")
      ["vs f64 2.00e-02, worse than jax.grad's 1.00e-02"]
      >>> verdicts(GradientErrors(0.0, 1e-13, 0.0, 1e-9, 0.0, 0.0), "float64")
      []
    """
    ad_tol, fd_tol = TOLERANCE[dtype]
    out = []
    if ad_tol is not None and errors.ad_rel > ad_tol:
        out.append(f"vs jax.grad rel {errors.ad_rel:.2e} > {ad_tol:g}")
    if fd_tol is not None and errors.fd_rel > fd_tol:
        out.append(f"vs finite differences rel {errors.fd_rel:.2e} > {fd_tol:g}")
    if ad_tol is None and not no_worse(errors.ref_ours, errors.ref_autodiff, dtype):
        out.append(f"vs f64 {errors.ref_ours:.2e}, worse than jax.grad's "
                   f"{errors.ref_autodiff:.2e}")
    return out


ERROR_COLUMNS = ("vs jax.grad max abs", "vs jax.grad rel", "vs finite diff max abs",
                 "vs finite diff rel", "ours vs f64 rel", "jax.grad vs f64 rel")


def error_cells(errors: GradientErrors, dtype) -> list[str]:
    """The :data:`ERROR_COLUMNS` cells of one row (finite differences "—" for 16-bit)."""
    fd = ((f"{errors.fd_abs:.2e}", f"{errors.fd_rel:.2e}") if TOLERANCE[dtype][1] is not None
          else ("—", "—"))
    return [f"{errors.ad_abs:.2e}", f"{errors.ad_rel:.2e}", *fd, f"{errors.ref_ours:.2e}",
            f"{errors.ref_autodiff:.2e}"]


def table_header(columns, right=()) -> str:
    """A markdown table's two header lines; the columns named in ``right`` align right."""
    return ("| " + " | ".join(columns) + " |\n|"
            + "".join("---:|" if c in right else "---|" for c in columns))


def table_row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


# ---------------------------------------------------------------------------------------------
# check_vjp


class DtypeReport(NamedTuple):
    """The errors of every check at one dtype (relative to the largest expected entry).

    Example:
      >>> @jax.custom_vjp
      ... def cube(x):
      ...     return x ** 3
      >>> cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3 * x ** 2 * g,))
      >>> report = check_vjp(cube, lambda x: x ** 3, jnp.linspace(-1.0, 1.0, 5), order=1)
      >>> row = report.rows[0]
      >>> row.dtype, row.primal, row.check_grads_order
      ('float64', 0.0, 1)
    """
    dtype: str
    primal: float           # fn(*args) vs reference(*args), same dtype
    gradient: GradientErrors
    eager: float | None     # fn's gradient op by op vs its compiled one (None: not run)
    vmap: float | None      # per example under vmap vs one input set at a time
    single_arguments: float  # each argument's gradient alone vs its part of the full one
    check_grads_order: int  # the order to which check_grads passed (0: not run: not float64)


_REPORT_COLUMNS = ("fn", "dtype", "primal rel") + ERROR_COLUMNS + (
    "eager rel", "vmap rel", "single args rel", "check_grads", "ok")


class Report(NamedTuple):
    """What :func:`check_vjp` measured: one :class:`DtypeReport` per dtype. ``str(report)`` is
    a markdown table (the transform and single-argument columns: the largest relative
    difference from ``fn``'s own compiled gradient).

    Example:
      >>> @jax.custom_vjp
      ... def cube(x):
      ...     return x ** 3
      >>> cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3 * x ** 2 * g,))
      >>> report = check_vjp(cube, lambda x: x ** 3, jnp.linspace(-1.0, 1.0, 5), order=1)
      >>> report.fn, len(report.rows)
      ('cube', 1)
      >>> table = str(report).splitlines()       # header, alignment row, one row per dtype
      >>> table[2].split(" | ")[:3], table[2].split(" | ")[-2:]
      (['| cube', 'float64', '0.00e+00'], ['order 1', 'yes |'])
    """
    fn: str
    rows: tuple

    def __str__(self) -> str:
        def cell(x):
            return "—" if x is None else f"{x:.2e}"
        lines = [table_header(_REPORT_COLUMNS, right=_REPORT_COLUMNS[2:-2])]
        for r in self.rows:
            lines.append(table_row(
                [self.fn, r.dtype, cell(r.primal), *error_cells(r.gradient, r.dtype),
                 cell(r.eager), cell(r.vmap), cell(r.single_arguments),
                 f"order {r.check_grads_order}" if r.check_grads_order else "—", "yes"]))
        return "\n".join(lines)


def _where(path) -> str:
    """``argument 1`` or ``argument 1, leaf ['w']`` from a key path into the tuple of args."""
    rest = jax.tree_util.keystr(tuple(path[1:]))
    return f"argument {getattr(path[0], 'idx', path[0])}" + (f", leaf {rest}" if rest else "")


def _where_output(path) -> str:
    return "the output" + (f", leaf {jax.tree_util.keystr(tuple(path))}" if path else "")


class _Context(NamedTuple):
    name: str
    dtype: str
    transform: str


def _fail(ctx, check, detail, leaf=None, where=_where):
    lines = [f"jaxconv.testing.check_vjp({ctx.name}) failed the {check.split(' (')[0]!r} check "
             f"({ctx.dtype}, {ctx.transform}):",
             f"  check:     {check}", f"  transform: {ctx.transform}", f"  dtype:     {ctx.dtype}"]
    if leaf is not None:
        shape = f" (shape {leaf.shape})" if leaf.shape is not None else ""
        lines.append(f"  where:     {where(leaf.path)}{shape}")
    lines.append(f"  error:     {detail}")
    if leaf is not None and leaf.shape is not None:
        lines.append(f"  at index:  {leaf.index}: fn gives {leaf.actual!r}, expected "
                     f"{leaf.expected!r}")
    raise AssertionError("\n".join(lines))


def _worst(errors):
    return max(errors, key=lambda e: (e.rel, e.abs_err))


def _judge_same(ctx, check, actual, expected, tol, where=_where):
    """Every leaf of ``actual`` within ``tol`` of ``expected`` relative to its largest entry;
    returns the largest relative error."""
    errors = leaf_errors(actual, expected)
    if not errors:
        return 0.0
    worst = _worst(errors)
    if not worst.rel <= tol:
        _fail(ctx, check, f"max rel error {worst.rel:.2e} > rtol {tol:g} (max abs "
                          f"{worst.abs_err:.2e}, largest expected entry {worst.scale:.2e})", worst,
              where)
    return worst.rel


def _judge_16_bit(ctx, check, ours, theirs, exact, what="the reference", where=_where):
    """``ours`` no less accurate than ``theirs`` against the float64 ``exact`` (global over
    the leaves, :func:`no_worse`); names the leaf farthest from ``exact``."""
    e_ours, e_theirs = leaf_errors(ours, exact), leaf_errors(theirs, exact)
    ours_rel, theirs_rel = _total(e_ours)[1], _total(e_theirs)[1]
    if not no_worse(ours_rel, theirs_rel, ctx.dtype):
        _fail(ctx, check, f"fn's error against the float64 result is {ours_rel:.2e}; "
                          f"{what}'s at {ctx.dtype} is {theirs_rel:.2e}, and at most "
                          f"{SLACK} x that + eps/8 = {SLACK * theirs_rel + eps(ctx.dtype) / 8:.2e}"
                          " is allowed", max(e_ours, key=lambda e: e.abs_err), where)


def _validate(args, rtol, order, transforms, dtypes):
    if not args:
        raise ValueError("jaxconv.testing.check_vjp: no `args` given; pass example inputs after "
                         "`reference`, e.g. check_vjp(fn, reference, x, w).")
    if isinstance(dtypes, str):
        raise TypeError(f"jaxconv.testing.check_vjp: `dtypes` (={dtypes!r}) must be a tuple of "
                        f"names, e.g. ({dtypes!r},).")
    names = []
    for d in dtypes:
        try:
            name = jnp.dtype(d).name
        except TypeError:
            name = str(d)
        if name not in DTYPES:
            raise ValueError(f"jaxconv.testing.check_vjp: `dtypes` entry {d!r} is not one of "
                             f"{DTYPES}.")
        names.append(name)
    if not names:
        raise ValueError(f"jaxconv.testing.check_vjp: `dtypes` is empty; give some of {DTYPES}.")
    if isinstance(transforms, str):
        raise TypeError(f"jaxconv.testing.check_vjp: `transforms` (={transforms!r}) must be a "
                        f"tuple of names, e.g. ({transforms!r},).")
    unknown = [t for t in transforms if t not in TRANSFORMS]
    if unknown or not transforms or not ({"eager", "jit"} & set(transforms)):
        raise ValueError(f"jaxconv.testing.check_vjp: `transforms` (={tuple(transforms)!r}) must "
                         f"be some of {TRANSFORMS}, including 'jit' or 'eager'.")
    if not isinstance(order, int) or isinstance(order, bool) or order < 0:
        raise ValueError(f"jaxconv.testing.check_vjp: `order` (={order!r}) must be an int >= 0 "
                         "(0: no check_grads).")
    if rtol is not None and not (isinstance(rtol, (int, float)) and rtol > 0):
        raise ValueError(f"jaxconv.testing.check_vjp: `rtol` (={rtol!r}) must be a number > 0, "
                         "or None for the dtype's default.")
    for path, leaf in jax.tree_util.tree_flatten_with_path(tuple(args))[0]:
        dtype = leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"jaxconv.testing.check_vjp: {_where(path)} has dtype {dtype}; every "
                            "leaf of `args` must be a floating array (each is differentiated). "
                            "Bind integer inputs such as labels with "
                            "functools.partial(fn, labels=...).")
    return names


def _validate_vmap_axes(args, vmap_axes, transforms):
    """``vmap_axes`` as a tuple with one entry per argument, checked."""
    if vmap_axes is None:
        return None
    where = "jaxconv.testing.check_vjp: `vmap_axes`"
    if "vmap" not in transforms:
        raise ValueError(f"{where} (={vmap_axes!r}) needs 'vmap' in `transforms`.")
    if not isinstance(vmap_axes, (tuple, list)) or len(vmap_axes) != len(args):
        raise ValueError(f"{where} (={vmap_axes!r}) must be a tuple with one entry per argument "
                         f"({len(args)}), each an int axis or None, as jax.vmap's in_axes.")
    for i, (axis, arg) in enumerate(zip(vmap_axes, args)):
        if axis is None:
            continue
        if not is_int(axis):
            raise TypeError(f"{where}[{i}] (={axis!r}) must be an int axis or None.")
        for leaf in jax.tree_util.tree_leaves(arg):
            if not -np.ndim(leaf) - 1 <= axis <= np.ndim(leaf):
                raise ValueError(f"{where}[{i}] (={axis}) is outside the axes a batch axis can "
                                 f"take in argument {i}'s leaf of shape {np.shape(leaf)}: from "
                                 f"{-np.ndim(leaf) - 1} to {np.ndim(leaf)}.")
    if all(axis is None for axis in vmap_axes):
        raise ValueError(f"{where} (={vmap_axes!r}) batches no argument; give at least one an "
                         "axis.")
    return tuple(vmap_axes)


def _per_example(fn, fn_vjp, args64, dtype, vmap_axes, ct, rng, jit, judge):
    """The ``vmap_axes`` check: per-example gradients under ``jax.vmap`` against each example's
    gradient alone; returns the largest error."""
    batch = 3
    sets64 = [args64] + [_permuted(args64, rng) for _ in range(batch - 1)]
    examples64 = [tuple(s[i] if axis is not None else args64[i]
                        for i, axis in enumerate(vmap_axes)) for s in sets64]
    examples = [jax.tree.map(lambda a: a.astype(dtype), e) for e in examples64]
    stacked = tuple(
        jax.tree.map(lambda *a, axis=axis: jnp.stack(a, axis=axis), *[e[i] for e in examples])
        if axis is not None else examples[0][i] for i, axis in enumerate(vmap_axes))
    per_example = jax.vmap(lambda *a: _vjp_fn(fn)(a[:-1], a[-1])[1],
                           in_axes=(*vmap_axes, None))         # one cotangent, every example
    batched = (jax.jit(per_example) if jit else per_example)(*stacked, ct)
    worst = 0.0
    for k in range(batch):
        one = jax.tree.map(lambda b, k=k: b[k], batched)
        alone = fn_vjp(examples[k], ct)[1]
        worst = max(worst, judge(f"vmap_axes={vmap_axes} (example {k} of a batch of {batch} "
                                 "vs that example alone)", one, alone, examples64[k]))
    return worst


def _permuted(args, rng):
    """``args`` with each leaf's entries in a fixed random order: the same values (and domain)."""
    return jax.tree.map(lambda a: jnp.asarray(np.asarray(a).reshape(-1)[
        rng.permutation(np.size(a))].reshape(np.shape(a))), args)


def _one_argument(f, args, i):
    """``f`` as a function of its ``i``-th argument alone (the others fixed)."""
    return lambda a: f(*args[:i], a, *args[i + 1:])


def check_vjp(fn, reference, *args, rtol=None, order=2, transforms=TRANSFORMS,
              dtypes=("float64",), seed=0, vmap_axes=None) -> Report:
    """Check the hand-written VJP rule of ``fn`` against ``reference`` differentiated by JAX.

    For each dtype of ``dtypes``, with the inputs cast to it and random cotangents of ``fn``'s
    output (fixed ``seed``), in this order:

    1. *primal*: ``fn(*args)`` equals ``reference(*args)`` (``rtol``; 16-bit: no farther from
       the float64 output than the reference's);
    2. *vs reference*: ``fn``'s VJP equals ``jax.vjp(reference)``'s, per argument leaf,
       ``max |ours - theirs| <= rtol * max |theirs|`` (default 1e-12 in float64, 1e-5 in
       float32); in bfloat16/float16, ``fn``'s error against the float64 gradient is at most
       ``1.5 x`` the reference's at that dtype ``+ eps / 8``;
    3. *finite differences* (float32, float64): the directional derivative along 2 random
       directions equals a float64 central difference of ``<ct, fn(x)>`` to 1e-6 relative in
       float64, 1e-4 in float32, beyond the difference's own error bound (its truncation and
       the outputs' rounding: :func:`directional_errors`; the report's "vs finite diff rel"
       column is that excess, the "max abs" column the whole error);
    4. *transforms*: ``fn``'s gradient op by op (``"eager"``) and per example under ``"vmap"``
       (a stack of 3 input sets: ``args`` and two permutations of each leaf's entries) equals
       its compiled (``"jit"``) gradient at the same inputs, one input set at a time; with
       ``vmap_axes``, also per-example gradients the way they are usually written: a batch of
       3 examples along the given axis of each batched argument (``args`` and two
       permutations), the others shared, under ``jax.vmap(..., in_axes=vmap_axes)``, equal to
       each example's gradient computed alone (a rule whose
       code depends on the rank or shape of its inputs fails here);
    5. *single arguments*: the gradient of each argument asked for alone equals its part of the
       full gradient (a ``symbolic_zeros`` rule must get the unrequested ones right);
    6. *check_grads* (float64): ``jax.test_util.check_grads(fn, args, order, modes=["rev"])``,
       each level compiled once (:func:`check_grads_rev`); in float32 its central differences
       are rounding noise, and the float64 ones of 3. judge the float32 gradient.

    The comparisons run compiled when ``"jit"`` is in ``transforms`` (op by op otherwise, for a
    ``fn`` that cannot be traced). Float64 needs ``jax_enable_x64``; it is switched on for the
    duration of the call.

    Args:
      fn: the function with the rule, ``fn(*args) -> out`` (arrays or pytrees). Non-array
        arguments (strides, labels) are bound beforehand with ``functools.partial``.
      reference: the same math without a rule, same signature and output structure.
      *args: example inputs: floating arrays or pytrees of them, of any shapes (small ones
        check fastest), e.g. ``x`` of shape ``[batch, features]`` and ``w`` of shape
        ``[features, out]``. Cast to each dtype.
      rtol: the float32/float64 tolerance of checks 1, 2, 4 and 5 (default per dtype, above).
      order: the order of check 6 (0 skips it; 1: first derivatives; 2: also the derivative of
        the backward pass, e.g. Hessian-vector products).
      transforms: some of ``("eager", "jit", "vmap")``, including ``"jit"`` or ``"eager"``.
      dtypes: some of ``"float64"``, ``"float32"``, ``"bfloat16"``, ``"float16"``.
      seed: of the cotangents, directions and permutations.
      vmap_axes: ``None``, or one entry per argument as ``jax.vmap``'s ``in_axes``: an int, the
        axis of that argument the examples are stacked along (``args`` being one example), or
        ``None`` for an argument shared by every example (e.g. ``(0, None)``: ``x`` batched
        along a new first axis, ``w`` not). Needs ``"vmap"`` in ``transforms``.

    Returns:
      A :class:`Report` of the errors per dtype and check; ``print(report)`` shows a table.

    Raises:
      AssertionError: at the first disagreement, naming the check, transform, dtype, the
        argument (index and pytree path), the max relative error and its index.
      ValueError, TypeError: for arguments out of range, naming them.

    Example:
      >>> import functools
      >>> @jax.custom_vjp
      ... def cube(x):
      ...     return x ** 3
      >>> cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3 * x ** 2 * g,))
      >>> report = check_vjp(cube, lambda x: x ** 3, jnp.linspace(-1.0, 1.0, 5))
      >>> [row.dtype for row in report.rows]
      ['float64']
    """
    names = _validate(args, rtol, order, transforms, dtypes)
    vmap_axes = _validate_vmap_axes(args, vmap_axes, transforms)
    name = getattr(fn, "__name__", None) or type(fn).__name__
    x64 = contextlib.nullcontext() if jax.enable_x64.value else jax.enable_x64(True)
    with x64:
        args64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tuple(args))
        rows = tuple(_check_dtype(fn, reference, args64, d, name, rtol, order, tuple(transforms),
                                  seed, vmap_axes) for d in names)
    return Report(name, rows)


def _check_dtype(fn, reference, args64, dtype, name, rtol, order, transforms, seed,
                 vmap_axes=None):
    rng = np.random.default_rng([0x6A43, seed])   # not the stream of a user's default_rng(0)
    jit = "jit" in transforms
    base = "jit" if jit else "eager"
    ctx = _Context(name, dtype, base)
    ad_tol, fd_tol = TOLERANCE[dtype]
    tol = None if ad_tol is None else (ad_tol if rtol is None else rtol)
    x = jax.tree.map(lambda a: a.astype(dtype), args64)
    wrap = compiled_vjp if jit else _vjp_fn
    fn_vjp, ref_vjp = wrap(fn), wrap(reference)

    shapes = jax.eval_shape(fn, *x)
    ref_shapes = jax.eval_shape(reference, *x)
    if jax.tree.structure(shapes) != jax.tree.structure(ref_shapes) or \
            [s.shape for s in jax.tree.leaves(shapes)] != \
            [s.shape for s in jax.tree.leaves(ref_shapes)]:
        _fail(ctx, "primal", f"fn's output {shapes} and reference's {ref_shapes} differ in "
                             "structure or shapes")
    ct = jax.tree.map(lambda s: jnp.asarray(rng.standard_normal(s.shape)), shapes)

    # 1. primal and 2. vs reference
    out, ours = fn_vjp(x, ct)
    out_ref, theirs = ref_vjp(x, ct)
    out64, exact = ref_vjp(args64, ct) if dtype != "float64" else (out_ref, theirs)
    if tol is not None:
        primal = _judge_same(ctx, "primal (fn(*args) vs reference(*args))", out, out_ref, tol,
                             _where_output)
        _judge_same(ctx, "vs reference (fn's VJP vs jax.vjp of reference)", ours, theirs, tol)
    else:
        primal = _total(leaf_errors(out, out_ref))[1]
        _judge_16_bit(ctx, "primal (fn(*args) vs reference(*args))", out, out_ref, out64,
                      where=_where_output)
        _judge_16_bit(ctx, "vs reference (fn's VJP vs jax.vjp of reference)", ours, theirs, exact)

    # 3. finite differences along random directions
    directions = [jax.tree.map(lambda a: rng.standard_normal(a.shape), args64)
                  for _ in range(FD_DIRECTIONS)]
    fd = (0.0, 0.0)
    if fd_tol is not None:
        scale = max_abs(exact)
        fd = directional_errors(fn, ct, args64, ours, directions, scale)
        if fd[1] > fd_tol:
            _fail_directional(ctx, fn, ct, args64, ours, directions, scale, fd_tol)
    errors = gradient_errors(ours, theirs, exact, fd)

    # 4. transforms: eager, vmap
    def judge_consistent(check, got, own, at64):
        if tol is not None:
            return _judge_same(ctx, check, got, own, tol)
        ref64 = exact if at64 is args64 else ref_vjp(at64, ct)[1]     # (computed once above)
        _judge_16_bit(ctx, check, got, own, ref64, what="fn's compiled gradient")
        return _total(leaf_errors(got, own))[1]

    eager_err = vmap_err = None
    if jit and "eager" in transforms:
        ctx = ctx._replace(transform="eager")
        _, eager = _vjp_fn(fn)(x, ct)
        eager_err = judge_consistent("eager (fn's VJP op by op vs compiled)", eager, ours,
                                     args64)
    if "vmap" in transforms:
        ctx = ctx._replace(transform="vmap")
        vmap_err = 0.0
        if vmap_axes is not None:       # the user's own batching first
            vmap_err = _per_example(fn, fn_vjp, args64, dtype, vmap_axes, ct, rng, jit,
                                    judge_consistent)
        sets64 = [args64] + [_permuted(args64, rng) for _ in range(2)]
        sets = [jax.tree.map(lambda a: a.astype(dtype), s) for s in sets64]
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *sets)
        per_example = jax.vmap(lambda a, c: _vjp_fn(fn)(a, c)[1], in_axes=(0, None))
        batched = (jax.jit(per_example) if jit else per_example)(stacked, ct)
        for k, (s, s64) in enumerate(zip(sets, sets64)):
            one = jax.tree.map(lambda b, k=k: b[k], batched)
            alone = ours if k == 0 else fn_vjp(s, ct)[1]      # example 0 is args itself
            vmap_err = max(vmap_err, judge_consistent(
                f"vmap (example {k} of a stack of 3 vs that input set alone)", one, alone, s64))

    # 5. each argument alone
    ctx = ctx._replace(transform=base)
    single = 0.0
    for i in range(len(x)):
        alone = _one_argument(fn, x, i)
        _, (g,) = wrap(alone)((x[i],), ct)
        single = max(single, judge_consistent(
            f"single argument (the gradient of argument {i} alone vs its part of the full one)",
            (*ours[:i], g, *ours[i + 1:]), ours, args64))

    # 6. check_grads to `order`
    passed = 0
    if order and dtype == "float64":     # float32 central differences are rounding noise
        try:
            _check_grads_rev(fn, tuple(x), order, fn_vjp, 1, jit)
        except AssertionError as err:
            _fail_check_grads(ctx, fn, x, order, str(err), jit)
        passed = order
    return DtypeReport(dtype, primal, errors, eager_err, vmap_err, single, passed)


def _leaf_function(f, args, k):
    """``f`` as a function of the ``k``-th leaf of ``args`` alone, and that leaf."""
    leaves, tree = jax.tree.flatten(args)

    def g(leaf):
        return f(*jax.tree.unflatten(tree, leaves[:k] + [leaf] + leaves[k + 1:]))
    return g, leaves[k]


def _paths(args):
    return [p for p, _ in jax.tree_util.tree_flatten_with_path(args)[0]]


def _fail_directional(ctx, fn, ct, args64, ours, directions, scale, tol):
    """Name the leaf whose directional derivative disagrees most (the others' directions 0)."""
    worst = (-1.0, None, 0.0)
    for k, path in enumerate(_paths(args64)):
        only = [jax.tree.unflatten(jax.tree.structure(v), [
            d if j == k else np.zeros_like(d) for j, d in enumerate(jax.tree.leaves(v))])
            for v in directions]
        err = directional_errors(fn, ct, args64, ours, only, scale)
        if err[1] > worst[0]:
            worst = (err[1], path, err[0])
    rel, path, abs_err = worst
    leaf = LeafError(path, abs_err, scale, (), 0.0, 0.0, None)
    _fail(ctx, "finite differences (the directional derivative along random directions vs a "
               "float64 central difference)", f"max rel error {rel:.2e} > {tol:g} (max abs "
               f"{abs_err:.2e})", leaf)


def _fail_check_grads(ctx, fn, x, order, message, jit):
    """Re-run check_grads leaf by leaf to name the one that fails (and at which order)."""
    for k, path in enumerate(_paths(x)):
        g, leaf = _leaf_function(fn, x, k)
        try:
            _check_grads_rev(g, (leaf,), order, None, 1, jit)
        except AssertionError as err:
            _fail(ctx, f"check_grads (finite differences to order {order}, reverse mode)",
                  str(err).replace("\n", "\n             "),
                  LeafError(path, 0.0, 0.0, (), 0.0, 0.0, None))
    _fail(ctx, f"check_grads (finite differences to order {order}, reverse mode; every "
               "argument together)", message.replace("\n", "\n             "))


# ---------------------------------------------------------------------------------------------
# Sweeps


def _format(value) -> str:
    if isinstance(value, tuple):
        return "x".join(_format(v) for v in value) if value else "()"
    return str(value)


class Params(dict):
    """One parametrisation of :func:`cases`: the keyword arguments (a ``dict``) and a readable
    ``id`` (``"stride=2-padding=SAME"``), which ``str()`` gives too.

    Example:
      >>> p = cases(window=((2, 3),), stride=(1,))[0]
      >>> p.id, str(p)
      ('window=2x3-stride=1', 'window=2x3-stride=1')
      >>> dict(p)
      {'window': (2, 3), 'stride': 1}
    """

    @property
    def id(self) -> str:
        return "-".join(f"{k}={_format(v)}" for k, v in self.items())

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Params({self.id})"


def cases(**options) -> list[Params]:
    """Every combination of the options' values (the product, the first option varying
    slowest), each a :class:`Params`: a dict of keyword arguments whose ``str()`` is an id.

    Args:
      **options: ``name=(value, ...)``, a tuple or list of the values to sweep per option.

    Returns:
      ``[Params(name=value, ...), ...]``; with pytest,
      ``@pytest.mark.parametrize("kw", cases(...), ids=str)`` (no pytest needed here).

    Example:
      >>> [p.id for p in cases(stride=(1, 2), padding=("SAME",))]
      ['stride=1-padding=SAME', 'stride=2-padding=SAME']
      >>> cases(window=((2, 3),), ceil_mode=(True,))[0]
      Params(window=2x3-ceil_mode=True)
    """
    for key, values in options.items():
        if not isinstance(values, (tuple, list, range)):
            raise TypeError(f"jaxconv.testing.cases: `{key}` (={values!r}) must be a tuple or "
                            f"list of the values to sweep, e.g. {key}=({values!r},).")
    keys = list(options)
    return [Params(zip(keys, combo)) for combo in itertools.product(*options.values())]

