"""Datasets behind one loader: ``load(name) -> Dataset(x_train, y_train, x_test, y_test)``.

Inputs come channels first as float32 (``(N, 1, 40)`` for MNIST-1D, ``(N, 1, 8, 8)`` for the
digits, ``(N, 1, 28, 28)`` for MNIST, ``(N, 3, 32, 32)`` for CIFAR), labels as int32 class ids.

======================  =======================================================================
name                    source
======================  =======================================================================
``mnist1d``             MNIST-1D (Greydanus 2020), generated offline by the ``mnist1d`` package's
                        ``make_dataset`` with its default arguments: 4000 train / 1000 test
``digits``              scikit-learn's bundled 8x8 handwritten digits (1797), a fixed stratified
                        80/20 split, pixels scaled to [0, 1]
``mnist``,              the standard IDX files (``train-images-idx3-ubyte`` etc., ``.gz`` or not)
``fashion-mnist``       from a directory you name (``data_dir=``; ``--data-dir``), scaled to [0, 1]
``cifar10``,            the official binary-version files (``data_batch_1.bin`` ... or
``cifar100``            ``train.bin``/``test.bin``, or their ``.tar.gz``) from ``data_dir``,
                        each channel standardised with the training set's mean and std
``synthetic``           a small generated set (noisy class templates) for tests and smoke runs
======================  =======================================================================

Augmentations (:func:`random_shift`, :func:`random_crop`, :func:`random_flip`,
:func:`augmentation`) are jittable functions ``augment(key, x)`` that
:func:`jaxconv.train.fit` applies inside its jitted step, on the device.

``mnist1d`` and ``digits`` need the ``data`` extra (``pip install "jaxconv[data]"``).
"""

from __future__ import annotations

import gzip
import os
import pathlib
import tarfile
import zlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
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


# ----------------------------------------------------------------------------------------------
# CIFAR-10 and CIFAR-100, the official binary version (never the pickled Python version)

class _CifarFormat(NamedTuple):
    folder: str              # the folder the official archive unpacks to
    archive: str             # the official archive's name
    train: tuple[str, ...]
    test: tuple[str, ...]
    label_bytes: int         # bytes before the image in each record
    classes: tuple[int, ...]  # the number of classes of each label byte


_CIFAR = {
    "cifar10": _CifarFormat("cifar-10-batches-bin", "cifar-10-binary.tar.gz",
                            tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                            ("test_batch.bin",), 1, (10,)),
    "cifar100": _CifarFormat("cifar-100-binary", "cifar-100-binary.tar.gz", ("train.bin",),
                             ("test.bin",), 2, (20, 100)),
}
_CIFAR_IMAGE = 3 * 32 * 32       # 1,024 red, 1,024 green, 1,024 blue bytes, each 32x32 row-major


