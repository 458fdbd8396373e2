"""Loop-level reference implementations of the formulas (NumPy, float64): the oracle
the hand-written rules are tested against."""

from jaxconv._src.tools.textbook import activation_backward as activation_backward
from jaxconv._src.tools.textbook import adaptive_pool_backward as adaptive_pool_backward
from jaxconv._src.tools.textbook import avg_pool_backward as avg_pool_backward
from jaxconv._src.tools.textbook import avg_pool_forward as avg_pool_forward
from jaxconv._src.tools.textbook import conv_backward as conv_backward
from jaxconv._src.tools.textbook import conv_forward as conv_forward
from jaxconv._src.tools.textbook import conv_transpose_backward as conv_transpose_backward
from jaxconv._src.tools.textbook import conv_transpose_forward as conv_transpose_forward
from jaxconv._src.tools.textbook import dense_backward as dense_backward
from jaxconv._src.tools.textbook import huber_backward as huber_backward
from jaxconv._src.tools.textbook import interpolate_backward as interpolate_backward
from jaxconv._src.tools.textbook import interpolate_forward as interpolate_forward
from jaxconv._src.tools.textbook import lp_pool_backward as lp_pool_backward
from jaxconv._src.tools.textbook import lp_pool_forward as lp_pool_forward
from jaxconv._src.tools.textbook import max_pool_backward as max_pool_backward
from jaxconv._src.tools.textbook import max_pool_forward as max_pool_forward
from jaxconv._src.tools.textbook import max_unpool_backward as max_unpool_backward
from jaxconv._src.tools.textbook import mse_backward as mse_backward
from jaxconv._src.tools.textbook import norm_backward as norm_backward
from jaxconv._src.tools.textbook import (
    sigmoid_binary_cross_entropy_backward as sigmoid_binary_cross_entropy_backward,
)
from jaxconv._src.tools.textbook import (
    softmax_cross_entropy_backward as softmax_cross_entropy_backward,
)

__all__ = [
    "activation_backward",
    "adaptive_pool_backward",
    "avg_pool_backward",
    "avg_pool_forward",
    "conv_backward",
    "conv_forward",
    "conv_transpose_backward",
    "conv_transpose_forward",
    "dense_backward",
    "huber_backward",
    "interpolate_backward",
    "interpolate_forward",
    "lp_pool_backward",
    "lp_pool_forward",
    "max_pool_backward",
    "max_pool_forward",
    "max_unpool_backward",
    "mse_backward",
    "norm_backward",
    "sigmoid_binary_cross_entropy_backward",
    "softmax_cross_entropy_backward",
]
