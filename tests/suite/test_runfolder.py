"""Run folders: safe part file names, the part sink, preparing and resuming a folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qkernels.core.errors import InputError
from qkernels.suite.runfolder import PartSink, RunFolder, default_run_dir, latest_run_dir, part_filename

NASTY_KEYS = ["../../etc/passwd", "/etc/passwd", "..", ".", "", "a/b", "a\\b", "C:\\Windows\\x", "métrique:ψ",
              "日本語", "\x00\n\t", "." * 300, "x" * 1000, "DONE", "model=a", "model=a ", "layer_pairs:resnet18"]


def _check_safe(name: str) -> None:
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert name not in (".", "..") and not name.startswith(".")
    assert ".." not in Path(name).parts
    assert name.endswith(".csv")
    assert len(name.encode("utf-8")) <= 255  # a single valid file name on common file systems
    assert name != "DONE"


@pytest.mark.parametrize("key", NASTY_KEYS)
def test_part_filename_is_a_plain_name(key, tmp_path):
    name = part_filename(key)
    _check_safe(name)
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_part_filename_distinct_for_nasty_keys():
    names = [part_filename(k) for k in NASTY_KEYS]
    assert len(set(names)) == len(NASTY_KEYS)


def test_part_filename_is_deterministic():
    assert part_filename("speed:fs_allpairs") == part_filename("speed:fs_allpairs")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_part_filename_safe_for_any_text(key):
    _check_safe(part_filename(key))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_part_filename_unique_for_different_keys(a, b):
    if a != b:
        assert part_filename(a) != part_filename(b)


def test_slugs_that_collide_still_get_distinct_names():
    # the readable part is identical for these keys; only the hash tells them apart
    keys = ["a/b", "a:b", "a b", "a?b", "a_b"]
    assert len({part_filename(k) for k in keys}) == len(keys)


# ---- PartSink -----------------------------------------------------------------------------------
def _sink(tmp_path) -> PartSink:
    return RunFolder(tmp_path / "run").sink("metrics")


def test_sink_put_has_get(tmp_path):
    sink = _sink(tmp_path)
    assert not sink.has("u1")
    df = pd.DataFrame({"x": [1, 2], "s": ["a", "b"]})
    sink.put("u1", df)
    assert sink.has("u1") and not sink.has("u2")
    pd.testing.assert_frame_equal(sink.get("u1"), df)
    assert not sink.done


def test_sink_put_replaces(tmp_path):
    sink = _sink(tmp_path)
    sink.put("u", pd.DataFrame({"x": [1]}))
    sink.put("u", pd.DataFrame({"x": [7, 8]}))
    assert sink.get("u").x.tolist() == [7, 8]
    assert len(list(sink.folder.glob("*.csv"))) == 1


def test_sink_rejects_non_dataframe(tmp_path):
    with pytest.raises(TypeError, match="DataFrame"):
        _sink(tmp_path).put("u", [1, 2])


def test_sink_keys_stay_inside_the_part_folder(tmp_path):
    sink = _sink(tmp_path)
    for key in ["../../escape", "/abs/path", "..", "../DONE"]:
        sink.put(key, pd.DataFrame({"k": [key]}))
        assert sink.get(key).k.tolist() == [key]
    written = {p.resolve() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(p.parent == sink.folder.resolve() for p in written)
    assert not (sink.folder / "DONE").exists()


def test_finalize_concatenates_in_plan_order_not_put_order(tmp_path):
    sink = _sink(tmp_path)
    sink.put("c", pd.DataFrame({"v": [3], "w": ["z"]}))
    sink.put("a", pd.DataFrame({"v": [1, 11], "w": ["x", "xx"]}))
    sink.put("b", pd.DataFrame({"v": [2], "w": ["y"]}))
    df = sink.finalize(["a", "b", "c"])
    assert df.v.tolist() == [1, 11, 2, 3]
    on_disk = pd.read_csv(sink.csv_path)
    assert on_disk.v.tolist() == [1, 11, 2, 3] and on_disk.w.tolist() == ["x", "xx", "y", "z"]
    assert (sink.folder / "DONE").read_text().split() == ["a", "b", "c"]
    assert sink.done


def test_finalize_skips_empty_parts(tmp_path):
    sink = _sink(tmp_path)
    sink.put("empty", pd.DataFrame())
    sink.put("header_only", pd.DataFrame({"v": []}))
    sink.put("full", pd.DataFrame({"v": [5]}))
    assert sink.get("empty").empty
    df = sink.finalize(["empty", "header_only", "full"])
    assert df.v.tolist() == [5]


def test_finalize_with_missing_unit_raises_and_writes_nothing(tmp_path):
    sink = _sink(tmp_path)
    sink.put("a", pd.DataFrame({"v": [1]}))
    with pytest.raises(RuntimeError, match="'b'"):
        sink.finalize(["a", "b"])
    assert not sink.csv_path.exists()
    assert not (sink.folder / "DONE").exists()
    assert not sink.done


def test_done_needs_both_marker_and_csv(tmp_path):
    sink = _sink(tmp_path)
    sink.put("a", pd.DataFrame({"v": [1]}))
    sink.finalize(["a"])
    assert sink.done
    sink.csv_path.unlink()
    assert not sink.done


# ---- RunFolder ----------------------------------------------------------------------------------
def _env(rf: RunFolder, profile="quick", seed=0):
    rf.path.mkdir(parents=True, exist_ok=True)
    rf.write_env({"profile": profile, "seeds": {"seed": seed}})


def test_prepare_creates_folder(tmp_path):
    rf = RunFolder(tmp_path / "new" / "run")
    rf.prepare(resume=False, profile="quick", seed=0)
    assert rf.path.is_dir()


def test_prepare_accepts_existing_empty_folder(tmp_path):
    RunFolder(tmp_path).prepare(resume=False, profile="quick", seed=0)


def test_prepare_refuses_non_empty_without_resume(tmp_path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        RunFolder(tmp_path).prepare(resume=False, profile="quick", seed=0)
    assert [p.name for p in tmp_path.iterdir()] == ["something"]


def test_prepare_refuses_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        RunFolder(f).prepare(resume=False, profile="quick", seed=0)


def test_prepare_resume_checks_settings(tmp_path):
    rf = RunFolder(tmp_path / "run")
    _env(rf, "quick", 3)
    rf.prepare(resume=True, profile="quick", seed=3)  # same settings: fine
    with pytest.raises(InputError, match="seed=3"):
        rf.prepare(resume=True, profile="quick", seed=4)
    with pytest.raises(InputError, match="profile='quick'"):
        rf.prepare(resume=True, profile="full", seed=3)


def test_prepare_resume_needs_env_json(tmp_path):
    (tmp_path / "stray.txt").write_text("x")
    with pytest.raises(InputError, match="env.json"):
        RunFolder(tmp_path).prepare(resume=True, profile="quick", seed=0)


def test_read_env_missing_and_garbled(tmp_path):
    rf = RunFolder(tmp_path)
    assert rf.read_env() == {}
    rf.env_path.write_text("{not json")
    with pytest.raises(InputError, match="env.json"):
        rf.read_env()


def test_write_env_roundtrip(tmp_path):
    rf = RunFolder(tmp_path)
    rf.write_env({"a": 1, "when": Path("x")})
    assert json.loads(rf.env_path.read_text()) == {"a": 1, "when": "x"}
    assert [p.name for p in tmp_path.iterdir()] == ["env.json"]


def test_paths(tmp_path):
    rf = RunFolder(tmp_path)
    assert rf.csv("metrics") == tmp_path / "metrics.csv"
    assert rf.figures == tmp_path / "figures"
    assert rf.sink("metrics").folder == tmp_path / ".parts" / "metrics"


def test_default_run_dir_is_unique(tmp_path):
    first = default_run_dir(tmp_path)
    assert first.parent == tmp_path
    first.mkdir()
    second = default_run_dir(tmp_path)
    assert second != first and not second.exists()
    assert second.name.startswith(first.name)


def test_latest_run_dir(tmp_path):
    assert latest_run_dir(tmp_path / "absent") is None
    assert latest_run_dir(tmp_path) is None
    for name in ["20240101T000000Z", "20250101T000000Z", "20230101T000000Z"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "env.json").write_text("{}")
    (tmp_path / "20990101T000000Z").mkdir()  # newer, but not a run folder (no env.json)
    assert latest_run_dir(tmp_path) == tmp_path / "20250101T000000Z"
    assert os.path.isdir(latest_run_dir(tmp_path))
