"""What every test file shares: tolerances, the relative-closeness check, the optional PyTorch.

* ``RTOL``: float64 agreement of a hand-written rule with ``jax.grad`` (rounding only);
  ``RTOL_TORCH``: agreement with PyTorch's float64 kernels (other summation orders).
* :func:`assert_rel_close`: max abs error against the largest entry of the expected array.
* ``torch`` is the imported module or ``None``; ``needs_torch`` skips a test without it.
"""

import jax
import jax.numpy as jnp
import jax.test_util  # noqa: F401  (check_vjp)
import numpy as np
import pytest

RTOL = 1e-12
RTOL_TORCH = 1e-10

try:
    import torch
except ImportError:   # PyTorch is optional: only the comparisons with it are skipped
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def rel_err(actual, expected) -> float:
    """``max |actual - expected| / max |expected|`` (0 for empty arrays)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(np.max(np.abs(expected), initial=0.0), 1e-300)
    return float(np.max(np.abs(actual - expected), initial=0.0)) / scale


def assert_rel_close(actual, expected, rtol=RTOL, what=""):
    """Same shape, a dtype equal to the expected one (or an expected float64), and
    ``max |actual - expected| <= rtol * max |expected|``."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert actual.dtype == expected.dtype or expected.dtype == np.float64, (actual.dtype,
                                                                          expected.dtype)
    err = rel_err(actual, expected)
    assert err <= rtol, f"{what}: max rel err {err:.3e} > {rtol:g}"


def compiled_vjp(f):
    """``(args, ct) -> (f(*args), vjp of ct)``, compiled once: the forward and the pullback of
    any inputs and cotangent of the same shapes."""
    return jax.jit(lambda args, ct: (lambda out, pull: (out, pull(ct)))(*jax.vjp(f, *args)))


def check_grads_rev(f, args, order=2, vjp=None):
    """``jax.test_util.check_grads(f, args, order, modes=["rev"])``: the same recursion of
    ``jax.test_util.check_vjp`` (a random tangent's central difference against the VJP of a
    random cotangent, then the same for ``x -> vjp(f, x)(f(x))`` at the next order), with every
    function it differentiates compiled once (``vjp``: ``compiled_vjp(f)``, if already built)
    instead of re-traced at each evaluation."""
    args = tuple(args)
    vjp = compiled_vjp(f) if vjp is None else vjp
    ct0 = jax.tree.map(jnp.zeros_like, jax.eval_shape(f, *args))
    jax.test_util.check_vjp(lambda *a: vjp(a, ct0)[0],
                            lambda *a: (vjp(a, ct0)[0], lambda ct: vjp(a, ct)[1]), args)
    if order > 1:
        def f_vjp(*a):
            out, pullback = jax.vjp(f, *a)
            return pullback(out)
        check_grads_rev(f_vjp, args, order - 1)
