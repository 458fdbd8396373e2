"""Datasets behind one loader: ``load(name) -> Dataset(x_train, y_train, x_test, y_test)``.

Inputs come channels first as float32 (``(N, 1, 40)`` for MNIST-1D, ``(N, 1, 8, 8)`` for the
digits, ``(N, 1, 28, 28)`` for MNIST), labels as int32 class ids.

======================  =======================================================================
name                    source
======================  =======================================================================
``mnist1d``             MNIST-1D (Greydanus 2020), generated offline by the ``mnist1d`` package's
                        ``make_dataset`` with its default arguments: 4000 train / 1000 test
``digits``              scikit-learn's bundled 8x8 handwritten digits (1797), a fixed stratified
                        80/20 split, pixels scaled to [0, 1]
``mnist``,              the standard IDX files (``train-images-idx3-ubyte`` etc., ``.gz`` or not)
``fashion-mnist``       from a directory you name (``data_dir=``; ``--data-dir``), scaled to [0, 1]
``synthetic``           a small generated set (noisy class templates) for tests and smoke runs
======================  =======================================================================

``mnist1d`` and ``digits`` need the ``data`` extra (``pip install "jaxconv[data]"``).
"""

from __future__ import annotations

import gzip
import os
import pathlib
import zlib
from typing import NamedTuple

import numpy as np

from jaxconv._src.core import args as _args


class Dataset(NamedTuple):
    """A data set's train and test splits as NumPy arrays.

    Attributes:
      x_train: ``(N_train, *input_shape)`` inputs, channels first.
      y_train: ``(N_train,)`` class ids.
      x_test, y_test: the test split, likewise.

    ``num_classes`` is one more than the largest label of either split, ``input_shape`` the
    shape of one input.

    Example:
      >>> ds = Dataset(np.zeros((4, 1, 8, 8)), np.array([0, 1, 2, 1]),
      ...              np.zeros((2, 1, 8, 8)), np.array([0, 3]))
      >>> ds.num_classes, ds.input_shape
      (4, (1, 8, 8))
    """
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _need(package: str, extra: str = "data"):
    raise ImportError(f"jaxconv.data: this dataset needs the `{package}` package; install the "
                      f"extra with pip install \"jaxconv[{extra}]\" (in a checkout: pip install "
                      f"-e \".[{extra}]\"; or pip install {package}).")


def mnist1d() -> Dataset:
    """MNIST-1D generated offline (``mnist1d.data.make_dataset``; never its download path).

    Returns:
      A :class:`Dataset`: 4000 train and 1000 test inputs ``(N, 1, 40)``, ten classes.

    Example:
      >>> ds = mnist1d()
      >>> ds.x_train.shape, ds.x_test.shape, ds.num_classes
      ((4000, 1, 40), (1000, 1, 40), 10)
      >>> ds.x_train.dtype, ds.y_train.dtype
      (dtype('float32'), dtype('int32'))
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        _need("mnist1d")
    d = make_dataset(get_dataset_args())
    return Dataset(d["x"][:, None, :].astype(np.float32), d["y"].astype(np.int32),
                   d["x_test"][:, None, :].astype(np.float32), d["y_test"].astype(np.int32))


def digits(test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 digits, a fixed stratified split (independent of the training seed).

    Args:
      test_fraction: the share of the 1797 images in the test split.

    Returns:
      A :class:`Dataset` of ``(N, 1, 8, 8)`` inputs scaled to ``[0, 1]``, ten classes.

    Example:
      >>> ds = digits()
      >>> ds.x_train.shape, ds.x_test.shape, ds.num_classes
      ((1437, 1, 8, 8), (360, 1, 8, 8), 10)
      >>> float(ds.x_train.min()), float(ds.x_train.max())
      (0.0, 1.0)
    """
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        _need("scikit-learn")
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_fraction, stratify=y,
                                          random_state=0)
    return Dataset(xtr, ytr, xte, yte)


# ----------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)