def _cifar_source(name: str, data_dir):
    """``read(file name) -> bytes`` for the files of ``name`` in ``data_dir`` (the folder of
    the ``.bin`` files, the folder the archive unpacks to, or the ``.tar.gz`` itself)."""
    fmt = _CIFAR[name]
    if data_dir is None:
        raise ValueError(f"jaxconv.data: `{name}` is read from the official binary-version files; "
                         "pass their folder, or the .tar.gz, as data_dir=... (command line: "
                         "--data-dir DIR).")
    path = pathlib.Path(os.path.expanduser(str(data_dir)))
    wanted = fmt.train + fmt.test
    if path.is_dir():
        for folder in (path, path / fmt.folder):
            if all((folder / f).is_file() for f in wanted):
                return lambda f, folder=folder: (folder / f).read_bytes(), folder
        if (path / fmt.archive).is_file():
            path = path / fmt.archive
        else:
            missing = [f for f in wanted
                       if not ((path / f).is_file() or (path / fmt.folder / f).is_file())]
            raise FileNotFoundError(
                f"jaxconv.data: {path} lacks {', '.join(missing)} for `{name}`; pass the folder "
                f"holding {', '.join(wanted)} (or {fmt.folder}/ that holds them, or "
                f"{fmt.archive}).")
    if not path.is_file():
        raise FileNotFoundError(f"jaxconv.data: the data path {path} for `{name}` does not exist; "
                                f"pass the folder of the .bin files or {fmt.archive}.")
    try:
        tar = tarfile.open(path, "r:*")
        members = {pathlib.PurePosixPath(m.name).name: m for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        reason = " ".join(str(err).split())
        raise ValueError(f"jaxconv.data: {path} is not a readable .tar.gz archive ({reason}); "
                         f"re-download {fmt.archive}, or unpack it and pass the folder.") from None
    missing = [f for f in wanted if f not in members]
    if missing:
        raise FileNotFoundError(f"jaxconv.data: the archive {path} lacks {', '.join(missing)} "
                                f"for `{name}`; is it {fmt.archive} (the binary version)?")

    def read(f):
        try:
            return tar.extractfile(members[f]).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise ValueError(f"jaxconv.data: {f} in {path} cannot be read ("
                             f"{' '.join(str(err).split())}); the archive is truncated or "
                             "corrupt.") from None
    return read, path


def _cifar_records(name: str, file: str, raw: bytes, where) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (n, 3, 32, 32), labels (n, label_bytes))`` of one ``.bin`` file."""
    fmt = _CIFAR[name]
    record = fmt.label_bytes + _CIFAR_IMAGE
    if len(raw) == 0 or len(raw) % record:
        raise ValueError(f"jaxconv.data: {where}/{file} holds {len(raw)} bytes, not a positive "
                         f"multiple of the {record}-byte records of `{name}` ({fmt.label_bytes} "
                         f"label byte(s) + {_CIFAR_IMAGE} image bytes); the file is truncated, "
                         "corrupt, or not the binary version.")
    rows = np.frombuffer(raw, np.uint8).reshape(-1, record)
    labels = rows[:, :fmt.label_bytes]
    for i, classes in enumerate(fmt.classes):
        if labels[:, i].max() >= classes:
            bad = int(np.argmax(labels[:, i] >= classes))
            raise ValueError(f"jaxconv.data: record {bad} of {where}/{file} has label "
                             f"{labels[bad, i]} (byte {i}), outside [0, {classes}) for `{name}`; "
                             "the file is corrupt or of the other CIFAR data set.")
    return rows[:, fmt.label_bytes:].reshape(-1, 3, 32, 32), labels


def cifar(name: str, data_dir, *, label: str = "fine", normalize: bool = True) -> Dataset:
    """CIFAR-10 or CIFAR-100 from the official *binary version* files (no pickle is read).

    CIFAR-10: ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``, records of
    1 label byte + 3,072 image bytes. CIFAR-100: ``train.bin`` and ``test.bin``, records of a
    coarse label byte, a fine label byte and the 3,072 image bytes. The image bytes are the red,
    green and blue planes, each 32x32 row-major.

    Normalisation (``normalize=True``): the pixels are scaled to ``[0, 1]``, then each channel
    has the training set's per-channel mean subtracted and is divided by its standard deviation.
    He et al. (2016) subtract the per-pixel mean image instead; a per-channel mean is the same
    for every pixel, so it commutes with the random crops and flips of the training recipe,
    and it is what most reimplementations use. ``normalize=False`` keeps the pixels in
    ``[0, 1]``.

    Args:
      name: ``"cifar10"`` or ``"cifar100"``.
      data_dir: the folder holding the ``.bin`` files, the folder the official archive unpacks
        to (``cifar-10-batches-bin``, ``cifar-100-binary``) or its parent, or the ``.tar.gz``
        itself (read without unpacking).
      label: CIFAR-100's ``"fine"`` (100 classes) or ``"coarse"`` (20) labels.
      normalize: standardise each channel with the training set's statistics.

    Returns:
      A :class:`Dataset` of ``(N, 3, 32, 32)`` float32 images and int32 labels.

    Raises:
      FileNotFoundError: a missing file or folder, named in the message.
      ValueError: a file whose length is not a whole number of records, or a label out of
        range; the message names the file (and the record).

    Example:
      >>> import tempfile
      >>> rng = np.random.default_rng(0)
      >>> with tempfile.TemporaryDirectory() as d:
      ...     for f in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
      ...         write_cifar(pathlib.Path(d) / f, rng.integers(0, 256, (4, 3, 32, 32)),
      ...                     rng.integers(0, 10, (4, 1)))
      ...     ds = cifar("cifar10", d)
      >>> ds.x_train.shape, ds.x_test.shape, ds.x_train.dtype
      ((20, 3, 32, 32), (4, 3, 32, 32), dtype('float32'))
      >>> bool(np.allclose(ds.x_train.mean(axis=(0, 2, 3)), 0, atol=1e-6))   # standardised
      True
    """
    if name not in _CIFAR:
        raise ValueError(f"jaxconv.data: `name` (={name!r}) must be 'cifar10' or 'cifar100'.")
    _args.check_choice("data", "label", label, ("fine", "coarse"))
    fmt = _CIFAR[name]
    read, where = _cifar_source(name, data_dir)
    column = 0 if fmt.label_bytes == 1 or label == "coarse" else 1
    splits = []
    for files in (fmt.train, fmt.test):
        parts = [_cifar_records(name, f, read(f), where) for f in files]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1][:, column] for p in parts]).astype(np.int32)
        splits.append((images, labels))
    (xtr8, ytr), (xte8, yte) = splits
    xtr, xte = xtr8.astype(np.float32), xte8.astype(np.float32)
    xtr /= 255.0
    xte /= 255.0
    if normalize:
        mean = xtr.mean(axis=(0, 2, 3), dtype=np.float64).reshape(1, 3, 1, 1)
        std = xtr.std(axis=(0, 2, 3), dtype=np.float64).reshape(1, 3, 1, 1)
        std = np.where(std > 0, std, 1.0)
        for x in (xtr, xte):
            x -= mean.astype(np.float32)
            x /= std.astype(np.float32)
    return Dataset(xtr, ytr, xte, yte)


def write_cifar(path, images, labels) -> None:
    """Write records in the CIFAR binary format: per image its label bytes, then its 3,072
    bytes (red, green, blue planes, each 32x32 row-major).

    Args:
      path: the ``.bin`` file to create or replace.
      images: ``(N, 3, 32, 32)`` integers in ``[0, 255]``.
      labels: ``(N, 1)`` (CIFAR-10) or ``(N, 2)`` (CIFAR-100: coarse, fine) integers in
        ``[0, 255]``.

    Example:
      >>> import tempfile
      >>> with tempfile.TemporaryDirectory() as d:
      ...     write_cifar(f"{d}/test_batch.bin", np.zeros((2, 3, 32, 32)), [[7], [3]])
      ...     raw = pathlib.Path(f"{d}/test_batch.bin").read_bytes()
      >>> len(raw), raw[0], raw[3073]
      (6146, 7, 3)
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"jaxconv.data.write_cifar: `images` has shape {images.shape}; "
                         "expected (N, 3, 32, 32).")
    if labels.ndim != 2 or labels.shape[0] != images.shape[0] or labels.shape[1] not in (1, 2):
        raise ValueError(f"jaxconv.data.write_cifar: `labels` has shape {labels.shape}; "
                         f"expected ({images.shape[0]}, 1) or ({images.shape[0]}, 2).")
    for arg, a in (("images", images), ("labels", labels)):
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"jaxconv.data.write_cifar: `{arg}` must hold bytes (0-255); got "
                             f"values in [{a.min()}, {a.max()}].")
    rows = np.concatenate([labels.astype(np.uint8),
                           images.astype(np.uint8).reshape(len(images), -1)], axis=1)
    pathlib.Path(path).write_bytes(rows.tobytes())


