"""The README's speed tables are generated from the committed benchmark JSON (qkernels.suite.report.speedtable)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qkernels.core.errors import InputError
from qkernels.suite.report.speedtable import BEGIN, END, current_block, replace_block, speed_markdown

ROOT = Path(__file__).resolve().parents[3]
#: the benchmark files the README's speed tables come from
SOURCES = [ROOT / "reports" / "sample" / "bench_speed.json", ROOT / "reports" / "functional" / "bench_functional.json"]


def test_readme_speed_tables_are_those_of_the_committed_json():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert current_block(readme) == speed_markdown(SOURCES), (
        "README.md's speed tables differ from the committed JSON: run "
        "python tools/speed_table.py reports/sample/bench_speed.json reports/functional/bench_functional.json "
        "--update README.md")


def test_the_committed_json_has_every_new_goal():
    md = speed_markdown(SOURCES)
    for what in ("while another process spins on one core", "deployed models", "qmfrg-aligned", "qmfrg-act"):
        assert what in md
    for kernel in ("fs_allpairs", "w2cum_allpairs", "spectra_resnet18", "bounds_checker", "aligned_distance"):
        assert f"| {kernel} |" in md


def test_replace_block_round_trip_and_errors(tmp_path):
    text = f"intro\n{BEGIN}\nold\n{END}\nrest\n"
    new = replace_block(text, "| a |\n")
    assert current_block(new) == "| a |\n" and new.startswith("intro\n") and new.endswith("rest\n")
    with pytest.raises(InputError, match="markers"):
        replace_block("no markers", "x")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no": "benchmarks"}))
    with pytest.raises(InputError, match="pytest-benchmark"):
        speed_markdown([bad])
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "speed_table.py"), str(bad)], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "speed_table:" in proc.stderr and "Traceback" not in proc.stderr