_IDX_CLASSES = 10      # MNIST and Fashion-MNIST: ten classes
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
              "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def read_idx(path) -> np.ndarray:
    """Parse one IDX file (optionally gzip-compressed): magic ``0 0 dtype ndim``, ``ndim``
    big-endian int32 sizes, then the data in row-major order.

    Args:
      path: the file; read through gzip when its name ends in ``.gz``.

    Returns:
      The array, of the shape and dtype its header gives.

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as d:
      ...     path = pathlib.Path(d) / "images-idx3-ubyte"
      ...     write_idx(path, np.arange(12, dtype=np.uint8).reshape(3, 2, 2))
      ...     images = read_idx(path)
      >>> images.shape, images.dtype, images[2].tolist()
      ((3, 2, 2), dtype('uint8'), [[8, 9], [10, 11]])
    """
    path = pathlib.Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ValueError(f"jaxconv.data: {path} is not a readable gzip file ({err}); "
                         "re-download it, or unpack it and drop the .gz.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"jaxconv.data: {path} is not an IDX file (bad magic number "
                         f"{raw[:4].hex() or 'empty'}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"jaxconv.data: {path} is truncated (header of {ndim} dimensions).")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">i4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"jaxconv.data: {path} holds {len(raw) - header} data bytes; its header "
                         f"{shape} needs {expected}. The file is truncated or corrupt.")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _find(directory: pathlib.Path, stem: str):
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def idx_dataset(name: str, data_dir) -> Dataset:
    """MNIST-format IDX files from ``data_dir``.

    Args:
      name: the data set's name (``"mnist"`` or ``"fashion-mnist"``), for the messages.
      data_dir: the folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each ``.gz`` or not.

    Returns:
      A :class:`Dataset` of ``(N, 1, H, W)`` float32 inputs (8-bit pixels scaled to
      ``[0, 1]``) and int32 labels in ``[0, 10)``.

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as d:
      ...     for split, n in (("train", 6), ("t10k", 2)):
      ...         write_idx(f"{d}/{split}-images-idx3-ubyte.gz", np.full((n, 4, 4), 255, np.uint8))
      ...         write_idx(f"{d}/{split}-labels-idx1-ubyte.gz", np.arange(n, dtype=np.uint8))
      ...     ds = idx_dataset("mnist", d)
      >>> ds.x_train.shape, float(ds.x_train.max()), ds.y_test.tolist()
      ((6, 1, 4, 4), 1.0, [0, 1])
    """
    if data_dir is None:
        raise ValueError(f"jaxconv.data: `{name}` is read from IDX files; pass their directory as "
                         f"data_dir=... (command line: --data-dir DIR).")
    directory = pathlib.Path(os.path.expanduser(str(data_dir)))
    if not directory.is_dir():
        raise FileNotFoundError(f"jaxconv.data: the data directory {directory} for `{name}` does "
                                "not exist; pass the folder that holds the four IDX files.")
    paths = {k: _find(directory, stem) for k, stem in _IDX_FILES.items()}
    missing = [_IDX_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(f"jaxconv.data: {directory} lacks {', '.join(missing)} (.gz or "
                                f"not) for `{name}`; put the four standard IDX files there.")
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        xi, yi = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if xi.ndim != 3 or yi.ndim != 1 or len(xi) != len(yi):
            raise ValueError(f"jaxconv.data: {split} images {xi.shape} and labels {yi.shape} in "
                             f"{directory} do not match (expected (N, H, W) and (N,)).")

    for split in ("train", "test"):
        labels = arrays[f"{split}_labels"]
        if labels.size and (not np.issubdtype(labels.dtype, np.integer)
                            or labels.min() < 0 or labels.max() >= _IDX_CLASSES):
            raise ValueError(f"jaxconv.data: the {split} labels of {directory} must be class ids "
                             f"in [0, {_IDX_CLASSES}) for `{name}`; got {labels.dtype} values in "
                             f"[{labels.min()}, {labels.max()}].")
        if len(labels) == 0:
            raise ValueError(f"jaxconv.data: the {split} split in {directory} is empty.")

    def images(a):        # 8-bit pixels scaled to [0, 1]; floating IDX images kept as they are
        if np.issubdtype(a.dtype, np.integer):
            return (a.astype(np.float32) / 255.0)[:, None]
        return a.astype(np.float32)[:, None]

    return Dataset(images(arrays["train_images"]), arrays["train_labels"].astype(np.int32),
                   images(arrays["test_images"]), arrays["test_labels"].astype(np.int32))


def write_idx(path, array: np.ndarray) -> None:
    """Write ``array`` (uint8, int8, >i2, >i4, >f4 or >f8) as an IDX file (``.gz`` by suffix).

    Args:
      path: the file to create or replace; gzip-compressed when its name ends in ``.gz``.
      array: any shape; its dtype's kind and size pick the IDX type code.

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as d:
      ...     write_idx(pathlib.Path(d) / "labels.gz", np.array([3, 1, 4], np.uint8))
      ...     with gzip.open(pathlib.Path(d) / "labels.gz") as f:
      ...         print(list(f.read()))           # magic 0 0 8 (uint8) 1 (axis), size 3, data
      [0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4]
    """
    a = np.asarray(array)
    kind = (a.dtype.kind, a.dtype.itemsize)
    matches = [(code, np.dtype(spec)) for code, spec in _IDX_DTYPES.items()
               if (np.dtype(spec).kind, np.dtype(spec).itemsize) == kind]
    if not matches:
        raise ValueError(f"jaxconv.data.write_idx: dtype {a.dtype} has no IDX code.")
    code, spec = matches[0]
    blob = (bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, ">i4").tobytes()
            + a.astype(spec).tobytes())
    path = pathlib.Path(path)
    with (gzip.open(path, "wb") if path.suffix == ".gz" else open(path, "wb")) as f:
        f.write(blob)


# ----------------------------------------------------------------------------------------------

def synthetic(n_train: int = 512, n_test: int = 128, shape=(1, 8, 8), num_classes: int = 4,
              noise: float = 0.5, seed: int = 0) -> Dataset:
    """Noisy copies of ``num_classes`` random templates: learnable in a few steps.

    Args:
      n_train, n_test: the sizes of the two splits.
      shape: the shape of one input, channels first.
      num_classes: the number of templates (classes), drawn equally often.
      noise: the standard deviation of the Gaussian noise added to the templates.
      seed: the NumPy seed of the templates, labels and noise.

    Returns:
      A :class:`Dataset` of float32 inputs and int32 labels.

    Example:
      >>> ds = synthetic(n_train=8, n_test=4, shape=(1, 4, 4), num_classes=2)
      >>> ds.x_train.shape, ds.x_test.shape, ds.num_classes
      ((8, 1, 4, 4), (4, 1, 4, 4), 2)
      >>> np.bincount(ds.y_train).tolist()
      [4, 4]
    """
    rng = np.random.default_rng(seed)
    templates = rng.standard_normal((num_classes,) + tuple(shape))

    def draw(n):
        y = np.arange(n) % num_classes
        rng.shuffle(y)
        x = templates[y] + noise * rng.standard_normal((n,) + tuple(shape))
        return x.astype(np.float32), y.astype(np.int32)

    return Dataset(*draw(n_train), *draw(n_test))


def random_shift(max_shift: int):
    """A training-batch augmentation for :func:`jaxconv.train.fit`: shift every example along its
    last (spatial) axis by a uniform random integer in ``[-max_shift, max_shift]``, filling with
    zeros. For MNIST-1D this mirrors the random translation that generates the data.

    Args:
      max_shift: the largest shift, in positions.

    Returns:
      A function ``shift(rng, x)`` of a :class:`numpy.random.Generator` and a batch
      ``(N, ..., L)``, returning the shifted batch of the same shape.

    Example:
      >>> shift = random_shift(1)
      >>> x = np.array([[[1, 2, 3, 4]]] * 3, np.float32)
      >>> shift(np.random.default_rng(2), x)[:, 0].tolist()
      [[0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 0.0], [2.0, 3.0, 4.0, 0.0]]
    """
    _args.check_int("data.random_shift", "max_shift", max_shift, minimum=0)

    def shift(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
        s = rng.integers(-max_shift, max_shift + 1, size=len(x))
        length = x.shape[-1]
        padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(max_shift, max_shift)])
        idx = np.arange(length)[None, :] + max_shift - s[:, None]
        idx = idx.reshape((len(x),) + (1,) * (x.ndim - 2) + (length,))
        return np.take_along_axis(padded, np.broadcast_to(idx, x.shape), axis=-1)

    shift.__name__ = f"shift:{max_shift}"
    return shift


