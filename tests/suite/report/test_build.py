"""Report blocks (Markdown and HTML) and the report of a run folder, rebuilt from its files."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qkernels.suite.cli import main
from qkernels.suite.document.blocks import Figure, Heading, Paragraph, Table, fmt, slug, to_html, to_markdown
from qkernels.suite.report.build import build_report
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections import PAPER_CLAIMS
from qkernels.suite.sections.metrics.plan import COLUMNS, pair_rows, speed_rows

VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Checker(HTMLParser):
    """Checks that every non-void tag is closed in order, and collects ids, hrefs and img srcs."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.imgs: list[str] = []
        self.counts: dict[str, int] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a":
            self.hrefs.append(a.get("href"))
        if tag == "img":
            self.imgs.append(a.get("src"))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(text: str) -> _Checker:
    c = _Checker()
    c.feed(text)
    c.close()
    assert c.errors == [] and c.stack == [], (c.errors, c.stack)
    assert len(c.ids) == len(set(c.ids)), "duplicate ids"
    for h in c.hrefs:
        if h and h.startswith("#"):
            assert h[1:] in c.ids, f"dangling anchor {h}"
    return c


# ---- blocks -------------------------------------------------------------------------------------
EVIL = "<script>alert('x')</script>"


def test_markdown_of_each_block():
    df = pd.DataFrame({"name": ["a|b", "multi\nline"], "x": [1.23456789, float("nan")]})
    md = to_markdown([Heading(2, "Title"), Paragraph("Some **bold** text."), Table(df, "cap"),
                      Figure("figures/f.png", "A figure")])
    lines = md.splitlines()
    assert lines[0] == "## Title"
    assert "Some **bold** text." in lines
    assert "*cap*" in lines
    assert "| name | x |" in lines and "|---|---|" in lines
    assert "| a\\|b | 1.235 |" in lines  # pipes escaped, 4 significant digits
    assert "| multi line |  |" in lines  # newline folded, NaN empty
    assert "![A figure](figures/f.png)" in lines


@pytest.mark.parametrize("x,expected", [(1.0, "1"), (0.5, "0.5"), (1234.5678, "1235"), (1e-5, "1.000e-05"),
                                        (2.5e7, "2.500e+07"), (0.0, "0"), (float("nan"), ""), (3, "3"),
                                        ("text", "text"), (-0.00012, "-1.200e-04")])
def test_fmt(x, expected):
    assert fmt(x) == expected


def test_slug():
    assert slug("Claims of the paper") == "claims-of-the-paper"
    assert slug("Exact spectral metrics!") == "exact-spectral-metrics"


def test_html_escapes_table_cells_paragraphs_headings_and_captions():
    df = pd.DataFrame({EVIL: [EVIL, "a & b"], "n": [1.5, 2.0]})
    page = to_html([Heading(2, EVIL), Paragraph(EVIL), Table(df, caption=EVIL), Figure('x".png', EVIL)], title=EVIL)
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;") >= 6
    assert "a &amp; b" in page
    assert 'src="x&quot;.png"' in page
    c = check_html(page)
    assert c.counts.get("script", 0) == 0
    assert c.counts["table"] == 1 and c.counts["tr"] == 3 and c.counts["th"] == 2 and c.counts["td"] == 4
    assert c.imgs == ['x".png']
    assert EVIL in "".join(c.text)  # the text survives, as text


def test_html_headings_anchors_and_inline_markup():
    page = to_html([Heading(1, "Top"), Heading(2, "Claims of the paper"), Heading(2, "Metrics part", anchor="metrics"),
                    Paragraph("see [the metrics](#metrics), `code` and **bold**")], title="t")
    c = check_html(page)
    assert c.ids == ["top", "claims-of-the-paper", "metrics"]
    assert c.hrefs == ["#metrics"]
    assert "<code>code</code>" in page and "<strong>bold</strong>" in page
    assert page.startswith("<!DOCTYPE html>") and "<title>t</title>" in page


