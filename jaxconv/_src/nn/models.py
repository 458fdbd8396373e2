"""Ready-made models: params-pytree ``init``/``apply`` pairs built from :mod:`jaxconv.layers`.

::

    model = models.lenet5(num_classes=10)
    params = model.init(key, (1, 28, 28))          # input shape without the batch axis
    logits = model.apply(params, x, ops=jaxconv)   # ops=jaxconv.autodiff for jax.grad's rules

============  =====================================================================  ============
model         layers                                                                 input
============  =====================================================================  ============
logistic      Flatten, Dense(K)                                                      any
mlp           Flatten, [Dense(100), ReLU] x 2, Dense(K)                              any
cnn1d         [Conv1d(25, 5|3, stride 2, pad 1), ReLU] x 3, Flatten, Dense(K)        (C, L)
lenet5        Conv(6, 5x5, pad 2), ReLU, MaxPool 2, Conv(16, 5x5), ReLU, MaxPool 2,  (C, H, W)
              Dense(120), ReLU, Dense(84), ReLU, Dense(K)
vgg_small     [Conv(w, 3x3, SAME), ReLU] x 2 + MaxPool 2 per width (32, 64, 128),     (C, H, W)
              Dense(256), ReLU, Dropout(0.3), Dense(K)
============  =====================================================================  ============

``cnn1d`` and ``mlp``/``logistic`` are the MNIST-1D paper's CNN, MLP and logistic regression
(Greydanus 2020). ``lenet5`` takes 28x28 inputs (second conv unpadded: 400 features, 61,706
params for 10 classes) and, with the second conv padded, small inputs such as the 8x8 digits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax

import jaxconv
from jaxconv._src.core import args as _args
from jaxconv._src.nn import layers as L


class Model(NamedTuple):
    """``init(key, input_shape) -> params``; ``apply(params, x, *, ops, key, train) -> logits``.

    A model with state (``stateful``: batch norm's running statistics) keeps it apart from the
    params: ``init(key, input_shape) -> (params, state)`` and ``apply(params, state, x, *, ops,
    key, train) -> (logits, new_state)``; ``train=True`` updates the statistics, ``train=False``
    uses them (and returns them unchanged). The optimizer sees only the params.

    Example:
      >>> model = logistic(10)
      >>> model.name, model.stateful, model.spatial_rank
      ('logistic', False, None)
    """
    init: Callable
    apply: Callable
    name: str
    spatial_rank: int | None      # 1, 2 or 3 for conv nets; None: any input shape
    stateful: bool = False


def _model(name: str, net: L.Layer, spatial_rank: int | None, layout: str) -> Model:
    def init(key, input_shape):
        input_shape = tuple(int(v) for v in input_shape)
        if spatial_rank is not None and len(input_shape) != spatial_rank + 1:
            raise ValueError(f"jaxconv.models.{name}: expects input shape {layout} without the "
                             f"batch axis; got {input_shape}.")
        try:
            out = net.init(key, input_shape)
        except ValueError as err:
            raise ValueError(f"jaxconv.models.{name}: input shape {input_shape} does not fit the "
                             f"model: {err}") from None
        return (out[1], out[2]) if net.stateful else out[1]

    if net.stateful:
        def apply(params, state, x, *, ops=jaxconv, key=None, train=False):
            return net.apply(params, state, x, ops=ops, key=key, train=train)
    else:
        def apply(params, x, *, ops=jaxconv, key=None, train=False):
            return net.apply(params, x, ops=ops, key=key, train=train)

    return Model(init, apply, name, spatial_rank, net.stateful)


def logistic(num_classes: int = 10) -> Model:
    """Multinomial logistic regression: one dense layer on the flattened input.

    Args:
      num_classes: the number of logits ``K``.

    Returns:
      A :class:`Model` from ``(N, *input_shape)``, any shape, to ``(N, num_classes)`` logits.

    Example:
      >>> import jax.numpy as jnp
      >>> model = logistic(10)
      >>> params = model.init(jax.random.key(0), (1, 40))
      >>> param_count(params)                           # 40 * 10 weights + 10 biases
      410
      >>> model.apply(params, jnp.zeros((5, 1, 40))).shape
      (5, 10)
    """
    return _model("logistic", L.serial(L.Flatten(), L.Dense(num_classes, init="glorot")), None,
                  "(any)")


def mlp(num_classes: int = 10, hidden=(100, 100)) -> Model:
    """ReLU multilayer perceptron on the flattened input (MNIST-1D paper: 100-100).

    Args:
      num_classes: the number of logits ``K``.
      hidden: the widths of the hidden dense layers, each followed by ReLU.

    Returns:
      A :class:`Model` from ``(N, *input_shape)``, any shape, to ``(N, num_classes)`` logits.

    Example:
      Shapes only, through :func:`jax.eval_shape` (nothing is computed):

      >>> import jax.numpy as jnp
      >>> model = mlp(10, hidden=(32,))
      >>> params = jax.eval_shape(lambda k: model.init(k, (1, 40)), jax.random.key(0))
      >>> sorted(params), param_count(params)           # (40 * 32 + 32) + (32 * 10 + 10)
      (['dense1', 'dense3'], 1642)
      >>> jax.eval_shape(model.apply, params, jnp.zeros((5, 1, 40))).shape
      (5, 10)
    """
    body = [layer for h in hidden for layer in (L.Dense(h), L.Relu)]
    return _model("mlp", L.serial(L.Flatten(), *body, L.Dense(num_classes, init="glorot")), None,
                  "(any)")


def cnn1d(num_classes: int = 10, channels: int = 25) -> Model:
    """The MNIST-1D paper's CNN: three stride-2 1-D convs with ReLU, then one dense layer.

    Args:
      num_classes: the number of logits ``K``.
      channels: the width of each conv.

    Returns:
      A :class:`Model` from ``(N, C, L)`` to ``(N, num_classes)`` logits.

    Example:
      Shapes only, through :func:`jax.eval_shape` (nothing is computed):

      >>> import jax.numpy as jnp
      >>> model = cnn1d(10)
      >>> params = jax.eval_shape(lambda k: model.init(k, (1, 40)), jax.random.key(0))
      >>> param_count(params)
      5210
      >>> jax.eval_shape(model.apply, params, jnp.zeros((2, 1, 40))).shape
      (2, 10)
    """
    net = L.serial(
        L.Conv(channels, 5, stride=2, padding=1), L.Relu,
        L.Conv(channels, 3, stride=2, padding=1), L.Relu,
        L.Conv(channels, 3, stride=2, padding=1), L.Relu,
        L.Flatten(), L.Dense(num_classes, init="glorot"))
    return _model("cnn1d", net, 1, "(C, L)")


def _lenet_conv2_padding(spatial):
    return 0 if min(spatial) >= 10 else 2      # 14x14 -> 10x10 (classic); small inputs: keep size


def lenet5(num_classes: int = 10) -> Model:
    """LeNet-5 with ReLU and max pooling: 28x28 inputs as in LeCun et al., 8x8 digits too.

    Args:
      num_classes: the number of logits ``K``.

    Returns:
      A :class:`Model` from ``(N, C, H, W)`` to ``(N, num_classes)`` logits.

    Example:
      Shapes only, through :func:`jax.eval_shape` (nothing is computed):

      >>> import jax.numpy as jnp
      >>> model = lenet5(10)
      >>> params = jax.eval_shape(lambda k: model.init(k, (1, 28, 28)), jax.random.key(0))
      >>> param_count(params)
      61706
      >>> small = jax.eval_shape(lambda k: model.init(k, (1, 8, 8)), jax.random.key(0))
      >>> jax.eval_shape(model.apply, small, jnp.zeros((2, 1, 8, 8))).shape
      (2, 10)
    """
    net = L.serial(
        L.Conv(6, 5, padding=2), L.Relu, L.MaxPool(2),
        L.Conv(16, 5, padding=_lenet_conv2_padding), L.Relu, L.MaxPool(2),
        L.Flatten(), L.Dense(120), L.Relu, L.Dense(84), L.Relu,
        L.Dense(num_classes, init="glorot"))
    return _model("lenet5", net, 2, "(C, H, W)")


def vgg_small(num_classes: int = 10, widths=(32, 64, 128), dropout: float = 0.3) -> Model:
    """A small VGG: per width two 3x3 SAME convs with ReLU and a 2x2 max pool, then a dense head.

    Args:
      num_classes: the number of logits ``K``.
      widths: the conv width of each stage; every stage halves ``H`` and ``W``.
      dropout: the dropout rate before the last dense layer (``train=True`` needs ``key``).

    Returns:
      A :class:`Model` from ``(N, C, H, W)`` to ``(N, num_classes)`` logits.

    Example:
      Shapes only, through :func:`jax.eval_shape` (nothing is computed):

      >>> import jax.numpy as jnp
      >>> model = vgg_small(10)
      >>> params = jax.eval_shape(lambda k: model.init(k, (3, 32, 32)), jax.random.key(0))
      >>> param_count(params)
      814122
      >>> jax.eval_shape(model.apply, params, jnp.zeros((2, 3, 32, 32))).shape
      (2, 10)
    """
    body = []
    for w in widths:
        body += [L.Conv(w, 3, padding="SAME"), L.Relu, L.Conv(w, 3, padding="SAME"), L.Relu,
                 L.MaxPool(2)]
    net = L.serial(*body, L.Flatten(), L.Dense(256), L.Relu, L.Dropout(dropout),
                   L.Dense(num_classes, init="glorot"))
    return _model("vgg_small", net, 2, "(C, H, W)")


def cnn3d(num_classes: int = 10, widths=(16, 32)) -> Model:
    """A small volumetric classifier (voxel grids, e.g. 1x16x16x16): per width two 3x3x3 convs
    (padding 1) with ReLU and a 2x2x2 max pool, then a global average pool and a dense layer.

    Args:
      num_classes: the number of logits ``K``.
      widths: the conv width of each stage; every stage halves ``D``, ``H`` and ``W``.

    Returns:
      A :class:`Model` from ``(N, C, D, H, W)`` to ``(N, num_classes)`` logits.

    Example:
      Shapes only, through :func:`jax.eval_shape` (nothing is computed):

      >>> import jax.numpy as jnp
      >>> model = cnn3d(10)
      >>> params = jax.eval_shape(lambda k: model.init(k, (1, 16, 16, 16)), jax.random.key(0))
      >>> param_count(params)
      49242
      >>> jax.eval_shape(model.apply, params, jnp.zeros((2, 1, 16, 16, 16))).shape
      (2, 10)
    """
    body = []
    for w in widths:
        body += [L.Conv(w, 3, padding=1), L.Relu, L.Conv(w, 3, padding=1), L.Relu,
                 L.MaxPool(2)]
    net = L.serial(*body, L.GlobalAvgPool(), L.Dense(num_classes, init="glorot"))
    return _model("cnn3d", net, 3, "(C, D, H, W)")


def _conv_bn(features, stride=1):
    return [L.Conv(features, 3, stride=stride, padding=1, bias=False), L.BatchNorm()]


def _basic_block(features, stride, shortcut):
    """He et al.'s basic block: conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU."""
    side = ()
    if stride != 1 or shortcut == "B":
        side = ((L.ZeroPadShortcut(features, stride),) if shortcut == "A" else
                (L.Conv(features, 1, stride=stride, bias=False), L.BatchNorm()))
    return [L.Residual(*_conv_bn(features, stride), L.Relu, *_conv_bn(features), shortcut=side),
            L.Relu]


def resnet(depth: int = 20, num_classes: int = 10, widths=(16, 32, 64),
           shortcut: str = "A") -> Model:
    """The CIFAR ResNets of He et al. 2016, Sec. 4.2: ``depth = 6n + 2`` layers, a 3x3 conv
    (``widths[0]``) with BN and ReLU, three stages of ``n`` basic blocks (widths 16/32/64,
    stride 2 at the start of the second and third), global average pooling, one dense layer.
    ``shortcut="A"``: identity shortcuts, zero-padded where the width doubles (the paper's
    CIFAR choice: resnet20 has 0.27M params); ``"B"``: 1x1 conv + BN projections there.
    ``depth`` 20, 32, 44, 56, 110 are the paper's.

    Args:
      depth: the number of conv and dense layers, ``6n + 2``.
      num_classes: the number of logits ``K``.
      widths: the widths of the three stages.
      shortcut: ``"A"`` (zero-padded identity) or ``"B"`` (1x1 conv + BN projection).

    Returns:
      A stateful :class:`Model` from ``(N, C, H, W)`` to ``(N, num_classes)`` logits.

    Example:
      Shapes only, through :func:`jax.eval_shape` (nothing is computed):

      >>> import jax.numpy as jnp
      >>> model = resnet(32)
      >>> model.name, model.stateful
      ('resnet32', True)
      >>> params, state = jax.eval_shape(lambda k: model.init(k, (3, 32, 32)),
      ...                                jax.random.key(0))
      >>> param_count(params), param_count(state)      # state: batch norm's running statistics
      (464154, 2272)
      >>> logits, state = jax.eval_shape(model.apply, params, state, jnp.zeros((2, 3, 32, 32)))
      >>> logits.shape
      (2, 10)
    """
    _args.check_int("models.resnet", "depth", depth, minimum=8)
    if (depth - 2) % 6:
        raise ValueError(f"jaxconv.models.resnet: `depth` (={depth}) must be 6n + 2 (20, 32, 44, "
                         "56, 110, ...): three stages of n two-layer blocks plus the first conv "
                         "and the classifier.")
    _args.check_choice("models.resnet", "shortcut", shortcut, ("A", "B"))
    n = (depth - 2) // 6
    body = _conv_bn(widths[0]) + [L.Relu]
    for stage, w in enumerate(widths):
        for block in range(n):
            body += _basic_block(w, 2 if stage > 0 and block == 0 else 1, shortcut)
    net = L.serial(*body, L.GlobalAvgPool(), L.Dense(num_classes, init="torch"))
    return _model(f"resnet{depth}", net, 2, "(C, H, W)")


def resnet20(num_classes: int = 10) -> Model:
    """ResNet-20 (He et al. 2016, Sec. 4.2: n = 3, widths 16/32/64, BN, 0.27M params).

    Args:
      num_classes: the number of logits ``K``.

    Returns:
      ``resnet(20, num_classes)``: a stateful :class:`Model` for ``(N, C, H, W)`` inputs.

    Example:
      Shapes only, through :func:`jax.eval_shape` (nothing is computed):

      >>> model = resnet20(10)
      >>> params, state = jax.eval_shape(lambda k: model.init(k, (3, 32, 32)),
      ...                                jax.random.key(0))
      >>> param_count(params)
      269722
    """
    return resnet(20, num_classes)


def _unet_block(features):
    return [L.Conv(features, 3, padding=1, bias=False), L.BatchNorm(), L.Relu,
            L.Conv(features, 3, padding=1, bias=False), L.BatchNorm(), L.Relu]


def unet(num_classes: int = 10, widths=(16, 32, 64), pool_logits: bool = True,
         up: str = "bilinear") -> Model:
    """A small U-Net (Ronneberger et al. 2015): per level two 3x3 conv-BN-ReLU layers, 2x2 max
    pooling down; up again by :func:`jaxconv.interpolate` (``up``: ``"bilinear"`` or
    ``"nearest"``, scale 2) and a 1x1 conv, joined to the skip connection along the channels
    (:func:`jaxconv.layers.Concat`), then the level's two conv layers; a 1x1 conv gives per-pixel
    logits ``(N, num_classes, H, W)``. ``pool_logits=True`` averages them over the image, a
    classifier of ``(N, num_classes)`` logits that ``fit`` trains. ``H`` and ``W`` must divide
    by ``2 ** (len(widths) - 1)``.

    Args:
      num_classes: the number of logits (or per-pixel classes) ``K``.
      widths: the conv width of each level, from the top; every level below halves ``H``, ``W``.
      pool_logits: whether to average the per-pixel logits over the image.
      up: the upsampling mode, ``"bilinear"`` or ``"nearest"``.

    Returns:
      A stateful :class:`Model` from ``(N, C, H, W)`` to ``(N, num_classes)`` logits, or
      ``(N, num_classes, H, W)`` when not ``pool_logits``.

    Example:
      Shapes only, through :func:`jax.eval_shape` (nothing is computed):

      >>> import jax.numpy as jnp
      >>> model = unet(3, widths=(4, 8), pool_logits=False)
      >>> params, state = jax.eval_shape(lambda k: model.init(k, (1, 8, 8)), jax.random.key(0))
      >>> param_count(params)
      1591
      >>> logits, state = jax.eval_shape(model.apply, params, state, jnp.zeros((2, 1, 8, 8)))
      >>> logits.shape
      (2, 3, 8, 8)
    """
    _args.check_choice("models.unet", "up", up, ("bilinear", "nearest"))
    if len(widths) < 1:
        raise ValueError(f"jaxconv.models.unet: `widths` (={widths!r}) needs at least one level.")

    def level(i):
        inner = _unet_block(widths[i])
        if i + 1 == len(widths):
            return inner
        upsample = [L.Upsample(scale_factor=2, mode=up), L.Conv(widths[i], 1)]
        return inner + [L.Concat(L.MaxPool(2), *level(i + 1), *upsample)] + _unet_block(widths[i])

    head = [L.Conv(num_classes, 1)] + ([L.GlobalAvgPool()] if pool_logits else [])
    return _model("unet", L.serial(*level(0), *head), 2, "(C, H, W)")


MODELS: dict[str, Callable[..., Model]] = {
    "cnn1d": cnn1d, "cnn3d": cnn3d, "lenet5": lenet5, "logistic": logistic, "mlp": mlp,
    "resnet20": resnet20, "unet": unet, "vgg_small": vgg_small,
}


def get(name: str, num_classes: int = 10) -> Model:
    """The model called ``name`` for ``num_classes`` classes: ``cnn1d``, ``cnn3d``, ``lenet5``,
    ``logistic``, ``mlp``, ``resnet20``, ``unet`` or ``vgg_small`` (what ``jaxconv train --model``
    takes).

    Example:
      >>> get("lenet5", num_classes=10).name
      'lenet5'
    """
    if name not in MODELS:
        raise ValueError(f"jaxconv.models: unknown model {name!r}; choose one of "
                         f"{', '.join(sorted(MODELS))}.")
    return MODELS[name](num_classes=num_classes)


def param_count(params) -> int:
    """Number of scalar parameters in a params pytree.

    Args:
      params: a pytree of arrays (or of :class:`jax.ShapeDtypeStruct`, from
        :func:`jax.eval_shape`).

    Returns:
      The sum of the leaves' sizes, an int.

    Example:
      >>> import jax.numpy as jnp
      >>> param_count({"conv0": {"w": jnp.ones((4, 1, 3, 3)), "b": jnp.zeros(4)}})
      40
    """
    return sum(int(p.size) for p in jax.tree_util.tree_leaves(params))
