"""Tests of qkernels.bounds.activations: the functions and their Lipschitz constants L = sup |σ'|.

References: NumPy/SciPy closed forms of σ (scipy.special.ndtr for the Gaussian CDF of the exact
GELU), sup |σ'| estimated on a fine grid by central finite differences of those NumPy forms and
by torch autograd, refined with a bounded scalar search near the grid maximum.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import optimize, special

from qkernels.bounds.activations import ACTIVATIONS, get_activation
from qkernels.core.errors import InputError

NAMES = ["identity", "relu", "tanh", "sigmoid", "gelu"]

REF = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": special.expit,
    "gelu": lambda z: z * special.ndtr(z),
}

# derivatives in closed form (independent of the module): used for the refinement step
DREF = {
    "identity": lambda z: np.ones_like(z),
    "relu": lambda z: (z > 0).astype(float),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "sigmoid": lambda z: special.expit(z) * (1 - special.expit(z)),
    "gelu": lambda z: special.ndtr(z) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi),
}

EXPECTED_L = {"identity": 1.0, "relu": 1.0, "tanh": 1.0, "sigmoid": 0.25, "gelu": 1.1289}

GRID = np.linspace(-30.0, 30.0, 600_001)  # step 1e-4, contains 0 and ±√2 up to 1e-4


def test_all_names_registered():
    assert set(NAMES) <= set(ACTIVATIONS)
    for name in NAMES:
        a = get_activation(name)
        assert a.name == name
        assert math.isfinite(a.lipschitz) and a.lipschitz > 0


@pytest.mark.parametrize("name", NAMES)
def test_function_matches_numpy_reference(name):
    z = np.concatenate([np.linspace(-12, 12, 2001), [0.0, 1e-8, -1e-8, math.sqrt(2), -math.sqrt(2)]])
    got = get_activation(name).fn(torch.as_tensor(z, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, REF[name](z), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_closed_form_and_autograd(name):
    z = np.concatenate([np.linspace(-12, 12, 2001), [1e-8, -1e-8, math.sqrt(2), -math.sqrt(2)]])
    act = get_activation(name)
    zt = torch.as_tensor(z, dtype=torch.float64)
    got = act.deriv(zt, act.fn(zt)).numpy()
    np.testing.assert_allclose(got, DREF[name](z), rtol=1e-12, atol=1e-14)
    za = zt.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(act.fn(za).sum(), za)
    np.testing.assert_allclose(got, g.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_lipschitz_constant_by_finite_differences(name):
    h = 1e-5
    d = (REF[name](GRID + h) - REF[name](GRID - h)) / (2 * h)
    if name == "relu":  # central differences straddling the kink give 1/2 there; the sup is still 1
        sup = float(np.max(np.abs(d)))
    else:
        k = int(np.argmax(np.abs(d)))
        f = lambda z: -abs(float(DREF[name](np.array([z]))[0]))  # noqa: E731
        res = optimize.minimize_scalar(f, bounds=(GRID[k] - 1e-3, GRID[k] + 1e-3), method="bounded",
                                       options={"xatol": 1e-12})
        sup = max(float(np.max(np.abs(d))), -float(res.fun))
    L = get_activation(name).lipschitz
    assert abs(sup - L) <= 1e-6, (name, sup, L)
    assert L == pytest.approx(EXPECTED_L[name], abs=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_lipschitz_constant_by_autograd(name):
    z = torch.as_tensor(GRID, dtype=torch.float64).requires_grad_(True)
    (g,) = torch.autograd.grad(get_activation(name).fn(z).sum(), z)
    sup = float(g.abs().max())
    L = get_activation(name).lipschitz
    assert abs(sup - L) <= 1e-6, (name, sup, L)


def test_gelu_constant_closed_form():
    # sup of Φ(x) + xφ(x): derivative 2φ(x) − x²φ(x) = 0 at x = √2
    x = math.sqrt(2)
    closed = special.ndtr(x) + x * math.exp(-1.0) / math.sqrt(2 * math.pi)
    assert get_activation("gelu").lipschitz == pytest.approx(closed, rel=1e-14)
    assert get_activation("gelu").lipschitz == pytest.approx(1.1289, abs=5e-5)


@pytest.mark.parametrize("name", NAMES)
def test_lipschitz_inequality_on_random_pairs(name):
    rng = np.random.default_rng(5)
    act = get_activation(name)
    for scale in (1e-3, 1.0, 5.0, 50.0):
        a = rng.standard_normal(20_000) * scale
        b = a + rng.standard_normal(20_000) * rng.choice([1e-6, 1e-2, 1.0, 10.0], 20_000)
        # include pairs straddling the point where |σ'| is largest
        a[:100], b[:100] = math.sqrt(2) - 1e-4, math.sqrt(2) + 1e-4
        fa = act.fn(torch.as_tensor(a)).numpy()
        fb = act.fn(torch.as_tensor(b)).numpy()
        lhs = np.abs(fa - fb)
        rhs = act.lipschitz * np.abs(a - b)
        assert np.all(lhs <= rhs * (1 + 1e-9) + 1e-15), (name, scale, float(np.max(lhs - rhs)))
    # the constant is also sharp: a nearby pair at the point of steepest slope gets close to L
    x0 = {"gelu": math.sqrt(2), "relu": 1.0, "identity": 3.0}.get(name, 0.0)
    a, b = np.array([x0 - 1e-5]), np.array([x0 + 1e-5])
    q = abs(float(act.fn(torch.as_tensor(a))[0] - act.fn(torch.as_tensor(b))[0])) / 2e-5
    assert q == pytest.approx(act.lipschitz, rel=1e-6)


@pytest.mark.parametrize("bad", ["Tanh", "softplus", "", "relu6", " relu"])
def test_unknown_name_rejected(bad):
    with pytest.raises(InputError) as exc:
        get_activation(bad)
    assert isinstance(exc.value, ValueError)
    assert "identity" in str(exc.value)  # the message lists the known ones
