"""Training: ``fit`` (optax, metrics, checkpoints, resume, devices, mixed precision) and its
building blocks."""

from jaxconv._src.core.compile import CPU_EIGEN_CONVOLUTIONS as CPU_EIGEN_CONVOLUTIONS
from jaxconv._src.core.compile import compiler_options as compiler_options
from jaxconv._src.training.fit import OPTIMIZERS as OPTIMIZERS
from jaxconv._src.training.fit import SCHEDULES as SCHEDULES
from jaxconv._src.training.fit import WEIGHT_DECAY_MASKS as WEIGHT_DECAY_MASKS
from jaxconv._src.training.fit import NonFiniteError as NonFiniteError
from jaxconv._src.training.fit import TrainState as TrainState
from jaxconv._src.training.fit import compile_gather_step as compile_gather_step
from jaxconv._src.training.fit import compile_step as compile_step
from jaxconv._src.training.fit import epoch_order as epoch_order
from jaxconv._src.training.fit import evaluate as evaluate
from jaxconv._src.training.fit import fit as fit
from jaxconv._src.training.fit import init_state as init_state
from jaxconv._src.training.fit import loss_fn as loss_fn
from jaxconv._src.training.fit import make_eval_step as make_eval_step
from jaxconv._src.training.fit import make_optimizer as make_optimizer
from jaxconv._src.training.fit import make_train_step as make_train_step
from jaxconv._src.training.fit import prepare_run_dir as prepare_run_dir
from jaxconv._src.training.fit import summary_line as summary_line
from jaxconv._src.training.fit import versions as versions
from jaxconv._src.training.precision import POLICIES as POLICIES
from jaxconv._src.training.precision import LossScaleState as LossScaleState
from jaxconv._src.training.precision import LossScaling as LossScaling
from jaxconv._src.training.precision import Policy as Policy
from jaxconv._src.training.precision import get_policy as get_policy

__all__ = [
    "CPU_EIGEN_CONVOLUTIONS",
    "LossScaleState",
    "LossScaling",
    "NonFiniteError",
    "OPTIMIZERS",
    "POLICIES",
    "Policy",
    "SCHEDULES",
    "TrainState",
    "WEIGHT_DECAY_MASKS",
    "compile_gather_step",
    "compile_step",
    "compiler_options",
    "epoch_order",
    "evaluate",
    "fit",
    "get_policy",
    "init_state",
    "loss_fn",
    "make_eval_step",
    "make_optimizer",
    "make_train_step",
    "prepare_run_dir",
    "summary_line",
    "versions",
]
