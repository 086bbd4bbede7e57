"""The ``bounds`` section's profiles and units: where each form of Theorem 2.1 holds, how tight it is,
where it fails.

For every scenario of :mod:`qkernels.bounds.scenarios` a unit checks all pairs with each
activation and radius (:func:`qkernels.bounds.check_bounds_batch`) and writes one row per pair ×
activation × R with every quantity of the per-pair record, every bound, its ratio lhs/B and
violation flag. The witness x (the maximizer of the left-hand side) is kept for the worst rows of
each scenario × activation × R and for every violation of a true bound, as space-separated
numbers.

Beside these worst-case forms, one unit per trained model (``in_distribution:<model>``) checks the
in-distribution bound E‖Φᵢ(x) − Φⱼ(x)‖² ≤ L²(tr(ΔW Σ ΔWᵀ) + 2 Δbᵀ ΔW μ + ‖Δb‖²)
(:mod:`qkernels.bounds.distribution`) on the model's real layers, with the inputs each layer sees
on calibration data (captured with forward hooks; conv layers as linear maps on patch rows): pairs
of same-shaped filters and layers, and each layer against perturbed copies of itself (a row
replaced by a copy of another, Gaussian noise, low-rank truncation). One row per pair ×
activation (``kind = in_distribution``).

Example:
    >>> ctx = SectionContext(run=None, profile="quick", device=torch.device("cpu"), seed=0)
    >>> [u.key for u in plan_units(ctx, PROFILES["quick"])][-1]
    'speed:bounds_256'
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from qkernels.bounds.check import FALSE_BOUNDS, TRUE_BOUNDS, SearchConfig, check_bounds_batch
from qkernels.bounds.distribution import (
    check_filter_pairs,
    check_in_distribution_batch,
    layer_inputs,
    layer_operator,
    moments,
)
from qkernels.bounds.scenarios import GENERATORS, generate
from qkernels.nn.data import load_data
from qkernels.nn.models import build_model
from qkernels.nn.models.registry import model_spec, weights_file
from qkernels.suite.sections.base import SectionContext, Unit, timed_unit


@dataclass(frozen=True)
class InDistributionProfile:
    """The in-distribution checks on trained layers (docs/theory.md#in-distribution).

    Example:
        >>> InDistributionProfile().models
        ('lenet5-mnist', 'crepe-tiny')
    """

    #: pretrained built-in models, each checked on its own data set's calibration split
    models: tuple[str, ...] = ("lenet5-mnist", "crepe-tiny")
    #: calibration inputs (images, frames) forwarded per model
    inputs: int = 256
    #: input rows (patches) per layer; a seeded random subset of the rows beyond
    max_rows: int = 4096
    #: filter pairs per layer (a seeded random subset of the candidates; None: all)
    filter_pairs: int | None = 64
    #: layers whose operator takes more inputs are left out (Σ is n × n; a ``skipped`` row says so)
    max_features: int = 4096
    #: Gaussian-noise perturbations W + ε·rms(W)·G, b + ε·rms(b)·g
    noise: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    #: perturbations that replace one row (filter and bias) by a copy of another
    copies: int = 1
    #: low-rank truncations, as fractions of min(m, n) (rank at least 1)
    ranks: tuple[float, ...] = (0.25,)
    activations: tuple[str, ...] = ("identity", "relu", "tanh")


@dataclass(frozen=True)
class BoundsProfile:
    """A profile of the ``bounds`` section.

    Example:
        >>> PROFILES["quick"].radii
        (1.0, 4.0)
    """

    #: layer width of the scenarios (the ``trained`` scenario uses at most 128)
    n: int
    #: pairs per scenario
    count: int
    activations: tuple[str, ...]
    radii: tuple[float, ...]
    #: the left-hand-side search (its seed is replaced per scenario)
    search: SearchConfig
    #: pairs timed by the speed unit
    speed_pairs: int
    #: the in-distribution units on trained layers (None: none)
    in_distribution: InDistributionProfile | None = None


PROFILES: dict[str, BoundsProfile] = {
    "quick": BoundsProfile(n=32, count=8, activations=("identity", "relu", "tanh"), radii=(1.0, 4.0),
                           search=SearchConfig(samples=4096, restarts=8, steps=100), speed_pairs=40,
                           in_distribution=InDistributionProfile()),
    "full": BoundsProfile(n=256, count=100, activations=("identity", "relu", "tanh", "gelu", "sigmoid"),
                          radii=(0.5, 2.0, 8.0), search=SearchConfig(samples=4096, restarts=8, steps=100),
                          speed_pairs=1000,
                          in_distribution=InDistributionProfile(
                              inputs=500, max_rows=16384, filter_pairs=2000, noise=(1e-4, 1e-3, 1e-2, 1e-1, 1.0),
                              copies=3, ranks=(0.125, 0.25, 0.5),
                              activations=("identity", "relu", "tanh", "gelu", "sigmoid"))),
}
#: the profile that decides the claims: the bounds are deterministic checks, as in quick
PROFILES["standard"] = PROFILES["quick"]
#: the functional profile decides only the pruning section's functional claim; here it is the quick profile
PROFILES["functional"] = PROFILES["quick"]

#: witnesses kept per scenario × activation × R (the rows with the largest false-bound ratio)
WITNESSES_PER_GROUP = 3

COLUMNS = {"kind": "pair, in_distribution, skipped (a layer left out of in_distribution) or speed",
           "scenario": "scenario name (in_distribution:<model> for the trained-layer rows)",
           "pair": "pair index in the scenario",
           "param": "scenario parameter (ε, c, rank, shapes); in_distribution: the perturbation",
           "activation": "σ", "R": "input radius",
           "lhs": "estimated sup ‖Φᵢ(x) − Φⱼ(x)‖; in_distribution rows: the mean E‖Φᵢ(x) − Φⱼ(x)‖² over the rows",
           "<bound>": "bound value (in_distribution: L²(tr(ΔW Σ ΔWᵀ) + 2Δbᵀ ΔW μ + ‖Δb‖²))",
           "ratio_<bound>": "lhs / bound", "viol_<bound>": "lhs > bound·(1+1e-9) + 1e-12",
           "x": "witness (kept for the worst rows)",
           "pair_type": "in_distribution: filters, layers, copy, noise or lowrank",
           "op_a, op_b": "in_distribution: the two operators (filters: layer[index]; a perturbation: the layer twice)",
           "inputs": "in_distribution: the layer whose inputs x are (op_a's)",
           "samples": "in_distribution: rows x the mean is over (patches or inputs)",
           "images": "in_distribution: calibration inputs forwarded",
           "trace_term, cross_term, bias_term": "tr(ΔW Σ ΔWᵀ), 2Δbᵀ ΔW μ, ‖Δb‖²",
           "note": "skipped rows: why"}


def _fmt_x(x: torch.Tensor) -> str:
    return " ".join(f"{v:.17g}" for v in x.tolist())


def scenario_rows(scenario: str, cfg: BoundsProfile, seed: int) -> pd.DataFrame:
    """All rows of one scenario (pairs grouped by shape and checked in batches)."""
    n = cfg.n if scenario != "trained" else min(cfg.n, 128)
    pairs = generate(scenario, n, cfg.count, seed)
    by_shape: dict[tuple, list] = {}
    for p in pairs:
        by_shape.setdefault(tuple(p.Wi.shape), []).append(p)
    rows: list[dict] = []
    for group in by_shape.values():
        stack = lambda attr: torch.stack([getattr(p, attr) for p in group])  # noqa: E731
        recs = check_bounds_batch(stack("Wi"), stack("bi"), stack("Wj"), stack("bj"), cfg.activations,
                                  cfg.radii, SearchConfig(**{**cfg.search.__dict__, "seed": seed}))
        for r in recs:
            p = group[r["pair"]]
            r.update({"kind": "pair", "scenario": scenario, "pair": p.index, "param": p.param,
                      "x_norm": float(torch.linalg.vector_norm(r["x"]))})
            rows.append(r)
    df = pd.DataFrame(rows)
    # keep the witness x where it matters: worst rows per group, and any true-bound violation
    worst = df[[f"ratio_{b}" for b in FALSE_BOUNDS]].replace(np.inf, 1e300).max(axis=1)
    keep = set(worst.groupby([df.activation, df.R]).nlargest(WITNESSES_PER_GROUP).index.get_level_values(-1))
    keep |= set(df.index[df[[f"viol_{b}" for b in TRUE_BOUNDS]].any(axis=1)])
    df["x"] = [_fmt_x(x) if i in keep else "" for i, x in zip(df.index, df["x"])]
    front = ["kind", "scenario", "pair", "param", "activation", "R", "m", "n", "N", "L", "dtype"]
    return df[front + [c for c in df.columns if c not in front]]


def speed_rows(pairs: int, seed: int) -> pd.DataFrame:
    """Pairs per second on 256 x 256 layers, tanh and ReLU, two radii (the speed goal's workload)."""
    ps = generate("independent", 256, pairs, seed)
    st = lambda a: torch.stack([getattr(p, a) for p in ps])  # noqa: E731
    t0 = time.perf_counter()
    check_bounds_batch(st("Wi"), st("bi"), st("Wj"), st("bj"), ("tanh", "relu"), (1.0, 4.0), SearchConfig(seed=seed))
    el = time.perf_counter() - t0
    values = (("pairs", pairs), ("seconds", el), ("pairs_per_second", pairs / el),
              ("est_seconds_1000_pairs", 1000 * el / pairs))
    return pd.DataFrame([{"kind": "speed", "scenario": "speed_256", "param": k, "lhs": v} for k, v in values])


# ---- the in-distribution bound on trained layers --------------------------------------------------
def calibration_inputs(model: str, n: int) -> torch.Tensor:
    """The first ``n`` calibration inputs of ``model``'s own data set, normalized as its weights expect
    (mnist5k: the documented split, seed 0; tones: seed 0, ``n`` calibration frames)."""
    spec = model_spec(model)
    if spec.data == "tones":
        data = load_data("tones", seed=0, n_train=1, n_calib=n, n_test=1)
    else:
        data = load_data(spec.data, seed=0)
    if spec.input_stats is not None:
        data = data.with_stats(*spec.input_stats)
    return next(data.calib.batches(n, limit=n))[0]


def captured_inputs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The input of every Conv2d and Linear of ``model`` on the batch ``x`` (forward hooks), by module name."""
    seen: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def keep(module, args, output) -> None:  # returns None: the output is left as it is
            seen.setdefault(name, args[0].detach())
        return keep

    handles = [mod.register_forward_hook(hook(name))
               for name, mod in model.named_modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def sampled_rows(module: torch.nn.Module, x: torch.Tensor, max_rows: int, gen: torch.Generator) -> torch.Tensor:
    """At most ``max_rows`` of the operator's input rows (:func:`qkernels.bounds.distribution.layer_inputs`)
    for the batch ``x``, a seeded random subset in their original order, float64; built image by
    image chunk so that the full patch matrix is never held."""
    per, width = layer_inputs(module, x[:1]).shape
    total = per * x.shape[0]
    keep = torch.arange(total) if total <= max_rows else torch.randperm(total, generator=gen)[:max_rows].sort().values
    chunk = max(1, (1 << 22) // max(1, per * width))
    out = []
    for start in range(0, x.shape[0], chunk):
        lo, hi = start * per, min(x.shape[0], start + chunk) * per
        sel = keep[(keep >= lo) & (keep < hi)] - lo
        if len(sel):
            out.append(layer_inputs(module, x[start:start + chunk])[sel].to(torch.float64))
    return torch.cat(out)


def _filter_candidates(own: range, group: int) -> torch.Tensor:
    """(p, q) with p one of the provider layer's rows ``own`` and q any other row of its shape group
    (q > p within the provider layer: those pairs see the same inputs both ways)."""
    p = torch.arange(own.start, own.stop).repeat_interleave(group)
    q = torch.arange(group).repeat(len(own))
    ok = (q != p) & ~((q >= own.start) & (q < own.stop) & (q < p))
    return torch.stack([p[ok], q[ok]], 1)


def _perturbations(W: torch.Tensor, b: torch.Tensor, cfg: InDistributionProfile, gen: torch.Generator):
    """(pair_type, param, W', b') for the perturbed copies of one layer."""
    m, n = W.shape
    for _ in range(cfg.copies if m > 1 else 0):
        dst, src = torch.randperm(m, generator=gen)[:2].tolist()
        W2, b2 = W.clone(), b.clone()
        W2[dst], b2[dst] = W[src], b[src]
        yield "copy", f"row {dst} <- row {src}", W2, b2
    rms = lambda t: float(t.pow(2).mean().sqrt())  # noqa: E731
    for eps in cfg.noise:
        G = torch.randn(m, n, generator=gen, dtype=torch.float64)
        g = torch.randn(m, generator=gen, dtype=torch.float64)
        yield "noise", f"eps={eps:g}", W + eps * rms(W) * G, b + eps * rms(b) * g
    if cfg.ranks:
        U, S, Vh = torch.linalg.svd(W, full_matrices=False)
        for f in cfg.ranks:
            r = max(1, round(f * min(m, n)))
            yield "lowrank", f"rank={r}/{min(m, n)}", (U[:, :r] * S[:r]) @ Vh[:r], b.clone()


def in_distribution_rows(model: str, cfg: InDistributionProfile, seed: int) -> pd.DataFrame:
    """The in-distribution bound on every operator (Conv2d, Linear) of the pretrained ``model``, on the
    inputs each layer sees for ``cfg.inputs`` calibration inputs: pairs of same-shaped filters
    (within a layer and across layers, on the inputs of the first one's layer), pairs of same-shaped
    layers (both orders), and each layer against its perturbed copies. One row per pair × activation."""
    gen = torch.Generator().manual_seed(seed)
    net = build_model(model)
    x = calibration_inputs(model, cfg.inputs)
    seen = captured_inputs(net, x)
    mods = dict(net.named_modules())
    scenario = f"in_distribution:{model}"
    ops = {name: layer_operator(mods[name]) for name in seen}
    rows: list[dict] = []
    data: dict[str, tuple[torch.Tensor, tuple]] = {}
    for name in seen:
        n = ops[name][0].shape[1]
        if n > cfg.max_features:
            rows.append({"kind": "skipped", "scenario": scenario, "op_a": name, "m": ops[name][0].shape[0], "n": n,
                         "note": f"{n} inputs per row > max_features = {cfg.max_features} (Σ would be {n} x {n})"})
            continue
        X = sampled_rows(mods[name], seen[name], cfg.max_rows, gen)
        data[name] = (X, moments(X))

    count = [0]  # pairs so far

    def add(recs, pair_type, op_a, op_b, inputs, param=""):
        n_pairs = len(recs) // len(cfg.activations)  # records come activation by activation
        for k, r in enumerate(recs):
            rows.append({"kind": "in_distribution", "scenario": scenario, "pair": count[0] + k % n_pairs,
                         "pair_type": pair_type, "param": param,
                         "op_a": op_a(r) if callable(op_a) else op_a, "op_b": op_b(r) if callable(op_b) else op_b,
                         "inputs": inputs, "activation": r["activation"], "m": r["m"], "n": r["n"], "L": r["L"],
                         "dtype": r["dtype"], "samples": r["N"], "images": int(x.shape[0]), "lhs": r["lhs"],
                         "in_distribution": r["bound"], "ratio_in_distribution": r["ratio"],
                         "viol_in_distribution": r["violation"], "trace_term": r["trace"],
                         "cross_term": r["cross"], "bias_term": r["bias_sq"]})
        count[0] += n_pairs

    # (a) same-shaped filters: rows of the operators grouped by the shape of one filter
    kind = lambda name: "conv" if isinstance(mods[name], torch.nn.Conv2d) else "linear"  # noqa: E731
    groups: dict[tuple, list[str]] = {}
    for name in data:
        groups.setdefault((kind(name), tuple(mods[name].weight.shape[1:]), ops[name][0].shape[1]), []).append(name)
    for members in groups.values():
        Ws = torch.cat([ops[nm][0] for nm in members])
        bs = torch.cat([ops[nm][1] for nm in members])
        labels = [f"{nm}[{k}]" for nm in members for k in range(ops[nm][0].shape[0])]
        start = 0
        for nm in members:
            own = range(start, start + ops[nm][0].shape[0])
            start = own.stop
            cand = _filter_candidates(own, len(labels))
            if cfg.filter_pairs is not None and len(cand) > cfg.filter_pairs:
                cand = cand[torch.randperm(len(cand), generator=gen)[:cfg.filter_pairs].sort().values]
            X, st = data[nm]
            recs = check_filter_pairs(Ws, bs, X, cand.tolist(), cfg.activations, stats=st)
            add(recs, "filters", lambda r: labels[r["i"]], lambda r: labels[r["j"]], nm)
    # (a) same-shaped layers, each pair on the inputs of its first layer
    shapes: dict[tuple, list[str]] = {}
    for name in data:
        shapes.setdefault((kind(name), tuple(mods[name].weight.shape)), []).append(name)
    for members in shapes.values():
        for a in members:
            for c in members:
                if a != c:
                    X, st = data[a]
                    add(check_in_distribution_batch(*ops[a], *ops[c], X, cfg.activations, stats=st), "layers", a, c, a)
    # (b) each layer against perturbed copies of itself
    for name, (X, st) in data.items():
        W, b = ops[name]
        for pair_type, param, W2, b2 in _perturbations(W, b, cfg, gen):
            add(check_in_distribution_batch(W, b, W2, b2, X, cfg.activations, stats=st), pair_type, name, name, name,
                param)
    df = pd.DataFrame(rows)
    front = [c for c in ("kind", "scenario", "pair", "param", "pair_type", "op_a", "op_b", "inputs", "activation")
             if c in df.columns]
    back = [c for c in ("note",) if c in df.columns]
    return df[front + [c for c in df.columns if c not in front + back] + back]


def check_profile(cfg: BoundsProfile) -> None:
    """The in-distribution models' weights and data sets are installed (InputError with the pip command if not)."""
    if cfg.in_distribution is not None:
        for model in cfg.in_distribution.models:
            weights_file(model)
            calibration_inputs(model, 1)


def plan_units(ctx: SectionContext, cfg: BoundsProfile) -> list[Unit]:
    """One unit per scenario, one per in-distribution model, then the speed unit."""
    units = [Unit(f"scenario:{s}", f"scenario {s}", lambda s=s: scenario_rows(s, cfg, ctx.seed_for(s)))
             for s in GENERATORS]
    ind = cfg.in_distribution
    for model in ind.models if ind is not None else ():
        key = f"in_distribution:{model}"
        units.append(Unit(key, f"in-distribution bound on {model}",
                          lambda model=model, key=key: in_distribution_rows(model, ind, ctx.seed_for(key))))
    units.append(timed_unit("speed:bounds_256", "speed: 256x256 pairs",
                      lambda: speed_rows(cfg.speed_pairs, ctx.seed_for("speed"))))
    return units


__all__ = ["BoundsProfile", "InDistributionProfile", "PROFILES", "COLUMNS", "WITNESSES_PER_GROUP", "scenario_rows",
           "speed_rows", "in_distribution_rows", "calibration_inputs", "captured_inputs", "sampled_rows",
           "check_profile", "plan_units"]
