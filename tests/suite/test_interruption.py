"""``qkernels run`` killed with SIGKILL at random points of a sweep, then resumed.

A real ``qkernels`` process (the metrics section on the tiny configuration of tests/suite/test_runner.py, so
that a whole run takes seconds) is killed with SIGKILL at seeded random moments: before it
writes anything, between units, in the middle of a unit, and while it finalizes and writes the
report. Each time it is started again with ``--resume``, until one run finishes. The resumed run
must have the same CSV as an uninterrupted run (no lost, no duplicated rows; the timing rows of
the speed units excepted, which differ run to run), and no temporary file may be left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

TESTS = Path(__file__).resolve().parent
ROW_KEY = ["kind", "granularity", "op_a", "op_b", "metric", "stat"]

# the tiny configuration of tests/suite/test_runner.py, applied in the child before the real command runs
SCRIPT = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
from test_runner import TINY, _tiny_fs, _tiny_w2, _tiny_spectra
from qkernels.suite.sections.metrics import plan as M
M.PROFILES["quick"] = TINY
M.measure_fs_allpairs, M.measure_w2cum_allpairs, M.measure_spectra_resnet18 = _tiny_fs, _tiny_w2, _tiny_spectra
from qkernels.suite.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _start(script: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    args = [sys.executable, str(script), "run", "--sections", "metrics", "--out", str(out), "--resume", "--no-progress"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _parts(out: Path) -> int:
    folder = out / ".parts" / "metrics"
    return len(list(folder.glob("*.csv"))) if folder.is_dir() else 0


def _kill_when(proc: subprocess.Popen, out: Path, new_units: int | None, extra_s: float, limit_s: float = 120) -> bool:
    """SIGKILL ``proc`` ``extra_s`` after it has finished ``new_units`` more units (None: before it
    has written anything, while Python starts). False if the process ended first."""
    t0, started = time.monotonic(), time.time()
    env = out / "env.json"

    def wait(cond) -> bool:
        while not cond():
            if proc.poll() is not None:
                return False
            if time.monotonic() - t0 > limit_s:
                proc.kill()
                raise AssertionError("the run made no progress")
            time.sleep(0.005)
        return True

    if new_units is not None:
        # this process has started the run: it rewrote env.json (status "running")
        if not wait(lambda: env.is_file() and env.stat().st_mtime >= started):
            return False
        base = _parts(out)
        if not wait(lambda: _parts(out) >= base + new_units):
            return False
    time.sleep(extra_s)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _rows(csv: Path) -> pd.DataFrame:
    df = pd.read_csv(csv)
    return df[df.kind != "speed"].sort_values(ROW_KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("script") / "tiny_qkernels.py"
    path.write_text(SCRIPT)
    return path


@pytest.fixture(scope="module")
def reference(script, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = _start(script, out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    return out


def test_sigkill_at_random_points_then_resume(script, reference, tmp_path):
    rng = np.random.default_rng(20261126)
    out = tmp_path / "run"
    kills = []
    # kill points: (units this process finishes first, extra delay); None = while Python starts.
    # 5 units in all, then finalize and report: kills after 0-5 units land mid-unit or later.
    plan = [(None, 0.5), (0, 0.0)] + [(int(rng.integers(0, 3)), float(rng.uniform(0, 0.3))) for _ in range(5)]
    started_runs = 0
    for units, extra in plan:
        proc = _start(script, out)
        if _kill_when(proc, out, units, extra):
            kills.append((units, round(extra, 3)))
            started_runs += units is not None
        else:
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
    else:
        proc = _start(script, out)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    assert started_runs >= 3, f"too few kills inside the run: {kills}"

    env = json.loads((out / "env.json").read_text())
    assert env["status"] == "complete" and len(env["resumed"]) >= started_runs
    got, want = pd.read_csv(out / "metrics.csv"), pd.read_csv(reference / "metrics.csv")
    assert not got.duplicated(ROW_KEY).any(), "duplicated rows after resuming"
    assert sorted(got.kind.unique()) == sorted(want.kind.unique())
    assert len(got) == len(want), f"{len(got)} rows after {len(kills)} kills, {len(want)} uninterrupted"
    pd.testing.assert_frame_equal(_rows(out / "metrics.csv"), _rows(reference / "metrics.csv"))
    # the speed units' rows are there once each (their timings differ between runs)
    speed = ["kind", "metric", "stat"]
    pd.testing.assert_frame_equal(got[got.kind == "speed"][speed].reset_index(drop=True),
                                  want[want.kind == "speed"][speed].reset_index(drop=True))
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") and p.is_file() or p.suffix == ".tmp"]
    assert leftovers == [], leftovers
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
