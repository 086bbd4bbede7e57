"""Checks of the instrument (planted channels) and the cross-architecture substitution: the constructions,
the measurements against direct computations, and the verdicts on synthetic pruning.csv rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from qkernels.geometry.distances import pairwise_fs
from qkernels.nn.models import build_model
from qkernels.pruning import prune
from qkernels.suite.document.blocks import Table
from qkernels.suite.sections.pruning import report as rep
from qkernels.suite.sweeps.controls import pairs_found, plant
from qkernels.suite.sweeps.crossarch import (
    filter_form,
    first_operator_layer,
    operator_states,
    replicate_reductions,
    substitution_effects,
)

SHAPE = (3, 4, 4)


def _mlp(seed=0, hidden=(12, 8)):
    return build_model("mlp", in_features=48, hidden=hidden, num_classes=5, seed=seed).eval()


def test_positive_plant_keeps_the_function_and_merge_restores_it():
    m = _mlp()
    p, pairs = plant(m, "positive", 6, seed=3)
    x = torch.randn(64, 48)
    assert p.net[1].out_features == 18 and p.net[3].in_features == 18
    assert torch.allclose(p(x), m(x), atol=1e-2)
    exact = pairs[0::2]
    W = p.net[1].weight
    assert all(torch.equal(W[s], W[t]) for s, t in exact)
    # the redundancy criterion that sees the whole operator finds every pair; merging keeps the function
    keep = {"net.1": 12, "net.3": 8}
    calib = [(x, torch.zeros(len(x), dtype=torch.long))]  # the least-squares merge reads the activations
    pm, rec = prune(p, "qmfrg-aligned", 0.5, x[:1], group_keep=keep, merge=True, calib=calib)
    assert pairs_found(rec["removed"]["net.1"], pairs) == 1.0
    assert torch.allclose(pm(x), p(x), atol=2e-2)


def test_negative_plant_has_the_spectrum_and_another_function():
    m = _mlp()
    p, pairs = plant(m, "negative", 6, seed=3)
    W, b = p.net[1].weight.detach().double(), p.net[1].bias.detach().double()
    psi = operator_states(W.reshape(len(W), 1, -1), b)
    D = pairwise_fs(psi)
    for s, t in pairs:
        assert float(D[s, t]) < 1e-6  # the paper-form d_FS cannot tell the twin from its source
        assert not torch.allclose(W[s], W[t])
    assert torch.equal(W[pairs[0][1]], -W[pairs[0][0]]) and b[pairs[0][1]] == -b[pairs[0][0]]
    assert torch.equal(W[pairs[1][1]].sort().values, W[pairs[1][0]].sort().values)  # permuted inputs
    pm, rec = prune(p, "qmfrg", 0.5, torch.zeros(1, 48), group_keep={"net.1": 12, "net.3": 8})
    assert pairs_found(rec["removed"]["net.1"], pairs) == 1.0  # called redundant


def test_plant_rejects_bad_arguments():
    with pytest.raises(ValueError):
        plant(_mlp(), "other", 2, 0)
    with pytest.raises(ValueError):
        plant(_mlp(), "positive", 13, 0)


def test_pairs_found_counts_one_member_per_pair():
    assert pairs_found([0, 5], [(0, 4), (1, 5), (2, 6)]) == pytest.approx(2 / 3)
    assert pairs_found([0, 4], [(0, 4)]) == 0.0  # both removed: not one member
    assert np.isnan(pairs_found([1], []))


def test_filter_form_of_linear_and_whole_image_conv_agree():
    mlp = _mlp()
    vit = build_model("vit_tiny", image_size=4, patch=4, in_channels=3, num_classes=5).eval()
    assert first_operator_layer(vit)[0] == "patch_embed"
    Wm, bm = filter_form(mlp, SHAPE)
    Wv, bv = filter_form(vit, SHAPE)
    assert Wm.shape == (12, 3, 16) and Wv.shape == (64, 3, 16) and bm.shape == (12,)
    x = torch.randn(7, *SHAPE)
    # the filter form reproduces each layer's output on the flattened image
    assert torch.allclose((x.reshape(7, -1).double() @ Wv.reshape(64, -1).T + bv).float(),
                          vit.patch_embed(x).reshape(7, 64), atol=1e-5)
    with pytest.raises(ValueError):
        filter_form(mlp, (3, 2, 2))


@pytest.mark.parametrize("arch", ["mlp", "vit"])
def test_substitution_effects_match_replacing_the_weights(arch):
    torch.manual_seed(0)
    mlp = _mlp()
    vit = build_model("vit_tiny", image_size=4, patch=4, in_channels=3, num_classes=5, seed=1).eval()
    target, source = (mlp, vit) if arch == "mlp" else (vit, mlp)
    WB, bB = filter_form(source, SHAPE)
    x = torch.randn(20, *SHAPE)
    subs = [(0, 1), (2, 3), (1, 1)]
    change, flips = substitution_effects(target, WB, bB, x, subs, chunk=40)
    name, layer = first_operator_layer(target)
    with torch.no_grad():
        z0 = target(x)
        for k, (i, j) in enumerate(subs):
            w0, b0 = layer.weight[i].clone(), layer.bias[i].clone()
            layer.weight[i] = WB[j].reshape(w0.shape).float()
            layer.bias[i] = bB[j].float()
            z = target(x)
            layer.weight[i], layer.bias[i] = w0, b0
            assert change[k] == pytest.approx(float((z - z0).norm(dim=1).mean() / z0.norm(dim=1).mean()), rel=1e-4)
            assert flips[k] == pytest.approx(float((z.argmax(1) != z0.argmax(1)).double().mean()))
    with torch.no_grad():
        assert torch.allclose(target(x), z0, atol=1e-6)  # the target is restored


def _cross_rows(reductions: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for (t, s), red in zip([("mlp", "vit_tiny_p1"), ("vit_tiny_p1", "mlp")], reductions.values()):
        for r, x in enumerate(red):
            for sub, ch in (("nearest", 0.1 * (1 - x)), ("random", 0.1), ("farthest", 0.12)):
                rows.append({"model": t, "cross_source": s, "stage": "cross_arch", "method": f"substitute-{sub}",
                             "substitute": sub, "replicate": r, "output_change": ch, "spearman": 0.1,
                             "operators": 8, "fs_distance": 0.1, "flip_rate": 0.01})
    return pd.DataFrame(rows)


def test_cross_arch_verdict_on_synthetic_rows():
    rng = np.random.default_rng(0)
    big = _cross_rows({"a": list(0.4 + 0.02 * rng.standard_normal(6)), "b": list(0.5 + 0.02 * rng.standard_normal(6))})
    red = replicate_reductions(big)
    assert len(red) == 12 and red.reduction.between(0.3, 0.6).all()
    d = rep.cross_arch_decision(big)
    assert d.verdict == "supported" and "←" in d.headline
    worse = _cross_rows({"a": list(-0.3 + 0.02 * rng.standard_normal(6)), "b": list(0.5 + 0.02 * rng.standard_normal(6))})
    assert rep.cross_arch_decision(worse).verdict == "refuted"
    noisy = _cross_rows({"a": [0.5, -0.4, 0.1], "b": [0.6, -0.5, 0.2]})
    assert rep.cross_arch_decision(noisy).verdict == "inconclusive"
    (claim,) = rep.cross_arch_claims(big)
    assert claim.claim_id == "cross_arch" and claim.verdict == "supported" and claim.headline


def test_block_rows_alone_never_decide_cross_arch():
    bl = pd.DataFrame({"model": "r", "stage": ["block"] * 10 + ["dense"] * 2, "method": "block-skip",
                       "replicate": [0] * 5 + [1] * 5 + [0, 1], "block": [f"b{i}" for i in range(5)] * 2 + [None] * 2,
                       "block_distance": list(np.linspace(0.1, 0.5, 5)) * 2 + [None] * 2,
                       "accuracy": list(np.linspace(0.8, 0.6, 5)) * 2 + [0.9, 0.9]})
    (claim,) = rep.cross_arch_claims(bl)
    assert claim.verdict == "not measured" and "Spearman" in claim.evidence and "never changes" in claim.evidence


def _control_rows(agree_l1: float, spread: float, reps: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for control in ("positive", "negative"):
        for r in range(reps):
            for meth in ("qmfrg-merge", "qmfrg-aligned-merge", "l1", "l2", "random", "qmfrg", "qmfrg-aligned"):
                found = {"qmfrg-aligned-merge": 1.0 if control == "positive" else 0.1, "random": 0.3,
                         "l1": 0.0, "l2": 0.0}.get(meth, 1.0 if control == "negative" else 0.7)
                agree = {"qmfrg-aligned-merge": 0.999 if control == "positive" else 0.8,
                         "qmfrg-merge": 0.85 if control == "negative" else 0.9}.get(meth, agree_l1)
                agree += spread * rng.standard_normal()
                rows.append({"model": "mlp", "stage": "control", "control": control, "method": meth, "replicate": r,
                             "planted": 8, "planted_found": found, "planted_found_a": found, "planted_found_b": found,
                             "accuracy": 0.7 + 0.1 * agree, "planted_accuracy": 0.78, "agreement": min(agree, 1.0),
                             "logit_change": 1 - agree})
    return pd.DataFrame(rows)


def test_control_verdicts_and_report_part():
    clear = _control_rows(0.9, 0.005)
    d = rep.control_decisions(clear)
    assert d[("mlp", "positive")].verdict == "supported" and d[("mlp", "negative")].verdict == "supported"
    assert rep.control_decisions(_control_rows(0.999, 0.005))[("mlp", "positive")].verdict == "refuted"
    part = rep.controls_part(clear)
    text = " ".join(getattr(b, "text", "") for b in part)
    assert any(isinstance(b, Table) for b in part) and "Not claims of the paper" in text
    assert "positive control: supported** (as expected)" in text and "Secondary" in text
    assert rep.cross_arch_claims(clear) == []  # controls are never a claim
    assert rep.compare_metrics(clear).empty
