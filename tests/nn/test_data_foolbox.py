"""The file loaders on real images: the PNGs that foolbox ships in ``foolbox/data``.

foolbox 3.3.4 ships 20 real test images each of MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100 and
ImageNet, named ``<dataset>_<index>_<label>.png``. Here they are arranged into the layouts that
``folder:PATH`` and ``cifar10:PATH`` read, and the loaded pixels are compared with Pillow's.
The module is skipped where foolbox is not installed (its code is never imported).
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from qkernels.core.errors import InputError
from qkernels.nn.data.cifar import CIFAR10_CLASSES, cifar10
from qkernels.nn.data.folder import image_folder
from qkernels.nn.packaged import PACKAGES, package_dir

try:
    DATA = package_dir("foolbox") / "data"
except InputError:
    pytest.skip(f"foolbox is not installed ({PACKAGES['foolbox'].pip})", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^(?P<dataset>[A-Za-z0-9]+?)_(?P<index>\d+)_(?P<label>\d+)\.(?:png|jpg)$")


def shipped(dataset: str) -> list[tuple[Path, int, int]]:
    """``(path, index, label)`` of the shipped images of ``dataset``, by index."""
    out = []
    for p in DATA.iterdir():
        m = _NAME.match(p.name)
        if m and m["dataset"] == dataset:
            out.append((p, int(m["index"]), int(m["label"])))
    return sorted(out, key=lambda t: t[1])


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).copy()


def twenty(dataset: str, what: str) -> list[tuple[Path, int, int]]:
    """The 20 shipped PNGs of ``dataset`` (skip when the installed foolbox has another set)."""
    files = shipped(dataset)
    if len(files) != 20:
        pytest.skip(f"expected 20 {what} PNGs in {DATA}, found {len(files)}")
    return files


@pytest.fixture(scope="module")
def cifar_pngs():
    return twenty("cifar10", "CIFAR-10")


@pytest.fixture(scope="module")
def mnist_pngs():
    return twenty("mnist", "MNIST")


def test_the_shipped_images_are_what_the_names_say(cifar_pngs, mnist_pngs):
    assert [i for _, i, _ in cifar_pngs] == list(range(20)) == [i for _, i, _ in mnist_pngs]
    for p, _, label in cifar_pngs:
        with Image.open(p) as im:
            assert (im.mode, im.size) == ("RGB", (32, 32)) and 0 <= label <= 9
    for p, _, label in mnist_pngs:
        with Image.open(p) as im:
            assert (im.mode, im.size) == ("L", (28, 28)) and 0 <= label <= 9
    # every image differs from every other (so pixels identify the file below)
    assert len({pixels(p).tobytes() for p, _, _ in cifar_pngs + mnist_pngs}) == 40


def _class_folders(root: Path, files, names) -> Path:
    for p, _, label in files:
        (root / names[label]).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, root / names[label] / p.name)
    return root


def _match_files(split, files, names, to_loaded) -> list[str]:
    """The file each loaded image is (by exact pixels), checking that its label is the file's class."""
    by_pixels = {to_loaded(pixels(p)).tobytes(): (p.name, names[label]) for p, _, label in files}
    out = []
    for image, label in zip(split.images.numpy(), split.labels.tolist()):
        name, cls = by_pixels[image.tobytes()]  # KeyError: a loaded image is no shipped image
        assert split.classes[label] == cls, name
        out.append(name)
    return out


# ---- folder:PATH ----------------------------------------------------------------------------------
def test_folder_of_real_cifar10_pngs(tmp_path, cifar_pngs):
    root = _class_folders(tmp_path / "cifar", cifar_pngs, CIFAR10_CLASSES)
    d = image_folder(root)  # the split layout: ROOT/<class>/*.png, size 32 (no resizing)
    present = sorted({CIFAR10_CLASSES[label] for _, _, label in cifar_pngs})
    assert d.classes == tuple(present) and len(present) == 8  # bird and deer are not among the 20
    assert d.image_shape == (3, 32, 32) and d.info["layout"] == "split"
    assert len(d.train) + len(d.test) == 20
    # one test image per class (round(0.2 * n), at least one), the rest for training
    counts = {c: sum(CIFAR10_CLASSES[label] == c for _, _, label in cifar_pngs) for c in present}
    assert torch.bincount(d.test.labels, minlength=8).tolist() == [1] * 8
    assert torch.bincount(d.train.labels, minlength=8).tolist() == [counts[c] - 1 for c in present]
    chw = lambda a: a.transpose(2, 0, 1)  # noqa: E731
    names = _match_files(d.train, cifar_pngs, CIFAR10_CLASSES, chw) + _match_files(d.test, cifar_pngs,
                                                                                  CIFAR10_CLASSES, chw)
    assert sorted(names) == sorted(p.name for p, _, _ in cifar_pngs)  # each file once, pixels exact
    assert len(d.calib) == len(d.train)  # n_calib=2000 is capped at the training images


