"""Figures of the ``quantum`` section (matplotlib, written atomically by
:func:`qkernels.suite.document.plots.save_figure`).

Example:
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "e.png")
    >>> error_vs_shots({"swap": (np.array([100, 1000]), np.array([0.1, 0.03]), np.array([0.1, 0.032]),
    ...                          np.array([0.2, 0.07]))}, p)
    >>> os.path.getsize(p) > 0
    True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qkernels.suite.document.plots import plt, save_figure

_COLORS = {"swap": "tab:blue", "compute_uncompute": "tab:orange"}


def error_vs_shots(series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], path: str | Path) -> None:
    """Two log-log panels: RMSE of F̂ (with its theory line ∝ 1/√S) and RMSE of d̂, against shots.

    ``series``: estimator -> (shots, rmse_F, theory_rmse_F, rmse_d).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4))
    for name, (S, rf, th, rd) in series.items():
        c = _COLORS.get(name)
        axes[0].plot(S, rf, "o-", color=c, label=f"{name}: measured")
        axes[0].plot(S, th, "--", color=c, lw=1, label=f"{name}: theory √(Var F̂) ∝ 1/√S")
        axes[1].plot(S, rd, "o-", color=c, label=f"{name}: measured")
    allS = np.unique(np.concatenate([s[0] for s in series.values()])) if series else np.array([100, 10000])
    if series:
        first = max(float(s[3][0]) for s in series.values())
        axes[1].plot(allS, first * np.sqrt(allS[0] / allS), "k:", lw=1.2, label="1/√S reference")
    for ax, ylabel, title in ((axes[0], "RMSE of F̂", "Fidelity error against shots"),
                              (axes[1], "RMSE of d̂ (rad)", "d_FS error against shots")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("shots per entry S")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def error_vs_noise(series: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path,
                   references: dict[str, float] | None = None) -> None:
    """Mean |F̂ − F| of analytic noisy circuits against the depolarizing probability p (log-log).

    ``series``: label -> (p, error); ``references``: label -> a horizontal line (e.g. the
    shot-noise RMSE at 1,000 shots).
    """
    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    markers: dict[str, str] = {}
    for label, (p, err) in series.items():
        m = (p > 0) & (err > 0)
        ls = "-" if "gates" in label else "--"
        c = _COLORS.get(label.split(" ")[0])
        group = label[label.find("("):] if "(" in label else ""  # one marker per source
        mk = markers.setdefault(group, "osv^D<>"[len(markers) % 7])
        ax.plot(p[m], err[m], mk + ls, color=c, label=label)
    for k, (label, y) in enumerate((references or {}).items()):
        ax.axhline(y, color="0.4", lw=0.9, ls=":" if k % 2 else "-.", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("depolarizing probability p")
    ax.set_ylabel("mean |F̂ − F| (analytic, no shot noise)")
    ax.set_title("Fidelity error against noise")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def time_per_entry(series: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> None:
    """Seconds per kernel entry against qubits per state, one line per mode (log y)."""
    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    for label, (q, t) in series.items():
        ax.plot(q, t, "o-", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("qubits per state q")
    ax.set_ylabel("seconds per kernel entry (64 x 64 matrix)")
    ax.set_title("Time per kernel entry")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def bias_vs_budget(measured: dict[str, tuple[np.ndarray, np.ndarray]], exact: dict[str, tuple[np.ndarray, np.ndarray]],
                   path: str | Path, threshold: float) -> None:
    """Relative bias of d̂ against S(1 − F): binned measurements and exact curves."""
    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    for name, (x, y) in exact.items():
        ax.plot(x, y, "-", color=_COLORS.get(name), lw=1.2, label=f"{name}: exact (binomial sum)")
    for name, (x, y) in measured.items():
        ax.plot(x, y, "o", color=_COLORS.get(name), label=f"{name}: measured (binned)")
    ax.axvline(threshold, color="k", lw=0.8, ls=":", label=f"warning below S(1−F) = {threshold:g}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("S·(1 − F)")
    ax.set_ylabel("relative bias of d̂: mean(d̂)/d − 1")
    ax.set_title("Bias of arccos √F̂ near F = 1")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    save_figure(fig, path)


__all__ = ["error_vs_shots", "error_vs_noise", "time_per_entry", "bias_vs_budget"]
