"""Devices and processes: the data/model mesh that ``fit`` trains on, and multi-host start-up."""

from jaxconv._src.training.distributed import Layout as Layout
from jaxconv._src.training.distributed import fetch as fetch
from jaxconv._src.training.distributed import initialize as initialize
from jaxconv._src.training.distributed import is_main as is_main
from jaxconv._src.training.distributed import make_layout as make_layout
from jaxconv._src.training.distributed import param_sharding as param_sharding
from jaxconv._src.training.distributed import put as put
from jaxconv._src.training.distributed import put_batch as put_batch
from jaxconv._src.training.distributed import state_shardings as state_shardings

__all__ = [
    "Layout",
    "fetch",
    "initialize",
    "is_main",
    "make_layout",
    "param_sharding",
    "put",
    "put_batch",
    "state_shardings",
]
