"""Checkpoints: atomic, pickle-free ``.npz`` files of params pytrees with JSON metadata."""

from jaxconv._src.training.checkpoint import FORMAT as FORMAT
from jaxconv._src.training.checkpoint import FORMAT_VERSION as FORMAT_VERSION
from jaxconv._src.training.checkpoint import CheckpointError as CheckpointError
from jaxconv._src.training.checkpoint import load as load
from jaxconv._src.training.checkpoint import read_metadata as read_metadata
from jaxconv._src.training.checkpoint import save as save

__all__ = [
    "CheckpointError",
    "FORMAT",
    "FORMAT_VERSION",
    "load",
    "read_metadata",
    "save",
]
