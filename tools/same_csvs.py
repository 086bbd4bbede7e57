"""Show that a change is behaviour-preserving: the same seed gives the same section CSVs.

Runs ``qkernels run --sections metrics,bounds,quantum --seed 0`` on the working tree and on an
earlier commit (checked out in a temporary git worktree), then compares every CSV cell by cell as
text. Only timings can differ between two runs, so rows with ``kind == "speed"`` and columns whose
name says seconds are left out of the comparison and counted.

    python tools/same_csvs.py --before 739ee08          # default: the commit before the layout change
    python tools/same_csvs.py --runs OLD_RUN NEW_RUN    # compare two existing run folders

Exit status 0 when every compared cell is identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = "metrics,bounds,quantum"
BEFORE = "b986c3e"  # main before the library/suite layout


def timing_column(name: str) -> bool:
    return "seconds" in name


def rows_of(path: Path) -> tuple[list[str], list[list[str]], int]:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    keep = [i for i, c in enumerate(header) if not timing_column(c)]
    kind = header.index("kind") if "kind" in header else None
    kept, dropped = [], 0
    for r in body:
        if kind is not None and r[kind] == "speed":
            dropped += 1
            continue
        kept.append([r[i] for i in keep])
    return [header[i] for i in keep], kept, dropped


def compare(old: Path, new: Path) -> bool:
    ok = True
    names = sorted(p.name for p in old.glob("*.csv"))
    if names != sorted(p.name for p in new.glob("*.csv")):
        print(f"different CSV files: {names} vs {sorted(p.name for p in new.glob('*.csv'))}")
        return False
    for name in names:
        h1, r1, d1 = rows_of(old / name)
        h2, r2, d2 = rows_of(new / name)
        same = h1 == h2 and r1 == r2
        ok &= same
        print(f"{name}: {'identical' if same else 'DIFFERENT'} ({len(r1)} rows compared, {d1} timing rows left out)")
        if not same:
            for i, (a, b) in enumerate(zip(r1, r2)):
                if a != b:
                    print(f"  first difference at row {i + 1}: {a} != {b}")
                    break
    return ok


def run(tree: Path, out: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    subprocess.run([sys.executable, "-m", "qkernels", "run", "--sections", SECTIONS, "--seed", "0",
                    "--out", str(out), "--no-progress"], cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=BEFORE, help="the earlier commit (default: %(default)s)")
    ap.add_argument("--runs", nargs=2, type=Path, metavar=("OLD_RUN", "NEW_RUN"))
    args = ap.parse_args()
    if args.runs:
        return 0 if compare(*args.runs) else 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(["git", "worktree", "add", "--detach", str(tmp / "before"), args.before], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            run(tmp / "before", tmp / "run_before")
            run(ROOT, tmp / "run_after")
            return 0 if compare(tmp / "run_before", tmp / "run_after") else 1
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "before")], cwd=ROOT, check=False)


if __name__ == "__main__":
    sys.exit(main())
