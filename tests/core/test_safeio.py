"""qkernels.core.safeio: size-limited result readers and run-folder-confined names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qkernels.core.errors import InputError
from qkernels.core.safeio import check_size, confined, max_result_bytes, read_csv_limited, read_json_limited
from qkernels.suite.runfolder import RunFolder


def test_csv_round_trip_and_empty(tmp_path):
    p = tmp_path / "a.csv"
    pd.DataFrame({"x": [1, 2]}).to_csv(p, index=False)
    assert read_csv_limited(p)["x"].tolist() == [1, 2]
    (tmp_path / "e.csv").write_text("")
    assert read_csv_limited(tmp_path / "e.csv").empty


def test_oversized_files_are_refused_before_reading(tmp_path, monkeypatch):
    p = tmp_path / "big.csv"
    p.write_text("x\n" + "1\n" * 1000)
    with pytest.raises(InputError, match="over the 100-byte limit"):
        read_csv_limited(p, limit=100)
    monkeypatch.setenv("QK_MAX_RESULT_BYTES", "50")
    assert max_result_bytes() == 50
    with pytest.raises(InputError, match="QK_MAX_RESULT_BYTES"):
        read_json_limited(p)
    monkeypatch.setenv("QK_MAX_RESULT_BYTES", "-1")
    with pytest.raises(InputError, match="positive integer"):
        max_result_bytes()


def test_run_folder_env_json_over_the_limit(tmp_path, monkeypatch):
    rf = RunFolder(tmp_path)
    rf.env_path.write_text(json.dumps({"pad": "x" * 5000}))
    monkeypatch.setenv("QK_MAX_RESULT_BYTES", "1000")
    with pytest.raises(InputError, match="limit"):
        rf.read_env()


@pytest.mark.parametrize("text", ["{", "\xff\xfe", "[1, 2", "nan nan"])
def test_bad_json_is_an_input_error(tmp_path, text):
    p = tmp_path / "x.json"
    p.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError, match="not readable JSON"):
        read_json_limited(p)


def test_deeply_nested_json_is_an_input_error(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError):
        read_json_limited(p)


def test_env_json_that_is_not_an_object(tmp_path):
    rf = RunFolder(tmp_path)
    rf.env_path.write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON object"):
        rf.read_env()


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        check_size(tmp_path / "nope.csv")


@pytest.mark.parametrize("name", ["../x.csv", "..", ".", "", "/etc/passwd", "a/b.csv", "a\\b.csv", "x\0y"])
def test_names_that_leave_the_folder_are_refused(tmp_path, name):
    with pytest.raises(InputError, match="plain name"):
        confined(tmp_path, name)


def test_run_folder_paths_are_confined(tmp_path):
    rf = RunFolder(tmp_path / "run")
    with pytest.raises(InputError):
        rf.csv("../outside")
    with pytest.raises(InputError):
        rf.figure("../../x.png")
    with pytest.raises(InputError):
        rf.sink("../evil")
    assert rf.figure("ok.png").parent == rf.figures


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=30))
def test_confined_never_leaves_the_root(tmp_path_factory, name):
    root = tmp_path_factory.getbasetemp() / "root"
    try:
        p = confined(root, name)
    except InputError:
        return
    resolved = Path(os.path.normpath(p))
    assert resolved.parent == Path(os.path.normpath(root))
