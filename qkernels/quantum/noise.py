"""Depolarizing noise for the kernel circuits, as a PennyLane noise model.

``Noise(p, where)`` is a single-qubit depolarizing channel with probability p (PennyLane's
``DepolarizingChannel``: ρ → (1 − p)ρ + (p/3)(XρX + YρY + ZρZ)) applied

* ``where="gates"``: after every gate of the circuit as the estimator writes it, on each wire the
  gate acts on. The state preparation counts as one gate (so it is followed by noise on all its
  wires), as do each Hadamard and controlled swap of the swap test and the reflection unitary or
  adjoint state preparation of compute-uncompute. Noise is inserted with ``qml.add_noise`` at the
  user level, before the device decomposes anything.
* ``where="measure"``: only on the measured wires, just before the measurement (the noise model's
  ``meas_map``): the ancilla of the swap test, all q wires of compute-uncompute.

Noise needs a density-matrix simulator: ``device="default.mixed"``.

For the swap test with measurement noise the effect is exact and simple: P(0) moves towards 1/2,
so the fidelity estimate shrinks to F·(1 − 4p/3).

Example:
    >>> as_noise(0.01)
    Noise(p=0.01, where='gates')
    >>> str(as_noise({"p": 0.05, "where": "measure"}))
    'depolarizing p=0.05 before measurement'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

from qkernels.core.errors import InputError

Where = Literal["gates", "measure"]
WHERE: tuple[str, ...] = ("gates", "measure")


@dataclass(frozen=True)
class Noise:
    """Depolarizing noise with probability ``p`` after every gate or before measurement."""

    p: float
    where: Where = "gates"

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, Real) or not math.isfinite(float(self.p)):
            raise InputError(f"noise: p must be a real number in [0, 1], got {self.p!r}")
        if not 0.0 <= float(self.p) <= 1.0:
            raise InputError(f"noise: p must lie in [0, 1], got {self.p!r}")
        if self.where not in WHERE:
            raise InputError(f"noise: where must be one of {', '.join(WHERE)}, got {self.where!r}")
        object.__setattr__(self, "p", float(self.p))

    def __str__(self) -> str:
        place = "after every gate" if self.where == "gates" else "before measurement"
        return f"depolarizing p={self.p:g} {place}"


def as_noise(noise: Any) -> Noise | None:
    """None, a :class:`Noise`, a probability p (after every gate), ``(p, where)`` or ``{"p", "where"}``."""
    if noise is None or isinstance(noise, Noise):
        return noise
    if isinstance(noise, dict):
        unknown = set(noise) - {"p", "where"}
        if unknown or "p" not in noise:
            raise InputError(f"noise: expected keys 'p' and optionally 'where', got {sorted(noise)}")
        return Noise(noise["p"], noise.get("where", "gates"))
    if isinstance(noise, tuple) and len(noise) == 2:
        return Noise(noise[0], noise[1])
    if isinstance(noise, Real) and not isinstance(noise, bool):
        return Noise(noise)
    raise InputError(f"noise: expected None, a probability, (p, where) or qkernels.Noise, got {noise!r}")


def noise_model(noise: Noise) -> Any:
    """The ``qml.NoiseModel`` of ``noise``."""
    import pennylane as qml

    channel = qml.noise.partial_wires(qml.DepolarizingChannel, noise.p)
    always = qml.BooleanFn(lambda _: True)
    if noise.where == "gates":
        return qml.NoiseModel({always: channel})
    return qml.NoiseModel({}, meas_map={always: channel})


__all__ = ["Noise", "as_noise", "noise_model", "WHERE"]
