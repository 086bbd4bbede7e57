"""Trainer, evaluation, BN re-estimation, and the checkpoint cache that avoids retraining."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.data import ImageSet, digits
from qkernels.nn.models import build_model
from qkernels.nn.training import evaluate, lr_at, recalibrate_bn, train
from qkernels.suite import ckcache
from qkernels.suite.sweeps import pruning as sweep


def _blobs(n=200, seed=0) -> ImageSet:
    """Two trivially separable classes: dark and bright images."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = (torch.rand(n, 3, 4, 4, generator=g) * 60 + y.view(-1, 1, 1, 1) * 150).to(torch.uint8)
    return ImageSet(x, y, ("dark", "bright"))


def _tiny_mlp(seed=0):
    return build_model("mlp", seed=seed, in_features=48, hidden=(8,), num_classes=2)


def test_training_learns_and_is_deterministic():
    data = _blobs()
    a, b = _tiny_mlp(), _tiny_mlp()
    ra = train(a, data, epochs=3, lr=0.1, batch_size=32, seed=7, progress=False)
    train(b, data, epochs=3, lr=0.1, batch_size=32, seed=7, progress=False)
    assert ra["steps"] == 3 * 7 and ra["loss_curve"][-1] < ra["loss_curve"][0]
    assert evaluate(a, data)["accuracy"] == 1.0
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    c = _tiny_mlp()
    train(c, data, epochs=3, lr=0.1, batch_size=32, seed=8, progress=False)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_fractional_epochs_and_schedule():
    r = train(_tiny_mlp(), _blobs(), epochs=0.5, batch_size=20, progress=False)
    assert r["steps"] == 5
    total = 100
    lrs = [lr_at(s, total, 1.0) for s in range(total)]
    assert max(lrs) == pytest.approx(1.0) and lrs[-1] < 0.01 and lrs[0] < 0.1


def test_evaluate_counts_correct_predictions():
    class Fixed(nn.Module):
        def forward(self, x):
            return torch.stack([torch.zeros(len(x)), torch.ones(len(x))], 1)  # always class 1

    data = _blobs(10)
    r = evaluate(Fixed(), data, batch_size=3)
    assert r["accuracy"] == pytest.approx(0.5) and r["n"] == 10


def test_bad_training_arguments():
    with pytest.raises(InputError):
        train(_tiny_mlp(), _blobs(), epochs=0)
    with pytest.raises(InputError):
        train(_tiny_mlp(), _blobs(), lr=-1)
    with pytest.raises(InputError):
        train(_tiny_mlp(), _blobs().subset([]), epochs=1)


def test_recalibrate_bn_matches_the_data_statistics():
    data = _blobs(64)
    model = nn.Sequential(nn.BatchNorm2d(3))
    model[0].running_mean.fill_(100.0)
    n = recalibrate_bn(model, data, images=64, batch_size=16)
    x = data.normalize(data.images)
    assert n == 64 and not model.training
    assert torch.allclose(model[0].running_mean, x.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(model[0].running_var, x.transpose(0, 1).reshape(3, -1).var(1), rtol=0.05)
    assert model[0].momentum == 0.1  # restored
    assert recalibrate_bn(_tiny_mlp(), data) == 0


# ---- the checkpoint cache ------------------------------------------------------------------------
def test_cache_hit_miss_and_key(tmp_path):
    calls = []

    def fit(m):
        calls.append(1)
        train(m, _blobs(), epochs=1, progress=False)
        return {"steps": 7}

    cfg = {"arch": "mlp", "seed": 1}
    m1, info1, hit1 = ckcache.cached_model(cfg, _tiny_mlp, fit, root=tmp_path)
    m2, info2, hit2 = ckcache.cached_model(cfg, _tiny_mlp, fit, root=tmp_path)
    assert calls == [1] and (hit1, hit2) == (False, True) and info2 == {"steps": 7}
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    ckcache.cached_model({**cfg, "seed": 2}, _tiny_mlp, fit, root=tmp_path)
    assert len(calls) == 2
    assert ckcache.config_key(cfg) == ckcache.config_key(dict(reversed(list(cfg.items()))))
    wpath, ipath = ckcache.entry_paths(cfg, tmp_path)
    assert json.loads(ipath.read_text())["config"] == cfg
    assert not list(tmp_path.rglob("*.tmp"))


def test_corrupt_cache_entry_is_retrained(tmp_path):
    calls = []

    def fit(m):
        calls.append(1)
        return {}

    cfg = {"arch": "mlp"}
    ckcache.cached_model(cfg, _tiny_mlp, fit, root=tmp_path)
    wpath, _ = ckcache.entry_paths(cfg, tmp_path)
    wpath.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unusable entry"):
        _, _, hit = ckcache.cached_model(cfg, _tiny_mlp, fit, root=tmp_path)
    assert not hit and len(calls) == 2


def test_cache_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path / "c"))
    assert ckcache.cache_root() == tmp_path / "c"
    monkeypatch.delenv("QK_CACHE_DIR")
    assert ckcache.cache_root().name == "qkernels"


def test_sweep_dense_model_trains_once_across_processes(monkeypatch, tmp_path):
    """The second request (memory cleared, as in a new process) loads the checkpoint: no training."""
    monkeypatch.setenv("QK_CACHE_DIR", str(tmp_path))
    steps = []
    real = sweep.train

    def counting(*a, **k):
        r = real(*a, **k)
        steps.append(r["steps"])
        return r

    monkeypatch.setattr(sweep, "train", counting)
    data = digits(n_train=64, n_test=32, n_calib=32, size=16)
    kw = sweep.fit_arch_kwargs("mlp", {"hidden": (8,)}, data)
    setup = sweep.TrainSetup(epochs=1, batch_size=32)
    sweep.clear_memory_cache()
    m1, _, hit1 = sweep.train_dense("mlp", kw, data, setup, seed=3)
    sweep.clear_memory_cache()
    m2, info, hit2 = sweep.train_dense("mlp", kw, data, setup, seed=3)
    assert steps == [2] and (hit1, hit2) == (False, True)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    assert 0 <= info["test"]["accuracy"] <= 1
    sweep.train_dense("mlp", kw, data, sweep.TrainSetup(epochs=2, batch_size=32), seed=3)  # another config
    assert steps == [2, 4]
    sweep.clear_memory_cache()
