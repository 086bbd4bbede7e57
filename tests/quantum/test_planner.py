"""The shot planner: its bounds hold (exact binomial sums, simulation) and are not absurdly loose."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qkernels.core.errors import InputError
from qkernels.quantum.estimation import fidelity_from_counts, fs_from_fidelity, success_probability
from qkernels.quantum.planner import failure_probability, plan_shots, worst_failure

GRID = np.linspace(0, math.pi / 2, 181)


@pytest.mark.parametrize("method, beta", [("swap", 0.5), ("compute_uncompute", 1.0)])
@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3])
def test_hoeffding_is_the_closed_form(method, beta, eps):
    delta = 0.05
    plan = plan_shots(eps, delta, method, bound="hoeffding")
    expected = math.ceil(math.log(2 / delta) / (2 * beta**2 * math.sin(eps) ** 4))
    assert plan.shots in (expected, expected + 1)  # the 1e-9 safety factor may add one shot
    assert plan.bound == "hoeffding" and plan.entries == 1


@pytest.mark.parametrize("method", ["swap", "compute_uncompute"])
@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2])
@pytest.mark.parametrize("d_range", [(0.0, math.pi / 2), (0.0, 0.5), (0.3, 1.2)])
def test_chernoff_never_needs_more_than_hoeffding(method, eps, d_range):
    ch = plan_shots(eps, 0.05, method, d_range=d_range)
    ho = plan_shots(eps, 0.05, method, bound="hoeffding", d_range=d_range)
    assert ch.shots <= ho.shots
    assert d_range[0] <= ch.worst_d <= d_range[1]


@pytest.mark.parametrize("method, eps", [("swap", 0.1), ("swap", 0.2), ("compute_uncompute", 0.02),
                                         ("compute_uncompute", 0.05), ("compute_uncompute", 0.1),
                                         ("compute_uncompute", 0.3)])
def test_plans_hold_exactly_and_a_quarter_of_the_shots_do_not(method, eps):
    delta = 0.05
    plan = plan_shots(eps, delta, method)
    grid = np.unique(np.concatenate([GRID, [plan.worst_d]]))
    worst, _ = worst_failure(plan.shots, eps, method, grid)
    assert worst <= delta
    loose, _ = worst_failure(max(1, plan.shots // 4), eps, method, grid)
    assert loose > delta  # the bound is within a factor 4 of what is needed


def test_union_bound_over_entries_and_narrow_ranges():
    one = plan_shots(0.1, 0.05, "compute_uncompute")
    many = plan_shots(0.1, 0.05, "compute_uncompute", entries=100)
    assert many.shots > one.shots and many.entries == 100
    assert failure_probability(many.shots, 0.1, many.worst_d, "compute_uncompute") <= 0.05 / 100
    narrow = plan_shots(0.1, 0.05, "swap", d_range=(0.0, 1.0))
    full = plan_shots(0.1, 0.05, "swap")
    assert narrow.shots < full.shots / 10  # the swap test is expensive only near d_FS = π/2
    grid = np.linspace(0, 1.0, 101)
    assert worst_failure(narrow.shots, 0.1, "swap", grid)[0] <= 0.05


def test_a_range_where_nothing_can_fail_needs_one_shot():
    plan = plan_shots(0.1, 0.05, "compute_uncompute", d_range=(0.0, 0.0))
    assert plan.shots == 1
    assert float(failure_probability(1, 0.1, 0.0, "compute_uncompute")) == 0.0


@pytest.mark.parametrize("method", ["swap", "compute_uncompute"])
@pytest.mark.parametrize("shots, eps, d", [(300, 0.1, 0.2), (1000, 0.05, 1.0), (50, 0.2, 1.4)])
def test_failure_probability_matches_simulation(method, shots, eps, d):
    """Exact sum against 100,000 seeded runs; 5 standard errors (false failure < 1e-6)."""
    rng = np.random.default_rng(5)
    p = float(success_probability(math.cos(d) ** 2, method))
    d_hat = fs_from_fidelity(fidelity_from_counts(rng.binomial(shots, p, size=100_000), shots, method))
    mc = float(np.mean(np.abs(d_hat - d) > eps))
    exact = float(failure_probability(shots, eps, d, method))
    se = math.sqrt(max(exact * (1 - exact), 1e-12) / 100_000)
    assert abs(mc - exact) <= 5 * se + 1e-9


@pytest.mark.parametrize("kwargs, match", [
    ({"eps": 0}, "eps"), ({"eps": 2.0}, "eps"), ({"eps": True}, "eps"), ({"delta": 0}, "delta"),
    ({"delta": 1.5}, "delta"), ({"entries": 0}, "entries"), ({"entries": 2.5}, "entries"),
    ({"d_range": (1.0, 0.5)}, "d_range"), ({"d_range": (0, 3)}, "d_range"), ({"d_range": 5}, "d_range"),
    ({"method": "bell"}, "method"), ({"bound": "bernstein"}, "bound"),
])
def test_bad_arguments_are_refused(kwargs, match):
    args = {"eps": 0.1, "delta": 0.05, "method": "swap", **kwargs}
    with pytest.raises(InputError, match=match):
        plan_shots(args.pop("eps"), args.pop("delta"), args.pop("method"), **args)


def test_plan_text_states_the_guarantee():
    text = str(plan_shots(0.1, 0.05, "compute_uncompute"))
    assert "369 shots" in text and "chernoff" in text and "0.95" in text
