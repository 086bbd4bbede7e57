"""Figures for reports (matplotlib, Agg backend, written atomically as PNG).

Example:
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "h.png")
    >>> heatmap(np.eye(3), ["a", "b", "c"], "identity", p, "d")
    >>> os.path.getsize(p) > 0
    True
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from qkernels.core.atomic import atomic_write_bytes  # noqa: E402


def save_figure(fig, path: str | Path) -> None:
    """Write ``fig`` to ``path`` as a PNG (atomically) and close it; every figure of a report goes through here.

    Example:
        >>> import tempfile, os
        >>> fig, ax = plt.subplots()
        >>> p = os.path.join(tempfile.mkdtemp(), "f.png")
        >>> save_figure(fig, p)
        >>> os.path.getsize(p) > 0
        True
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def heatmap(matrix: np.ndarray, labels: Sequence[str], title: str, path: str | Path, cbar_label: str) -> None:
    """A labelled square heat map of a pairwise-distance matrix."""
    n = len(labels)
    size = min(12.0, 3.0 + 0.28 * n)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(matrix, cmap="viridis", interpolation="nearest")
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=cbar_label, shrink=0.8)
    save_figure(fig, path)


def scatter(x: np.ndarray, y: np.ndarray, xlabel: str, ylabel: str, title: str, path: str | Path,
            groups: Sequence[str] | None = None, loglog: bool = False,
            curve: tuple[np.ndarray, np.ndarray, str] | None = None) -> None:
    """A scatter plot, coloured by ``groups`` when given, with an optional reference curve."""
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    if curve is not None:
        ax.plot(curve[0], curve[1], "k--", lw=1, label=curve[2])
    if groups is None:
        ax.scatter(x, y, s=10, alpha=0.7)
    else:
        garr = np.asarray(groups)
        for g in dict.fromkeys(garr):
            m = garr == g
            ax.scatter(np.asarray(x)[m], np.asarray(y)[m], s=10, alpha=0.7, label=str(g))
    if groups is not None or curve is not None:
        ax.legend(fontsize=8)
    if loglog:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def ranges(labels: Sequence[str], lo: np.ndarray, mid: np.ndarray, hi: np.ndarray, ylabel: str, title: str,
           path: str | Path, extra: tuple[np.ndarray, str] | None = None, logy: bool = False) -> None:
    """Per-label ranges (lo..hi bars with a marker at mid), e.g. distance distributions per layer."""
    n = len(labels)
    fig, ax = plt.subplots(figsize=(min(14.0, 3.0 + 0.35 * n), 4.5))
    xs = np.arange(n)
    ax.vlines(xs, lo, hi, color="tab:blue", alpha=0.5, lw=4, label="5%–95% of pairs")
    ax.plot(xs, mid, "o", color="tab:blue", label="median pair")
    if extra is not None:
        ax.plot(xs, extra[0], "v", color="tab:red", label=extra[1])
    ax.set_xticks(xs, labels, rotation=90, fontsize=7)
    if logy:
        ax.set_yscale("log")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, path)


def lhs_vs_bound(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], groups: Sequence[str],
                 path: str | Path) -> None:
    """One log-log panel per bound: lhs (y) against the bound (x), the line y = x, points by group.

    Bounds of 0 (spectral-only forms on same-spectrum pairs) are drawn at the panel's left edge.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    garr = np.asarray(groups)
    cmap = plt.get_cmap("tab20")
    names = list(dict.fromkeys(garr))
    for ax, (name, bound, lhs) in zip(axes[0], panels):
        pos = bound[bound > 0]
        floor = (pos.min() if pos.size else 1.0) / 10
        b = np.where(bound > 0, bound, floor)
        lo = max(min(b.min(), lhs[lhs > 0].min() if (lhs > 0).any() else 1.0), 1e-12)
        hi = max(b.max(), lhs.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
        for k, g in enumerate(names):
            m = garr == g
            ax.scatter(b[m], np.maximum(lhs[m], lo), s=8, alpha=0.7, color=cmap(k % 20), label=str(g))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"{name} bound")
        ax.set_ylabel("lhs = sup ‖Φi − Φj‖")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    save_figure(fig, path)


def curves_with_bands(
    panels: Sequence[tuple[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]],
    xlabel: str,
    ylabel: str,
    title: str,
    path: str | Path,
    reference: tuple[float, float, float, str] | None = None,
    logx: bool = False,
    invert_x: bool = False,
    palette: Sequence[str] | None = None,
) -> None:
    """Side-by-side panels of mean curves with shaded confidence bands.

    Each panel is ``(panel_title, {label: (x, mean, lo, hi)})``; every label keeps its colour in
    all panels (and across figures, when ``palette`` lists the labels in a fixed order).
    ``reference`` = ``(mean, lo, hi, label)`` draws a horizontal line with its band (e.g. the
    dense model's accuracy).
    """
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(6.0 * max(1, len(panels)), 4.6), squeeze=False,
                             sharey=True)
    labels = list(dict.fromkeys([*(palette or []), *(k for _, curves in panels for k in curves)]))
    ncol = 10 if len(labels) <= 10 else 20  # tab20 once there are more labels than tab10 has colours
    cmap = plt.get_cmap(f"tab{ncol}")
    colour = {k: cmap(i % ncol) for i, k in enumerate(labels)}
    for ax, (ptitle, curves) in zip(axes[0], panels):
        if reference is not None:
            m, lo, hi, rlabel = reference
            ax.axhline(m, color="k", lw=1, ls="--", label=rlabel)
            if np.isfinite(lo) and np.isfinite(hi):
                ax.axhspan(lo, hi, color="k", alpha=0.08)
        for k, (x, mean, lo, hi) in curves.items():
            order = np.argsort(x)
            x, mean, lo, hi = (np.asarray(a, dtype=float)[order] for a in (x, mean, lo, hi))
            ax.plot(x, mean, "o-", ms=3.5, lw=1.5, color=colour[k], label=k)
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                ax.fill_between(x[ok], lo[ok], hi[ok], color=colour[k], alpha=0.18, lw=0)
        if logx:
            ax.set_xscale("log")
        if invert_x:
            ax.invert_xaxis()
        ax.set_xlabel(xlabel)
        ax.set_title(ptitle)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(title)
    save_figure(fig, path)


__all__ = ["plt", "save_figure", "heatmap", "scatter", "ranges", "lhs_vs_bound", "curves_with_bands"]