# ----------------------------------------------------------------------------------------------
# Augmentation inside the jitted train step: augment(key, x) -> x, on the device

def _random_window(key, x, pad: int, axes: tuple[int, ...]):
    """Each example of ``x`` zero-padded by ``pad`` on ``axes`` and cut back to its size at a
    uniform random offset in ``[0, 2 pad]`` per axis (one offset per example and axis)."""
    if pad == 0:
        return x
    widths = [(pad, pad) if a in axes else (0, 0) for a in range(x.ndim)]
    padded = jnp.pad(x, widths)
    offsets = jax.random.randint(key, (x.shape[0], len(axes)), 0, 2 * pad + 1)

    def cut(example, offset):
        starts = [0] * (x.ndim - 1)
        for i, a in enumerate(axes):
            starts[a - 1] = offset[i]
        return jax.lax.dynamic_slice(example, starts, x.shape[1:])
    return jax.vmap(cut)(padded, offsets)


def random_crop(pad: int):
    """The random crop of He et al. (2016): zero-pad each spatial axis by ``pad`` and cut a
    window of the original size at a uniform random position (per example).

    Args:
      pad: the padding on each side, in pixels (4 for CIFAR).

    Returns:
      ``crop(key, x)``, jittable, for a batch ``(N, C, *spatial)``: :func:`jaxconv.train.fit`
      applies it inside its jitted step.

    Example:
      >>> crop = random_crop(1)
      >>> x = jnp.arange(1.0, 10.0).reshape(1, 1, 3, 3)
      >>> y = crop(jax.random.key(3), x)
      >>> y.shape, float(y.sum()) in {float(w.sum()) for w in
      ...     [jnp.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])[..., i:i + 3, j:j + 3]
      ...      for i in range(3) for j in range(3)]}
      ((1, 1, 3, 3), True)
    """
    _args.check_int("data.random_crop", "pad", pad, minimum=0)

    def crop(key, x):
        return _random_window(key, x, pad, tuple(range(2, x.ndim)))
    crop.__name__ = f"crop:{pad}"
    return crop


