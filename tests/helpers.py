"""What every test file shares: tolerances, the relative-closeness check, the optional PyTorch.

* ``RTOL``: float64 agreement of a hand-written rule with ``jax.grad`` (rounding only);
  ``RTOL_TORCH``: agreement with PyTorch's float64 kernels (other summation orders).
* :func:`assert_rel_close`, :func:`rel_err`: max abs error against the largest entry of the expected
  array; :func:`compiled_vjp`, :func:`check_grads_rev`: ``check_grads(order, modes=["rev"])``
  compiled once per level. All four are :mod:`jaxconv.testing`'s (one implementation).
* ``torch`` is the imported module or ``None``; ``needs_torch`` skips a test without it.
* ``SPECS`` (the registry: every op's entry) and ``EXAMPLES`` (``{name: (spec, example)}``,
  every op's example calls): what the edge, NumPy, integer, 16-bit and fuzz tests run.
* :func:`kill_after_epoch`: an ``on_epoch_end`` for ``fit`` that stops the run with
  :class:`Killed` after an epoch's checkpoint is written, as a kill there would.
"""

import pytest

from jaxconv._src.ops import SPECS as SPECS  # noqa: F401
from jaxconv.testing import assert_rel_close as assert_rel_close  # noqa: F401 (default: RTOL)
from jaxconv.testing import check_grads_rev as check_grads_rev  # noqa: F401
from jaxconv.testing import compiled_vjp as compiled_vjp  # noqa: F401
from jaxconv.testing import rel_err as rel_err  # noqa: F401

EXAMPLES = {e.name: (spec, e) for spec in SPECS.values() for e in spec.examples}

RTOL = 1e-12
RTOL_TORCH = 1e-10

try:
    import torch
except ImportError:   # PyTorch is optional: only the comparisons with it are skipped
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


class Killed(Exception):
    """Raised by :func:`kill_after_epoch`: the run stops as if killed."""


def kill_after_epoch(epoch: int = 0):
    """``fit``'s ``on_epoch_end`` that raises :class:`Killed` at the end of ``epoch``."""
    def on_epoch_end(e, state, record):
        if e == epoch:
            raise Killed
    return on_epoch_end

