"""What a model's outputs mean: its loss, its metric, and how two models' outputs are compared.

Every data set carries a task (``data.task``). Training, fine-tuning, evaluation, the Taylor
criterion's gradients and the label-free comparisons of a pruned model with its dense model all go
through it, so a classifier and a pitch estimator are pruned and measured by the same code.

- :class:`Classification` (image data sets): outputs are logits; the loss is cross-entropy; the
  metric is top-1 accuracy; two models agree on an input when their top-1 classes are equal; their
  divergence is KL(softmax(reference) ‖ softmax(other)); chance is 1 / classes.
- :class:`PitchEstimation` (CREPE on tones): outputs are 360 sigmoid activations over pitch bins
  of 20 cents; the loss is CREPE's binary cross-entropy against a Gaussian-blurred target (σ = 25
  cents); the metric is raw pitch accuracy (decoded pitch within 50 cents of f0); two models agree
  when their decoded pitches are within 50 cents of each other; the divergence is the KL of the
  activations normalized to sum 1; chance is the fraction of the f0 range covered by ±50 cents.

Example:
    >>> import torch
    >>> t = Classification()
    >>> out = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> t.correct(out, torch.tensor([0, 0])).tolist(), t.agree(out, out).tolist()
    ([True, False], [True, True])
    >>> float(t.divergence(out, out).abs().max())
    0.0
"""

from __future__ import annotations

import math

import torch
from torch import nn


class Classification:
    """Logits over classes, integer labels."""

    name = "classification"
    metric = "top-1 accuracy"

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean",
             label_smoothing: float = 0.0) -> torch.Tensor:
        """Cross-entropy of logits ``out`` against labels ``y``."""
        return nn.functional.cross_entropy(out, y, reduction=reduction, label_smoothing=label_smoothing)

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per example: the top-1 class is the label."""
        return out.argmax(1) == y

    def agree(self, out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Per example: the same top-1 class as ``ref``."""
        return out.argmax(1) == ref.argmax(1)

    def divergence(self, out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """Per example: KL(softmax(ref) ‖ softmax(out)) in nats."""
        lr, lo = ref.log_softmax(1), out.log_softmax(1)
        return (lr.exp() * (lr - lo)).sum(1)

    def chance(self, num_classes: int, info: dict | None = None) -> float:
        return 1.0 / max(1, int(num_classes))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PitchEstimation(Classification):
    """CREPE's outputs: sigmoid activations over 360 pitch bins; targets are f0 in cents."""

    name = "pitch"
    metric = "raw pitch accuracy (±50 cents)"
    tolerance_cents = 50.0
    sigma_cents = 25.0

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean",
             label_smoothing: float = 0.0) -> torch.Tensor:
        """Binary cross-entropy against the Gaussian-blurred target of f0 ``y`` (cents), summed over
        bins and averaged (or summed) over examples."""
        from qkernels.nn.models.crepe import pitch_targets

        target = pitch_targets(y.to(out.dtype), sigma=self.sigma_cents).to(out.device)
        per = nn.functional.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), target, reduction="none").sum(1)
        return per.sum() if reduction == "sum" else per if reduction == "none" else per.mean()

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        from qkernels.nn.models.crepe import decode_cents

        return decode_cents(out)

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.decode(out) - y.to(torch.float64)).abs() <= self.tolerance_cents

    def agree(self, out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return (self.decode(out) - self.decode(ref)).abs() <= self.tolerance_cents

    def divergence(self, out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        p = ref.clamp_min(1e-12)
        q = out.clamp_min(1e-12)
        p, q = p / p.sum(1, keepdim=True), q / q.sum(1, keepdim=True)
        return (p * (p.log() - q.log())).sum(1)

    def chance(self, num_classes: int, info: dict | None = None) -> float:
        lo, hi = (info or {}).get("f0_range", (65.0, 1000.0))
        span = 1200.0 * math.log2(float(hi) / float(lo))
        return min(1.0, 2 * self.tolerance_cents / span)


CLASSIFICATION = Classification()
PITCH = PitchEstimation()


def task_of(data) -> Classification:
    """The task of a data split or data set (classification when it names none)."""
    return getattr(data, "task", None) or CLASSIFICATION


__all__ = ["Classification", "PitchEstimation", "CLASSIFICATION", "PITCH", "task_of"]
