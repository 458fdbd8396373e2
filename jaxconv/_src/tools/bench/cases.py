"""The benchmark cases: one op's forward + backward, or one model's train step, each buildable
for ``jaxconv`` (hand-written rules), ``autodiff`` (``jax.grad``), ``jaxconv_fit`` (the step as
``fit`` compiles it) and ``torch`` (PyTorch, when installed)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from jaxconv._src.tools.bench import baselines, timing


@dataclasses.dataclass
class Case:
    kind: str                 # "op" or "step"
    name: str
    build: Callable           # (impl) -> zero-arg callable, or None if impl not available
    flops: float = 0.0        # forward + backward FLOPs (conv rows)
    compile_s: dict = dataclasses.field(default_factory=dict)


def _rng_arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _jax_vjp_callable(case: Case, impl: str, op_name: str, arrays, kwargs, labels=None,
                      call=None):
    """A compiled forward + backward of ``op_name`` for ``impl`` in {"jaxconv", "autodiff"}:
    returns the output and the cotangents of a fixed random output cotangent. ``call(op, *a)``
    replaces the default ``op(*a, **kwargs)`` (or ``op(a[0], labels, **kwargs)``)."""
    import jax
    import jax.numpy as jnp

    import jaxconv
    ops = jaxconv if impl == "jaxconv" else jaxconv.autodiff
    op = getattr(ops, op_name)
    args = [jnp.asarray(a) for a in arrays]

    def apply(*p):
        if call is not None:
            return call(op, *p)
        return op(p[0], labels, **kwargs) if labels is not None else op(*p, **kwargs)

    shape = jax.eval_shape(apply, *args).shape
    ct = jnp.asarray(np.random.default_rng(2).standard_normal(shape).astype(np.float32))

    def f(ct, *a):
        out, vjp = jax.vjp(apply, *a)
        return out, vjp(ct)

    compiled, seconds = timing.compiled(f, ct, *args)
    case.compile_s[impl] = seconds
    return lambda: jax.block_until_ready(compiled(ct, *args))


def conv_case(name, x_shape, w_shape, stride=1, padding=0, groups=1) -> Case:
    n = len(x_shape) - 2
    arrays = _rng_arrays([x_shape, w_shape, (w_shape[0],)])
    kwargs = dict(stride=stride, padding=padding, groups=groups)

    def build(impl):
        if impl in ("jaxconv", "autodiff"):
            return _jax_vjp_callable(case, impl, "conv", arrays, kwargs)
        torch = baselines.torch_or_none()
        same = isinstance(padding, str) and padding.upper() == "SAME"
        if torch is None or (same and stride != 1):
            return None
        fn = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d,
              3: torch.nn.functional.conv3d}[n]
        x, w, b = (torch.tensor(a, requires_grad=True) for a in arrays)
        pad = padding.lower() if isinstance(padding, str) else padding

        def run():
            x.grad = w.grad = b.grad = None
            y = fn(x, w, b, stride=stride, padding=pad, groups=groups)
            y.backward(torch.ones_like(y))
            return x.grad
        return run

    import jax

    import jaxconv
    out = jax.eval_shape(lambda x, w: jaxconv.conv(x, w, stride=stride, padding=padding,
                                                    groups=groups),
                         jax.ShapeDtypeStruct(x_shape, np.float32),
                         jax.ShapeDtypeStruct(w_shape, np.float32)).shape
    fwd = 2.0 * np.prod(out) * np.prod(w_shape[1:])
    case = Case("op", name, build, flops=3 * fwd)
    return case


def pool_case(name, op_name, x_shape, window, stride, padding=0) -> Case:
    arrays = _rng_arrays([x_shape])
    n = len(x_shape) - 2

    def build(impl):
        if impl in ("jaxconv", "autodiff"):
            return _jax_vjp_callable(case, impl, op_name, arrays,
                                     dict(window=window, stride=stride, padding=padding))
        torch = baselines.torch_or_none()
        if torch is None:
            return None
        fn = getattr(torch.nn.functional, f"{op_name}{n}d")
        x = torch.tensor(arrays[0], requires_grad=True)

        def run():
            x.grad = None
            y = fn(x, window, stride, padding)
            y.backward(torch.ones_like(y))
            return x.grad
        return run

    case = Case("op", name, build)
    return case


def fn_case(name, op_name, shapes, call, torch_call) -> Case:
    """Forward + backward of ``call(op, *arrays)`` (e.g. ``lambda op, x: op(x, 2)``) for an op
    of either namespace, against ``torch_call(F, *tensors)`` (``torch.nn.functional``)."""
    arrays = _rng_arrays(shapes)

    def build(impl):
        if impl in ("jaxconv", "autodiff"):
            return _jax_vjp_callable(case, impl, op_name, arrays, {}, call=call)
        torch = baselines.torch_or_none()
        if torch is None:
            return None
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]

        def run():
            for v in ts:
                v.grad = None
            y = torch_call(torch.nn.functional, *ts)
            y.backward(torch.ones_like(y))
            return ts[0].grad
        return run

    case = Case("op", name, build)
    return case


def modern_op_cases() -> list[Case]:
    """Normalisation, interpolation and activation rows (each ``x`` 64x64x32x32)."""
    x = (64, 64, 32, 32)
    c = (64,)

    def bn(op, x, s, b):
        return op(x, s, b, np.zeros(64, np.float32), np.ones(64, np.float32), training=True)[0]

    def bn_torch(F, x, s, b):
        return F.batch_norm(x, None, None, s, b, training=True)

    return [
        fn_case("batch_norm train 64x64x32x32", "batch_norm", [x, c, c], bn, bn_torch),
        fn_case("group_norm G=8 64x64x32x32", "group_norm", [x, c, c],
                lambda op, x, s, b: op(x, 8, s, b), lambda F, x, s, b: F.group_norm(x, 8, s, b)),
        fn_case("layer_norm (C,H,W) 64x64x32x32", "layer_norm", [x, x[1:], x[1:]],
                lambda op, x, s, b: op(x, s, b, num_axes=3),
                lambda F, x, s, b: F.layer_norm(x, x.shape[1:], s, b)),
        fn_case("interpolate bilinear x2 64x64x32x32", "interpolate", [x],
                lambda op, x: op(x, scale_factor=2, mode="bilinear"),
                lambda F, x: F.interpolate(x, scale_factor=2, mode="bilinear")),
        fn_case("interpolate nearest x2 64x64x32x32", "interpolate", [x],
                lambda op, x: op(x, scale_factor=2),
                lambda F, x: F.interpolate(x, scale_factor=2)),
        fn_case("gelu 64x64x32x32", "gelu", [x], lambda op, x: op(x), lambda F, x: F.gelu(x)),
        fn_case("silu 64x64x32x32", "silu", [x], lambda op, x: op(x), lambda F, x: F.silu(x)),
        fn_case("hardswish 64x64x32x32", "hardswish", [x], lambda op, x: op(x),
                lambda F, x: F.hardswish(x)),
        fn_case("leaky_relu 64x64x32x32", "leaky_relu", [x], lambda op, x: op(x),
                lambda F, x: F.leaky_relu(x)),
        fn_case("softmax 4096x1000", "softmax", [(4096, 1000)], lambda op, x: op(x),
                lambda F, x: F.softmax(x, -1)),
    ]


def xent_case(name, n, k) -> Case:
    arrays = _rng_arrays([(n, k)])
    labels = np.random.default_rng(1).integers(0, k, n).astype(np.int32)

    def build(impl):
        if impl in ("jaxconv", "autodiff"):
            return _jax_vjp_callable(case, impl, "softmax_cross_entropy", arrays, {}, labels)
        torch = baselines.torch_or_none()
        if torch is None:
            return None
        z = torch.tensor(arrays[0], requires_grad=True)
        t = torch.tensor(labels, dtype=torch.long)

        def run():
            z.grad = None
            torch.nn.functional.cross_entropy(z, t).backward()
            return z.grad
        return run

    case = Case("op", name, build)
    return case


def compiled_step(model_name, input_shape, x, y, ops, options,
                  mixed_precision=None) -> tuple[Callable, float]:
    """``(run, compile seconds)``: ``run()`` takes one Adam train step of the model on the
    batch ``(x, y)``, compiled as ``fit`` compiles it with XLA ``options`` (and
    ``mixed_precision``), and keeps its state."""
    import jax

    from jaxconv._src.nn import models
    from jaxconv._src.training import fit as train
    from jaxconv._src.training import precision
    model = models.get(model_name)
    opt = train.make_optimizer("adam", 1e-3)
    step = train.make_train_step(model, opt, ops, mixed_precision=mixed_precision)
    scaling = precision.loss_scaling_for(precision.get_policy(mixed_precision))
    state = train.init_state(model, opt, input_shape, seed=0, loss_scaling=scaling)
    t = time.perf_counter()
    compiled = train.compile_step(step, state, x, y, options)
    seconds = time.perf_counter() - t
    box = [state]
    xd, yd = jax.device_put(x), jax.device_put(y)

    def run():
        box[0], loss = compiled(box[0], xd, yd)
        return jax.block_until_ready(loss)
    return run, seconds


def step_case(name, model_name, input_shape, batch, mixed_precision=None) -> Case:
    x = np.random.default_rng(0).standard_normal((batch,) + input_shape).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 10, batch).astype(np.int32)

    def build(impl):
        if impl in ("jaxconv", "autodiff", "jaxconv_fit"):
            import jaxconv
            from jaxconv._src.core.compile import compiler_options
            ops = jaxconv.autodiff if impl == "autodiff" else jaxconv
            options = compiler_options("auto") if impl == "jaxconv_fit" else {}
            run, case.compile_s[impl] = compiled_step(model_name, input_shape, x, y, ops,
                                                      options, mixed_precision)
            return run
        torch = baselines.torch_or_none()
        if torch is None:
            return None
        torch.manual_seed(0)
        model = baselines.torch_model(model_name)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.long)

        def run():
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xt), yt)
            loss.backward()
            opt.step()
            return loss.item()
        return run

    case = Case("step", name, build)
    return case


# The models the step rows, the memory table and ``--profile`` use: (name, input shape, batch).
MODELS = (("lenet5", (1, 28, 28), 128), ("cnn1d", (1, 40), 100), ("vgg_small", (3, 32, 32), 64),
          ("resnet20", (3, 32, 32), 64), ("unet", (1, 32, 32), 32),
          ("cnn3d", (1, 16, 16, 16), 8))


def default_cases(quick: bool = False) -> list[Case]:
    if quick:
        return [conv_case("conv2d 8->8 3x3 16x16 B8", (8, 8, 16, 16), (8, 8, 3, 3), padding=1),
                pool_case("max_pool 3x3/2 16x16 C8 B8", "max_pool", (8, 8, 16, 16), 3, 2, 1),
                step_case("step cnn1d B=100", "cnn1d", (1, 40), 100)]
    return [
        conv_case("conv2d 64->64 3x3 32x32 B64", (64, 64, 32, 32), (64, 64, 3, 3), padding=1),
        conv_case("conv2d 64->128 3x3/2 32x32 B64", (64, 64, 32, 32), (128, 64, 3, 3), 2, 1),
        conv_case("conv2d 3->32 3x3 32x32 B64", (64, 3, 32, 32), (32, 3, 3, 3), padding=1),
        conv_case("conv2d 1->6 5x5 28x28 B128 (lenet c1)", (128, 1, 28, 28), (6, 1, 5, 5),
                  padding=2),
        conv_case("conv2d 6->16 5x5 14x14 B128 (lenet c2)", (128, 6, 14, 14), (16, 6, 5, 5)),
        conv_case("conv2d depthwise 64 3x3 32x32 B64", (64, 64, 32, 32), (64, 1, 3, 3),
                  padding=1, groups=64),
        conv_case("conv1d 1->25 k5/2 L40 B100 (cnn1d c1)", (100, 1, 40), (25, 1, 5), 2, 1),
        conv_case("conv1d 25->25 k3/2 L19 B100 (cnn1d c2)", (100, 25, 19), (25, 25, 3), 2, 1),
        conv_case("conv3d 16->16 3x3x3 16^3 B8", (8, 16, 16, 16, 16), (16, 16, 3, 3, 3),
                  padding=1),
        pool_case("max_pool 2x2/2 32x32 C64 B64", "max_pool", (64, 64, 32, 32), 2, 2),
        pool_case("max_pool 3x3/2 32x32 C64 B64 (overlapping)", "max_pool", (64, 64, 32, 32),
                  3, 2, 1),
        pool_case("max_pool 2x2/2 28x28 C6 B128 (lenet)", "max_pool", (128, 6, 28, 28), 2, 2),
        pool_case("avg_pool 2x2/2 32x32 C64 B64", "avg_pool", (64, 64, 32, 32), 2, 2),
        pool_case("avg_pool 3x3/2 32x32 C64 B64 (overlapping)", "avg_pool", (64, 64, 32, 32),
                  3, 2, 1),
        xent_case("softmax_cross_entropy 4096x1000", 4096, 1000),
        *modern_op_cases(),
        step_case("step lenet5 B=128 28x28", "lenet5", (1, 28, 28), 128),
        step_case("step cnn1d B=100 (MNIST-1D)", "cnn1d", (1, 40), 100),
        step_case("step vgg_small B=64 32x32", "vgg_small", (3, 32, 32), 64),
        step_case("step resnet20 B=64 32x32", "resnet20", (3, 32, 32), 64),
        step_case("step cnn3d B=8 16^3", "cnn3d", (1, 16, 16, 16), 8),
        step_case("step unet B=32 32x32", "unet", (1, 32, 32), 32),
    ]
