"""The ``bounds`` section's profiles and units: where each form of Theorem 2.1 holds, how tight it is,
where it fails.

For every scenario of :mod:`qkernels.bounds.scenarios` a unit checks all pairs with each
activation and radius (:func:`qkernels.bounds.check_bounds_batch`) and writes one row per pair ×
activation × R with every quantity of the per-pair record, every bound, its ratio lhs/B and
violation flag. The witness x (the maximizer of the left-hand side) is kept for the worst rows of
each scenario × activation × R and for every violation of a true bound, as space-separated
numbers.

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
from qkernels.bounds.scenarios import GENERATORS, generate
from qkernels.suite.sections.base import SectionContext, Unit, timed_unit


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


PROFILES: dict[str, BoundsProfile] = {
    "quick": BoundsProfile(n=32, count=8, activations=("identity", "relu", "tanh"), radii=(1.0, 4.0),
                           search=SearchConfig(samples=4096, restarts=8, steps=100), speed_pairs=40),
    "full": BoundsProfile(n=256, count=100, activations=("identity", "relu", "tanh", "gelu", "sigmoid"),
                          radii=(0.5, 2.0, 8.0), search=SearchConfig(samples=4096, restarts=8, steps=100),
                          speed_pairs=1000),
}
#: the profile that decides the claims: the bounds are deterministic checks, as in quick
PROFILES["standard"] = PROFILES["quick"]

#: witnesses kept per scenario × activation × R (the rows with the largest false-bound ratio)
WITNESSES_PER_GROUP = 3

COLUMNS = {"kind": "pair or speed", "scenario": "scenario name", "pair": "pair index in the scenario",
           "param": "scenario parameter (ε, c, rank, shapes)", "activation": "σ", "R": "input radius",
           "lhs": "estimated sup ‖Φᵢ(x) − Φⱼ(x)‖", "<bound>": "bound value", "ratio_<bound>": "lhs / bound",
           "viol_<bound>": "lhs > bound·(1+1e-9) + 1e-12", "x": "witness (kept for the worst rows)"}


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


def plan_units(ctx: SectionContext, cfg: BoundsProfile) -> list[Unit]:
    """One unit per scenario, then the speed unit."""
    units = [Unit(f"scenario:{s}", f"scenario {s}", lambda s=s: scenario_rows(s, cfg, ctx.seed_for(s)))
             for s in GENERATORS]
    units.append(timed_unit("speed:bounds_256", "speed: 256x256 pairs",
                      lambda: speed_rows(cfg.speed_pairs, ctx.seed_for("speed"))))
    return units


__all__ = ["BoundsProfile", "PROFILES", "COLUMNS", "WITNESSES_PER_GROUP", "scenario_rows", "speed_rows", "plan_units"]
