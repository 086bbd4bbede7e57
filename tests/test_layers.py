"""The layering rule of docs/architecture.md, enforced: import-linter's contracts in pyproject.toml
hold for the package, and the same checker fails on a package that breaks such a rule.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path, config: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    if not Path(LINT).exists():
        pytest.fail("lint-imports is not installed (it is in the test extra)")
    env = {"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"}
    return subprocess.run([LINT, "--config", str(config), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_package_keeps_every_contract():
    res = _lint(ROOT, ROOT / "pyproject.toml", ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


def test_checker_fails_on_a_library_module_that_imports_the_suite(tmp_path):
    pkg = tmp_path / "fakeqk"
    for sub in ("core", "suite"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "suite" / "cli.py").write_text("from fakeqk.core import tools\n")
    (pkg / "core" / "tools.py").write_text("from fakeqk.suite import cli\n")   # the violation
    cfg = tmp_path / "pyproject.toml"
    cfg.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_package = "fakeqk"
        [[tool.importlinter.contracts]]
        name = "layers"
        type = "layers"
        layers = ["fakeqk.suite", "fakeqk.core"]
    """))
    res = _lint(tmp_path, cfg, tmp_path)
    assert res.returncode != 0
    assert "BROKEN" in res.stdout and "fakeqk.core.tools" in res.stdout


def test_importing_the_library_does_not_import_the_suite():
    code = "import sys, qkernels; print(sorted(m for m in sys.modules if m.startswith('qkernels.suite')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
