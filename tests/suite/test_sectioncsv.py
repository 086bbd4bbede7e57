"""Defensive reading of section CSVs, and the report's account of missing or damaged parts."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from qkernels.suite.report.build import CLAIMS_TABLE_ID, build_report
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sectioncsv import read_section_csv
from qkernels.suite.sections import PAPER_CLAIMS, section_names


def _write(run: RunFolder, name: str, content: bytes) -> None:
    run.path.mkdir(parents=True, exist_ok=True)
    run.csv(name).write_bytes(content)


def test_roundtrip_ok(tmp_path):
    run = RunFolder(tmp_path)
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y,z"]})
    df.to_csv(run.csv("metrics"), index=False)
    r = read_section_csv(run, "metrics")
    assert r.state == "ok" and r.note == "" and r.usable
    pd.testing.assert_frame_equal(r.df, df)


@pytest.mark.parametrize("cut", [1, 5, 9])
def test_truncated_drops_only_the_partial_row(tmp_path, cut):
    run = RunFolder(tmp_path)
    full = pd.DataFrame({"a": range(10), "b": [f"v{i}" for i in range(10)]}).to_csv(index=False)
    lines = full.splitlines(keepends=True)
    text = "".join(lines[: cut + 1]) + lines[cut + 1][:2]  # header + cut rows + a partial row
    _write(run, "metrics", text.encode())
    r = read_section_csv(run, "metrics")
    assert r.state == "partial" and "truncated" in r.note
    assert r.df.a.tolist() == list(range(cut))


def test_extra_fields_are_skipped_and_counted(tmp_path):
    run = RunFolder(tmp_path)
    _write(run, "metrics", b"a,b\n1,2\n3,4,5\n6,7\n8,9,10,11\n")
    r = read_section_csv(run, "metrics")
    assert r.df.a.tolist() == [1, 6] and "2 malformed line(s)" in r.note


@pytest.mark.parametrize("content", [b'a,b\n"open,1\n', b"\xff\xfe\x00" * 20])
def test_unreadable(tmp_path, content):
    run = RunFolder(tmp_path)
    _write(run, "metrics", content)
    r = read_section_csv(run, "metrics")
    assert r.state == "unreadable" and r.df is None and "could not be read" in r.note


def test_absent_and_interrupted(tmp_path):
    run = RunFolder(tmp_path)
    assert read_section_csv(run, "bounds").state == "absent"
    run.sink("bounds").put("unit-1", pd.DataFrame({"x": [1]}))
    r = read_section_csv(run, "bounds")
    assert r.state == "absent" and "1 finished unit(s)" in r.note and "--resume" in r.note


def _claims_rows(md: str) -> list[str]:
    lines = md.splitlines()
    i = lines.index("## Claims of the paper")
    rows = [ln for ln in lines[i:] if ln.startswith("| ")]
    return rows[1: 1 + len(PAPER_CLAIMS)]


def test_report_names_missing_truncated_and_unreadable_parts(tmp_path):
    run = RunFolder(tmp_path)
    env = {"status": "running", "sections": section_names(), "profile": "quick"}
    (tmp_path / "env.json").write_text(json.dumps(env))
    _write(run, "quantum", b"\xff\xfe" * 10)  # unreadable
    _write(run, "bounds", b"kind,scenario\npair,negation\npair,perm")  # truncated
    run.sink("pruning").put("u", pd.DataFrame({"x": [1]}))  # interrupted: parts, no CSV
    paths = build_report(run)
    md = paths[0].read_text(encoding="utf-8")
    assert "quantum.csv could not be read" in md
    assert "bounds.csv looks truncated" in md
    assert "pruning.csv is missing, but 1 finished unit(s)" in md
    assert "`metrics` (metrics.csv is missing.)" in md
    assert "status in env.json is `running`" in md
    rows = _claims_rows(md)
    assert len(rows) == len(PAPER_CLAIMS)
    quantum_row = next(r for r in rows if PAPER_CLAIMS["quantum"][0] in r)
    assert "not measured" in quantum_row and "could not be read" in quantum_row and "(#quantum)" in quantum_row
    html = paths[1].read_text(encoding="utf-8")
    assert f'<table id="{CLAIMS_TABLE_ID}">' in html and "## Environment" in md


def test_sections_not_requested_are_named_so(tmp_path):
    (tmp_path / "env.json").write_text(json.dumps({"status": "complete", "sections": ["metrics"]}))
    md = build_report(RunFolder(tmp_path))[0].read_text(encoding="utf-8")
    assert "`bounds` (not requested in this run)" in md and "status in env.json" not in md


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_unreadable_env_still_renders(tmp_path, content):
    (tmp_path / "env.json").write_text(content)
    md = build_report(RunFolder(tmp_path))[0].read_text(encoding="utf-8")
    assert "## Claims of the paper" in md and "the environment is unknown" in md


def test_claims_csv_for_pandas(tmp_path):
    run = RunFolder(tmp_path)
    (tmp_path / "env.json").write_text(json.dumps({"status": "complete"}))
    # bounds rows with a violated spectral-only form: the bounds section gives a verdict
    cols = {"kind": ["pair"], "scenario": ["negation"], "activation": ["tanh"], "d_fs": [0.0], "lhs": [1.0]}
    from qkernels.bounds.check import ALL_BOUNDS, TRUE_BOUNDS

    for b in ALL_BOUNDS:
        cols[f"viol_{b}"] = [b not in TRUE_BOUNDS]
        cols[f"ratio_{b}"] = [0.5 if b in TRUE_BOUNDS else 2.0]
    pd.DataFrame(cols).to_csv(run.csv("bounds"), index=False)
    build_report(run)
    c = pd.read_csv(tmp_path / "claims.csv", keep_default_na=False)
    assert list(c.claim_id) == list(PAPER_CLAIMS)
    row = c.set_index("claim_id").loc["equivalence"]
    assert row.verdict == "refuted" and row.section == "bounds" and row.anchor == "bounds"
    assert set(c.set_index("claim_id").drop("equivalence").verdict) == {"not measured"}
