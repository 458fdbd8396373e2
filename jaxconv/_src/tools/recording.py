"""Recording the op calls of a function: what ``jaxconv bench --profile`` and
:func:`jaxconv.testing.compare_model` both build on.

A recording namespace has every public op of a base namespace (:mod:`jaxconv` or
:mod:`jaxconv.autodiff`), each wrapped to append a :class:`Call` (op, arguments, options, which
arguments are differentiated) before calling the op. Run a function that takes an ops
namespace with it, traced (``jax.eval_shape``: arrays are recorded as shapes) or eagerly
(arrays are recorded as their values).
"""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp


class Call(types.SimpleNamespace):
    """One recorded op call: ``op``, ``args`` / ``kwargs`` (arrays as recorded: values, or
    ``ShapeDtypeStruct`` when traced), ``diff`` the indices of the differentiated arguments."""

    def key(self):
        """Equal for calls of the same op with the same shapes, dtypes and options."""
        return (self.op, repr(tuple(_spec(a) for a in self.args)),
                repr(sorted((k, _spec(v)) for k, v in self.kwargs.items())), self.diff)

    def label(self) -> str:
        """``op(shapes..., option=value, ...)``."""
        shapes = [_describe(a) for a in self.args]
        opts = [f"{k}={_describe(v)}" for k, v in sorted(self.kwargs.items())]
        return f"{self.op}({', '.join(shapes + opts)})"


def _is_array(v) -> bool:
    return hasattr(v, "shape") and hasattr(v, "dtype")


def _spec(v):
    return jax.ShapeDtypeStruct(v.shape, v.dtype) if _is_array(v) else v


def _describe(v):
    if _is_array(v):
        return "x".join(map(str, v.shape)) or "scalar"
    return repr(v)


def _floating(v) -> bool:
    return _is_array(v) and jnp.issubdtype(v.dtype, jnp.floating)


class _Namespace(types.SimpleNamespace):
    """Hashable by identity, like a module: usable as a static argument of ``jax.jit``."""
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other


def recording_ops(base, calls: list) -> types.SimpleNamespace:
    """A namespace with ``base``'s public names whose ops append a :class:`Call` to ``calls``.

    Differentiated arguments: when any argument of a call is a tracer, its floating tracers
    (under a trace, the params and activations; not the constants such as the input batch and
    the running statistics); in an eager call, every floating array argument.
    """
    def recorder(name, fn):
        def call(*args, **kwargs):
            traced = any(isinstance(a, jax.core.Tracer) for a in args)
            diff = tuple(i for i, a in enumerate(args) if _floating(a)
                         and (isinstance(a, jax.core.Tracer) or not traced))
            kept = tuple(_spec(a) if isinstance(a, jax.core.Tracer) else a for a in args)
            calls.append(Call(op=name, args=kept,
                              kwargs={k: _spec(v) if isinstance(v, jax.core.Tracer) else v
                                      for k, v in kwargs.items()}, diff=diff))
            return fn(*args, **kwargs)
        return call

    names = getattr(base, "__all__", None) or [n for n in dir(base) if not n.startswith("_")]
    members = {}
    for n in names:
        member = getattr(base, n)
        wrap = callable(member) and n != "jit" and not isinstance(member, type)
        members[n] = recorder(n, member) if wrap else member
    return _Namespace(**members)


def call_pieces(call: Call, ops, args=None, kwargs=None):
    """``(apply, inputs)``: ``apply(*inputs)`` calls ``ops``' op of ``call`` with its
    differentiated arguments replaced by ``inputs`` and the others as given (``args`` and
    ``kwargs``; default: as recorded); ``inputs`` are the differentiated arguments' values."""
    op = getattr(ops, call.op)
    args = list(call.args if args is None else args)
    kwargs = call.kwargs if kwargs is None else kwargs

    def apply(*d):
        full = list(args)
        for i, v in zip(call.diff, d):
            full[i] = v
        return op(*full, **kwargs)
    return apply, [args[i] for i in call.diff]


def record(fn, base) -> list[Call]:
    """Every op call of ``fn(ops)`` with ``ops`` a recording namespace of ``base``, in order
    (``fn`` runs once, as it is: eagerly, or under the trace it starts itself)."""
    calls: list[Call] = []
    fn(recording_ops(base, calls))
    return calls