#: The data-set names :func:`jaxconv.data.load` and ``jaxconv train --data`` take.
DATASETS = ("mnist1d", "digits", "mnist", "fashion-mnist", "synthetic")


def load(name: str, *, data_dir=None) -> Dataset:
    """Load dataset ``name`` (one of :data:`jaxconv.data.DATASETS`) as
    ``(x_train, y_train, x_test, y_test)``.

    Args:
      name: ``"mnist1d"``, ``"digits"``, ``"mnist"``, ``"fashion-mnist"`` or ``"synthetic"``.
      data_dir: the folder of the IDX files, for ``"mnist"`` and ``"fashion-mnist"``.

    Returns:
      A :class:`Dataset`.

    Example:
      >>> ds = load("synthetic")
      >>> ds.input_shape, ds.num_classes, len(ds.x_train), len(ds.x_test)
      ((1, 8, 8), 4, 512, 128)
    """
    if name == "mnist1d":
        return mnist1d()
    if name == "digits":
        return digits()
    if name in ("mnist", "fashion-mnist"):
        return idx_dataset(name, data_dir)
    if name == "synthetic":
        return synthetic()
    raise ValueError(f"jaxconv.data: unknown dataset {name!r}; choose one of "
                     f"{', '.join(DATASETS)}.")
