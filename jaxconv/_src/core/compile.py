"""The XLA options jaxconv compiles with, and :func:`jit`: ``jax.jit`` with them.

XLA:CPU runs convolutions through YNNPACK by default; on the convolution shapes of these nets its
Eigen convolutions are 1.3-3.6x faster (``experiments/conv_lowering.py``, README
"Performance"), selected per compilation by one option that keeps YNNPACK for the dots. The
library never sets flags on import: ``jaxconv.train.fit``, ``jaxconv train`` and
:func:`jaxconv.jit` pass the option to the compilations they make, on CPU only.
"""

from __future__ import annotations

import functools
import warnings

import jax
import numpy as np

#: The per-compilation XLA option that selects Eigen's convolutions on CPU (what
#: :func:`jaxconv.jit` and ``fit`` add there, when this jaxlib accepts it).
CPU_EIGEN_CONVOLUTIONS = {"xla_cpu_experimental_ynn_fusion_type":
                          "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


@functools.cache
def _accepted(backend: str, items: tuple) -> bool:
    """Whether this jaxlib's XLA accepts the options (compiled once, on a tiny function)."""
    try:
        v = jax.device_put(np.zeros(2, np.float32), jax.local_devices(backend=backend)[0])
        jax.jit(lambda v: v + 1).lower(v).compile(compiler_options=dict(items))
        return True
    except Exception as err:   # an option or value another jaxlib does not know
        warnings.warn(f"jaxconv: XLA rejected compiler options {dict(items)} ({err}); "
                      "compiling with XLA's defaults.", stacklevel=4)
        return False


def compiler_options(choice="auto", backend: str | None = None, *,
                     name: str = "compiler_options") -> dict:
    """The XLA options jaxconv compiles with: ``"auto"`` is
    :data:`jaxconv.train.CPU_EIGEN_CONVOLUTIONS` on the CPU backend (when this jaxlib accepts
    it) and nothing elsewhere; ``None`` (or ``"default"``) is XLA's defaults; a dict is used as
    given. ``backend``: the one compiled for (default: JAX's default backend); ``name``: the
    argument named in errors.

    Example:
      >>> compiler_options(None)
      {}
    """
    if choice in (None, "default"):
        return {}
    if choice == "auto":
        backend = backend or jax.default_backend()
        if backend != "cpu" or not _accepted(backend, tuple(CPU_EIGEN_CONVOLUTIONS.items())):
            return {}
        return dict(CPU_EIGEN_CONVOLUTIONS)
    if isinstance(choice, dict):
        return dict(choice)
    raise ValueError(f"jaxconv: `{name}` (={choice!r}) must be 'auto', 'default', None or a "
                     "dict of XLA options.")


class _Jitted:
    """``jax.jit(fun, compiler_options=..., **jit_kwargs)``, built on first use, so that
    decorating touches no backend (``jax.distributed.initialize`` and platform choices made
    after an import still apply)."""

    def __init__(self, fun, jit_kwargs, extra):
        functools.update_wrapper(self, fun)
        self._fun, self._kwargs, self._extra, self._jitted = fun, jit_kwargs, extra, None

    def _get(self):
        if self._jitted is None:
            options = compiler_options("auto", self._kwargs.get("backend"))
            options.update(self._extra)
            self._jitted = jax.jit(self._fun, compiler_options=options or None, **self._kwargs)
        return self._jitted

    def __call__(self, *args, **kwargs):
        return self._get()(*args, **kwargs)

    def lower(self, *args, **kwargs):
        return self._get().lower(*args, **kwargs)

    def trace(self, *args, **kwargs):
        return self._get().trace(*args, **kwargs)

    def eval_shape(self, *args, **kwargs):
        return self._get().eval_shape(*args, **kwargs)

    def __get__(self, obj, objtype=None):          # as a method, like jax.jit's functions
        return self if obj is None else functools.partial(self, obj)


def jit(fun=None, /, **jit_kwargs):
    """``jax.jit`` compiling with jaxconv's XLA options
    (:func:`jaxconv.train.compiler_options`): on CPU, Eigen's convolutions, which run the
    hand-written rules' convolutions faster than XLA's default library (the documentation's
    Performance page has the measurements); elsewhere exactly ``jax.jit``.

    Takes every ``jax.jit`` keyword; ``compiler_options=`` (a dict) given here are added to
    (and win over) jaxconv's. The options are chosen when the function is first called or
    lowered, for JAX's default backend then. Use it as ``jaxconv.jit(f, ...)``,
    ``@jaxconv.jit`` or ``@jaxconv.jit(static_argnames=...)``.

    Example:
        >>> import jax.numpy as jnp, jaxconv as jc
        >>> f = jc.jit(lambda x, w: jc.conv(x, w, padding=1).sum())
        >>> float(f(jnp.ones((1, 1, 4, 4)), jnp.ones((2, 1, 3, 3))))
        200.0
    """
    extra = jit_kwargs.pop("compiler_options", None)
    if extra is not None and not isinstance(extra, dict):
        raise TypeError(f"jaxconv.jit: `compiler_options` (={extra!r}) must be a dict of XLA "
                        "options (added to jaxconv's) or None; for XLA's defaults use jax.jit.")
    if fun is None:
        return functools.partial(jit, compiler_options=extra, **jit_kwargs)
    return _Jitted(fun, jit_kwargs, extra or {})
