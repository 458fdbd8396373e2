"""Data sets as NumPy arrays (MNIST-1D, digits, IDX files, CIFAR binary files, synthetic) and
the augmentations ``fit`` applies on the device."""

from jaxconv._src.training.data import DATASETS as DATASETS
from jaxconv._src.training.data import Dataset as Dataset
from jaxconv._src.training.data import augmentation as augmentation
from jaxconv._src.training.data import cifar as cifar
from jaxconv._src.training.data import digits as digits
from jaxconv._src.training.data import idx_dataset as idx_dataset
from jaxconv._src.training.data import load as load
from jaxconv._src.training.data import mnist1d as mnist1d
from jaxconv._src.training.data import random_crop as random_crop
from jaxconv._src.training.data import random_flip as random_flip
from jaxconv._src.training.data import random_shift as random_shift
from jaxconv._src.training.data import read_idx as read_idx
from jaxconv._src.training.data import synthetic as synthetic
from jaxconv._src.training.data import write_cifar as write_cifar
from jaxconv._src.training.data import write_idx as write_idx

__all__ = [
    "DATASETS",
    "Dataset",
    "augmentation",
    "cifar",
    "digits",
    "idx_dataset",
    "load",
    "mnist1d",
    "random_crop",
    "random_flip",
    "random_shift",
    "read_idx",
    "synthetic",
    "write_cifar",
    "write_idx",
]
