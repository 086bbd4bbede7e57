"""``qkernels run``: run the registered sections into one run folder, resumably.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> # run(sections="metrics", out=out)  # writes out/metrics.csv, env.json, report.md/html
"""

from __future__ import annotations

import random
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from qkernels.core.checks import check_seed
from qkernels.core.errors import InputError
from qkernels.hw.backends import resolve_device
from qkernels.suite.ckcache import entry_files, install_files, key_paths
from qkernels.suite.engine import (
    ClusterSpec,
    Outcome,
    PlannedSection,
    build_jobs,
    make_engine,
    resolve_cluster,
    shared_cache_from_env,
)
from qkernels.suite.envinfo import collect_env, utc_now
from qkernels.suite.report.build import build_report
from qkernels.suite.runfolder import DEFAULT_ROOT, RunFolder, default_run_dir, latest_run_dir
from qkernels.suite.sections import SectionContext, get_section, parse_sections

PROFILES = ("quick", "standard", "functional", "full")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run(
    *,
    profile: str = "quick",
    sections: str | list[str] | None = None,
    device: str = "auto",
    out: str | Path | None = None,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    root: str | Path = DEFAULT_ROOT,
    cluster: str | ClusterSpec | None = None,
) -> Path:
    """Run the named sections (default: all) and write their results, env.json and the report.

    Args:
        profile: "quick" (a 2-core laptop), "standard" (decides the claims) or "full" (paper scale, for GPUs).
        sections: comma-separated names or a list; None runs every registered section.
        device: "auto", "cpu", "cuda", "cuda:1", "npu", ... (on a cluster: resolved on a worker).
        out: the run folder (default ``reports/runs/<UTC timestamp>``).
        seed: the run seed; every unit derives its own from it.
        resume: continue an interrupted run in ``out`` (default: the newest run under ``root``).
        progress: show progress bars on stderr.
        cluster: run the units on Dask: ``local[:N]``, ``tcp://HOST:PORT`` or ``slurm[:...]``
            (docs/scale-out.md); None: ``$QK_CLUSTER`` or ``$DASK_SCHEDULER_ADDRESS`` if set, else
            every unit in this process, in order; ``"none"``: in this process even if those are set.

    Returns:
        The run folder.

    Raises:
        InputError: unknown profile, section, device or cluster, a negative seed, or a run folder
            that cannot be used (all checked before anything is written).
    """
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}; profiles: {', '.join(PROFILES)}")
    check_seed(seed, "--seed")
    names = parse_sections(sections)
    for n in names:
        if profile not in get_section(n).profiles:
            raise InputError(f"section {n!r} has no {profile!r} profile")
    for n in names:  # pretrained weights and shipped data present (else the pip command, exit 2)
        get_section(n).check_ready(profile)
    spec = cluster if isinstance(cluster, ClusterSpec) else resolve_cluster(cluster)
    shared = shared_cache_from_env()
    if spec is None:
        resolve_device(device)  # a device that is not here is refused before anything is written
    if out is None:
        if resume:
            found = latest_run_dir(root)
            if found is None:
                raise InputError(f"--resume: no run folder to resume under {str(root)!r}; pass --out")
            out = found
        else:
            out = default_run_dir(root)
    rf = RunFolder(out)
    with make_engine(spec, progress=progress, shared_cache=shared) as engine:
        dev = engine.device(device)  # on a cluster: resolved on a worker, before anything is written
        with rf.lock():  # one writer per run folder; a second process is refused before it writes
            rf.prepare(resume=resume, profile=profile, seed=seed)
            old = rf.read_env()
            env = collect_env(seed=seed, profile=profile, device=str(dev))
            env.update({"start": old.get("start") or utc_now(), "end": None, "status": "running",
                        "sections": _sections_of_folder(old, names), "engine": engine.describe(),
                        "resumed": old.get("resumed", []) + ([utc_now()] if old else [])})
            rf.write_env(env)
            t0 = time.perf_counter()
            seed_everything(seed)
            if spec is None:  # section after section, each planned when it starts (as without an engine)
                for name in names:
                    _drive(engine, [name], rf, profile, dev, seed, resume, progress)
            else:  # every section planned at once: the cluster runs their untimed units together
                _drive(engine, names, rf, profile, dev, seed, resume, progress)
            env["engine"] = engine.describe()
            unit_errors = sum(len(rf.sink(n).errors()) for n in names)
            env.update({"end": utc_now(), "status": "complete", "unit_errors": unit_errors,
                        "duration_s": round(time.perf_counter() - t0 + float(old.get("duration_s") or 0), 3)})
            rf.write_env(env)
            engine.close()  # the workers are not needed for the report
            build_report(rf)
    return rf.path


