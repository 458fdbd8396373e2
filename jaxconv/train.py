"""Training: ``fit`` (optax, metrics, checkpoints, resume, devices) and its building blocks."""

from jaxconv._src.core.compile import CPU_EIGEN_CONVOLUTIONS as CPU_EIGEN_CONVOLUTIONS
from jaxconv._src.core.compile import compiler_options as compiler_options
from jaxconv._src.training.fit import OPTIMIZERS as OPTIMIZERS
from jaxconv._src.training.fit import SCHEDULES as SCHEDULES
from jaxconv._src.training.fit import NonFiniteError as NonFiniteError
from jaxconv._src.training.fit import TrainState as TrainState
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

__all__ = [
    "CPU_EIGEN_CONVOLUTIONS",
    "NonFiniteError",
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainState",
    "compile_step",
    "compiler_options",
    "epoch_order",
    "evaluate",
    "fit",
    "init_state",
    "loss_fn",
    "make_eval_step",
    "make_optimizer",
    "make_train_step",
    "prepare_run_dir",
    "summary_line",
    "versions",
]
