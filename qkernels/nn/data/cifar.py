"""A local CIFAR-10 folder in its python format, read without running code from the files.

The python version of CIFAR-10 (``cifar-10-batches-py``: ``data_batch_1`` ... ``data_batch_5``,
``test_batch``, ``batches.meta``) stores pickled dicts. Pickles can run arbitrary code, so they
are read with a restricted unpickler that only rebuilds built-in containers, bytes, numbers and
NumPy arrays; anything else is refused with an :class:`~qkernels.core.errors.InputError`. Nothing is
downloaded: point ``cifar10:PATH`` at the folder.

Example:
    >>> import io, pickle, numpy as np
    >>> blob = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [3]}, protocol=2)
    >>> sorted(restricted_load(io.BytesIO(blob)))
    [b'data', b'labels']
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from qkernels.core.errors import InputError
from qkernels.nn.data.base import DataSplits, ImageSet, finish_splits

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

#: the only globals a CIFAR pickle may name (NumPy array reconstruction and bytes re-encoding)
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode"),
}


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D401
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def restricted_load(fh: BinaryIO) -> object:
    """Unpickle ``fh`` allowing only containers, numbers, bytes/str and NumPy arrays."""
    return _Restricted(fh, encoding="bytes").load()


def _key(d: dict, name: str):
    for k in (name.encode(), name):
        if k in d:
            return d[k]
    raise KeyError(name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise InputError(f"CIFAR-10 folder: missing file {str(path)!r}")
    try:
        with path.open("rb") as fh:
            d = restricted_load(io.BytesIO(fh.read()))
    except pickle.UnpicklingError as exc:
        raise InputError(f"CIFAR-10 file {str(path)!r}: refused or corrupt pickle ({exc})") from None
    except Exception as exc:
        raise InputError(f"CIFAR-10 file {str(path)!r}: not a CIFAR-10 python batch ({type(exc).__name__}: {exc})") from None
    try:
        data = np.asarray(_key(d, "data"), dtype=np.uint8)
        labels = np.asarray(_key(d, "labels"), dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"CIFAR-10 file {str(path)!r}: expected a dict with 'data' and 'labels' ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise InputError(f"CIFAR-10 file {str(path)!r}: data must be (N, 3072) with N labels, got {data.shape} and "
                         f"{labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise InputError(f"CIFAR-10 file {str(path)!r}: labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def _classes(root: Path) -> tuple[str, ...]:
    p = root / META_FILE
    if not p.is_file():
        return CIFAR10_CLASSES
    try:
        with p.open("rb") as fh:
            names = _key(restricted_load(io.BytesIO(fh.read())), "label_names")
        names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except Exception as exc:
        raise InputError(f"CIFAR-10 file {str(p)!r}: unreadable ({type(exc).__name__}: {exc})") from None
    if len(names) != 10:
        raise InputError(f"CIFAR-10 file {str(p)!r}: expected 10 label names, got {len(names)}")
    return names


def cifar10(path: str | Path, *, n_calib: int = 2000, seed: int = 0, limit_train: int | None = None,
            limit_test: int | None = None) -> DataSplits:
    """CIFAR-10 from the folder ``path`` (python format). The calibration split is ``n_calib``
    training images chosen from ``seed``; ``limit_*`` keep the first images only (for tests).

    Raises:
        InputError: a missing folder or file, a refused or corrupt pickle, wrong shapes.
    """
    root = Path(path)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    if not root.is_dir():
        raise InputError(f"CIFAR-10: {str(path)!r} is not a folder")
    classes = _classes(root)
    parts = [_read_batch(root / f) for f in TRAIN_FILES]
    x = np.concatenate([p[0] for p in parts])[:limit_train]
    y = np.concatenate([p[1] for p in parts])[:limit_train]
    tx, ty = _read_batch(root / TEST_FILE)
    tx, ty = tx[:limit_test], ty[:limit_test]
    train = ImageSet(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y), classes)
    test = ImageSet(torch.from_numpy(np.ascontiguousarray(tx)), torch.from_numpy(ty), classes)
    g = torch.Generator().manual_seed(seed)
    calib = train.subset(torch.randperm(len(train), generator=g)[: min(n_calib, len(train))])
    return finish_splits("cifar10", f"cifar10:{path}", train, test, calib,
                         {"path": str(root), "n_train": len(train), "n_test": len(test), "n_calib": len(calib)})


__all__ = ["cifar10", "restricted_load", "CIFAR10_CLASSES"]
