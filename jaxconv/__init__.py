"""jaxconv: convolutional-network layers for JAX with explicit, hand-written backpropagation.

Every op is a pure function whose gradient is a ``jax.custom_vjp`` rule encoding the textbook
formulas. The docstrings cite them by number ("Eq. 6"): the derivation ships with the package,
and ``jaxconv derivation 6`` prints the section that holds Eq. 6 (the documentation site renders
it as "The formulas behind jaxconv's rules").
:mod:`jaxconv.autodiff` holds the same ops without custom rules; :mod:`jaxconv.textbook` holds
loop-level reference implementations.

The rules are reverse-mode only: ``jax.grad``, ``jax.vjp`` and reverse-over-reverse (for
example Hessian-vector products, ``jax.grad(lambda w: jnp.vdot(jax.grad(f)(w), v))``) work;
``jax.jvp``, ``jax.jacfwd`` and ``jax.hessian`` raise JAX's "can't apply forward-mode autodiff
(jvp) to a custom_vjp function". Use :mod:`jaxconv.autodiff` for forward mode.

:func:`jaxconv.jit` is ``jax.jit`` with the XLA options these ops run fastest with on CPU.
"""

from jaxconv import autodiff as autodiff  # noqa: E402  (after the ops it twins)
from jaxconv import textbook as textbook  # noqa: E402
from jaxconv._src import ops as _ops
from jaxconv._src.core.compile import jit as jit
from jaxconv._src.ops.activations import elu as elu
from jaxconv._src.ops.activations import gelu as gelu
from jaxconv._src.ops.activations import hardswish as hardswish
from jaxconv._src.ops.activations import leaky_relu as leaky_relu
from jaxconv._src.ops.activations import log_softmax as log_softmax
from jaxconv._src.ops.activations import relu as relu
from jaxconv._src.ops.activations import sigmoid as sigmoid
from jaxconv._src.ops.activations import silu as silu
from jaxconv._src.ops.activations import softmax as softmax
from jaxconv._src.ops.activations import softplus as softplus
from jaxconv._src.ops.activations import tanh as tanh
from jaxconv._src.ops.adaptive_pool import adaptive_avg_pool as adaptive_avg_pool
from jaxconv._src.ops.adaptive_pool import adaptive_max_pool as adaptive_max_pool
from jaxconv._src.ops.adaptive_pool import global_avg_pool as global_avg_pool
from jaxconv._src.ops.adaptive_pool import global_max_pool as global_max_pool
from jaxconv._src.ops.avg_pool import avg_pool as avg_pool
from jaxconv._src.ops.conv import conv as conv
from jaxconv._src.ops.conv_transpose import conv_transpose as conv_transpose
from jaxconv._src.ops.dense import dense as dense
from jaxconv._src.ops.dropout import dropout as dropout
from jaxconv._src.ops.interpolate import interpolate as interpolate
from jaxconv._src.ops.losses import huber as huber
from jaxconv._src.ops.losses import mse as mse
from jaxconv._src.ops.losses import sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy
from jaxconv._src.ops.losses import softmax_cross_entropy as softmax_cross_entropy
from jaxconv._src.ops.lp_pool import lp_pool as lp_pool
from jaxconv._src.ops.max_pool import max_pool as max_pool
from jaxconv._src.ops.max_unpool import max_unpool as max_unpool
from jaxconv._src.ops.normalisation import batch_norm as batch_norm
from jaxconv._src.ops.normalisation import group_norm as group_norm
from jaxconv._src.ops.normalisation import layer_norm as layer_norm

__version__ = "0.4.0"

# every op of the registry (each op module's SPECS), re-exported one per line above; a test
# checks the lines against the registry
__all__ = sorted([*_ops.NAMES, "autodiff", "jit", "textbook"])
