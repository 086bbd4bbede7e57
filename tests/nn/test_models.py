"""Tests of the built-in models and of loading checkpoints into them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.models import MODELS, build_model, load_into, load_model, model_names, resnet18
from qkernels.nn.models.small import ViTTiny, mlp

# torchvision.models.resnet18(): sum(p.numel() for p in m.parameters())
TORCHVISION_RESNET18_PARAMS = 11_689_512


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def r18():
    return build_model("resnet18", seed=0)


def test_model_names():
    assert sorted(model_names()) == ["crepe-full", "crepe-tiny", "lenet5-mnist", "mlp", "resnet18", "resnet18_small",
                                     "vit_tiny"]
    assert set(MODELS) == set(model_names())


def test_resnet18_matches_torchvision_layout(r18):
    assert n_params(r18) == TORCHVISION_RESNET18_PARAMS
    sd = r18.state_dict()
    assert len(sd) == 122
    expect = {
        "conv1.weight": (64, 3, 7, 7),
        "bn1.weight": (64,),
        "bn1.running_mean": (64,),
        "bn1.num_batches_tracked": (),
        "layer1.0.conv1.weight": (64, 64, 3, 3),
        "layer1.1.bn2.bias": (64,),
        "layer2.0.conv1.weight": (128, 64, 3, 3),
        "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "layer2.0.downsample.1.running_var": (128,),
        "layer3.1.conv2.weight": (256, 256, 3, 3),
        "layer4.0.downsample.0.weight": (512, 256, 1, 1),
        "layer4.1.bn2.running_var": (512,),
        "fc.weight": (1000, 512),
        "fc.bias": (1000,),
    }
    for k, shape in expect.items():
        assert k in sd, k
        assert tuple(sd[k].shape) == shape, k
    assert "layer1.0.downsample.0.weight" not in sd  # no downsample where shapes agree
    assert sum(k.endswith("num_batches_tracked") for k in sd) == 20
    assert sum(1 for m in r18.modules() if isinstance(m, nn.Conv2d)) == 20
    assert all(m.bias is None for m in r18.modules() if isinstance(m, nn.Conv2d))
    # torchvision's initialization: BN weight 1 and bias 0
    assert torch.all(sd["layer3.0.bn1.weight"] == 1) and torch.all(sd["layer3.0.bn1.bias"] == 0)
    assert not r18.training  # build_model returns eval mode


def test_resnet18_forward(r18):
    with torch.no_grad():
        out = r18(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 1000)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "name, shape, classes",
    [("resnet18_small", (3, 32, 32), 10), ("mlp", (3, 32, 32), 10), ("vit_tiny", (3, 32, 32), 10)],
)
def test_builtin_forward_shapes(name, shape, classes):
    m = build_model(name, seed=0)
    assert MODELS[name].input_shape == shape
    with torch.no_grad():
        out = m(torch.randn(3, *shape))
    assert out.shape == (3, classes)
    assert torch.isfinite(out).all()
    assert MODELS[name].classifier in m.state_dict()
    assert m.state_dict()[MODELS[name].classifier].shape[0] == classes


def test_build_model_seeded_and_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    state_before = torch.get_rng_state()
    a = build_model("resnet18_small", seed=7, width=0.25)
    assert torch.equal(torch.get_rng_state(), state_before)
    b = build_model("resnet18_small", seed=7, width=0.25)
    c = build_model("resnet18_small", seed=8, width=0.25)
    assert torch.equal(torch.rand(5), expected)  # global stream continues as if nothing happened
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["conv1.weight"], sc["conv1.weight"])
    v1, v2 = build_model("vit_tiny", seed=3), build_model("vit_tiny", seed=3)
    assert torch.equal(v1.pos_embed, v2.pos_embed) and torch.equal(v1.head.weight, v2.head.weight)


def test_unknown_model_name():
    with pytest.raises(InputError, match="unknown model 'resnet50'"):
        build_model("resnet50")
    with pytest.raises(InputError, match="unknown model"):
        load_model("no_such_model_or_file.pt")


def test_load_model_builtin_name():
    m = load_model("mlp", seed=4)
    assert isinstance(m, nn.Module)
    ref = build_model("mlp", seed=4)
    assert torch.equal(m.net[1].weight, ref.net[1].weight)


@pytest.mark.parametrize("arch, classes", [("resnet18_small", 7), ("mlp", 3), ("vit_tiny", 5)])
def test_load_model_checkpoint_with_arch(tmp_path, arch, classes):
    src = build_model(arch, seed=11, num_classes=classes)
    path = tmp_path / "ck.pt"
    torch.save(src.state_dict(), path)
    m = load_model(path, arch=arch, seed=0)
    assert isinstance(m, nn.Module) and not m.training
    sd, ref = m.state_dict(), src.state_dict()
    assert set(sd) == set(ref)
    assert all(torch.equal(sd[k], ref[k]) for k in ref)
    assert ref[MODELS[arch].classifier].shape[0] == classes
    x = torch.randn(2, *MODELS[arch].input_shape)
    with torch.no_grad():
        torch.testing.assert_close(m(x), src(x))
    # without arch: the bare state dict
    bare = load_model(path)
    assert isinstance(bare, dict) and set(bare) == set(ref)


def test_load_model_resnet18_small_classifier_inferred(tmp_path):
    src = build_model("resnet18_small", seed=2, num_classes=37)
    path = tmp_path / "r.pt"
    torch.save({"state_dict": src.state_dict()}, path)
    m = load_model(str(path), arch="resnet18_small")
    assert m.fc.out_features == 37
    assert torch.equal(m.layer2[0].conv1.weight, src.layer2[0].conv1.weight)


def test_load_model_width_variant_refused(tmp_path):
    """A width variant is a different architecture: the built-in (width 1) refuses it by name."""
    path = tmp_path / "w.pt"
    torch.save(build_model("resnet18_small", seed=0, width=0.25).state_dict(), path)
    with pytest.raises(InputError, match=r"'conv1\.weight'"):
        load_model(path, arch="resnet18_small")


def test_load_model_shape_mismatch_names_tensor(tmp_path):
    sd = build_model("mlp", seed=0).state_dict()
    sd["net.3.weight"] = torch.zeros(128, 255)
    path = tmp_path / "bad.pt"
    torch.save(sd, path)
    with pytest.raises(InputError, match=r"'net\.3\.weight'.*\(128, 255\).*\(128, 256\)"):
        load_model(path, arch="mlp")
    with pytest.raises(InputError, match="unknown model 'nope'"):
        load_model(path, arch="nope")


def test_load_into_errors():
    model = build_model("mlp", seed=0)
    sd = model.state_dict()
    missing = {k: v for k, v in sd.items() if k != "net.1.bias"}
    with pytest.raises(InputError, match="missing.*net.1.bias"):
        load_into(build_model("mlp"), missing)
    extra = dict(sd, **{"net.9.weight": torch.zeros(2)})
    with pytest.raises(InputError, match="unexpected.*net.9.weight"):
        load_into(build_model("mlp"), extra)
    nan = dict(sd)
    nan["net.5.bias"] = torch.full((10,), float("nan"))
    with pytest.raises(InputError, match="net.5.bias.*NaN"):
        load_into(build_model("mlp"), nan)
    # a good state loads and is copied, not aliased
    fresh = load_into(build_model("mlp", seed=99), sd)
    assert torch.equal(fresh.net[5].bias, sd["net.5.bias"])


def test_resnet_width_and_stem_variants():
    m = resnet18(num_classes=10, stem="small", width=0.5)
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1)
    assert isinstance(m.maxpool, nn.Identity)
    assert m.conv1.out_channels == 32
    assert m.layer4[1].conv2.weight.shape == (256, 256, 3, 3)
    assert m.fc.in_features == 256 and m.fc.out_features == 10
    with torch.no_grad():
        assert m.eval()(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    big = resnet18()
    assert big.conv1.kernel_size == (7, 7) and big.conv1.stride == (2, 2)
    assert isinstance(big.maxpool, nn.MaxPool2d)
    gray = resnet18(num_classes=4, in_channels=1, width=0.25, stem="small")
    assert gray.conv1.weight.shape == (16, 1, 3, 3)
    with torch.no_grad():
        assert gray.eval()(torch.randn(1, 1, 8, 8)).shape == (1, 4)
    # resnet18_small at width 1: same parameter count as resnet18 apart from stem and classifier
    small = build_model("resnet18_small")
    diff = (64 * 3 * 49 - 64 * 3 * 9) + (1000 - 10) * 513
    assert n_params(small) == TORCHVISION_RESNET18_PARAMS - diff


@pytest.mark.parametrize(
    "kwargs, what",
    [({"stem": "tiny"}, "stem"), ({"width": 0}, "width"), ({"width": -1.0}, "width"), ({"num_classes": 0}, "num_classes")],
)
def test_resnet_bad_arguments(kwargs, what):
    with pytest.raises(InputError, match=what):
        resnet18(**kwargs)


def test_small_model_bad_arguments():
    with pytest.raises(InputError, match="patch"):
        ViTTiny(image_size=30, patch=4)
    with pytest.raises(InputError, match="heads"):
        ViTTiny(dim=30, heads=4)
    with pytest.raises(InputError):
        mlp(hidden=(0,))
    m = mlp(num_classes=2, in_features=12, hidden=(5,))
    assert m(torch.randn(4, 3, 2, 2)).shape == (4, 2)
