"""Loaders of local data: a CIFAR-10 python-format folder and class-named image folders.

Both are exercised on tiny fixtures generated here (pickled batch dicts, PNG files).
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from qkernels.core.errors import InputError
from qkernels.nn.data import cifar10, image_folder, load_data
from qkernels.nn.data.cifar import restricted_load


# ---- CIFAR-10 ------------------------------------------------------------------------------------
def _batch(n: int, offset: int) -> dict:
    rng = np.random.default_rng(offset)
    return {b"batch_label": b"batch", b"labels": [int((i + offset) % 10) for i in range(n)],
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"filenames": [f"img{i}.png".encode() for i in range(n)]}


def make_cifar(root, n_per_batch: int = 6, n_test: int = 8, meta: bool = True):
    root.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i in range(1, 6):
        batches[f"data_batch_{i}"] = _batch(n_per_batch, 10 * i)
    batches["test_batch"] = _batch(n_test, 99)
    for name, d in batches.items():
        with open(root / name, "wb") as fh:
            pickle.dump(d, fh, protocol=2)
    if meta:
        with open(root / "batches.meta", "wb") as fh:
            pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072}, fh, protocol=2)
    return batches


def test_cifar_round_trip(tmp_path):
    src = make_cifar(tmp_path / "cifar-10-batches-py")
    d = cifar10(tmp_path, n_calib=5)  # the parent folder works too
    assert d.image_shape == (3, 32, 32) and len(d.train) == 30 and len(d.test) == 8 and len(d.calib) == 5
    assert d.classes == tuple(f"c{i}" for i in range(10))
    first = src["data_batch_1"][b"data"][0].reshape(3, 32, 32)
    assert np.array_equal(d.train.images[0].numpy(), first)
    assert d.test.labels.tolist() == src["test_batch"][b"labels"]
    assert load_data(f"cifar10:{tmp_path / 'cifar-10-batches-py'}").spec.startswith("cifar10:")


def test_cifar_default_class_names_without_meta(tmp_path):
    make_cifar(tmp_path, meta=False)
    assert cifar10(tmp_path).classes[0] == "airplane"


def test_cifar_refuses_code_in_pickles(tmp_path):
    make_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    with open(tmp_path / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": []}, fh, protocol=2)
    with pytest.raises(InputError, match="data_batch_3.*refused"):
        cifar10(tmp_path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "shape"])
def test_cifar_bad_files(tmp_path, damage):
    make_cifar(tmp_path)
    p = tmp_path / "test_batch"
    if damage == "missing":
        p.unlink()
    elif damage == "truncated":
        p.write_bytes(p.read_bytes()[:100])
    elif damage == "garbage":
        p.write_bytes(b"not a pickle at all")
    else:
        with open(p, "wb") as fh:
            pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh, protocol=2)
    with pytest.raises(InputError, match="test_batch"):
        cifar10(tmp_path)


def test_cifar_not_a_folder(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        cifar10(tmp_path / "nope")


def test_restricted_load_allows_numpy_and_containers():
    arr = np.arange(6, dtype=np.int64).reshape(2, 3)
    for proto in (2, 4, 5):
        back = restricted_load(__import__("io").BytesIO(pickle.dumps({"a": arr, "b": [1, "x", b"y"]}, protocol=proto)))
        assert np.array_equal(back["a"], arr) and back["b"] == [1, "x", b"y"]


# ---- image folders -------------------------------------------------------------------------------
def _png(path, colour, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def make_folder(root, classes=("cat", "dog", "emu"), per_class=5):
    for k, c in enumerate(classes):
        for i in range(per_class):
            _png(root / c / f"{i}.png", (50 * k, 10 * i, 200))
    return root


def test_folder_split_layout(tmp_path):
    root = make_folder(tmp_path / "imgs")
    (root / "cat" / "notes.txt").write_text("not an image")
    d = image_folder(root, size=8, test_fraction=0.4, seed=1)
    assert d.classes == ("cat", "dog", "emu") and d.image_shape == (3, 8, 8)
    assert len(d.train) + len(d.test) == 15 and len(d.test) == 6
    assert torch.bincount(d.test.labels).tolist() == [2, 2, 2]
    # colours survive: class "emu" has red channel 100
    emu = d.train.images[d.train.labels == 2]
    assert int(emu[:, 0].float().mean().round()) == 100
    again = image_folder(root, size=8, test_fraction=0.4, seed=1)
    assert torch.equal(again.test.images, d.test.images)


def test_folder_train_test_layout(tmp_path):
    make_folder(tmp_path / "train", per_class=3)
    make_folder(tmp_path / "test", classes=("cat", "dog"), per_class=2)
    d = load_data(f"folder:{tmp_path}", size=8)
    assert d.info["layout"] == "train/test" and len(d.train) == 9 and len(d.test) == 4


def test_folder_corrupted_image_named(tmp_path):
    root = make_folder(tmp_path)
    bad = root / "dog" / "3.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken" * 10)
    with pytest.raises(InputError, match="dog/3.png"):
        image_folder(root, size=8)


def test_folder_empty_and_single_class(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(InputError, match="no images"):
        image_folder(tmp_path / "empty")
    make_folder(tmp_path / "one", classes=("only",))
    with pytest.raises(InputError, match="at least 2 class"):
        image_folder(tmp_path / "one")
    with pytest.raises(InputError, match="not a folder"):
        image_folder(tmp_path / "missing")


def test_folder_test_only_class_refused(tmp_path):
    make_folder(tmp_path / "train", classes=("a", "b"), per_class=2)
    make_folder(tmp_path / "test", classes=("a", "z"), per_class=1)
    with pytest.raises(InputError, match="no training images"):
        image_folder(tmp_path)
