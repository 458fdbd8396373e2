"""Derived variants of a public op: the same code, with some of the names it calls replaced.

Every public op is a plain top-level ``def`` that validates its arguments, builds its config and
calls its ``jax.custom_vjp`` rule by a module-level name (``_conv(x, w, b, cfg)``). Each op module
lists, in ``AUTODIFF``, the plain lax forward that stands in for each of its rules::

    AUTODIFF = {"_conv": forward, "_pad_rule": pad.forward}

:func:`variant` builds a new function from the op's own code object with those names bound to
the replacements: same signature, defaults, docstring, name and source lines, the same argument
checks and the same forward values, but no custom rule, so ``jax.grad`` derives its backward pass.
That is how :mod:`jaxconv.autodiff` is made, one twin per op of the registry, and how the tests
force a lowering (:func:`jaxconv._src.tools.lowering.forced_ops`). Nothing is switched at run
time: a variant is a different function object, so ``jax.jit`` can never mistake one for the
other.
"""

from __future__ import annotations

import types
from collections.abc import Callable


def variant(fn: Callable, replacements: dict[str, object]) -> Callable:
    """``fn`` with the module-level names in ``replacements`` rebound; only the names ``fn``'s
    code reads are used. Raises ``ValueError`` if none of them is read (a variant that would be
    the same function)."""
    used = {k: v for k, v in replacements.items() if k in fn.__code__.co_names}
    if not used:
        raise ValueError(f"variant of {fn.__qualname__}: it reads none of "
                         f"{sorted(replacements)}; nothing to replace.")
    scope = dict(fn.__globals__)
    scope.update(used)
    out = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
    out.__kwdefaults__ = None if fn.__kwdefaults__ is None else dict(fn.__kwdefaults__)
    out.__doc__, out.__module__, out.__qualname__ = fn.__doc__, fn.__module__, fn.__qualname__
    out.__annotations__ = dict(fn.__annotations__)
    return out


def autodiff(fn: Callable) -> Callable:
    """The autodiff twin of the public op ``fn``: its rules replaced by the plain forwards its
    module lists in ``AUTODIFF``."""
    module = fn.__globals__
    if "AUTODIFF" not in module:
        raise ValueError(f"{fn.__module__} lists no AUTODIFF forwards for {fn.__qualname__}.")
    return variant(fn, module["AUTODIFF"])
