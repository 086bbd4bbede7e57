"""The pruning sweep on pretrained networks (crepe-tiny on tones, lenet5-mnist on mnist5k) and on a
model trained here on mnist5k: rows, label-free metrics, chance levels, no training of pretrained models."""

from __future__ import annotations

import pytest
import torch

import qkernels.suite.sweeps.pruning as sweep
from qkernels.core.errors import InputError
from qkernels.nn.models import weights_file
from qkernels.suite.sweeps.pruning import DenseCache, ModelSetup, SweepConfig, TrainSetup

try:
    weights_file("crepe-tiny"), weights_file("lenet5-mnist")
except InputError as exc:  # pragma: no cover - the packages are installed in CI
    pytest.skip(f"pretrained weights not installed: {exc}", allow_module_level=True)

CREPE = ModelSetup("crepe-tiny", "crepe-tiny", train=TrainSetup(batch_size=32),
                   data_options=(("n_calib", 64), ("n_test", 96), ("n_train", 64)), finetune_lr=0.001)
LENET = ModelSetup("lenet5-mnist", "lenet5-mnist")
CFG = SweepConfig(data="mnist5k", models=(CREPE, LENET), sparsities=(0.5,), replicates=1, bn_images=64,
                  taylor_images=32, finetune_epochs=0.5, finetune_lr=0.01)


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_pretrained_dense_rows_are_loaded_not_trained(monkeypatch):
    monkeypatch.setattr(sweep, "train", lambda *a, **k: pytest.fail("a pretrained model was trained"))
    cache = DenseCache()
    crepe = sweep.dense_rows(CFG, CREPE, 0, 1, cache=cache).iloc[0]
    lenet = sweep.dense_rows(CFG, LENET, 0, 1, cache=cache).iloc[0]
    assert crepe.pretrained and lenet.pretrained and crepe.train_time_s is None
    assert crepe.data == "tones" and lenet.data == "mnist5k"  # each model's own data set, not the profile's
    assert crepe.metric.startswith("raw pitch") and lenet.metric == "top-1 accuracy"
    assert 0.5 < crepe.accuracy < 1.0 and crepe.n_test == 96  # hard tones leave room below 100%
    assert lenet.accuracy > 0.97 and lenet.n_test == 1500
    assert lenet.chance == pytest.approx(0.1) and 0.01 < crepe.chance < 0.05
    assert crepe.dense_key != lenet.dense_key


def test_lenet_data_is_not_normalized_by_the_data_set():
    d = sweep.model_data(CFG, LENET)
    assert d.train.mean == (0.0,) and d.train.std == (1.0,)  # LeNet-5 was trained on pixels in 0..1
    x, _ = next(d.test.batches(8))
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


@pytest.mark.parametrize("setup, method", [(CREPE, "taylor"), (LENET, "qmfrg")])
def test_prune_rows_of_pretrained_models(setup, method):
    rows = sweep.prune_rows(CFG, setup, method, 0.5, 0, 1, cache=DenseCache())
    assert list(rows.stage) == ["oneshot", "finetuned"]
    one = rows.iloc[0]
    assert one.macs < one.macs_dense and 0 <= one.accuracy <= 1
    assert 0 <= one.dense_agreement < 1 and one.output_distance > 0 and one.dense_kl >= 0
    ft = rows.iloc[1]
    assert 0 <= ft.dense_agreement <= 1 and ft.finetune_time_s > 0


def test_label_free_metrics_are_exact_for_the_dense_model():
    """Pruning nothing that matters: a 'pruned' model equal to the dense one agrees everywhere."""
    data = sweep.model_data(CFG, LENET)
    dense, _, _ = sweep.dense_model(CFG, LENET, 1, cache=DenseCache())
    ref = sweep.dense_outputs(CFG, LENET, 1)
    from qkernels.nn.training import compare_outputs, evaluate

    ev = evaluate(dense, data.test, keep_outputs=True)
    near = compare_outputs(ev["outputs"], ref, data.task)
    assert near == {"agreement": 1.0, "output_distance": 0.0, "kl": pytest.approx(0.0, abs=1e-12)}
