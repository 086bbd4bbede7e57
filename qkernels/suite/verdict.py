"""The verdict engine: one statistical decision rule, with stated error rates, for every claim.

A claim's verdict is decided on a **pre-declared primary endpoint**: a family of K paired
comparisons (e.g. QM-FRG against each of l1, l2 and random), each an estimate of the claimed
effect with its standard error and degrees of freedom. The claimed direction is "positive"
(the method is better). With ``alpha`` = 0.025 per direction:

* **supported**: every comparison of the family is significantly positive, Holm-corrected over
  the K comparisons (one-sided tests of H0: effect ≤ 0). The claim "beats every baseline" is an
  intersection, so this is conservative.
* **refuted**: not supported, and at least one comparison is shown to be *below the margin*
  (one-sided test of H0: effect ≥ margin, Holm-corrected): the method is worse than that
  baseline, or equivalent to it within ±margin. Either way the claimed effect is excluded.
* **inconclusive**: neither (the data do not decide: never reported as refuted).
* **not measured**: the endpoint has no comparable data.

So a false "supported" (true effect ≤ 0 everywhere) happens with probability ≤ 2.5% and a false
"refuted" (true effect ≥ margin everywhere) with probability ≤ 2.5%: at most 5% false verdicts.
The reported intervals are two-sided Bonferroni intervals at simultaneous level 95% over the K
comparisons (each side at 2.5%/K), so "refuted" means such an interval lies below the margin and
"supported" that every interval lies above 0 (Holm can decide slightly more often than the
Bonferroni intervals suggest). :mod:`qkernels.suite.calibration` measures these rates on simulated
sweeps of the real sweep's shape.

Example:
    >>> fam = [Comparison("vs a", 0.05, 0.01, 9, 10), Comparison("vs b", 0.04, 0.01, 9, 10)]
    >>> decide(fam, margin=0.01).verdict
    'supported'
    >>> decide([Comparison("vs a", -0.05, 0.01, 9, 10)], margin=0.01).verdict
    'refuted'
    >>> decide([Comparison("vs a", 0.01, 0.02, 9, 10)], margin=0.01).verdict
    'inconclusive'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _st

#: the verdict vocabulary, in order from best to worst for the claim
VERDICTS = ("supported", "inconclusive", "refuted", "not measured")
#: one-sided error rate per direction (false supported, false refuted)
ALPHA = 0.025


@dataclass(frozen=True)
class Comparison:
    """One paired comparison of a family: ``estimate`` of the claimed effect (positive = as claimed),
    its standard error ``se``, degrees of freedom ``df`` (``math.inf``: normal) and ``n`` pairs."""

    label: str
    estimate: float
    se: float
    df: float
    n: int
    note: str = ""

    def usable(self) -> bool:
        return math.isfinite(self.estimate) and math.isfinite(self.se) and self.se >= 0 and self.n >= 1


@dataclass(frozen=True)
class Decision:
    """The verdict of a family, its headline (the decisive comparison with its corrected interval),
    the evidence text and the per-comparison table (``family``)."""

    verdict: str
    headline: str
    evidence: str
    family: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (monotone, capped at 1; NaN stays NaN).

    Example:
        >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if len(ok) == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    k = len(order)
    adj = np.minimum(1.0, np.maximum.accumulate((k - np.arange(k)) * p[order]))
    out[order] = adj
    return out


def _sf(t: float, df: float) -> float:
    """P(T ≥ t) for Student t with ``df`` (normal for df = inf)."""
    return float(_st.norm.sf(t) if not math.isfinite(df) else _st.t.sf(t, df))


def _q(level: float, df: float) -> float:
    return float(_st.norm.ppf(level) if not math.isfinite(df) else _st.t.ppf(level, df))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` (only the first right) and
    ``c`` (only the second right): a binomial test of b against Binomial(b + c, 1/2).

    Example:
        >>> round(mcnemar_exact(10, 2), 4), mcnemar_exact(0, 0)
        (0.0386, 1.0)
    """
    n = int(b) + int(c)
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * _st.binom.cdf(min(b, c), n, 0.5)))


