"""A folder of class-named image folders (``ROOT/<class>/*.png``), read with Pillow.

Two layouts are accepted: ``ROOT/train/<class>/...`` with ``ROOT/test/<class>/...`` (``val``
works for ``test``), or ``ROOT/<class>/...`` alone, which is split into train and test per class
from ``seed`` (``test_fraction`` of each class, at least one image). Images are converted to RGB
and resized to ``size`` x ``size``. Files with other extensions are ignored; an image that
Pillow cannot decode is an error naming the file, and so is a decompression bomb: an image whose
header claims more than Pillow's ``MAX_IMAGE_PIXELS`` (about 89 million pixels) is refused before
it is decoded. The decoded data set (images x 3 x size²) is checked against the memory budget.

Example:
    >>> import tempfile, os
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for c in ("cat", "dog"):
    ...     os.makedirs(os.path.join(root, c))
    ...     for i in range(3):
    ...         Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(os.path.join(root, c, f"{i}.png"))
    >>> d = image_folder(root, size=8)
    >>> d.classes, len(d.train) + len(d.test)
    (('cat', 'dog'), 6)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from qkernels.core.errors import InputError
from qkernels.core.memory import check_memory
from qkernels.nn.data.base import DataSplits, ImageSet, finish_splits

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


def _scan(root: Path) -> dict[str, list[Path]]:
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    out = {c.name: sorted(f for f in c.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
           for c in classes}
    return {k: v for k, v in out.items() if v}


def _read(files: list[Path], size: int) -> torch.Tensor:
    import warnings

    from PIL import Image, UnidentifiedImageError

    arr = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for i, f in enumerate(files):
        try:
            with warnings.catch_warnings():  # a likely bomb is refused, not decoded with a warning
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(f) as im:
                    im.load()
                    arr[i] = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InputError(f"image folder: refused image {str(f)!r}: it claims more pixels than Pillow decodes "
                             f"safely (a decompression bomb?): {str(exc).split('.')[0]}") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, MemoryError) as exc:
            raise InputError(f"image folder: cannot read image {str(f)!r} ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def _set(files: dict[str, list[Path]], classes: tuple[str, ...], size: int) -> ImageSet:
    paths = [f for c in classes for f in files.get(c, [])]
    labels = [i for i, c in enumerate(classes) for _ in files.get(c, [])]
    images = _read(paths, size) if paths else torch.zeros(0, 3, size, size, dtype=torch.uint8)
    return ImageSet(images, torch.tensor(labels, dtype=torch.long), classes)


def image_folder(path: str | Path, *, size: int = 32, test_fraction: float = 0.2, n_calib: int = 2000,
                 seed: int = 0) -> DataSplits:
    """Images from class-named folders under ``path`` (see the module docstring).

    Raises:
        InputError: no such folder, no images, fewer than two classes, a class only in the test
            folder, an unreadable image.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"image folder {str(path)!r}: not a folder")
    if not 0 < test_fraction < 1:
        raise InputError(f"image folder: test_fraction must be in (0, 1), got {test_fraction}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InputError(f"image folder: size must be a positive integer, got {size!r}")
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        tr, te = _scan(root / "train"), _scan(test_dir)
        if not tr:
            raise InputError(f"image folder {str(root / 'train')!r}: no images in class folders")
        extra = sorted(set(te) - set(tr))
        if extra:
            raise InputError(f"image folder {str(path)!r}: classes {extra} have test images but no training images")
        layout = "train/test"
    else:
        files = _scan(root)
        if not files:
            raise InputError(f"image folder {str(path)!r}: no images found in class folders "
                             f"(expected {str(path)}/<class>/*{'|'.join(IMAGE_EXTENSIONS[:3])}...)")
        rng = np.random.default_rng(seed)
        tr, te = {}, {}
        for c, fs in files.items():
            order = rng.permutation(len(fs))
            k = max(1, int(round(test_fraction * len(fs)))) if len(fs) > 1 else 0
            te[c] = [fs[i] for i in sorted(order[:k])]
            tr[c] = [fs[i] for i in sorted(order[k:])]
        layout = "split"
    classes = tuple(sorted(tr))
    if len(classes) < 2:
        raise InputError(f"image folder {str(path)!r}: found {len(classes)} class ({', '.join(classes)}); "
                         "classification needs at least 2 class folders")
    n_images = sum(len(v) for v in tr.values()) + sum(len(v) for v in te.values())
    check_memory(f"image folder {str(path)!r} at size {size} ({n_images:,} images)", n_images * 3 * size * size)
    train, test = _set(tr, classes, size), _set(te, classes, size)
    g = torch.Generator().manual_seed(seed)
    calib = train.subset(torch.randperm(len(train), generator=g)[: min(n_calib, len(train))])
    return finish_splits(root.name or "folder", f"folder:{path}", train, test, calib,
                         {"path": str(root), "layout": layout, "size": size, "n_train": len(train),
                          "n_test": len(test), "n_calib": len(calib)})


__all__ = ["image_folder", "IMAGE_EXTENSIONS"]