def test_html_link_with_query_string_is_escaped_once():
    page = to_html([Paragraph("[doc](https://example.org/?a=1&b=2)")], title="t")
    c = check_html(page)
    assert c.hrefs == ["https://example.org/?a=1&b=2"]


def test_html_figure():
    page = to_html([Figure("figures/a.png", "cap")], title="t")
    c = check_html(page)
    assert c.imgs == ["figures/a.png"] and c.counts["figure"] == 1 and c.counts["figcaption"] == 1


# ---- build_report -------------------------------------------------------------------------------
def _read(run: Path):
    return (run / "report.md").read_text(encoding="utf-8"), (run / "report.html").read_text(encoding="utf-8")


def _claims_rows(md: str) -> list[str]:
    lines = md.splitlines()
    start = lines.index("## Claims of the paper")
    rows = [ln for ln in lines[start:] if ln.startswith("| ")]
    out = []
    for ln in rows[1:]:
        out.append(ln)
        if len(out) == len(PAPER_CLAIMS):
            break
    return out


def test_build_report_on_empty_folder(tmp_path):
    paths = build_report(RunFolder(tmp_path))
    assert sorted(p.name for p in paths) == ["report.html", "report.md"]
    md, page = _read(tmp_path)
    assert md.splitlines()[0] == f"# qkernels report: {tmp_path.name}"
    assert "## Claims of the paper" in md and "no section results yet" in md and "env.json is missing" in md
    rows = _claims_rows(md)
    assert len(rows) == len(PAPER_CLAIMS)
    for (text, _), row in zip(PAPER_CLAIMS.values(), rows):
        assert text in row and "not measured" in row
    # the claims table comes before any section part
    assert md.index("Claims of the paper") < md.index("## Environment")
    c = check_html(page)
    assert "claims-of-the-paper" in c.ids and c.imgs == []


def test_build_report_missing_folder(tmp_path):
    from qkernels.core.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        build_report(RunFolder(tmp_path / "nope"))


def _tiny_metrics_csv() -> pd.DataFrame:
    """A small but realistic metrics.csv, made with the section's own row builders."""
    rng = np.random.default_rng(0)
    from types import SimpleNamespace

    rows = []
    names = ["l1", "l2", "l3"]
    s = [np.sort(rng.random(k))[::-1] + 0.1 for k in (4, 5, 6)]
    for i in range(3):
        for j in range(i + 1, 3):
            a = SimpleNamespace(name=names[i], W=np.zeros((len(s[i]) - 1, 2)))
            b = SimpleNamespace(name=names[j], W=np.zeros((len(s[j]) - 1, 2)))
            na, nb = float(np.linalg.norm(s[i])), float(np.linalg.norm(s[j]))
            rows += pair_rows("toy", "layer", a, b, s[i], s[j], s[i] / na, s[j] / nb, na, nb)
    df = pd.DataFrame(rows)
    speed = speed_rows("spectra_resnet18", {"total_s": 0.5, "operators": 100})
    return pd.concat([df, speed], ignore_index=True)


def _env():
    return {"packages": {"qkernels": "0.1.0", "torch": "9.9"}, "profile": "quick", "seeds": {"seed": 0},
            "status": "complete", "devices": [{"name": "cpu", "usable": True, "device_names": ["toy cpu"]}],
            "python": "3.11"}


def test_build_report_with_a_section(tmp_path):
    df = _tiny_metrics_csv()
    assert set(df.columns) <= {c.strip() for k in COLUMNS for c in k.split(",")}
    df.to_csv(tmp_path / "metrics.csv", index=False)
    (tmp_path / "env.json").write_text(json.dumps(_env()))
    build_report(RunFolder(tmp_path))
    md, page = _read(tmp_path)
    assert "## Exact spectral metrics" in md and "Agreement with the references" in md and "Speed goals" in md
    assert "toy cpu" in md and "9.9" in md
    c = check_html(page)
    assert "metrics" in c.ids
    figs_md = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert figs_md, "expected figures in the metrics part"
    assert sorted(set(c.imgs)) == sorted(set(figs_md))
    for f in c.imgs:
        assert (tmp_path / f).is_file() and (tmp_path / f).stat().st_size > 0
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {Path(f).name for f in c.imgs}
    # the claims of sections that are not in this run say so
    assert "section is not in this run" in md