def paired_comparison(label: str, diffs: Sequence[float], test_var: float = 0.0, note: str = "") -> Comparison:
    """A :class:`Comparison` from paired differences over replicates (seeds).

    ``test_var`` adds the variance of the mean that comes from a fixed, finite test set (see
    :func:`testset_variance`), so seeds and test examples are both treated as sampled. With one
    replicate only the test-set variance is left (normal reference); with none, or one and no
    test-set variance, the comparison is not usable.

    Example:
        >>> c = paired_comparison("vs b", [0.01, 0.03, 0.02])
        >>> round(c.estimate, 3), round(c.se, 4), c.df
        (0.02, 0.0058, 2)
    """
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return Comparison(label, math.nan, math.nan, math.nan, 0, note or "no paired replicates")
    est = float(d.mean())
    tv = float(test_var) if math.isfinite(test_var) and test_var > 0 else 0.0
    if n == 1:
        if tv == 0.0:
            return Comparison(label, est, math.nan, math.nan, 1, note or "one replicate and no per-example data")
        return Comparison(label, est, math.sqrt(tv), math.inf, 1, note)
    var = float(d.var(ddof=1)) / n + tv
    return Comparison(label, est, math.sqrt(var), n - 1, n, note)


def testset_variance(per_example_diffs: np.ndarray) -> float:
    """Variance of a mean accuracy difference due to the finite test set: ``var_i(D̄_i) / N`` for
    per-example differences ``D[..., i]`` (correct_a − correct_b in {−1, 0, 1}), averaged over the
    leading axes (replicates, cells) that share the same N test examples.

    Example:
        >>> round(testset_variance(np.array([[1, 0, 0, -1], [1, 0, 0, 0]])), 4)
        0.099
    """
    D = np.asarray(per_example_diffs, dtype=float)
    D = D.reshape(-1, D.shape[-1]).mean(axis=0)
    n = D.shape[-1]
    return float(D.var(ddof=1) / n) if n >= 2 else math.nan


def verdict_of(estimates: np.ndarray, ses: np.ndarray, dfs: np.ndarray, margin: float, alpha: float = ALPHA) -> str:
    """The verdict of :func:`decide` from arrays alone (fast; for simulations). All entries must be usable.

    Example:
        >>> verdict_of(np.array([0.05, 0.04]), np.array([0.01, 0.01]), np.array([9, 9]), 0.01)
        'supported'
    """
    est, se, df = (np.asarray(x, dtype=float) for x in (estimates, ses, dfs))
    if len(est) == 0:
        return "not measured"
    with np.errstate(divide="ignore", invalid="ignore"):
        z_pos, z_below = est / se, (margin - est) / se
    p_pos = np.where(se == 0, np.where(est > 0, 0.0, 1.0),
                     np.where(np.isfinite(df), _st.t.sf(z_pos, np.where(np.isfinite(df), df, 1)), _st.norm.sf(z_pos)))
    p_below = np.where(se == 0, np.where(est < margin, 0.0, 1.0),
                       np.where(np.isfinite(df), _st.t.sf(z_below, np.where(np.isfinite(df), df, 1)),
                                _st.norm.sf(z_below)))
    if bool((holm(p_pos) < alpha).all()):
        return "supported"
    return "refuted" if bool((holm(p_below) < alpha).any()) else "inconclusive"


