"""Channel statistics on calibration data: one forward pass, the first two moments of every layer.

The data-aware criteria (functional QM-FRG states, the least-squares and optimal-transport merges,
activation importance, ThiNet) all read the same statistics of a trained model on its calibration
images. :func:`channel_moments` runs the model once over the batches with forward hooks on every
(non-transposed) convolution and linear layer and accumulates, per layer,

* **outputs** (``out``): the channels the layer produces (its pre-activations, bias included), over
  the batch and every spatial position: count n, sum Σy and Gram Σ y yᵀ (C × C);
* **inputs** (``inp``): the channels the layer reads (for a linear layer after a flatten: every input
  feature), the same three sums: the activations its producers pass on, after their nonlinearity.

Everything is float64 and streamed (a layer's positions are taken in chunks), so memory is
O(C²) per layer whatever the image size. The :class:`Moments` of a layer give the mean, the
(uncentred) second moment and the centred covariance or correlation of its channels.

Example:
    >>> import torch
    >>> lin = torch.nn.Linear(2, 3)
    >>> stats = channel_moments(torch.nn.Sequential(lin), [(torch.randn(64, 2), None)])
    >>> m = stats[lin].out
    >>> m.count, tuple(m.second().shape)
    (64, (3, 3))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.pruning.groups import is_weighted

#: positions of one layer's activations turned to float64 at a time (bounds the memory of a hook)
CHUNK = 1 << 18


@dataclass
class Moments:
    """Running first and second moments of C channels: ``count``, ``total`` (C,), ``gram`` (C, C).

    Example:
        >>> m = Moments.empty(2)
        >>> m.add(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> m.mean().tolist(), m.second().tolist()
        ([2.0, 3.0], [[5.0, 7.0], [7.0, 10.0]])
    """

    count: int
    total: torch.Tensor
    gram: torch.Tensor

    @classmethod
    def empty(cls, channels: int) -> Moments:
        """Zero moments of ``channels`` channels."""
        return cls(0, torch.zeros(channels, dtype=torch.float64), torch.zeros(channels, channels, dtype=torch.float64))

    def add(self, rows: torch.Tensor) -> None:
        """Accumulate ``rows`` (P, C): P observations of the C channels."""
        for start in range(0, rows.shape[0], CHUNK):
            y = rows[start:start + CHUNK].to(torch.float64)  # on the model's device; the sums come to the CPU
            self.count += int(y.shape[0])
            self.total += y.sum(0).cpu()
            self.gram += (y.T @ y).cpu()

    def mean(self) -> torch.Tensor:
        """E[y] (C,)."""
        return self.total / max(self.count, 1)

    def second(self) -> torch.Tensor:
        """E[y yᵀ] (C, C), uncentred."""
        return self.gram / max(self.count, 1)

    def covariance(self) -> torch.Tensor:
        """E[(y − μ)(y − μ)ᵀ] (C, C), symmetrized and clipped so the diagonal is ≥ 0."""
        mu = self.mean()
        c = self.second() - torch.outer(mu, mu)
        c = (c + c.T) / 2
        c.diagonal().clamp_(min=0.0)
        return c

    def subset(self, idx: Sequence[int]) -> Moments:
        """The moments of the channels ``idx`` (in that order)."""
        i = torch.as_tensor(list(idx), dtype=torch.long)
        return Moments(self.count, self.total[i].clone(), self.gram[i][:, i].clone())


@dataclass
class LayerMoments:
    """The moments of one layer's outputs (``out``) and inputs (``inp``) over the calibration data."""

    out: Moments | None = None
    inp: Moments | None = None
    #: input feature maps' spatial size per channel (1 for linear layers; H·W for a conv's input)
    meta: dict = field(default_factory=dict)


def _channel_rows(t: torch.Tensor, linear: bool) -> torch.Tensor:
    """A layer's activation as rows of channels: (N, C) for linear layers, (N·spatial, C) for convs."""
    if linear or t.ndim == 2:
        return t.reshape(-1, t.shape[-1])
    return t.movedim(1, -1).reshape(-1, t.shape[1])


@torch.no_grad()
def channel_moments(model: nn.Module, batches: Iterable[tuple[torch.Tensor, object]],
                    layers: Sequence[nn.Module] | None = None, *, inputs: bool = True,
                    outputs: bool = True) -> dict[nn.Module, LayerMoments]:
    """The per-layer channel moments of ``model`` over ``batches`` (see the module docstring).

    Args:
        model: the model (put in eval mode for the pass, then restored).
        batches: ``(inputs, labels)`` pairs (labels are ignored) on the model's device.
        layers: the layers to watch (default: every non-transposed convolution and linear layer).
        inputs / outputs: which sides to accumulate.

    Returns:
        layer -> :class:`LayerMoments`.

    Raises:
        InputError: no batch, or a batch that is not a tensor.
    """
    watch = [m for m in model.modules() if is_weighted(m)] if layers is None else list(layers)
    stats = {m: LayerMoments() for m in watch}
    handles = []

    def hook(mod, args, out):
        st = stats[mod]
        lin = isinstance(mod, nn.Linear)
        if outputs:
            rows = _channel_rows(out.detach(), lin)
            if st.out is None:
                st.out = Moments.empty(rows.shape[1])
            st.out.add(rows)
        if inputs:
            x = args[0].detach()
            rows = _channel_rows(x, lin)
            if st.inp is None:
                st.inp = Moments.empty(rows.shape[1])
                st.meta["spatial"] = 1 if lin or x.ndim == 2 else int(x[0, 0].numel())
            st.inp.add(rows)

    for m in watch:
        handles.append(m.register_forward_hook(hook))
    was = model.training
    model.eval()
    seen = 0
    try:
        for batch in batches:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            if not isinstance(x, torch.Tensor):
                raise InputError(f"calibration batch: expected a tensor of inputs, got {type(x).__name__}")
            model(x)
            seen += 1
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    if not seen:
        raise InputError("channel statistics need at least one calibration batch")
    return stats


__all__ = ["CHUNK", "Moments", "LayerMoments", "channel_moments"]
