"""Checkpoints: a pytree of arrays plus JSON metadata in one ``.npz`` file; no pickle anywhere.

Format (``FORMAT_VERSION`` 1): a zip of ``.npy`` arrays, one per pytree leaf, named by the leaf's
key path (``params['conv0']['w']``), plus ``__meta__``, a uint8 array holding UTF-8 JSON with
``format``, ``version``, the caller's metadata (model name, step, ...), and the list of leaves with
their shapes and dtypes. PRNG keys are stored as their raw ``uint32`` key data.

Writing is atomic (:func:`atomic_write`): the file is written next to its destination under a
temporary name, flushed to disk, then renamed over the destination and the folder synced, so a
run killed while saving leaves the previous checkpoint intact. Loading never executes code
(``allow_pickle=False``) and validates everything
against a *template* pytree (e.g. a freshly initialised train state): the format and version,
the set of leaves, each leaf's shape and dtype, and any metadata the caller requires to match.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
import zipfile

import jax
import numpy as np

#: The format name a checkpoint's metadata holds; :func:`jaxconv.checkpoint.load` refuses others.
FORMAT = "jaxconv-checkpoint"
#: The checkpoint format version this jaxconv writes and reads.
FORMAT_VERSION = 1
_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, truncated, tampered or mismatched.

    A :class:`ValueError`; its message names the file and the problem.

    Example:
      >>> with tempfile.TemporaryDirectory() as d:
      ...     try:
      ...         load(pathlib.Path(d) / "missing.npz", {})
      ...     except CheckpointError as err:
      ...         print(isinstance(err, ValueError), "no checkpoint at" in str(err))
      True True
    """


