"""Tests of the synthetic CREPE test signals (qkernels.nn.data.tones); no weights needed."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qkernels.core.errors import InputError
from qkernels.nn.data import tones
from qkernels.nn.data.tones import HARD_PROBABILITIES, KINDS, raw_pitch_accuracy, tone_frames


def _hz(cents: torch.Tensor) -> torch.Tensor:
    return 10.0 * 2.0 ** (cents / 1200.0)


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_dtypes_and_normalization(kind):
    frames, cents = tone_frames(200, seed=1, kind=kind)
    assert frames.shape == (200, 1024) and frames.dtype == torch.float32
    assert cents.shape == (200,) and cents.dtype == torch.float64
    assert bool(torch.isfinite(frames).all())
    f = frames.double()
    assert float(f.mean(1).abs().max()) < 1e-5
    assert float((f.std(1) - 1).abs().max()) < 1e-5


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_from_seed(kind):
    a, ca = tone_frames(64, seed=7, kind=kind)
    b, cb = tone_frames(64, seed=7, kind=kind)
    assert torch.equal(a, b) and torch.equal(ca, cb)
    c, cc = tone_frames(64, seed=8, kind=kind)
    assert not torch.equal(a, c) and not torch.equal(ca, cc)


def test_clean_and_hard_share_f0_and_differ():
    clean, c1 = tone_frames(100, seed=3, kind="clean")
    hard, c2 = tone_frames(100, seed=3, kind="hard")
    assert torch.equal(c1, c2)
    # every hard frame is degraded somehow: none equals its clean frame
    diff = (clean - hard).abs().amax(1)
    assert bool((diff > 1e-3).all())


def test_f0_in_default_range_and_log_uniform():
    _, cents = tone_frames(4000, seed=0)
    hz = _hz(cents)
    assert float(hz.min()) >= 65.0 - 1e-9 and float(hz.max()) <= 1000.0 + 1e-9
    # log-uniform: about a quarter of the octaves' span in each quarter of the range in cents
    lo, hi = 1200 * math.log2(6.5), 1200 * math.log2(100)
    quarters = torch.histc(cents, bins=4, min=lo, max=hi) / len(cents)
    assert float((quarters - 0.25).abs().max()) < 0.03


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**63 - 1), lo=st.floats(40.0, 2000.0), ratio=st.floats(1.0, 8.0),
       kind=st.sampled_from(KINDS))
def test_f0_in_any_range(seed, lo, ratio, kind):
    hi = min(lo * ratio, 3000.0)
    frames, cents = tone_frames(16, seed=seed, kind=kind, f0_range=(lo, hi))
    hz = _hz(cents)
    assert float(hz.min()) >= lo * (1 - 1e-9) and float(hz.max()) <= hi * (1 + 1e-9)
    assert bool(torch.isfinite(frames).all())
    assert float((frames.double().std(1) - 1).abs().max()) < 1e-4


def test_clean_spectrum_peaks_at_harmonics():
    """A clean frame's strongest spectral peak lies at a multiple of its f0."""
    frames, cents = tone_frames(50, seed=11, f0_range=(200.0, 800.0))
    spec = torch.fft.rfft(frames.double() * torch.hann_window(1024, dtype=torch.float64), dim=1).abs()
    peak_hz = spec.argmax(1).double() * 16000 / 1024
    f0 = _hz(cents)
    k = (peak_hz / f0).round().clamp_min(1)
    assert float((peak_hz - k * f0).abs().max()) <= 2 * 16000 / 1024


def test_every_hard_frame_gets_a_degradation():
    on = tones._degradations(np.random.default_rng(0), 5000)
    assert set(on) == set(HARD_PROBABILITIES)
    m = np.stack(list(on.values()), 1)
    assert m.any(1).all()
    for i, name in enumerate(on):
        assert abs(m[:, i].mean() - HARD_PROBABILITIES[name]) < 0.06, name


def test_empty_and_bad_arguments():
    frames, cents = tone_frames(0, seed=0, kind="hard")
    assert frames.shape == (0, 1024) and cents.shape == (0,)
    for bad in (dict(n=-1), dict(n=2.5), dict(n=True), dict(seed=-1), dict(kind="noisy"),
                dict(f0_range=(0.0, 100.0)), dict(f0_range=(200.0, 100.0)), dict(f0_range=(100.0, 9000.0)),
                dict(f0_range=(100.0, float("nan"))), dict(f0_range=5)):
        kwargs = {"n": 4, "seed": 0, **bad}
        with pytest.raises(InputError):
            tone_frames(**kwargs)


def test_raw_pitch_accuracy():
    true = torch.tensor([5000.0, 5000.0, 5000.0, 5000.0])
    assert raw_pitch_accuracy(torch.tensor([5000.0, 5050.0, 4949.0, float("nan")]), true) == 0.5
    assert raw_pitch_accuracy(torch.tensor([5000.0, 5050.0, 4949.0, 6000.0]), true, tolerance=100.0) == 0.75
    assert raw_pitch_accuracy(torch.zeros(0), torch.zeros(0)) == 0.0
    with pytest.raises(InputError):
        raw_pitch_accuracy(torch.zeros(3), torch.zeros(4))
    with pytest.raises(InputError):
        raw_pitch_accuracy(torch.zeros(3), torch.zeros(3), tolerance=-1.0)


def test_fast():
    tone_frames(8, seed=0, kind="hard")  # warm up
    for kind in KINDS:
        start = time.perf_counter()
        tone_frames(2000, seed=1, kind=kind)
        assert time.perf_counter() - start < 2.0, kind
