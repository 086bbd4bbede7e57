"""Atomic writes: the target is either the old file or the complete new one; no temp file survives."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from qkernels.core import atomic
from qkernels.core.atomic import atomic_write_bytes, atomic_write_csv, atomic_write_json, atomic_write_text


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_text_creates_parents_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a" / "b" / "x.txt"
    atomic_write_text(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode("utf-8")
    assert _names(target.parent) == ["x.txt"]


def test_write_replaces_existing_content(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old content that is longer")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert _names(tmp_path) == ["x.bin"]


def test_write_json_and_csv_roundtrip(tmp_path):
    atomic_write_json(tmp_path / "e.json", {"p": Path("/x/y"), "n": 1, "l": [1.5, None]})
    assert json.loads((tmp_path / "e.json").read_text()) == {"p": "/x/y", "n": 1, "l": [1.5, None]}
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y,z"]})
    atomic_write_csv(tmp_path / "t.csv", df)
    text = (tmp_path / "t.csv").read_text()
    assert text.splitlines()[0] == "a,b"  # header, no index column
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), df)
    assert _names(tmp_path) == ["e.json", "t.csv"]


@pytest.mark.parametrize("fail_at", ["replace", "fsync"])
def test_failed_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch, fail_at):
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def boom(*a, **k):
        raise OSError(f"simulated failure in {fail_at}")

    monkeypatch.setattr(atomic.os, fail_at, boom)
    with pytest.raises(OSError, match="simulated failure"):
        atomic_write_text(target, "new content")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["keep.txt"]


def test_failed_first_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        atomic_write_csv(tmp_path / "new.csv", pd.DataFrame({"a": [1]}))
    monkeypatch.undo()
    assert _names(tmp_path) == []


def test_keyboard_interrupt_during_write_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "k.txt"
    target.write_text("old")

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["k.txt"]
