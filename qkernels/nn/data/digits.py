"""The embedded default data set: augmented colour digits made from scikit-learn's 8 x 8 digits.

scikit-learn ships 1,797 handwritten digits of 8 x 8 pixels (no download). They are split
**first** into disjoint source sets, stratified by class (by default one third of the sources per
class for the test set), so that no test image is made from a source image seen in training.
Every image is then rendered from one source, deterministically from ``seed``:

1. the source is upsampled (bicubic, 32 x 32) and warped by a random affine map (rotation,
   scale, shear, translation) plus a smooth random displacement field ("elastic" noise);
2. the stroke is thickened or thinned by a random gain, and with some probability a faint
   fragment of *another source of the same split* is added as clutter;
3. it is painted with a random foreground colour on a random background colour of a bounded
   luminance contrast, plus a smooth colour texture and Gaussian pixel noise.

Train, calibration and test images are different draws; train and calibration images come from
the training sources, test images from the test sources. The default test set has 6,000 images.
The augmentation is strong enough that small models do not saturate (docs/pruning.md has the
measured accuracies). Generation takes about a second and is cached in memory.

Example:
    >>> d = digits(n_train=40, n_test=20, n_calib=10, size=16)
    >>> d.image_shape, len(d.train), len(d.test), d.num_classes
    ((3, 16, 16), 40, 20, 10)
    >>> set(d.info["test_sources"]).isdisjoint(d.info["train_sources"])
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F

from qkernels.core.checks import check_seed
from qkernels.core.errors import InputError
from qkernels.core.memory import check_memory
from qkernels.nn.data.base import DataSplits, ImageSet, finish_splits

#: bump when the rendering changes, so cached checkpoints trained on older images are not reused
DIGITS_VERSION = 1


@dataclass(frozen=True)
class DigitsStyle:
    """Ranges of the random rendering (angles in degrees, lengths relative to the image)."""

    rotation: float = 20.0
    scale: tuple[float, float] = (0.65, 1.0)
    shear: float = 0.15
    shift: float = 0.15
    elastic: float = 0.05
    gain: tuple[float, float] = (0.8, 2.2)
    clutter_prob: float = 0.4
    clutter_alpha: tuple[float, float] = (0.25, 0.6)
    contrast: tuple[float, float] = (0.25, 0.8)
    chroma: float = 0.15
    texture: float = 0.1
    noise: tuple[float, float] = (0.02, 0.12)


def _load_sources() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        raise InputError("the digits data set needs scikit-learn (pip install scikit-learn)") from None
    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def split_sources(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint train/test source indices, stratified by class, from ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _uniform(g: torch.Generator, n: int, lo: float, hi: float, *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, *shape, generator=g)


def _warp(src: torch.Tensor, size: int, style: DigitsStyle, g: torch.Generator, scale_mul: float = 1.0) -> torch.Tensor:
    """Random affine + elastic warp of ``src`` (B, 1, S, S) into (B, 1, size, size)."""
    b = src.shape[0]
    a = torch.deg2rad(_uniform(g, b, -style.rotation, style.rotation))
    s = _uniform(g, b, *style.scale) * scale_mul
    sh = _uniform(g, b, -style.shear, style.shear)
    t = _uniform(g, b, -style.shift, style.shift, 2)
    cos, sin = torch.cos(a), torch.sin(a)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    shear = torch.eye(2).repeat(b, 1, 1)
    shear[:, 0, 1] = sh
    # output coordinates -> source coordinates: undo the translation, then the scaled rotation/shear
    m = (rot @ shear) / s.view(b, 1, 1)
    theta = torch.cat([m, -(m @ t.unsqueeze(-1))], dim=2)
    grid = F.affine_grid(theta, [b, 1, size, size], align_corners=False)
    disp = torch.randn(b, 2, 4, 4, generator=g) * style.elastic
    grid = grid + F.interpolate(disp, size=(size, size), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def render(sources: torch.Tensor, pick: torch.Tensor, size: int, style: DigitsStyle, g: torch.Generator) -> torch.Tensor:
    """Render images of ``sources[pick]`` (uint8, (len(pick), 3, size, size)), clutter from ``sources``."""
    n = len(pick)
    up = F.interpolate(sources.unsqueeze(1), size=(32, 32), mode="bicubic", align_corners=False).clamp_(0, 1)
    m = _warp(up[pick], size, style, g)
    m = (m * _uniform(g, n, *style.gain).view(n, 1, 1, 1)).clamp_(0, 1)
    other = torch.randint(0, len(sources), (n,), generator=g)
    frag = _warp(up[other], size, style, g, scale_mul=1.3)
    # a fragment: keep one random half-plane of the other digit
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    ang = _uniform(g, n, 0, 2 * math.pi).view(n, 1, 1)
    half = (torch.cos(ang) * xx + torch.sin(ang) * yy > _uniform(g, n, -0.3, 0.3).view(n, 1, 1)).float().unsqueeze(1)
    use = (torch.rand(n, generator=g) < style.clutter_prob).float().view(n, 1, 1, 1)
    alpha = _uniform(g, n, *style.clutter_alpha).view(n, 1, 1, 1)
    m = torch.maximum(m, (frag * half).clamp(0, 1) * alpha * use)
    # colours: background luminance, then a foreground at a bounded contrast, plus chroma noise
    lb = _uniform(g, n, 0.0, 1.0)
    d = _uniform(g, n, *style.contrast)
    sign = torch.where(lb + d <= 1.0, 1.0, -1.0)
    sign = torch.where((lb - d >= 0.0) & (torch.rand(n, generator=g) < 0.5), -1.0, sign)
    lf = (lb + sign * d).clamp(0, 1)
    bg = (lb.view(n, 1) + _uniform(g, n, -style.chroma, style.chroma, 3)).clamp(0, 1).view(n, 3, 1, 1)
    fg = (lf.view(n, 1) + _uniform(g, n, -style.chroma, style.chroma, 3)).clamp(0, 1).view(n, 3, 1, 1)
    tex = F.interpolate(torch.randn(n, 3, 4, 4, generator=g), size=(size, size), mode="bicubic", align_corners=False)
    sigma = _uniform(g, n, *style.noise).view(n, 1, 1, 1)
    img = bg + (fg - bg) * m + style.texture * tex + sigma * torch.randn(n, 3, size, size, generator=g)
    return (img.clamp_(0, 1) * 255).round_().to(torch.uint8)


def _draw(src: torch.Tensor, lab: torch.Tensor, count: int, size: int, style: DigitsStyle, g: torch.Generator) -> ImageSet:
    # every source used about equally often, in a random order
    reps = -(-count // len(src))
    pick = torch.cat([torch.randperm(len(src), generator=g) for _ in range(reps)])[:count]
    images = torch.cat([render(src, pick[i : i + 4096], size, style, g) for i in range(0, count, 4096)]) if count else \
        torch.zeros(0, 3, size, size, dtype=torch.uint8)
    return ImageSet(images, lab[pick].clone(), tuple(str(i) for i in range(10)))


@lru_cache(maxsize=4)
def _digits_cached(seed: int, size: int, n_train: int, n_test: int, n_calib: int, test_fraction: float,
                   style: DigitsStyle) -> DataSplits:
    images, labels = _load_sources()
    tr, te = split_sources(labels, test_fraction, seed)
    src, lab = torch.from_numpy(images), torch.from_numpy(labels)
    g = torch.Generator().manual_seed(seed)
    train = _draw(src[tr], lab[tr], n_train, size, style, g)
    calib = _draw(src[tr], lab[tr], n_calib, size, style, g)
    test = _draw(src[te], lab[te], n_test, size, style, g)
    info = {"version": DIGITS_VERSION, "seed": seed, "size": size, "n_train": n_train, "n_test": n_test,
            "n_calib": n_calib, "test_fraction": test_fraction, "style": asdict(style),
            "train_sources": tr.tolist(), "test_sources": te.tolist()}
    return finish_splits("digits", "digits", train, test, calib, info)


def digits(
    *,
    seed: int = 0,
    size: int = 32,
    n_train: int = 12000,
    n_test: int = 6000,
    n_calib: int = 2000,
    test_fraction: float = 1 / 3,
    style: DigitsStyle | None = None,
) -> DataSplits:
    """The embedded digits data set (see the module docstring); deterministic from ``seed``.

    Raises:
        InputError: sizes that are not positive, or a test fraction outside (0, 1).
    """
    for name, v in (("size", size), ("n_train", n_train), ("n_test", n_test), ("n_calib", n_calib)):
        if isinstance(v, bool) or not isinstance(v, Integral):
            raise InputError(f"digits: {name} must be an integer, got {v!r}")
    if size < 8 or n_train < 1 or n_test < 1 or n_calib < 1:
        raise InputError(f"digits: need size >= 8 and positive split sizes, got size={size}, "
                         f"n_train={n_train}, n_test={n_test}, n_calib={n_calib}")
    check_seed(seed, "digits: seed")
    total = n_train + n_test + n_calib
    # the uint8 images, and the float32 working set of one rendering chunk (4096 images)
    check_memory(f"the digits data set at size {size} ({total:,} images)",
                 total * 3 * size * size + min(total, 4096) * size * size * 48)
    if not 0 < test_fraction < 1:
        raise InputError(f"digits: test_fraction must be in (0, 1), got {test_fraction}")
    return _digits_cached(int(seed), int(size), int(n_train), int(n_test), int(n_calib), float(test_fraction),
                          style or DigitsStyle())


__all__ = ["digits", "DigitsStyle", "render", "split_sources", "DIGITS_VERSION"]
