"""The embedded digits data set: deterministic, disjoint sources, sizes, normalization, errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from qkernels.core.errors import InputError
from qkernels.nn.data import digits, load_data
from qkernels.nn.data.digits import split_sources
from qkernels.suite.sections.pruning.plan import PROFILES

SMALL = dict(n_train=120, n_test=60, n_calib=30, size=16)


def test_deterministic_from_the_seed():
    a, b = digits(seed=3, **SMALL), digits(seed=3, **SMALL)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    c = digits(seed=4, **SMALL)
    assert not torch.equal(a.train.images, c.train.images)


def test_regenerated_without_the_memory_cache_is_identical():
    from qkernels.nn.data.digits import _digits_cached

    a = digits(seed=5, **SMALL)
    _digits_cached.cache_clear()
    b = digits(seed=5, **SMALL)
    assert a is not b and torch.equal(a.test.images, b.test.images) and torch.equal(a.calib.images, b.calib.images)


def test_shapes_dtypes_classes_and_balance():
    d = digits(seed=0, **SMALL)
    assert d.image_shape == (3, 16, 16) and d.train.images.dtype == torch.uint8
    assert (len(d.train), len(d.test), len(d.calib)) == (120, 60, 30)
    assert d.classes == tuple(str(i) for i in range(10))
    counts = torch.bincount(d.test.labels, minlength=10)
    assert counts.min() >= 3  # every class appears in the test set
    x, y = next(d.train.batches(64))
    assert x.dtype == torch.float32 and x.shape == (64, 3, 16, 16) and y.dtype == torch.int64
    assert abs(float(d.train.normalize(d.train.images).mean())) < 0.1  # normalized with train statistics


def test_sources_are_disjoint_and_stratified():
    d = digits(seed=1, **SMALL)
    tr, te = set(d.info["train_sources"]), set(d.info["test_sources"])
    assert tr.isdisjoint(te) and len(tr) + len(te) == 1797
    labels = np.array([i % 10 for i in range(200)])
    a, b = split_sources(labels, 1 / 4, seed=0)
    assert set(a).isdisjoint(b)
    assert all((labels[b] == c).sum() == 5 for c in range(10))


def test_default_and_quick_test_sets_have_at_least_5000_images():
    assert inspect.signature(digits).parameters["n_test"].default >= 5000
    assert dict(PROFILES["quick"].data_options)["n_test"] >= 5000
    assert PROFILES["full"].data == "mnist5k"  # the paper-scale profile prunes real images (1,500 test images)


def test_images_are_varied_not_copies():
    d = digits(seed=0, **SMALL)
    flat = d.train.images.flatten(1).float()
    assert torch.cdist(flat, flat).fill_diagonal_(1e9).min() > 0  # no two identical images
    assert d.train.images.float().std() > 30  # colours and backgrounds vary


@pytest.mark.parametrize("kwargs", [dict(size=4), dict(n_test=0), dict(test_fraction=1.0), dict(test_fraction=0)])
def test_bad_arguments(kwargs):
    with pytest.raises(InputError):
        digits(**{**SMALL, **kwargs})


def test_load_data_spec():
    assert load_data("digits", **SMALL).name == "digits"
    with pytest.raises(InputError, match="unknown data set"):
        load_data("mnist")
    with pytest.raises(InputError, match="unknown data set"):
        load_data("cifar10")  # needs a path
