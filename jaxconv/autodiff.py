"""The same ops, names and signatures as :mod:`jaxconv`, with no custom rule.

Each function is its :mod:`jaxconv` twin's own code with the ``jax.custom_vjp`` rule it calls
replaced by the plain lax forward of that rule: same argument checks, same values, and ``jax.grad``
derives the backward pass from XLA's own transpose rules. This is the comparison users want one
argument away::

    model.apply(params, x, ops=jaxconv)           # hand-written VJPs
    model.apply(params, x, ops=jaxconv.autodiff)  # jax.grad's VJPs

The forward of ``max_pool`` here is ``lax.reduce_window(max)``, whose gradient JAX computes with
``select_and_scatter_add``; with window dilation (which that gradient does not support) it is a
chain of selects over the window taps.
"""

from jaxconv._src.core.twin import autodiff as _twin
from jaxconv._src.ops import SPECS as _SPECS

# one twin per op of the registry (each op module's SPECS), under the op's own name
globals().update({_name: _twin(_spec.fn) for _name, _spec in _SPECS.items()})

__all__ = sorted(_SPECS)
