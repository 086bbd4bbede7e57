"""Families of layer pairs for the bound checker (theory.md, "What is true / false").

Each generator takes a size n, a pair count and a seed and returns :class:`LayerPair` records
(W ~ N(0, 1/n), b ~ N(0, 1/n) unless said):

| scenario | pair | what it probes |
|---|---|---|
| independent | two independent Gaussian layers | near-equal Marchenko–Pastur spectra, unrelated functions |
| perturbation | W, W + εE (ε = 1e-4, 1e-2, 1e-1) | close parameters ⇒ close functions and spectra |
| negation | (W, b), (−W, −b) | identical spectra, opposite functions (tanh) |
| permutation | (W, b), (PW, Pb) | identical spectra, permuted outputs (ReLU) |
| rotation | (W, b), (WQ, b), Q orthogonal | identical spectra, rotated inputs |
| left_rotation | (W, b), (UW, Ub), U orthogonal | identical spectra, rotated outputs |
| aligned | U diag(sᵢ) Vᵀ, U diag(sⱼ) Vᵀ, b = 0, s > 1 | shared singular frames: A_ij = 0 |
| lowrank | rank n/8 + 1% noise, independent | low-rank spectra |
| scale | (W, b), (cW, cb), c = 1.5, 2 | θ ≈ 0 at different norms |
| cross_shape | n × n and (3n/4) × (5n/4), zero-padded | cross-architecture pairs |
| trained | hidden layers of one MLP trained on a generated task | real trained layers |

Example:
    >>> pairs = generate("negation", n=4, count=2, seed=0)
    >>> len(pairs), pairs[0].scenario
    (2, 'negation')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from qkernels.core.errors import InputError


@dataclass(frozen=True)
class LayerPair:
    """Two layers (W, b) of one scenario, with what distinguishes this pair (``param``)."""

    scenario: str
    index: int
    Wi: torch.Tensor
    bi: torch.Tensor
    Wj: torch.Tensor
    bj: torch.Tensor
    param: str = ""
    extra: dict = field(default_factory=dict)


def _gauss(g: torch.Generator, *shape: int, scale: float) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, generator=g) * scale


def _orth(g: torch.Generator, n: int) -> torch.Tensor:
    Q, R = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))
    return Q * torch.sign(torch.diagonal(R))


def _layer(g: torch.Generator, m: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return _gauss(g, m, n, scale=n**-0.5), _gauss(g, m, scale=n**-0.5)


def _independent(g, n, k):
    for i in range(k):
        (Wi, bi), (Wj, bj) = _layer(g, n, n), _layer(g, n, n)
        yield Wi, bi, Wj, bj, ""


def _perturbation(g, n, k):
    eps = (1e-4, 1e-2, 1e-1)
    for i in range(k):
        e = eps[i % len(eps)]
        W, b = _layer(g, n, n)
        E, eb = _layer(g, n, n)
        yield W, b, W + e * E, b + e * eb, f"eps={e:g}"


def _negation(g, n, k):
    for _ in range(k):
        W, b = _layer(g, n, n)
        yield W, b, -W, -b, ""


def _permutation(g, n, k):
    for _ in range(k):
        W, b = _layer(g, n, n)
        p = torch.randperm(n, generator=g)
        yield W, b, W[p], b[p], ""


def _rotation(g, n, k):
    for _ in range(k):
        W, b = _layer(g, n, n)
        yield W, b, W @ _orth(g, n), b, ""


def _left_rotation(g, n, k):
    for _ in range(k):
        W, b = _layer(g, n, n)
        U = _orth(g, n)
        yield W, b, U @ W, U @ b, ""


def _aligned(g, n, k):
    for _ in range(k):
        U, V = _orth(g, n), _orth(g, n)
        si = (1.5 + 2 * torch.rand(n, dtype=torch.float64, generator=g)).sort(descending=True).values
        sj = (1.5 + 2 * torch.rand(n, dtype=torch.float64, generator=g)).sort(descending=True).values
        z = torch.zeros(n, dtype=torch.float64)
        yield U @ torch.diag(si) @ V.T, z, U @ torch.diag(sj) @ V.T, z, ""


def _lowrank(g, n, k):
    r = max(1, n // 8)
    for _ in range(k):
        Ws = []
        for _ in range(2):
            W = _gauss(g, n, r, scale=r**-0.5) @ _gauss(g, r, n, scale=n**-0.5)
            Ws.append(W + 0.01 * _gauss(g, n, n, scale=n**-0.5))
        yield Ws[0], _gauss(g, n, scale=n**-0.5), Ws[1], _gauss(g, n, scale=n**-0.5), f"rank={r}"


def _scale(g, n, k):
    cs = (1.5, 2.0)
    for i in range(k):
        c = cs[i % len(cs)]
        W, b = _layer(g, n, n)
        yield W, b, c * W, c * b, f"c={c:g}"


def _cross_shape(g, n, k):
    m2, n2 = max(1, 3 * n // 4), max(1, 5 * n // 4)
    for _ in range(k):
        (Wi, bi), (Wj, bj) = _layer(g, n, n), _layer(g, m2, n2)
        M, N = max(n, m2), max(n, n2)
        pad = lambda W: torch.nn.functional.pad(W, (0, N - W.shape[1], 0, M - W.shape[0]))  # noqa: E731
        padb = lambda b: torch.nn.functional.pad(b, (0, M - b.shape[0]))  # noqa: E731
        yield pad(Wi), padb(bi), pad(Wj), padb(bj), f"{n}x{n} vs {m2}x{n2}"


def trained_mlp_layers(n: int, depth: int = 5, steps: int = 300, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The n × n hidden layers of an MLP (depth hidden layers of width n, tanh) trained with Adam
    on a generated regression task: targets from a random teacher MLP on Gaussian inputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        teacher = torch.nn.Sequential(torch.nn.Linear(n, n), torch.nn.Tanh(), torch.nn.Linear(n, 8)).double()
        layers: list[torch.nn.Module] = []
        for _ in range(depth):
            layers += [torch.nn.Linear(n, n), torch.nn.Tanh()]
        student = torch.nn.Sequential(*layers, torch.nn.Linear(n, 8)).double()
        opt = torch.optim.Adam(student.parameters(), lr=1e-3)
        for _ in range(steps):
            x = torch.randn(256, n, dtype=torch.float64, generator=g)
            with torch.no_grad():
                y = teacher(x)
            loss = torch.nn.functional.mse_loss(student(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return [(m.weight.detach().clone(), m.bias.detach().clone()) for m in student if isinstance(m, torch.nn.Linear)
            and m.weight.shape == (n, n)]


def _trained(g, n, k):
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
    layers = trained_mlp_layers(n, depth=5, seed=seed)
    pairs = [(i, j) for i in range(len(layers)) for j in range(i + 1, len(layers))]
    for i, j in pairs[:k]:
        yield layers[i][0], layers[i][1], layers[j][0], layers[j][1], f"layers {i},{j}"


GENERATORS: dict[str, Callable] = {
    "independent": _independent, "perturbation": _perturbation, "negation": _negation,
    "permutation": _permutation, "rotation": _rotation, "left_rotation": _left_rotation, "aligned": _aligned,
    "lowrank": _lowrank, "scale": _scale, "cross_shape": _cross_shape, "trained": _trained,
}


def generate(scenario: str, n: int, count: int, seed: int = 0) -> list[LayerPair]:
    """``count`` pairs of the named scenario with n × n layers (trained: at most C(5, 2) pairs)."""
    if scenario not in GENERATORS:
        raise InputError(f"unknown scenario {scenario!r}; choose from {', '.join(GENERATORS)}")
    if n < 1 or count < 1:
        raise InputError(f"scenario {scenario!r}: need n >= 1 and count >= 1, got n={n}, count={count}")
    g = torch.Generator().manual_seed(seed)
    return [LayerPair(scenario, i, Wi, bi, Wj, bj, param)
            for i, (Wi, bi, Wj, bj, param) in enumerate(GENERATORS[scenario](g, n, count))]


__all__ = ["LayerPair", "GENERATORS", "generate", "trained_mlp_layers"]
