"""The README's speed tables, generated from committed pytest-benchmark JSON files.

:func:`speed_markdown` turns benchmark files into Markdown: the goal table (every speed goal of
:mod:`qkernels.suite.speed.targets` that the files measure, with its value and met/missed), then
one table per goal measured case by case (the contention slowdown per kernel, with and without
the thread policy; the eager and deployed speed-up efficiency per model and batch).
``python tools/speed_table.py FILE.json ... [--update README.md]`` prints it, or rewrites the
part of the README between ``<!-- speed-table:begin -->`` and ``<!-- speed-table:end -->``;
``tests/suite/report/test_speedtable.py`` checks that the README's part is what the committed
files give, so the README's speed numbers cannot drift from them.

Example:
    >>> data = {"benchmarks": [{"name": "bench_contention[fs_allpairs]", "group": "contention",
    ...          "stats": {"median": 1.0}, "extra_info": {"kernel": "fs_allpairs", "slowdown": 1.2,
    ...          "quiet_s": 0.1, "busy_s": 0.12, "slowdown_without_policy": 2.5}}]}
    >>> print(speed_markdown_from({"x.json": data}).splitlines()[2])
    | slowdown of each headline kernel (all-pairs d_FS and W2cum, spectra, bound checker, aligned distance) while another process spins on one core, with the thread policy | ≤ 2 | 1.2 | met |
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from qkernels.core.errors import InputError
from qkernels.suite.report.bench import benchmark_row, goal_rows, load_bench_json

BEGIN, END = "<!-- speed-table:begin -->", "<!-- speed-table:end -->"


def _fmt(v: object, digits: int = 3) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if not math.isfinite(float(v)):
            return ""
        return f"{float(v):.{digits}g}"
    return str(v)


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return out


def speed_markdown_from(files: dict[str, dict]) -> str:
    """The Markdown of already-loaded benchmark files (name -> pytest-benchmark JSON)."""
    rows = [benchmark_row(b) for data in files.values() for b in data["benchmarks"]]
    goals = goal_rows(rows)
    lines = _table(["goal", "target", "measured", "status"],
                   [[g["goal"], g["target"], g["value"], g["status"]] for _, g in goals.iterrows()])
    cont = [r for r in rows if r["name"].startswith("bench_contention[")]
    if cont:
        lines += ["", "Contention (one core of two taken by a spinning process; medians of alternating rounds):", ""]
        lines += _table(["kernel", "quiet (s)", "busy (s)", "slowdown", "without the policy", "met (≤ 2×)"],
                        [[r["extra_info"].get("kernel"), r["extra_info"].get("quiet_s"), r["extra_info"].get("busy_s"),
                          r["extra_info"].get("slowdown"), r["extra_info"].get("slowdown_without_policy"),
                          r["extra_info"].get("slowdown", math.inf) <= 2.0] for r in cont])
    dep = [r for r in rows if r["name"].startswith("bench_speed_goal_deployed[")]
    if dep:
        lines += ["", "Eager and deployed speed-up at p = 0.5 on one CPU thread, as a fraction of the MAC reduction "
                      "(goal ≥ 0.8):", ""]
        lines += _table(["model", "batch", "deployment", "MAC ratio", "eager", "deployed", "met", "max |Δ output|"],
                        [[r["extra_info"].get("model"), r["extra_info"].get("batch"),
                          _deployment(r["extra_info"]),
                          r["extra_info"].get("mac_ratio"), r["extra_info"].get("eager_efficiency"),
                          r["extra_info"].get("efficiency"), bool(r["extra_info"].get("goal_met")),
                          r["extra_info"].get("max_abs_diff")] for r in dep])
    return "\n".join(lines) + "\n"


def _deployment(info: dict) -> str:
    if info.get("compiled") == "inductor":
        what = "compiled"
    elif info.get("bn_folded"):
        what = f"{info['bn_folded']} BN folded"
    elif info.get("fold_error"):
        what = "BN kept (fx cannot trace the model)"
    else:
        what = "no BN"
    return what + (", channels_last" if info.get("channels_last") else "")


def speed_markdown(paths: list[Path]) -> str:
    """The Markdown of benchmark files on disk; InputError names a file that cannot be read."""
    files = {}
    for p in paths:
        data, why = load_bench_json(Path(p))
        if data is None:
            raise InputError(str(why))
        files[Path(p).name] = data
    return speed_markdown_from(files)


def replace_block(text: str, block: str) -> str:
    """``text`` with the part between :data:`BEGIN` and :data:`END` replaced by ``block``."""
    pat = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pat.search(text):
        raise InputError(f"no {BEGIN} ... {END} markers in the file")
    return pat.sub(lambda _: f"{BEGIN}\n{block}{END}", text, count=1)


def current_block(text: str) -> str:
    """The part of ``text`` between the markers (what :func:`replace_block` wrote)."""
    m = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), text, re.S)
    if not m:
        raise InputError(f"no {BEGIN} ... {END} markers in the file")
    return m.group(1)


__all__ = ["BEGIN", "END", "speed_markdown", "speed_markdown_from", "replace_block", "current_block"]
