"""jaxconv: convolutional-network layers for JAX with explicit, hand-written backpropagation.

Every op is a pure function whose gradient is a ``jax.custom_vjp`` rule encoding the textbook
formulas (see ``DESIGN.md`` and each module's docstring). :mod:`jaxconv.autodiff` holds the same
ops without custom rules; :mod:`jaxconv.textbook` holds loop-level reference implementations.
"""

from . import autodiff as autodiff
from . import textbook as textbook
from ._activations import relu as relu
from ._activations import sigmoid as sigmoid
from ._activations import tanh as tanh
from ._adaptive_pool import adaptive_avg_pool as adaptive_avg_pool
from ._adaptive_pool import adaptive_max_pool as adaptive_max_pool
from ._adaptive_pool import global_avg_pool as global_avg_pool
from ._adaptive_pool import global_max_pool as global_max_pool
from ._avg_pool import avg_pool as avg_pool
from ._conv import conv as conv
from ._conv_transpose import conv_transpose as conv_transpose
from ._dense import dense as dense
from ._dropout import dropout as dropout
from ._losses import huber as huber
from ._losses import mse as mse
from ._losses import sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy
from ._losses import softmax_cross_entropy as softmax_cross_entropy
from ._lp_pool import lp_pool as lp_pool
from ._max_pool import max_pool as max_pool
from ._max_pool import max_unpool as max_unpool

__version__ = "0.1.0"

__all__ = [
    "adaptive_avg_pool", "adaptive_max_pool", "autodiff", "avg_pool", "conv", "conv_transpose",
    "dense", "dropout", "global_avg_pool", "global_max_pool", "huber", "lp_pool", "max_pool",
    "max_unpool", "mse", "relu", "sigmoid", "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy", "tanh", "textbook",
]
