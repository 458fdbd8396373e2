"""The same ops, names and signatures as :mod:`jaxconv`, with no custom rule.

Each function runs the plain lax forward of its :mod:`jaxconv` twin (same argument checks, same
values), so ``jax.grad`` derives the backward pass from XLA's own transpose rules. This is the
comparison users want one argument away::

    model.apply(params, x, ops=jaxconv)           # hand-written VJPs
    model.apply(params, x, ops=jaxconv.autodiff)  # jax.grad's VJPs

The forward of ``max_pool`` here is ``lax.reduce_window(max)``, whose gradient JAX computes with
``select_and_scatter_add``; with window dilation (which that gradient does not support) it is a
chain of selects over the window taps.
"""

from ._activations import relu_autodiff as relu
from ._activations import sigmoid_autodiff as sigmoid
from ._activations import tanh_autodiff as tanh
from ._adaptive_pool import adaptive_avg_pool_autodiff as adaptive_avg_pool
from ._adaptive_pool import adaptive_max_pool_autodiff as adaptive_max_pool
from ._adaptive_pool import global_avg_pool_autodiff as global_avg_pool
from ._adaptive_pool import global_max_pool_autodiff as global_max_pool
from ._avg_pool import avg_pool_autodiff as avg_pool
from ._conv import conv_autodiff as conv
from ._conv_transpose import conv_transpose_autodiff as conv_transpose
from ._dense import dense_autodiff as dense
from ._dropout import dropout_autodiff as dropout
from ._losses import huber_autodiff as huber
from ._losses import mse_autodiff as mse
from ._losses import sigmoid_binary_cross_entropy_autodiff as sigmoid_binary_cross_entropy
from ._losses import softmax_cross_entropy_autodiff as softmax_cross_entropy
from ._lp_pool import lp_pool_autodiff as lp_pool
from ._max_pool import max_pool_autodiff as max_pool
from ._max_pool import max_unpool_autodiff as max_unpool

__all__ = [
    "adaptive_avg_pool", "adaptive_max_pool", "avg_pool", "conv", "conv_transpose", "dense",
    "dropout", "global_avg_pool", "global_max_pool", "huber", "lp_pool", "max_pool", "max_unpool",
    "mse", "relu", "sigmoid", "sigmoid_binary_cross_entropy", "softmax_cross_entropy", "tanh",
]