def test_folder_of_real_mnist_pngs_train_test_layout(tmp_path, mnist_pngs):
    names = tuple(str(i) for i in range(10))
    by_class: dict[int, list] = {}
    for f in mnist_pngs:
        by_class.setdefault(f[2], []).append(f)
    # the last image of each class that has two or more goes to test/, everything else to train/
    test = [fs[-1] for fs in by_class.values() if len(fs) > 1]
    train = [f for f in mnist_pngs if f not in test]
    _class_folders(tmp_path / "train", train, names)
    _class_folders(tmp_path / "test", test, names)
    d = image_folder(tmp_path, size=28)
    present = tuple(sorted({names[label] for _, _, label in mnist_pngs}))
    assert d.info["layout"] == "train/test" and d.classes == present and "8" not in present  # no 8 among the 20
    assert (len(d.train), len(d.test)) == (len(train), len(test)) == (14, 6)
    # grayscale PNGs become 3 equal channels (the loader converts everything to RGB)
    assert d.image_shape == (3, 28, 28)
    assert torch.equal(d.train.images[:, 0], d.train.images[:, 1]) and torch.equal(d.train.images[:, 0],
                                                                                   d.train.images[:, 2])
    gray3 = lambda a: np.repeat(a[None], 3, axis=0)  # noqa: E731
    assert sorted(_match_files(d.train, train, names, gray3)) == sorted(p.name for p, _, _ in train)
    assert sorted(_match_files(d.test, test, names, gray3)) == sorted(p.name for p, _, _ in test)
    # class order (folder names sorted), then file names sorted
    assert [d.classes[i] for i in d.train.labels.tolist()] == sorted(names[label] for _, _, label in train)
    # at the default size of 32 the 28 x 28 digits are resized (bilinear), still 3 channels
    d32 = image_folder(tmp_path)
    assert d32.image_shape == (3, 32, 32) and len(d32.train) == 14


# ---- cifar10:PATH ---------------------------------------------------------------------------------
def _cifar_row(path: Path) -> np.ndarray:
    """One CIFAR-10 python-format row: 1024 red, then 1024 green, then 1024 blue values, row-major."""
    return pixels(path).transpose(2, 0, 1).reshape(3072)


def test_cifar10_python_format_from_real_pngs(tmp_path, cifar_pngs):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    parts = {"data_batch_1": cifar_pngs[0:4], "data_batch_2": cifar_pngs[4:7], "data_batch_3": cifar_pngs[7:10],
             "data_batch_4": cifar_pngs[10:13], "data_batch_5": cifar_pngs[13:16], "test_batch": cifar_pngs[16:20]}
    for name, files in parts.items():
        batch = {b"batch_label": name.encode(), b"labels": [label for _, _, label in files],
                 b"data": np.stack([_cifar_row(p) for p, _, _ in files]).astype(np.uint8),
                 b"filenames": [p.name.encode() for p, _, _ in files]}
        with open(root / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    with open(root / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_cases_per_batch": 4,
                     b"num_vis": 3072}, fh, protocol=2)
    d = cifar10(tmp_path, n_calib=5)
    assert d.classes == CIFAR10_CLASSES and d.image_shape == (3, 32, 32)
    assert (len(d.train), len(d.test), len(d.calib)) == (16, 4, 5)
    for split, files in ((d.train, cifar_pngs[:16]), (d.test, cifar_pngs[16:])):
        assert split.labels.tolist() == [label for _, _, label in files]
        for image, (p, _, _) in zip(split.images.numpy(), files):
            assert np.array_equal(image.transpose(1, 2, 0), pixels(p)), p.name  # HWC again: the PNG's pixels


# ---- bad input ------------------------------------------------------------------------------------
@pytest.fixture()
def one_class(tmp_path, cifar_pngs):
    root = tmp_path / "one"
    (root / "airplane").mkdir(parents=True)
    for p, _, _ in cifar_pngs[:5]:
        shutil.copy(p, root / "airplane" / p.name)
    return root


def test_one_class_folder_is_one_line(one_class):
    with pytest.raises(InputError, match="at least 2 class folders") as exc:
        image_folder(one_class)
    assert "\n" not in str(exc.value) and str(one_class) in str(exc.value)


def test_truncated_png_among_real_ones_is_named(tmp_path, cifar_pngs):
    root = _class_folders(tmp_path / "cifar", cifar_pngs, CIFAR10_CLASSES)
    victim = next(root.glob("ship/*.png"))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(InputError) as exc:
        image_folder(root)
    msg = str(exc.value)
    assert str(victim) in msg and "\n" not in msg, msg


def test_prune_command_on_a_one_class_folder_exits_2_with_one_line(tmp_path, one_class):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "QK_CACHE_DIR": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-m", "qkernels", "prune", "mlp", "--method", "l1", "--sparsity", "0.5",
                          "--data", f"folder:{one_class}", "--epochs", "0.1", "--no-progress"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "at least 2 class folders" in lines[0], res.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.pt"))