def decide(family: Sequence[Comparison], *, margin: float, alpha: float = ALPHA, unit: str = "",
           scale: float = 1.0, what: str = "") -> Decision:
    """The verdict of a family of comparisons (the rule in the module docstring).

    ``margin``: the smallest effect that counts as the claimed one (same unit as the estimates);
    ``scale``/``unit``: how estimates are printed (e.g. ``100``, ``" points"``); ``what``: a
    sentence naming the endpoint, put first in the evidence.
    """
    fam = [c for c in family if c.usable()]
    skipped = [c for c in family if not c.usable()]
    cols = ["comparison", "estimate", "se", "df", "n", "lo", "hi", "p_positive", "p_positive_holm",
            "p_below_margin", "p_below_margin_holm", "note"]
    if not fam:
        why = "; ".join(f"{c.label}: {c.note or 'no data'}" for c in skipped) or "no comparisons"
        return Decision("not measured", f"not measured: {why}", f"{what} Not measured: {why}.".strip(),
                        pd.DataFrame(columns=cols))
    k = len(fam)
    rows = []
    for c in fam:
        if c.se == 0:
            p_pos = 0.0 if c.estimate > 0 else 1.0
            p_below = 0.0 if c.estimate < margin else 1.0
            lo = hi = c.estimate
        else:
            p_pos = _sf(c.estimate / c.se, c.df)
            p_below = _sf((margin - c.estimate) / c.se, c.df)
            half = _q(1 - alpha / k, c.df) * c.se
            lo, hi = c.estimate - half, c.estimate + half
        rows.append({"comparison": c.label, "estimate": c.estimate, "se": c.se, "df": c.df, "n": c.n, "lo": lo,
                     "hi": hi, "p_positive": p_pos, "p_below_margin": p_below, "note": c.note})
    t = pd.DataFrame(rows)
    t["p_positive_holm"] = holm(t.p_positive)
    t["p_below_margin_holm"] = holm(t.p_below_margin)
    t = t[cols]
    verdict = verdict_of(np.array([c.estimate for c in fam]), np.array([c.se for c in fam]),
                         np.array([c.df for c in fam]), margin, alpha)
    supported, refuted = verdict == "supported", verdict == "refuted"
    # headline: the comparison that decides (the weakest for "supported"/"inconclusive", the clearest refutation)
    i = int(t.p_below_margin_holm.idxmin()) if refuted else int(t.estimate.idxmin())
    h = t.loc[i]

    def num(x: float) -> str:
        return (f"{x * scale:+.2f}" if abs(x * scale) < 100 else f"{x * scale:+.3g}").replace("-", "−")

    headline = f"{h.comparison}: {num(h.estimate)} [{num(h.lo)}, {num(h.hi)}]{unit}"
    parts = [f"{r.comparison} {num(r.estimate)} [{num(r.lo)}, {num(r.hi)}]{unit} (n = {int(r.n)}, Holm p(>0) = "
             f"{r.p_positive_holm:.2g}, p(<margin) = {r.p_below_margin_holm:.2g})" for r in t.itertuples()]
    rule = (f"Holm over {k} comparison(s), one-sided at {alpha:g} per direction; intervals: simultaneous 95% "
            f"(Bonferroni); margin {num(margin).lstrip('+')}{unit}")
    small = supported and bool((t.estimate < margin).any())
    ev = " ".join(x for x in (what, f"**{verdict}**: " + "; ".join(parts) + ".", rule + ".",
                              "(Significantly positive but smaller than the margin.)" if small else "",
                              ("Not usable: " + "; ".join(f"{c.label} ({c.note})" for c in skipped) + ".")
                              if skipped else "") if x)
    return Decision(verdict, headline, ev, t)


def worst(verdicts: Sequence[str]) -> str:
    """The verdict of a claim that needs every part: refuted if any part is, supported only if all are.

    Example:
        >>> worst(["supported", "inconclusive"]), worst(["supported", "refuted"]), worst([])
        ('inconclusive', 'refuted', 'not measured')
    """
    v = [x for x in verdicts if x != "not measured"]
    if not v:
        return "not measured"
    if "refuted" in v:
        return "refuted"
    return "supported" if all(x == "supported" for x in v) else "inconclusive"


__all__ = ["VERDICTS", "ALPHA", "Comparison", "Decision", "holm", "mcnemar_exact", "paired_comparison",
           "testset_variance", "decide", "verdict_of", "worst"]