def _is_key(leaf) -> bool:
    return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _flatten(tree):
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    names = [jax.tree_util.keystr(path) for path, _ in leaves]
    return names, [leaf for _, leaf in leaves], treedef


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write) -> None:
    """Create or replace ``path`` atomically: ``write(f)`` fills a temporary file beside it
    (``<name>.<random>.tmp``), which is flushed to disk, given the mode a new file gets (0666
    less the umask), and renamed over ``path``; the folder is then synced, so the rename itself
    survives a crash. A kill at any moment leaves the old file or the new one, never a mix (and
    at most a stale ``.tmp`` that :func:`remove_stale_temps` clears)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:         # a platform without directory file descriptors
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temps(folder, name) -> list[pathlib.Path]:
    """Delete the temporary files a killed :func:`atomic_write` of ``folder/name`` left."""
    stale = sorted(pathlib.Path(folder).glob(f"{name}.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def save(path, tree, metadata: dict | None = None) -> None:
    """Write ``tree`` (a pytree of arrays and PRNG keys) and ``metadata`` to ``path`` atomically.

    Args:
      path: the file to create or replace (its folder is created if need be).
      tree: a pytree of arrays and PRNG keys, e.g. a train state.
      metadata: JSON-serialisable values to store beside it (model name, step, ...).

    Example:
      >>> import jax.numpy as jnp
      >>> with tempfile.TemporaryDirectory() as d:
      ...     path = pathlib.Path(d) / "run" / "ckpt.npz"
      ...     save(path, {"w": jnp.ones((2, 3)), "key": jax.random.key(0)}, {"step": 7})
      ...     print(path.is_file(), read_metadata(path))
      True {'step': 7}
    """
    path = pathlib.Path(path)
    names, leaves, _ = _flatten(tree)
    arrays = {}
    listing = []
    for name, leaf in zip(names, leaves):
        key = _is_key(leaf)
        arr = np.asarray(jax.random.key_data(leaf) if key else leaf)
        arrays[name] = arr
        listing.append({"name": name, "shape": list(arr.shape), "dtype": arr.dtype.str, "key": key})
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "metadata": metadata or {},
            "leaves": listing}
    arrays[_META] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_metadata(path) -> dict:
    """The JSON metadata block of a checkpoint (validated format and version).

    Args:
      path: a file :func:`save` wrote.

    Returns:
      The ``metadata`` dict given to :func:`save`; raises :class:`CheckpointError` if the file
      is no checkpoint of this format version.

    Example:
      >>> with tempfile.TemporaryDirectory() as d:
      ...     save(pathlib.Path(d) / "ckpt.npz", {"w": np.zeros(3)}, {"model": "mlp", "step": 2})
      ...     print(read_metadata(pathlib.Path(d) / "ckpt.npz"))
      {'model': 'mlp', 'step': 2}
    """
    return _open(path)[1]["metadata"]


def _open(path):
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"jaxconv.checkpoint: no checkpoint at {path}.")
    try:
        npz = np.load(path, allow_pickle=False)
        if _META not in npz.files:
            raise CheckpointError(f"jaxconv.checkpoint: {path} is not a jaxconv checkpoint "
                                  "(no metadata block).")
        meta = json.loads(bytes(npz[_META]).decode())
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"jaxconv.checkpoint: {path} is not a readable jaxconv checkpoint "
                              f"(truncated or not a checkpoint file): {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT \
            or not isinstance(meta.get("leaves"), list):
        raise CheckpointError(f"jaxconv.checkpoint: {path} is not a jaxconv checkpoint.")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"jaxconv.checkpoint: {path} has format version "
                              f"{meta.get('version')!r}; this jaxconv reads version "
                              f"{FORMAT_VERSION}.")
    if not isinstance(meta.get("metadata"), dict) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in meta["leaves"]):
        raise CheckpointError(f"jaxconv.checkpoint: {path} has a malformed metadata block "
                              "(tampered or not written by jaxconv).")
    return npz, meta


def load(path, template, expect: dict | None = None):
    """Read ``path`` into the structure of ``template``; returns ``(tree, metadata)``.

    Raises :class:`CheckpointError` naming the problem if the file is unreadable, truncated, of
    another format or version, holds other leaves or shapes or dtypes than ``template``, or if
    its metadata differs from ``expect`` on any key given there.

    Args:
      path: a file :func:`save` wrote.
      template: a pytree of the expected structure, leaf shapes and dtypes (its values unused).
      expect: metadata values the file must hold, e.g. ``{"model": "lenet5"}``.

    Returns:
      ``(tree, metadata)``: ``template``'s structure holding the stored leaves (NumPy arrays,
      PRNG keys as keys), and the stored metadata.

    Example:
      >>> import jax.numpy as jnp
      >>> state = {"w": jnp.arange(3.0), "step": jnp.array(7)}
      >>> with tempfile.TemporaryDirectory() as d:
      ...     path = pathlib.Path(d) / "ckpt.npz"
      ...     save(path, state, {"model": "mlp"})
      ...     tree, meta = load(path, state, expect={"model": "mlp"})
      >>> tree["w"].tolist(), int(tree["step"]), meta
      ([0.0, 1.0, 2.0], 7, {'model': 'mlp'})
    """
    npz, meta = _open(path)
    stored = meta["metadata"]
    for k, v in (expect or {}).items():
        if stored.get(k) != v:
            raise CheckpointError(f"jaxconv.checkpoint: {path} was written with "
                                  f"{k}={stored.get(k)!r}, but this run has {k}={v!r}; start "
                                  f"a new run directory or use the same {k}.")
    names, leaves, treedef = _flatten(template)
    listed = {entry["name"]: entry for entry in meta["leaves"]}
    if set(listed) != set(names):
        extra, missing = sorted(set(listed) - set(names)), sorted(set(names) - set(listed))
        raise CheckpointError(f"jaxconv.checkpoint: {path} does not match this model/optimizer: "
                              f"missing {missing[:5]}, unexpected {extra[:5]}.")
    out = []
    try:
        for name, leaf in zip(names, leaves):
            key = _is_key(leaf)
            want = np.asarray(jax.random.key_data(leaf) if key else leaf)
            arr = npz[name]
            if arr.shape != want.shape or arr.dtype != want.dtype:
                raise CheckpointError(f"jaxconv.checkpoint: leaf {name} in {path} is "
                                      f"{arr.dtype}{list(arr.shape)}, expected "
                                      f"{want.dtype}{list(want.shape)}: a different model or "
                                      "configuration wrote it.")
            out.append(jax.random.wrap_key_data(arr, impl=jax.random.key_impl(leaf)) if key
                       else arr)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as err:
        raise CheckpointError(f"jaxconv.checkpoint: {path} is truncated or corrupt: "
                              f"{err}") from None
    return jax.tree_util.tree_unflatten(treedef, out), stored
