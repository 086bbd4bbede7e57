"""Each baseline criterion ranks channels as its definition says, on constructed weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.pruning import prune
from qkernels.pruning.criteria import filter_median_scores

X = torch.zeros(1, 2, 6, 6)


class Net(nn.Module):
    """conv1 (6 filters) -> bn1 -> relu -> conv2 (6 -> 3) -> bn2 -> relu -> pool -> fc."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 6, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 3, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(x.mean((2, 3)))


def _net(filters: torch.Tensor | None = None) -> Net:
    torch.manual_seed(0)
    n = Net().eval()
    with torch.no_grad():
        n.conv2.weight.fill_(0.1)  # every input slice of conv2 alike
        if filters is not None:
            n.conv1.weight.copy_(filters.view(6, 2, 3, 3))
    return n


def _removed(rec, layer="conv1"):
    return rec["removed"][layer]


def test_l1_keeps_the_largest_filters():
    base = torch.randn(6, 18).sign()
    scale = torch.tensor([3.0, 0.5, 2.0, 0.1, 5.0, 1.0]).view(6, 1)
    net = _net(base * scale)
    pm, rec = prune(net, "l1", 0.5, X)
    assert _removed(rec) == [1, 3, 5]
    assert torch.equal(pm.conv1.weight, net.conv1.weight[[0, 2, 4]])
    assert pm.bn1.num_features == 3 and pm.conv2.in_channels == 3


def test_l1_and_l2_differ_as_their_norms_do():
    f = torch.zeros(6, 18)
    f[0, 0] = 3.0  # L1 3, L2 9
    f[1, :5] = 1.0  # L1 5, L2 5
    f[2:, 0] = torch.tensor([4.0, 4.0, 4.0, 4.0])
    net = _net(f)
    with torch.no_grad():
        net.conv2.weight.zero_()  # leave only the filters and BN γ (all 1) in the group score
    _, r1 = prune(net, "l1", 1 / 6, X)
    _, r2 = prune(net, "l2", 1 / 6, X)
    assert _removed(r1) == [0] and _removed(r2) == [1]


def test_fpgm_removes_the_filter_at_the_geometric_median():
    rng = torch.Generator().manual_seed(1)
    outer = torch.randn(5, 18, generator=rng) * 3
    centre = outer.mean(0, keepdim=True) * 0 + outer.median(0).values  # near the middle of the others
    w = torch.cat([outer[:3], centre, outer[3:]])
    scores = filter_median_scores(w)
    assert int(scores.argmin()) == 3
    _, rec = prune(_net(w), "fpgm", 1 / 6, X)
    assert _removed(rec) == [3]
    # raw filters, not |w|: a filter and its negation are far apart
    w2 = torch.stack([torch.ones(18), -torch.ones(18), torch.ones(18) * 1.1, torch.ones(18) * 0.9,
                      torch.ones(18) * 1.05, -torch.ones(18) * 1.2])
    assert int(filter_median_scores(w2).argmin()) in (0, 4)  # among the positive cluster, not the negatives


def test_bn_scale_keeps_large_gamma_magnitudes():
    net = _net()
    with torch.no_grad():
        net.bn1.weight.copy_(torch.tensor([0.1, -3.0, 0.5, 2.0, -0.05, 1.0]))
    _, rec = prune(net, "bn_scale", 0.5, X)
    assert _removed(rec) == [0, 2, 4]


def test_taylor_removes_channels_that_do_not_affect_the_loss():
    net = _net()
    with torch.no_grad():
        net.conv2.weight.normal_()
        net.conv2.weight[:, [1, 4]] = 0.0  # channels 1 and 4 of conv1 feed nothing
    x = torch.randn(16, 2, 6, 6)
    y = torch.randint(0, 4, (16,))
    _, rec = prune(net, "taylor", 2 / 6, X, calib=[(x, y)])
    assert _removed(rec) == [1, 4]
    assert all(p.grad is None for p in net.parameters())  # the input model is untouched


def test_taylor_scores_bn_gamma():
    import torch_pruning as tp

    from qkernels.pruning.criteria import TaylorFO

    net = _net()
    x, y = torch.randn(8, 2, 6, 6), torch.randint(0, 4, (8,))
    nn.functional.cross_entropy(net(x), y).backward()
    dg = tp.DependencyGraph().build_dependency(net, example_inputs=X)
    group = dg.get_pruning_group(net.conv1, tp.prune_conv_out_channels, list(range(6)))
    bn_items = [dep for dep, _ in group if isinstance(dep.layer, nn.BatchNorm2d)]
    assert bn_items and TaylorFO().layer_scores(bn_items[0], list(range(6))) is not None


def test_random_is_seeded():
    net = _net()
    _, a = prune(net, "random", 0.5, X, seed=1)
    _, b = prune(net, "random", 0.5, X, seed=1)
    outs = {tuple(prune(net, "random", 0.5, X, seed=s)[1]["removed"]["conv1"]) for s in range(8)}
    assert a["removed"] == b["removed"] and len(outs) > 1


def test_taylor_without_data_and_bn_scale_without_bn():
    with pytest.raises(InputError, match="calibration data"):
        prune(_net(), "taylor", 0.5, X)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(72, 8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.raises(InputError, match="no BatchNorm"):
        prune(mlp, "bn_scale", 0.5, X)
