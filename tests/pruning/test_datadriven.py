"""The data-aware baselines ``activation`` and ``thinet``: same architecture as ``l1``, brute-force
references of both definitions, a planted dead channel, the unfold contributions, determinism,
bad input."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.models import build_model
from qkernels.pruning import PruneContext, channel_counts, get_method, method_names, prune
from qkernels.pruning.activations import channel_moments
from qkernels.pruning.datadriven import (
    ActivationImportance,
    ThiNetImportance,
    conv_contributions,
    sample_contributions,
    thinet_order,
)
from qkernels.pruning.groups import IN_FNS, by_root
from qkernels.pruning.prune import ROOT_TYPES, _dependency_graph, default_ignored_layers

METHODS = ("activation", "thinet")


def _calib(shape: tuple[int, ...], sizes=(24, 16), seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, *shape, generator=g), torch.zeros(n, dtype=torch.long)) for n in sizes]


def _mlp() -> nn.Module:
    return build_model("mlp", in_features=12, hidden=(8, 6), num_classes=3, seed=1)


def _resnet() -> nn.Module:
    return build_model("resnet18_small", width=0.125, seed=1)


class FlatNet(nn.Module):
    """conv (2 -> 4, 3 x 3) -> ReLU -> flatten (4·4·4 features) -> fc: several fc inputs per channel."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


CASES = {
    "mlp": (_mlp, (12,)),
    "resnet": (_resnet, (3, 16, 16)),
    "flat": (lambda: FlatNet().eval(), (2, 6, 6)),
}


def _groups(model: nn.Module, x: torch.Tensor) -> list:
    """The groups prune() scores, in its order."""
    dg = _dependency_graph(model, x)
    ign = [m for layer in default_ignored_layers(model) for m in layer.modules()]
    return list(dg.get_all_groups(ignored_layers=ign, root_module_types=ROOT_TYPES))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", ["mlp", "resnet"])
def test_same_architecture_as_l1(method, case):
    build, shape = CASES[case]
    model, calib = build(), _calib(shape, sizes=(16,))
    x = torch.zeros(1, *shape)
    p_l1, r_l1 = prune(model, "l1", 0.5, x)
    pm, rec = prune(model, method, 0.5, x, calib=calib)
    assert channel_counts(pm) == channel_counts(p_l1)
    assert (rec["macs_after"], rec["params_after"]) == (r_l1["macs_after"], r_l1["params_after"])
    assert rec["criterion"]["fallback_groups"] == 0 and rec["criterion"]["calib_images"] == 16
    assert pm(torch.zeros(2, *shape)).shape == (2, 3 if case == "mlp" else 10)


def test_registered_as_data_aware_outside_the_default_sweep():
    for name in METHODS:
        assert get_method(name).needs_data and name in method_names()
        assert name not in method_names(sweep_only=True)


def _brute_activation(model: nn.Module, calib, group) -> torch.Tensor:
    """sqrt(Σ_consumers E[a²]·‖W[:, c]‖²), from inputs captured by hand (no channel_moments)."""
    consumers = {}
    for item in group:
        if item.dep.pruning_fn in IN_FNS:
            consumers.setdefault(item.dep.layer, (list(item.idxs), list(item.root_idxs)))
    seen: dict[nn.Module, list[torch.Tensor]] = {m: [] for m in consumers}
    hooks = [m.register_forward_pre_hook(lambda mod, args: seen[mod].append(args[0].detach().double()))
             for m in consumers]
    with torch.no_grad():
        for xb, _ in calib:
            model(xb)
    for h in hooks:
        h.remove()
    n = len(group[0].idxs)
    energy = torch.zeros(n, dtype=torch.float64)
    for layer, (idxs, roots) in consumers.items():
        a = torch.cat(seen[layer])
        if isinstance(layer, nn.Linear):
            sq = a.pow(2).mean(0)
            col = layer.weight.double().pow(2).sum(0)
        else:
            sq = a.pow(2).mean((0, 2, 3))
            col = layer.weight.double().pow(2).sum((0, 2, 3))
        for r, li in zip(*by_root(idxs, roots)):
            energy[r] += sq[li].sum() * col[li].sum()
    return energy.sqrt()


