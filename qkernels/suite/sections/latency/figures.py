"""Figures of the ``latency`` section (matplotlib, written atomically by
:func:`qkernels.suite.document.plots.save_figure`).

Example:
    >>> import os, tempfile
    >>> import pandas as pd
    >>> g = pd.DataFrame({"model": ["m", "m"], "method": ["l1", "hw-l1"], "batch": [8, 8],
    ...                   "mac_ratio": [2.0, 2.0], "speedup": [1.6, 1.8]})
    >>> p = os.path.join(tempfile.mkdtemp(), "s.png")
    >>> speedup_figure(g, "speed-up", p, goal_efficiency=0.8)
    >>> os.path.getsize(p) > 0
    True
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from qkernels.suite.document.plots import plt, save_figure
from qkernels.suite.sections.latency.plan import HARDWARE, UNIFORM

_MARKERS = {UNIFORM: "o", HARDWARE: "^"}
_STYLES = {UNIFORM: "o-", HARDWARE: "^-"}


def speedup_figure(g: pd.DataFrame, title: str, path: str | Path, goal_efficiency: float) -> None:
    """Achieved against ideal speed-up (the MAC ratio), one panel per model, one colour per batch size,
    with the ideal line and the goal ``goal_efficiency`` × ideal (log-log)."""
    models = list(dict.fromkeys(g.model))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 4.2), squeeze=False)
    batches = sorted(g.batch.unique())
    colors = {b: plt.cm.viridis(i / max(1, len(batches) - 1)) for i, b in enumerate(batches)}
    for ax, model in zip(axes[0], models):
        s = g[g.model == model]
        hi = float(max(s.mac_ratio.max(), s.speedup.max())) * 1.08
        ax.plot([1, hi], [1, hi], "k-", lw=1, label="ideal (MAC ratio)")
        ax.plot([1, hi], [goal_efficiency, goal_efficiency * hi], "k--", lw=1, label=f"{goal_efficiency} × ideal")
        for (method, batch), t in s.groupby(["method", "batch"]):
            ax.scatter(t.mac_ratio, t.speedup, marker=_MARKERS.get(method, "s"), s=34, alpha=0.85,
                       color=colors[batch], label=f"{method} b={int(batch)}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(NullFormatter())
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("ideal speed-up (dense MACs / MACs)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("achieved speed-up (dense / pruned median)")
    axes[0][0].legend(fontsize=7, ncol=1)
    fig.suptitle(title)
    save_figure(fig, path)


def accuracy_figure(curves: dict[str, pd.DataFrame], dense: pd.DataFrame, title: str, path: str | Path) -> None:
    """Top-1 against median latency: one line per method (``curves``: method -> rows with
    ``median_s`` and ``accuracy``, sorted by latency) and the dense model as a star."""
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for method, c in curves.items():
        ax.plot(1e3 * c.median_s, c.accuracy, _STYLES.get(method, "s-"), label=method)
    if not dense.empty:
        ax.scatter([1e3 * dense.median_s.median()], [dense.accuracy.median()], marker="*", s=120, c="k",
                   label="dense")
    ax.set_xlabel("median latency (ms)")
    ax.set_ylabel("top-1 accuracy (one-shot, BN re-estimated)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


__all__ = ["speedup_figure", "accuracy_figure"]