@pytest.mark.parametrize("content", [
    b'model,kind,value\n"unterminated,pair,1\n',  # parser error
    b"\xff\xfe\x00\x81" * 50,  # not UTF-8
])
def test_garbled_metrics_csv_still_renders(tmp_path, content):
    (tmp_path / "metrics.csv").write_bytes(content)
    (tmp_path / "env.json").write_text(json.dumps(_env()))
    build_report(RunFolder(tmp_path))
    md, page = _read(tmp_path)
    assert "## Exact spectral metrics" in md
    assert "metrics.csv could not be read" in md and "this part is missing" in md
    assert "## Environment" in md
    check_html(page)


def test_truncated_metrics_csv_still_renders(tmp_path):
    text = _tiny_metrics_csv().to_csv(index=False)
    (tmp_path / "metrics.csv").write_text(text[: len(text) // 2])  # cut mid-row
    build_report(RunFolder(tmp_path))
    md, page = _read(tmp_path)
    assert "## Exact spectral metrics" in md and "## Claims of the paper" in md
    c = check_html(page)
    for f in c.imgs:
        assert (tmp_path / f).is_file()


@pytest.mark.parametrize("content", ["", "model,kind\n", "a,b\n1,2\n"])
def test_metrics_csv_without_rows(tmp_path, content):
    (tmp_path / "metrics.csv").write_text(content)
    build_report(RunFolder(tmp_path))
    md, page = _read(tmp_path)
    assert "metrics.csv has no rows" in md
    check_html(page)


def test_a_part_that_cannot_be_built_does_not_lose_the_report(tmp_path):
    # 'kind' says pair rows exist, but the columns the agreement table needs are missing
    (tmp_path / "metrics.csv").write_text("model,granularity,kind\ntoy,layer,pair\n")
    build_report(RunFolder(tmp_path))
    md, page = _read(tmp_path)
    assert "This part could not be built" in md and "## Environment" in md
    check_html(page)


def test_report_cli_rebuilds(tmp_path, capsys):
    df = _tiny_metrics_csv()
    df.to_csv(tmp_path / "metrics.csv", index=False)
    (tmp_path / "env.json").write_text(json.dumps(_env()))
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / "report.md"), str(tmp_path / "report.html")]
    first = _read(tmp_path)
    (tmp_path / "report.md").unlink()
    (tmp_path / "report.html").write_text("stale")
    assert main(["report", str(tmp_path)]) == 0
    assert _read(tmp_path) == first  # rebuilt from the files alone, identically
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_report_cli_refuses_non_run_folder(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qkernels: error:") and "not a qkernels run folder" in err
    assert not (tmp_path / "report.md").exists()


def test_markdown_heading_anchor_for_links():
    md = to_markdown([Heading(2, "Exact spectral metrics", anchor="metrics"), Heading(2, "Claims of the paper",
                                                                                      anchor="claims-of-the-paper")])
    lines = md.splitlines()
    # an explicit anchor differing from GitHub's slug gets an <a id>, then a blank line, then the heading
    assert lines[:3] == ['<a id="metrics"></a>', "", "## Exact spectral metrics"]
    assert md.count("<a id=") == 1


def test_a_model_name_with_a_slash_keeps_the_metrics_part(tmp_path):
    """Figure names come from model names through safe_name: 'org/model' must not break the part."""
    df = _tiny_metrics_csv()
    df.loc[df.model == "toy", "model"] = "org/model"
    df.to_csv(tmp_path / "metrics.csv", index=False)
    (tmp_path / "env.json").write_text(json.dumps(_env()))
    build_report(RunFolder(tmp_path))
    md, page = _read(tmp_path)
    assert "Agreement with the references" in md and "could not be built" not in md.lower()
    figs = [p.name for p in (tmp_path / "figures").iterdir()]
    assert figs and all("/" not in f for f in figs) and any(f.startswith("metrics_fs_org_model") for f in figs)
