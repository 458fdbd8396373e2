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
from jaxconv._src.ops import activations as _activations
from jaxconv._src.ops import adaptive_pool as _adaptive_pool
from jaxconv._src.ops import avg_pool as _avg_pool
from jaxconv._src.ops import conv as _conv
from jaxconv._src.ops import conv_transpose as _conv_transpose
from jaxconv._src.ops import dense as _dense
from jaxconv._src.ops import dropout as _dropout
from jaxconv._src.ops import interpolate as _interpolate
from jaxconv._src.ops import losses as _losses
from jaxconv._src.ops import lp_pool as _lp_pool
from jaxconv._src.ops import max_pool as _max_pool
from jaxconv._src.ops import max_unpool as _max_unpool
from jaxconv._src.ops import normalisation as _normalisation

adaptive_avg_pool = _twin(_adaptive_pool.adaptive_avg_pool)
adaptive_max_pool = _twin(_adaptive_pool.adaptive_max_pool)
avg_pool = _twin(_avg_pool.avg_pool)
batch_norm = _twin(_normalisation.batch_norm)
conv = _twin(_conv.conv)
conv_transpose = _twin(_conv_transpose.conv_transpose)
dense = _twin(_dense.dense)
dropout = _twin(_dropout.dropout)
elu = _twin(_activations.elu)
gelu = _twin(_activations.gelu)
global_avg_pool = _twin(_adaptive_pool.global_avg_pool)
global_max_pool = _twin(_adaptive_pool.global_max_pool)
group_norm = _twin(_normalisation.group_norm)
huber = _twin(_losses.huber)
interpolate = _twin(_interpolate.interpolate)
layer_norm = _twin(_normalisation.layer_norm)
leaky_relu = _twin(_activations.leaky_relu)
log_softmax = _twin(_activations.log_softmax)
lp_pool = _twin(_lp_pool.lp_pool)
max_pool = _twin(_max_pool.max_pool)
max_unpool = _twin(_max_unpool.max_unpool)
mse = _twin(_losses.mse)
relu = _twin(_activations.relu)
sigmoid = _twin(_activations.sigmoid)
sigmoid_binary_cross_entropy = _twin(_losses.sigmoid_binary_cross_entropy)
silu = _twin(_activations.silu)
softmax = _twin(_activations.softmax)
softmax_cross_entropy = _twin(_losses.softmax_cross_entropy)
softplus = _twin(_activations.softplus)
tanh = _twin(_activations.tanh)

__all__ = [
    "adaptive_avg_pool", "adaptive_max_pool", "avg_pool", "batch_norm", "conv", "conv_transpose",
    "dense", "dropout", "elu", "gelu", "global_avg_pool", "global_max_pool", "group_norm", "huber",
    "interpolate", "layer_norm", "leaky_relu", "log_softmax", "lp_pool", "max_pool", "max_unpool",
    "mse", "relu", "sigmoid", "sigmoid_binary_cross_entropy", "silu", "softmax",
    "softmax_cross_entropy", "softplus", "tanh",
]
