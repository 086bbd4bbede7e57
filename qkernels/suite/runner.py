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
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from qkernels.core.checks import check_seed
from qkernels.core.errors import InputError
from qkernels.hw.backends import resolve_device
from qkernels.hw.device_errors import describe, is_device_error
from qkernels.suite.envinfo import collect_env, utc_now
from qkernels.suite.report.build import build_report
from qkernels.suite.runfolder import DEFAULT_ROOT, RunFolder, default_run_dir, latest_run_dir
from qkernels.suite.sections import SectionContext, get_section, parse_sections

PROFILES = ("quick", "standard", "full")


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
) -> Path:
    """Run the named sections (default: all) and write their results, env.json and the report.

    Args:
        profile: "quick" (a 2-core laptop) or "full" (paper scale, for GPUs).
        sections: comma-separated names or a list; None runs every registered section.
        device: "auto", "cpu", "cuda", "cuda:1", "npu", ...
        out: the run folder (default ``reports/runs/<UTC timestamp>``).
        seed: the run seed; every unit derives its own from it.
        resume: continue an interrupted run in ``out`` (default: the newest run under ``root``).
        progress: show progress bars on stderr.

    Returns:
        The run folder.

    Raises:
        InputError: unknown profile, section or device, a negative seed, or a run folder that
            cannot be used (all checked before anything is written).
    """
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}; profiles: {', '.join(PROFILES)}")
    check_seed(seed, "--seed")
    names = parse_sections(sections)
    for n in names:
        if profile not in get_section(n).profiles:
            raise InputError(f"section {n!r} has no {profile!r} profile")
    dev = resolve_device(device)
    if out is None:
        if resume:
            found = latest_run_dir(root)
            if found is None:
                raise InputError(f"--resume: no run folder to resume under {str(root)!r}; pass --out")
            out = found
        else:
            out = default_run_dir(root)
    rf = RunFolder(out)
    with rf.lock():  # one writer per run folder; a second process is refused before it writes
        rf.prepare(resume=resume, profile=profile, seed=seed)

        old = rf.read_env()
        env = collect_env(seed=seed, profile=profile, device=str(dev))
        env.update({"start": old.get("start") or utc_now(), "end": None, "status": "running",
                    "sections": _sections_of_folder(old, names),
                    "resumed": old.get("resumed", []) + ([utc_now()] if old else [])})
        rf.write_env(env)
        t0 = time.perf_counter()
        seed_everything(seed)
        for name in names:
            section = get_section(name)
            sink = rf.sink(name)
            ctx = SectionContext(run=rf, profile=profile, device=dev, seed=seed)
            units = section.plan(ctx)
            keys = [u.key for u in units]
            if len(set(keys)) != len(keys):
                raise RuntimeError(f"section {name!r} planned duplicate unit keys")
            if sink.done and resume:
                continue
            todo = [u for u in units if not sink.has(u.key)]
            bar = tqdm(total=len(units), initial=len(units) - len(todo), desc=name, unit="unit", file=sys.stderr,
                       disable=not progress, dynamic_ncols=True)
            for unit in todo:
                bar.set_postfix_str(unit.label, refresh=True)
                try:
                    rows = unit.run()
                except Exception as exc:  # a device error costs this unit only; anything else stops the run
                    if not is_device_error(exc):
                        raise
                    sink.put_error(unit.key, describe(exc))
                    bar.write(f"{name}: unit {unit.label!r} failed on the device ({describe(exc)}); recorded in "
                              f"{name}_errors.csv, the run goes on (--resume retries it)")
                else:
                    sink.put(unit.key, rows)
                bar.update(1)
            bar.close()
            sink.finalize(keys)
        unit_errors = sum(len(rf.sink(n).errors()) for n in names)
        env.update({"end": utc_now(), "status": "complete", "unit_errors": unit_errors,
                    "duration_s": round(time.perf_counter() - t0 + float(old.get("duration_s") or 0), 3)})
        rf.write_env(env)
        build_report(rf)
    return rf.path


def _sections_of_folder(old_env: dict, names: list[str]) -> list[str]:
    """The sections a run folder holds after this run: those recorded before, then the new ones.

    ``--resume --sections quantum`` on a folder of metrics and bounds adds quantum; it does not
    make the report call metrics and bounds "not requested".
    """
    before = old_env.get("sections") if isinstance(old_env.get("sections"), list) else []
    return list(dict.fromkeys([str(n) for n in before] + list(names)))


__all__ = ["run", "seed_everything", "PROFILES"]
