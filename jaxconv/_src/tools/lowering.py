"""Forcing a lowering: a namespace of jaxconv's ops whose convolutions lower as told.

The lowering module (:mod:`jaxconv._src.core.lowering`) picks, per convolution, how its forward
and its two gradients are lowered, and stores the choice in the op's static config. The tests run
every method against the same oracles, and for that they need the choice made for them::

    ops = forced_ops(conv_forward="taps", conv_input_grad="col2im")
    jax.jit(lambda x, w: ops.conv(x, w))(x, w)     # traced with the forced methods

``forced_ops`` returns a new namespace each call; its ``conv`` and ``conv_transpose`` are
variants (:func:`jaxconv._src.core.twin.variant`) of the public ops whose config builders overwrite
the chosen methods. The choice is part of the functions, not of any global state, so a function
traced with one choice can never be reused for another.
"""

from __future__ import annotations

import types

import jaxconv
from jaxconv._src.core import lowering, twin
from jaxconv._src.ops import conv as _conv
from jaxconv._src.ops import conv_transpose as _conv_transpose
from jaxconv._src.ops import interpolate as _interpolate


def _forcing(config_fn, parts):
    def config(*args, **kwargs):
        cfg = config_fn(*args, **kwargs)
        depth = [f"conv_{k}='depth'" for k, v in parts.items() if v == "depth"]
        if depth and len(cfg.window.window) < 2:
            raise ValueError(f"jaxconv lowering: {', '.join(depth)} splits the first spatial "
                             "axis off a 2-D or 3-D convolution; this one is 1-D (x.shape="
                             f"{cfg.x_shape}); force 'lax', 'taps', 'gemm' or 'col2im' for 1-D "
                             "layers.")
        forced = cfg.methods._replace(**parts)
        return cfg._replace(methods=forced, other=cfg.other._replace(**parts))
    return config


def _forcing_interpolate(method):
    def config(*args, **kwargs):
        cfg = _interpolate.interpolate_config(*args, **kwargs)
        return cfg._replace(methods=(method,) * len(cfg.in_sizes),
                            other=(method,) * len(cfg.in_sizes))
    return config


def forced_ops(**methods: str) -> types.SimpleNamespace:
    """:mod:`jaxconv`'s ops with the convolutions' lowering forced (keys ``conv_forward``,
    ``conv_input_grad``, ``conv_weight_grad``; values from ``lowering.CONV_METHODS``) and the
    interpolation's (``interpolate``: one of ``lowering.INTERPOLATE_METHODS``, every axis); the
    parts not named keep the measured choice."""
    interp = methods.pop("interpolate", None)
    if interp is not None and interp not in lowering.INTERPOLATE_METHODS:
        raise ValueError(f"jaxconv lowering: unknown interpolate={interp!r}; choose from "
                         f"{lowering.INTERPOLATE_METHODS}")
    parts = lowering.check_forced(**methods)
    ops = types.SimpleNamespace(**{name: getattr(jaxconv, name) for name in jaxconv.__all__})
    if interp is not None:
        ops.interpolate = twin.variant(_interpolate.interpolate, {
            "interpolate_config": _forcing_interpolate(interp)})
    ops.conv = twin.variant(_conv.conv, {"conv_config": _forcing(_conv.conv_config, parts)})
    ops.conv_transpose = twin.variant(_conv_transpose.conv_transpose, {
        "conv_transpose_config": _forcing(_conv_transpose.conv_transpose_config, parts)})
    return ops