def random_flip(axis: int = -1):
    """Mirror each example along ``axis`` (default: the last, horizontal) with probability 1/2.

    Returns:
      ``flip(key, x)``, jittable, for a batch ``(N, ...)``.

    Example:
      >>> flip = random_flip()
      >>> x = jnp.tile(jnp.arange(3.0), (6, 1, 1))
      >>> sorted({tuple(row) for row in flip(jax.random.key(0), x)[:, 0].tolist()})
      [(0.0, 1.0, 2.0), (2.0, 1.0, 0.0)]
    """
    _args.check_int("data.random_flip", "axis", axis)

    def flip(key, x):
        if not -x.ndim < axis < x.ndim or axis % x.ndim == 0:
            raise ValueError(f"jaxconv.data.random_flip: `axis` (={axis}) must be a non-batch "
                             f"axis of the {x.ndim}-axis batch.")
        heads = jax.random.bernoulli(key, 0.5, (x.shape[0],))
        mask = heads.reshape((-1,) + (1,) * (x.ndim - 1))
        return jnp.where(mask, jnp.flip(x, axis), x)
    flip.__name__ = "flip"
    return flip


def random_shift(max_shift: int):
    """Shift every example along its last (spatial) axis by a uniform random integer in
    ``[-max_shift, max_shift]``, filling with zeros. For MNIST-1D this mirrors the random
    translation that generates the data.

    Args:
      max_shift: the largest shift, in positions.

    Returns:
      ``shift(key, x)``, jittable, for a batch ``(N, ..., L)``: :func:`jaxconv.train.fit`
      applies it inside its jitted step.

    Example:
      >>> shift = random_shift(1)
      >>> x = jnp.array([[[1, 2, 3, 4]]] * 3, jnp.float32)
      >>> shift(jax.random.key(0), x)[:, 0].tolist()
      [[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 0.0]]
    """
    _args.check_int("data.random_shift", "max_shift", max_shift, minimum=0)

    def shift(key, x):
        return _random_window(key, x, max_shift, (x.ndim - 1,))
    shift.__name__ = f"shift:{max_shift}"
    return shift


def augmentation(spec: str):
    """The augmentation a ``--augment`` text names: ``"none"`` (``None``) or a comma-separated
    list of ``shift:K`` (:func:`random_shift`), ``crop:P`` (:func:`random_crop`) and ``flip``
    (:func:`random_flip`), applied in that order, each with its own key.

    Example:
      >>> aug = augmentation("crop:4,flip")
      >>> aug.__name__, aug(jax.random.key(0), jnp.ones((2, 3, 32, 32))).shape
      ('crop:4,flip', (2, 3, 32, 32))
      >>> augmentation("none") is None
      True
      >>> try:
      ...     augmentation("rotate:3")
      ... except ValueError as err:
      ...     print(err)
      jaxconv.data: `augment` (='rotate:3') must be 'none' or a comma-separated list of
      shift:K, crop:P (integers >= 0) and flip; e.g. crop:4,flip.
    """
    if spec == "none":
        return None
    parts = []
    for item in str(spec).split(","):
        kind, colon, arg = item.strip().partition(":")
        if kind in ("shift", "crop") and colon and arg.isdigit():
            parts.append((random_shift if kind == "shift" else random_crop)(int(arg)))
        elif kind == "flip" and not colon:
            parts.append(random_flip())
        else:
            raise ValueError(f"jaxconv.data: `augment` (={spec!r}) must be 'none' or a "
                             "comma-separated list of shift:K, crop:P (integers >= 0) and flip; "
                             "e.g. crop:4,flip.")

    def augment(key, x):
        for i, part in enumerate(parts):
            x = part(jax.random.fold_in(key, i), x)
        return x
    augment.__name__ = ",".join(p.__name__ for p in parts)
    return augment


#: The data-set names :func:`jaxconv.data.load` and ``jaxconv train --data`` take.
DATASETS = ("mnist1d", "digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "synthetic")


def load(name: str, *, data_dir=None) -> Dataset:
    """Load dataset ``name`` (one of :data:`jaxconv.data.DATASETS`) as
    ``(x_train, y_train, x_test, y_test)``.

    Args:
      name: ``"mnist1d"``, ``"digits"``, ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``,
        ``"cifar100"`` (fine labels) or ``"synthetic"``.
      data_dir: the folder of the IDX files (``"mnist"``, ``"fashion-mnist"``), or of the CIFAR
        binary-version files or their ``.tar.gz`` (:func:`cifar`).

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
    if name in _CIFAR:
        return cifar(name, data_dir)
    if name == "synthetic":
        return synthetic()
    raise ValueError(f"jaxconv.data: unknown dataset {name!r}; choose one of "
                     f"{', '.join(DATASETS)}.")