@pytest.mark.parametrize("case", ["mlp", "resnet", "flat"])
def test_activation_matches_a_brute_force_reference(case):
    build, shape = CASES[case]
    model, calib = build(), _calib(shape)
    if case == "resnet":  # BN statistics of real data, so that BN does not leave the activations as they are
        model.train()
        with torch.no_grad():
            model(calib[0][0])
        model.eval()
    imp = get_method("activation").factory(PruneContext(model, torch.zeros(1, *shape), calib=calib))
    groups = _groups(model, torch.zeros(1, *shape))
    assert groups
    for group in groups:
        got = imp(group)
        want = _brute_activation(model, calib, group)
        assert got.shape == want.shape
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-7)


def _plant_dead(model: nn.Module, case: str) -> tuple[str, int]:
    """Make one channel's post-ReLU activation 0 on every input; its root layer name and index."""
    with torch.no_grad():
        if case == "mlp":
            model.net[1].weight[5] = 0.0
            model.net[1].bias[5] = -1.0
            return "net.1", 5
        bn = model.layer1[0].bn1
        bn.weight[2], bn.bias[2] = 0.0, -1.0
        return "layer1.0.conv1", 2


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", ["mlp", "resnet"])
def test_a_dead_channel_goes_first(method, case):
    build, shape = CASES[case]
    model, calib = build(), _calib(shape, sizes=(16,))
    layer, dead = _plant_dead(model, case)
    x = torch.zeros(1, *shape)
    # one channel of the group: 1/8 of the 8 hidden units / of layer1.0.conv1's 8 filters
    _, rec = prune(model, method, 0.125, x, calib=calib)
    assert rec["removed"][layer] == [dead]
    if method == "activation":
        imp = get_method("activation").factory(PruneContext(model, x, calib=calib))
        group = next(g for g in _groups(model, x) if g[0].dep.target.module is model.get_submodule(layer))
        scores = imp(group)
        assert float(scores[dead]) == 0.0 and int(scores.argmin()) == dead and bool((scores > 0).sum() == len(scores) - 1)


def test_thinet_greedy_matches_a_brute_force_objective():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    calib = _calib((4,), sizes=(10, 6))
    contrib, _ = sample_contributions(model, calib, samples=64, seed=0)
    xh = contrib[model[2]].double()  # (64, 5): the classifier's sampled entries
    # every sampled row is W[o] · a[n] for some image n and output o
    a = torch.relu(model[0](torch.cat([b for b, _ in calib]))).double()
    cand = (model[2].weight.double()[None] * a[:, None]).reshape(-1, 5)  # (N·O, 5)
    assert bool((torch.cdist(xh, cand).min(1).values < 1e-5).all())

    def objective(t) -> float:
        return float(xh[:, list(t)].sum(1).pow(2).sum()) if t else 0.0

    order = thinet_order(xh.T @ xh)
    singles = [objective([c]) for c in range(5)]
    assert order[0] == min(range(5), key=singles.__getitem__)
    taken: list[int] = []
    for c in order:  # each step: the argmin of the objective over the extensions, evaluated directly
        best = min((k for k in range(5) if k not in taken), key=lambda k: objective(taken + [k]))
        assert c == best
        taken.append(c)
    assert sorted(order) == list(range(5))
    # the importance's scores give that order (one consumer: the normalization is one scale)
    group = _groups(model, torch.zeros(1, 4))[0]
    imp = ThiNetImportance(contrib, {}, samples=64)
    gram = imp.group_gram(group)
    for t in itertools.combinations(range(5), 2):
        ones = torch.zeros(5, dtype=torch.float64)
        ones[list(t)] = 1.0
        torch.testing.assert_close(float(ones @ gram @ ones), objective(t) / objective(range(5)))
    assert torch.argsort(imp(group), stable=True).tolist() == order


def test_thinet_sums_a_roots_several_features_after_a_flatten():
    model, calib = FlatNet().eval(), _calib((2, 6, 6))
    contrib, _ = sample_contributions(model, calib, samples=128, seed=1)
    group = _groups(model, torch.zeros(1, 2, 6, 6))[0]
    xh = contrib[model.fc].double()  # (128, 64): channel-major features
    per_root = xh.view(128, 4, 16).sum(-1)
    want = per_root.T @ per_root / xh.sum(1).pow(2).sum()
    torch.testing.assert_close(ThiNetImportance(contrib, {}).group_gram(group), want)