def _plan(name: str, rf: RunFolder, profile: str, dev, seed: int, resume: bool) -> tuple[PlannedSection, list[str]] | None:
    """The section's units still to do (None when a resumed run finished it), and all its keys in order."""
    section = get_section(name)
    sink = rf.sink(name)
    ctx = SectionContext(run=rf, profile=profile, device=dev, seed=seed)
    units = section.plan(ctx)
    keys = [u.key for u in units]
    if len(set(keys)) != len(keys):
        raise RuntimeError(f"section {name!r} planned duplicate unit keys")
    if sink.done and resume:
        return None
    todo = [u for u in units if not sink.has(u.key)]
    return PlannedSection(section, name, profile, section.profiles.get(profile), seed, todo, sink), keys


def _drive(engine, names: list[str], rf: RunFolder, profile: str, dev, seed: int, resume: bool,
           progress: bool) -> None:
    """Plan ``names``, run their units on ``engine`` and write each result as it arrives (this process
    is the only writer); finalize each section when its last unit is in."""
    planned = [p for p in (_plan(n, rf, profile, dev, seed, resume) for n in names) if p is not None]
    if not planned:
        return
    jobs = build_jobs([p for p, _ in planned], partial(_driver_files, engine.ships_checkpoints))
    left = {p.name: len(p.units) for p, _ in planned}
    keys = {p.name: k for p, k in planned}
    bars = {p.name: tqdm(total=len(k), initial=len(k) - len(p.units), desc=p.name, unit="unit", file=sys.stderr,
                         disable=not progress, dynamic_ncols=True, position=i if len(planned) > 1 else None)
            for i, (p, k) in enumerate(planned)}
    try:
        for name in [n for n, c in left.items() if c == 0]:
            rf.sink(name).finalize(keys[name])
        for out in engine.run(jobs):
            _record(rf.sink(out.section), out, bars[out.section], engine.ships_checkpoints)
            left[out.section] -= 1
            if left[out.section] == 0:
                bars[out.section].close()
                rf.sink(out.section).finalize(keys[out.section])
    finally:
        for bar in bars.values():
            bar.close()


def _driver_files(ships: bool, key: str) -> Outcome | None:
    """Checkpoint ``key`` from the driver's cache: its files when the workers need them shipped, an empty
    payload when they share the cache and it is there, None when it must be trained."""
    if ships:
        files = entry_files(key)
        return Outcome("", key, checkpoints=files) if files else None
    return Outcome("", key) if all(p.is_file() for p in key_paths(key)) else None


def _record(sink, out: Outcome, bar, keep_checkpoints: bool) -> None:
    """Write one unit's outcome: its rows (or its error), where it ran, and a copy of the checkpoints it
    trained in the driver's cache (so a resumed run ships them instead of training again)."""
    if out.error is not None:
        sink.put_error(out.key, out.error)
        how = "failed on the device" if out.meta.get("status") == "device error" else "failed"
        bar.write(f"{sink.section}: unit {out.meta.get('label', out.key)!r} {how} ({out.error}); recorded "
                  f"in {sink.section}_errors.csv, the run goes on (--resume retries it)")
    else:
        sink.put(out.key, out.rows)
    sink.put_meta(out.key, out.meta)
    if keep_checkpoints and out.checkpoints:
        install_files(out.checkpoints)
    bar.set_postfix_str(out.meta.get("label", out.key), refresh=False)
    bar.update(1)


def _sections_of_folder(old_env: dict, names: list[str]) -> list[str]:
    """The sections a run folder holds after this run: those recorded before, then the new ones.

    ``--resume --sections quantum`` on a folder of metrics and bounds adds quantum; it does not
    make the report call metrics and bounds "not requested".
    """
    before = old_env.get("sections") if isinstance(old_env.get("sections"), list) else []
    return list(dict.fromkeys([str(n) for n in before] + list(names)))


__all__ = ["run", "seed_everything", "PROFILES"]
