"""Sections are found from their subpackages, in ``order``; each declares its own paper claims."""

from __future__ import annotations

import sys
import textwrap

import pytest

from qkernels.suite import sections
from qkernels.suite.runner import PROFILES
from qkernels.suite.sections import PAPER_CLAIMS, get_section, paper_claims, section_names

CLAIMS = {
    "equivalence": ("Vanishing Fubini–Study / W₂ distance implies functional closeness (Theorem 2.1)", "bounds"),
    "qmfrg": ("QM-FRG pruning beats magnitude and random pruning at high sparsity", "pruning"),
    "functional": ("A functional spectral criterion beats the best baseline (beyond the paper)", "pruning"),
    "quantum": ("Quantum kernels approximate the spectral metric controllably (shots, noise)", "quantum"),
    "cross_arch": ("Spectral distance identifies substitutable operators across architectures", "pruning"),
    "hardware": ("Hardware-aware pruning gives real latency gains", "latency"),
}


def test_sections_and_claims_in_report_order():
    assert section_names() == ["metrics", "quantum", "bounds", "pruning", "latency"]
    assert [get_section(n).order for n in section_names()] == sorted(get_section(n).order for n in section_names())
    assert list(PAPER_CLAIMS.items()) == list(CLAIMS.items())


def test_every_section_declares_its_profiles():
    for name in section_names():
        sec = get_section(name)
        assert set(sec.profiles) == set(PROFILES), name
        for profile in sec.profiles.values():
            assert type(profile).__dataclass_params__.frozen, name


@pytest.fixture()
def hello_section(tmp_path, monkeypatch):
    pkg = tmp_path / "hello"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from qkernels.suite.sections.base import PaperClaim, Section


        class HelloSection(Section):
            name, title, summary, order = "hello", "Hello", "says hello", 45
            profiles = {"quick": None}
            paper_claims = (PaperClaim("hello", "Sections are found without registering them", 45),)

            def plan(self, ctx):
                return []

            def report(self, run, df):
                return []
    '''), encoding="utf-8")
    monkeypatch.setattr(sections, "__path__", [*sections.__path__, str(tmp_path)])
    sections._registry.cache_clear()
    sections._paper_claims.cache_clear()
    yield
    monkeypatch.undo()
    sys.modules.pop("qkernels.suite.sections.hello", None)
    sections._registry.cache_clear()
    sections._paper_claims.cache_clear()


def test_a_new_section_is_a_subpackage_and_nothing_else(hello_section):
    assert section_names() == ["metrics", "quantum", "bounds", "pruning", "hello", "latency"]
    assert get_section("hello").title == "Hello"
    assert list(paper_claims()) == ["equivalence", "qmfrg", "functional", "quantum", "cross_arch", "hello", "hardware"]
    assert paper_claims()["hello"] == ("Sections are found without registering them", "hello")
