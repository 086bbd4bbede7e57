"""Assemble ``report.md`` and ``report.html`` of a run folder from its CSVs.

The report opens with the claims table (each claim of the paper, the verdict of the section that
measures it, or "not measured" and why), then one part per section present in the folder, then
the environment. Everything is recomputed from the files, so ``qkernels report RUN`` rebuilds it.

Example:
    >>> import tempfile
    >>> from qkernels.runfolder import RunFolder
    >>> paths = build_report(RunFolder(tempfile.mkdtemp()))
    >>> sorted(p.name for p in paths)
    ['report.html', 'report.md']
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .atomic import atomic_write_text
from .errors import InputError
from .report_blocks import Block, Heading, Paragraph, Table, slug, to_html, to_markdown
from .runfolder import RunFolder
from .sections import PAPER_CLAIMS, Claim, get_section, section_names


def _read_section(run: RunFolder, name: str) -> tuple[pd.DataFrame | None, str | None]:
    path = run.csv(name)
    if not path.is_file():
        return None, None
    try:
        return pd.read_csv(path), None
    except pd.errors.EmptyDataError:
        return pd.DataFrame(), None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        return None, f"{path.name} could not be read ({type(exc).__name__}: {exc}); this part is missing."


def _claims_table(claims: list[Claim], present: set[str]) -> pd.DataFrame:
    rows = []
    for cid, (text, section) in PAPER_CLAIMS.items():
        mine = [c for c in claims if c.claim_id == cid]
        if mine:
            for c in mine:
                rows.append({"claim": text, "verdict": c.verdict, "evidence": c.evidence, "where": f"[{section}](#{c.anchor})"})
        else:
            if section in section_names():
                why = f"the `{section}` section is not in this run" if section not in present else "no verdict yet"
            else:
                why = f"the `{section}` section is not implemented yet"
            rows.append({"claim": text, "verdict": "not measured", "evidence": why, "where": ""})
    return pd.DataFrame(rows)


def _env_blocks(env: dict) -> list[Block]:
    if not env:
        return [Paragraph("env.json is missing.")]
    pk = env.get("packages", {})
    rows = [
        ("qkernels", pk.get("qkernels")), ("git commit", (env.get("git") or {}).get("commit")),
        ("profile", env.get("profile")), ("seed", (env.get("seeds") or {}).get("seed")),
        ("device", env.get("device")), ("cpu", env.get("cpu")), ("logical cores", env.get("logical_cores")),
        ("torch threads", env.get("torch_threads")), ("python", env.get("python")), ("os", env.get("os")),
        ("torch", pk.get("torch")), ("pennylane", pk.get("pennylane")), ("POT", pk.get("POT")),
        ("numpy", pk.get("numpy")), ("scipy", pk.get("scipy")), ("pandas", pk.get("pandas")),
        ("start (UTC)", env.get("start")), ("end (UTC)", env.get("end")),
        ("duration (s)", env.get("duration_s")), ("status", env.get("status")),
    ]
    usable = [f"{d['name']} ({', '.join(d.get('device_names') or [])})" for d in env.get("devices", []) if d.get("usable")]
    rows.append(("usable backends", "; ".join(usable)))
    return [Table(pd.DataFrame([{"item": k, "value": "" if v is None else str(v)} for k, v in rows])),
            Paragraph("The complete record is in `env.json`.")]


def build_report(run: RunFolder) -> list[Path]:
    """Write report.md and report.html for ``run``; return their paths."""
    if not run.path.is_dir():
        raise InputError(f"run folder {str(run.path)!r} does not exist")
    env = run.read_env()
    blocks: list[Block] = [Heading(1, f"qkernels report: {run.path.name}")]
    parts: list[Block] = []
    claims: list[Claim] = []
    present: set[str] = set()
    for name in section_names():
        df, problem = _read_section(run, name)
        if df is None and problem is None:
            continue
        sec = get_section(name)
        present.add(name)
        parts.append(Heading(2, sec.title, anchor=name))
        if problem:
            parts.append(Paragraph(problem))
            continue
        try:
            parts += sec.report(run, df)
            claims += sec.claims(df)
        except Exception as exc:  # one broken part must not lose the rest of the report
            parts.append(Paragraph(f"This part could not be built ({type(exc).__name__}: {exc})."))
    blocks += [Heading(2, "Claims of the paper"), Paragraph(
        "Each claim of arXiv 2512.00880 with the verdict measured in this run (supported, refuted, inconclusive) "
        "and the numbers behind it, or why it was not measured."), Table(_claims_table(claims, present))]
    if not present:
        blocks.append(Paragraph("This run folder has no section results yet."))
    blocks += parts
    blocks += [Heading(2, "Environment", anchor="environment")] + _env_blocks(env)
    md, html_path = run.path / "report.md", run.path / "report.html"
    atomic_write_text(md, to_markdown(blocks))
    atomic_write_text(html_path, to_html(blocks, title=f"qkernels report {run.path.name}"))
    return [md, html_path]


__all__ = ["build_report", "slug"]