def test_unfold_contributions_decompose_the_convolution_by_channel():
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    x = torch.randn(4, 3, 9, 7)
    y = conv(x)  # (4, 5, 5, 4)
    img, o, pos = torch.meshgrid(torch.arange(4), torch.arange(5), torch.arange(20), indexing="ij")
    img, o, pos = img.flatten(), o.flatten(), pos.flatten()
    xh = conv_contributions(conv, x, img, o, pos)
    with torch.no_grad():
        torch.testing.assert_close(xh.sum(1), y.flatten(2)[img, o, pos] - conv.bias[o], rtol=1e-5, atol=1e-5)
        for c in range(3):  # channel c alone through the convolution, without bias
            yc = F.conv2d(x[:, c:c + 1], conv.weight[:, c:c + 1], stride=2, padding=1)
            torch.testing.assert_close(xh[:, c], yc.flatten(2)[img, o, pos], rtol=1e-5, atol=1e-5)


def test_grouped_convolution_contributions_stay_in_their_group():
    torch.manual_seed(3)
    conv = nn.Conv2d(4, 6, 3, padding=1, groups=2)
    x = torch.randn(2, 4, 5, 5)
    o = torch.tensor([0, 2, 3, 5])
    xh = conv_contributions(conv, x, torch.tensor([0, 1, 0, 1]), o, torch.tensor([0, 7, 12, 24]))
    with torch.no_grad():
        torch.testing.assert_close(xh.sum(1), conv(x).flatten(2)[[0, 1, 0, 1], o, [0, 7, 12, 24]] - conv.bias[o])
    assert bool((xh[:2, 2:] == 0).all() and (xh[2:, :2] == 0).all())


@pytest.mark.parametrize("method", METHODS)
def test_deterministic_for_a_seed(method):
    model, calib = _resnet(), _calib((3, 16, 16), sizes=(8,))
    x = torch.zeros(1, 3, 16, 16)
    _, r1 = prune(model, method, 0.5, x, calib=calib, seed=3)
    _, r2 = prune(model, method, 0.5, x, calib=calib, seed=3)
    assert r1["removed"] == r2["removed"]
    if method == "thinet":
        a, _ = sample_contributions(model, calib, samples=256, seed=3)
        b, _ = sample_contributions(model, calib, samples=256, seed=3)
        c, _ = sample_contributions(model, calib, samples=256, seed=4)
        assert all(torch.equal(a[m], b[m]) for m in a)
        assert not torch.equal(a[model.fc], c[model.fc])


def test_fallback_to_the_producers_output_energy():
    model, calib = _mlp(), _calib((12,))
    x = torch.zeros(1, 12)
    group = next(g for g in _groups(model, x) if g[0].dep.target.module is model.net[1])
    stats = channel_moments(model, calib)
    want = (stats[model.net[1]].out.gram.diagonal() / stats[model.net[1]].out.count).sqrt().float()
    del stats[model.net[3]]  # the only consumer of net.1's outputs
    act = ActivationImportance(stats)
    torch.testing.assert_close(act(group), want)
    contrib, energy = sample_contributions(model, calib, samples=32)
    del contrib[model.net[3]]
    thi = ThiNetImportance(contrib, energy)
    torch.testing.assert_close(thi(group), want)
    assert act.record()["fallback_groups"] == thi.record()["fallback_groups"] == 1


@pytest.mark.parametrize("method", METHODS)
def test_bad_input(method):
    model = _mlp()
    x = torch.zeros(1, 12)
    with pytest.raises(InputError, match="calibration"):
        prune(model, method, 0.5, x)
    with pytest.raises(InputError, match="calibration"):
        get_method(method).factory(PruneContext(model, x))
    with pytest.raises(InputError, match="unknown option"):
        prune(model, method, 0.5, x, calib=_calib((12,)), bogus=1)
    if method == "thinet":
        with pytest.raises(InputError, match="samples"):
            prune(model, method, 0.5, x, calib=_calib((12,)), samples=0)
