"""report.html in headless Chromium: no console errors, the claims table, every figure loaded.

Skips only when no Chromium binary exists (CI installs the Debian package `chromium`).
"""

from __future__ import annotations

import json
import re

import pytest

from qkernels.suite.report.build import CLAIMS_TABLE_ID, build_report
from qkernels.suite.report.htmlcheck import browser_check, find_chromium
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections import PAPER_CLAIMS
from tests.suite.report.test_build import _env, _tiny_metrics_csv

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="no Chromium binary (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    _tiny_metrics_csv().to_csv(run / "metrics.csv", index=False)
    (run / "env.json").write_text(json.dumps(_env()))
    bench = run.parent / "bench.json"
    bench.write_text(json.dumps({"machine_info": {"node": "n"}, "commit_info": {"id": "abc"}, "benchmarks": [
        {"group": "fs_allpairs", "name": "bench_fs_allpairs_ours", "stats": {"data": [0.2, 0.21], "ops": 5.0}},
        {"group": "fs_allpairs", "name": "bench_fs_allpairs_torch_mm", "stats": {"data": [0.1, 0.1], "ops": 10.0}}]}))
    build_report(RunFolder(run), bench_json=[bench], compare=run)
    return run


def test_report_opens_without_errors_with_claims_and_every_figure(report):
    page = (report / "report.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert srcs, "the metrics part should have figures"
    r = browser_check(report / "report.html")
    assert r["errors"] == []
    assert CLAIMS_TABLE_ID in r["tables"]
    assert r["claimsRows"] == len(PAPER_CLAIMS) + 1  # header + one row per claim
    assert sorted(i["src"] for i in r["images"]) == sorted(srcs)
    assert all(i["complete"] and i["naturalWidth"] > 0 for i in r["images"]), r["images"]
    assert {"benchmarks", "comparison", "environment", "metrics"} <= set(r["headings"])


def test_claims_table_reads_at_1280_px_without_horizontal_scrolling(tmp_path):
    """A run with long evidence (a real pruning claim) and wide tables: the page never scrolls sideways at
    1280 px, the claims table fits its box, its text is left-aligned, and the screenshot has the viewport's size."""
    from tests.suite.sections.pruning.test_endpoint import sweep

    run = tmp_path / "run"
    run.mkdir()
    df = sweep(effect=-0.05)
    wide = {f"a_very_long_column_name_{i}": 0.123456 for i in range(30)}
    df.assign(**wide).to_csv(run / "pruning.csv", index=False)
    (run / "env.json").write_text(json.dumps(_env()))
    build_report(RunFolder(run))
    shot = tmp_path / "shot.png"
    r = browser_check(run / "report.html", width=1280, screenshot=shot)
    assert r["errors"] == [] and r["viewportWidth"] == 1280
    assert r["pageScrollWidth"] <= r["pageClientWidth"], r
    assert r["claimsOverflow"] <= 0 and 0 < r["claimsRight"] <= 1280
    assert r["claimsTextAlign"] in ("left", "start")
    assert r["screenshotSize"] == [1280, 900] and shot.stat().st_size > 10_000
    # even a phone-width window wraps the claims table instead of scrolling the page
    narrow = browser_check(run / "report.html", width=360)
    assert narrow["pageScrollWidth"] <= narrow["pageClientWidth"]


def test_the_check_sees_horizontal_overflow(tmp_path):
    page = tmp_path / "wide.html"
    page.write_text("<!DOCTYPE html><html><head><title>w</title></head><body><div><table id='claims' "
                    "style='width:3000px'><tr><td>x</td></tr></table></div></body></html>")
    r = browser_check(page, width=1280)
    assert r["pageScrollWidth"] > r["pageClientWidth"] and r["claimsRight"] > 1280


def test_the_check_sees_a_missing_figure(report, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(report, copy)
    victim = sorted((copy / "figures").iterdir())[0]
    victim.unlink()
    r = browser_check(copy / "report.html")
    assert any(victim.name in e for e in r["errors"])
    assert [i["src"] for i in r["images"] if i["naturalWidth"] == 0] == [f"figures/{victim.name}"]


def test_the_check_sees_script_errors(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><title>t</title></head><body><table id='claims'><tr><td>x</td></tr>"
                    "</table><script>console.error('boom'); undefined_function();</script></body></html>")
    r = browser_check(page)
    assert any("boom" in e for e in r["errors"]) and any("undefined_function" in e for e in r["errors"])
    assert r["claimsRows"] == 1 and r["title"] == "t"
