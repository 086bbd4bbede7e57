"""Code style that a newcomer trips on, checked: sorted imports and no unused or undefined names
(ruff's ``I`` and ``F`` rules, configured in pyproject.toml) over the package, tests, benchmarks
and tools.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> str:
    found = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(found).exists():
        pytest.fail("ruff is not installed (it is in the test extra)")
    return found


def test_imports_sorted_and_names_used():
    res = subprocess.run([_ruff(), "check", "--no-cache", "qkernels", "tests", "bench", "tools", "conftest.py"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_catches_an_unsorted_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nimport os\n\nprint(os, sys)\n")
    res = subprocess.run([_ruff(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "I001" in res.stdout
