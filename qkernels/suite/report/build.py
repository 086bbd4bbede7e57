"""Assemble ``report.md`` and ``report.html`` of a run folder from its CSVs.

The report opens with the claims table (each claim of the paper, the verdict of the section that
measures it with the numbers and confidence behind it, or "not measured" and why), then what the
run folder holds and lacks, one part per section present in the folder, the pytest-benchmark
results (``--bench-json``), the comparison with another run (``--compare``) and the environment.
Everything is recomputed from the files, so ``qkernels report RUN`` rebuilds it; a missing,
truncated or unreadable file is named in the report and the rest still renders.

Example:
    >>> import tempfile
    >>> from qkernels.suite.runfolder import RunFolder
    >>> paths = build_report(RunFolder(tempfile.mkdtemp()))
    >>> sorted(p.name for p in paths)
    ['report.html', 'report.md']
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qkernels.core.atomic import atomic_write_csv, atomic_write_text
from qkernels.core.errors import InputError
from qkernels.core.safeio import max_result_bytes, read_csv_limited
from qkernels.suite.document.blocks import Block, Heading, Paragraph, Table, badge, slug, to_html, to_markdown
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sectioncsv import SectionCSV, read_section_csv
from qkernels.suite.sections import PAPER_CLAIMS, Claim, get_section, section_names
from qkernels.suite.verdict import worst

#: HTML id of the claims table
CLAIMS_TABLE_ID = "claims"
#: the columns of claims.csv (one row per claim)
CLAIMS_COLUMNS = ["claim_id", "claim", "section", "verdict", "headline", "evidence", "anchor"]


def _one_claim(cid: str, mine: list[Claim]) -> Claim:
    """One row per claim: a section that gives several verdicts on one claim is combined by
    :func:`qkernels.suite.verdict.worst` (every part must hold), evidence joined."""
    if len(mine) == 1:
        return mine[0]
    verdict = worst([c.verdict for c in mine])
    lead = next((c for c in mine if c.verdict == verdict), mine[0])
    return Claim(cid, verdict, " ".join(c.evidence for c in mine), lead.anchor, lead.headline)


def _claims_rows(claims: list[Claim], read: dict[str, SectionCSV]) -> list[dict]:
    """One dict per claim of :data:`PAPER_CLAIMS`: claim_id, claim, section, verdict, headline, evidence, anchor."""
    rows = []
    for cid, (text, section) in PAPER_CLAIMS.items():
        mine = [c for c in claims if c.claim_id == cid]
        if mine:
            c = _one_claim(cid, mine)
            rows.append({"claim_id": cid, "claim": text, "section": section, "verdict": c.verdict,
                         "headline": c.headline, "evidence": c.evidence, "anchor": c.anchor})
            continue
        r = read.get(section)
        if section not in section_names():
            why, anchor = f"the `{section}` section is not implemented yet", ""
        elif r is None or r.state == "absent":
            why, anchor = f"the `{section}` section is not in this run", ""
        elif not r.usable:
            why, anchor = f"`{section}.csv` could not be read", section
        else:
            why, anchor = f"the `{section}` section gives no verdict on it yet", section
        rows.append({"claim_id": cid, "claim": text, "section": section, "verdict": "not measured",
                     "headline": "", "evidence": why, "anchor": anchor})
    return rows


def _claims_table(claims: list[Claim], read: dict[str, SectionCSV]) -> pd.DataFrame:
    """The claims table of the report: one row per claim, a verdict badge, the headline, a link."""
    rows = _claims_rows(claims, read)
    return pd.DataFrame([{"claim": r["claim"], "verdict": badge(r["verdict"]),
                          "headline (95% simultaneous interval)": r["headline"] or r["evidence"],
                          "evidence": f"[{r['section']}](#{r['anchor']})" if r["anchor"] else ""} for r in rows])


def _claims_csv(claims: list[Claim], read: dict[str, SectionCSV]) -> pd.DataFrame:
    """The claims table for pandas: one row per claim with :data:`CLAIMS_COLUMNS`."""
    return pd.DataFrame(_claims_rows(claims, read), columns=CLAIMS_COLUMNS)


def claims_frame(run: RunFolder) -> pd.DataFrame:
    """The claims table of ``run`` (:data:`CLAIMS_COLUMNS`) computed from its section CSVs, writing nothing.

    It is what ``claims.csv`` holds after ``qkernels report RUN``; a section whose verdicts fail on odd
    data gives none (its claims are then "not measured").

    Example:
        >>> import tempfile
        >>> sorted(set(claims_frame(RunFolder(tempfile.mkdtemp())).verdict))
        ['not measured']
    """
    read = {name: read_section_csv(run, name) for name in section_names()}
    claims: list[Claim] = []
    for name, r in read.items():
        if r.usable:
            try:
                claims += get_section(name).claims(r.df)
            except Exception:  # noqa: BLE001 - as in build_report: a broken section loses only its verdicts
                continue
    return _claims_csv(claims, read)


def _unit_errors(run: RunFolder) -> pd.DataFrame:
    """The units that failed on the device (``<section>_errors.csv`` of every section), if any."""
    frames = []
    for name in section_names():
        path = run.path / f"{name}_errors.csv"
        if path.is_file():
            try:
                frames.append(read_csv_limited(path))
            except InputError:
                continue
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _contents(env: dict, read: dict[str, SectionCSV], errors: pd.DataFrame | None = None) -> list[Block]:
    """What the run folder holds and what it lacks, with the reason."""
    asked = env.get("sections") if isinstance(env.get("sections"), list) else None
    have = [f"[{n}](#{n})" for n, r in read.items() if r.usable]
    lines = [f"Sections in this run: {', '.join(have) if have else 'none'}."]
    problems = [r.note for r in read.values() if r.state in ("partial", "unreadable")]
    missing = []
    for n, r in read.items():
        if r.state != "absent":
            continue
        if asked is not None and n not in asked:
            missing.append(f"`{n}` (not requested in this run)")
        else:
            missing.append(f"`{n}` ({r.note})")
    if missing:
        lines.append("Not in this run: " + "; ".join(missing) + ".")
    status = env.get("status")
    if status and status != "complete":
        lines.append(f"The run's status in env.json is `{status}`: it did not finish, so parts may be missing.")
    blocks: list[Block] = [Paragraph(" ".join(lines))] + [Paragraph(f"**Problem:** {p}") for p in problems]
    if errors is not None and not errors.empty:
        blocks.append(Table(errors, f"{len(errors)} unit(s) failed on the device and have no rows; the run went on. "
                                    "`qkernels run --resume` retries them."))
    return blocks


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
    rows.append(("engine", _engine_text(env.get("engine"))))
    return [Table(pd.DataFrame([{"item": k, "value": "" if v is None else str(v)} for k, v in rows])),
            Paragraph("The complete record is in `env.json`.")]


def _engine_text(engine: object) -> str | None:
    """How the units ran, in a few words (the ``engine`` block of env.json; absent in older runs).

    Example:
        >>> _engine_text({"name": "dask", "cluster": "local:2", "n_workers": 2, "workers": [
        ...     {"name": "0", "host": "127.0.0.1", "resources": {}}, {"name": "1", "host": "127.0.0.1", "resources": {}}]})
        'dask (local:2): 2 workers on 1 host; where each unit ran: <section>_units.csv'
        >>> _engine_text({"name": "sequential"}), _engine_text(None)
        ('sequential (one process)', None)
    """
    if not isinstance(engine, dict):
        return None
    if engine.get("name") != "dask":
        return f"{engine.get('name', '?')} (one process)"
    workers = [w for w in engine.get("workers") or [] if isinstance(w, dict)]
    hosts = len({w.get("host") for w in workers})
    gpus = sum(1 for w in workers if (w.get("resources") or {}).get("GPU"))
    text = f"dask ({engine.get('cluster')}): {engine.get('n_workers', len(workers))} workers on {hosts} host" + (
        "s" if hosts != 1 else "")
    if gpus:
        text += f", {gpus} with a GPU"
    return text + "; where each unit ran: <section>_units.csv"


def _read_env(run: RunFolder) -> tuple[dict, str | None]:
    try:
        env = run.read_env()
    except InputError as exc:
        return {}, f"env.json could not be read ({exc}); the environment is unknown."
    if not isinstance(env, dict):
        return {}, "env.json is not a JSON object; the environment is unknown."
    return env, None


def build_report(run: RunFolder, bench_json: list[str | Path] | None = None,
                 compare: str | Path | None = None, compare_bench: str | Path | None = None,
                 bench_threshold: float | None = None) -> list[Path]:
    """Write report.md and report.html for ``run``; return their paths.

    Args:
        run: the run folder.
        bench_json: pytest-benchmark JSON files to add as a "Benchmarks" part (and bench_summary.csv).
        compare: another run folder to compare with, as a "Comparison" part (and compare.csv).
        compare_bench: an older pytest-benchmark JSON file to compare the one ``bench_json`` file with
            (a "Benchmark comparison" part and bench_compare.csv; ``bench_threshold``: the ratio that counts).
    """
    if not run.path.is_dir():
        raise InputError(f"run folder {str(run.path)!r} does not exist")
    max_result_bytes()  # an invalid $QK_MAX_RESULT_BYTES is an error naming it, not "every part missing"
    if compare is not None and not Path(compare).is_dir():
        raise InputError(f"--compare: run folder {str(compare)!r} does not exist")
    for f in bench_json or []:
        if not Path(f).is_file():
            raise InputError(f"--bench-json: file {str(f)!r} does not exist")
    if compare_bench is not None and len(bench_json or []) != 1:
        raise InputError(f"--compare-bench needs exactly one --bench-json file (the new one), got {len(bench_json or [])}")
    if compare_bench is not None:
        from qkernels.suite.report.benchcompare import load_pair

        load_pair(bench_json[0], compare_bench)  # a bad file is bad input before anything is written
    env, env_problem = _read_env(run)
    blocks: list[Block] = [Heading(1, f"qkernels report: {run.path.name}")]
    parts: list[Block] = []
    claims: list[Claim] = []
    read = {name: read_section_csv(run, name) for name in section_names()}
    for name, r in read.items():
        if r.state == "absent":
            continue
        sec = get_section(name)
        parts.append(Heading(2, sec.title, anchor=name))
        if r.note:
            parts.append(Paragraph(f"**Problem:** {r.note}"))
        if not r.usable:
            continue
        try:
            parts += sec.report(run, r.df)
        except Exception as exc:  # one broken part must not lose the rest of the report
            parts.append(Paragraph(f"This part could not be built ({type(exc).__name__}: {exc})."))
        try:
            claims += sec.claims(r.df)
        except Exception as exc:  # nor its verdicts
            parts.append(Paragraph(f"Its verdicts on the paper's claims could not be computed ({type(exc).__name__}: {exc})."))
    blocks += [Heading(2, "Claims of the paper"), Paragraph(
        "One row per claim of arXiv 2512.00880: the verdict measured in this run, one headline number with its "
        "interval (the comparison that decides), and a link to the part with every comparison and the calibration "
        "of the rule. Verdicts are statistical decisions on endpoints declared in advance (docs/report.md): "
        "supported = the corrected interval excludes 0 in the claimed direction; refuted = it excludes the claimed "
        "effect (worse, or equivalent within the margin); inconclusive = neither, never read as refuted."),
        Table(_claims_table(claims, read), id=CLAIMS_TABLE_ID)]
    atomic_write_csv(run.path / "claims.csv", _claims_csv(claims, read))
    blocks += [Heading(2, "Contents of this run", anchor="contents")] + _contents(env, read, _unit_errors(run))
    if not any(r.usable for r in read.values()):
        blocks.append(Paragraph("This run folder has no section results yet."))
    blocks += parts
    if bench_json:
        from qkernels.suite.report.bench import benchmark_blocks

        blocks += benchmark_blocks(run, [Path(f) for f in bench_json])
    if compare_bench is not None:
        from qkernels.suite.report.benchcompare import THRESHOLD, bench_compare_blocks

        blocks += bench_compare_blocks(run, Path(bench_json[0]), Path(compare_bench), bench_threshold or THRESHOLD)
    if compare is not None:
        from qkernels.suite.report.compare import compare_blocks

        blocks += compare_blocks(run, RunFolder(compare))
    blocks += [Heading(2, "Environment", anchor="environment")]
    blocks += [Paragraph(env_problem)] if env_problem else _env_blocks(env)
    md, html_path = run.path / "report.md", run.path / "report.html"
    atomic_write_text(md, to_markdown(blocks))
    atomic_write_text(html_path, to_html(blocks, title=f"qkernels report {run.path.name}"))
    return [md, html_path]


__all__ = ["build_report", "claims_frame", "slug", "CLAIMS_TABLE_ID", "CLAIMS_COLUMNS"]
