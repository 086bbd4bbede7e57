"""The ``qkernels`` command line (also ``python -m qkernels``).

Exit status: 0 on success; 2 on bad arguments or input, with one line on stderr saying what and
where (no traceback); 1 on an internal failure (with the traceback), and for ``qkernels report
--fail-on-regression`` when the comparison finds a regression (one line per regression on stderr,
then a summary line, no traceback). Bad input includes a full
disk or a folder that cannot be written (the line names the path and the free space there), a
step over the memory budget (``--max-memory``/``$QK_MAX_MEMORY``, the line gives the estimate),
and an invalid ``QK_*`` environment variable (the line names it).

Example:
    >>> main(["devices", "--json"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import errno
import json
import re
import shutil
import sys
import traceback
from pathlib import Path

from qkernels import __version__
from qkernels.core.checks import MAX_SEED
from qkernels.core.errors import InputError
from qkernels.core.memory import fmt_bytes, parse_size
from qkernels.geometry.metrics import metric_names
from qkernels.pruning.qmfrg.channels import edge_metrics


class _Parser(argparse.ArgumentParser):
    """argparse that raises InputError instead of exiting, so every usage error is exit 2."""

    def error(self, message: str):  # type: ignore[override]
        raise InputError(f"{self.prog}: {message}")


def _seed(text: str) -> int:
    """argparse type of --seed: an integer in 0..2**63-1 (the same range in every command)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r} (a seed is an integer in 0..2**63-1)") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer (0..2**63-1), got {text!r}")
    return value


def _count(lo: int, hi: int | None = None):
    """argparse type of an integer option in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            want = f"in {lo}..{'2**63-1' if hi == MAX_SEED else hi}" if hi is not None else f"of at least {lo}"
            raise argparse.ArgumentTypeError(f"expected an integer {want}, got {text!r}")
        return value
    parse.__name__ = "integer"
    return parse


def _ratio(text: str) -> float:
    """argparse type of --bench-threshold: a finite ratio above 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid ratio: {text!r}") from None
    if not 1.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a ratio above 1 (e.g. 1.1), got {text!r}")
    return value


def _size(text: str) -> str:
    """argparse type of --max-memory: a size (4G, 512M, 50%), validated now, applied per command."""
    try:
        parse_size(text, "--max-memory")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None
    return text


def _add_max_memory(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-memory", type=_size, default=None, metavar="SIZE",
                   help="memory one step may use, e.g. 4G, 512M or 50%% of the available memory (default: "
                        "$QK_MAX_MEMORY, else 50%%); larger work is streamed or refused with the estimate")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="qkernels", description="Quantum-inspired spectral geometry of neural-network operators.")
    p.add_argument("--version", action="version", version=f"qkernels {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, required=True)

    r = sub.add_parser("run", help="run the benchmark suite (all sections or those named) into one run folder")
    r.add_argument("--profile", default="quick", choices=["quick", "standard", "functional", "full"],
                   help="quick: a 2-core laptop, ~10 min (default); standard: the profile that decides the claims "
                        "(10 seeds, ~25 min on 2 cores); functional: the functional claim alone (docs/pruning.md); "
                        "full: paper scale, for GPUs")
    r.add_argument("--sections", default=None, help="comma-separated sections (default: all registered)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, npu, mlu, xpu, mps (default auto)")
    r.add_argument("--out", default=None, help="run folder (default reports/runs/<UTC timestamp>)")
    r.add_argument("--seed", type=_seed, default=0, help="run seed, 0..2**63-1 (default 0)")
    r.add_argument("--resume", action="store_true", help="continue an interrupted run (--out, or the newest run)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument("--cluster", default=None, metavar="SPEC",
                   help="run the units on Dask (extra dist): local[:N] (an embedded cluster of N workers), "
                        "tcp://HOST:PORT (a running scheduler) or slurm[:KEY=VALUE,...]; none: in this process "
                        "(default: $QK_CLUSTER or $DASK_SCHEDULER_ADDRESS if set, else in this process; "
                        "docs/scale-out.md)")
    _add_max_memory(r)

    from qkernels.suite.engine.worker import add_arguments as add_worker_arguments
    w = sub.add_parser("worker", help="start Dask workers for `qkernels run --cluster ADDRESS`, one per GPU/NPU "
                                      "(or per core)")
    add_worker_arguments(w)

    rep = sub.add_parser("report", help="rebuild report.md and report.html of a run folder")
    rep.add_argument("run_dir", help="a run folder written by `qkernels run`")
    rep.add_argument("--bench-json", nargs="+", action="extend", default=[], metavar="FILE",
                     help="pytest-benchmark JSON file(s) (--benchmark-json) to add as a Benchmarks part")
    rep.add_argument("--compare", default=None, metavar="OTHER_RUN_DIR",
                     help="another run folder: per metric, the change from it to RUN_DIR, flagged outside the noise")
    rep.add_argument("--compare-bench", default=None, metavar="OLD_JSON",
                     help="an older pytest-benchmark JSON file: each benchmark of the one --bench-json file against it "
                          "(ratio of medians, Mann-Whitney test on the raw rounds, machines checked)")
    rep.add_argument("--bench-threshold", type=_ratio, default=None, metavar="RATIO",
                     help="ratio of medians new/old above which a significant slow-down is a regression (default 1.1)")
    rep.add_argument("--fail-on-regression", action="store_true",
                     help="exit with status 1 when --compare or --compare-bench finds a regression")

    d = sub.add_parser("devices", help="list the torch backends and PennyLane devices the suite knows, usable or not")
    d.add_argument("--json", action="store_true", help="print JSON instead of a table")

    ds = sub.add_parser("distances", help="spectral distances between the operators of one model or two")
    ds.add_argument("model_a", help="built-in model name or checkpoint path (.pt/.pth/.safetensors)")
    ds.add_argument("model_b", nargs="?", default=None, help="a second model, for cross-model distances")
    ds.add_argument("--granularity", default="layer", choices=["layer", "filter"])
    ds.add_argument("--metric", default="fs,w2cum",
                    help=f"comma-separated: {', '.join(metric_names())} (default fs,w2cum)")
    ds.add_argument("--arch", default=None, help="built-in architecture to load MODEL_A's checkpoint into")
    ds.add_argument("--arch-b", default=None, help="built-in architecture to load MODEL_B's checkpoint into")
    ds.add_argument("--seed", type=_seed, default=0, help="initialization seed of built-in models, 0..2**63-1 (default 0)")
    ds.add_argument("--device", default="cpu", help="device for the spectra (default cpu)")
    ds.add_argument("--out", default=None, help="write CSV here (default: stdout); written in blocks, atomically")
    ds.add_argument("--embeddings", action="store_true",
                    help="also compare embedding tables (skipped by default: lookup tables, not operators)")
    _add_max_memory(ds)

    pr = sub.add_parser("prune", help="one-shot structured pruning of one model (Torch-Pruning dependency graph)")
    pr.add_argument("model", help="built-in model name (trained on --data, cached), checkpoint path, or pruned file")
    pr.add_argument("--method", required=True, help="pruning criterion (random, l1, l2, fpgm, bn_scale, taylor, ...)")
    pr.add_argument("--sparsity", required=True, type=float, help="fraction of channels removed per group, in (0, 1)")
    pr.add_argument("--out", default=None, help="write the pruned model here (.safetensors; channel counts + tensors)")
    pr.add_argument("--arch", default=None, help="built-in architecture to load a checkpoint into")
    pr.add_argument("--width", type=float, default=None, help="ResNet width multiplier (built-in resnet18 models)")
    pr.add_argument("--data", default=None, help="digits (default; a pretrained model's own data set: mnist5k for "
                    "lenet5-mnist, tones for crepe-*), mnist5k, tones, cifar10:PATH or folder:PATH")
    pr.add_argument("--size", type=_count(1), default=None, help="image side for digits and folder data (default 32)")
    pr.add_argument("--epochs", type=float, default=4.0, help="training epochs of a built-in model (default 4)")
    pr.add_argument("--finetune-epochs", type=float, default=0.0, help="fine-tuning after pruning (default 0)")
    pr.add_argument("--seed", type=_seed, default=0,
                    help="seed of training, calibration draw and random scores, 0..2**63-1 (default 0)")
    pr.add_argument("--device", default="cpu", help="device (default cpu)")
    pr.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's; 1 is best for small models on a busy machine)")
    pr.add_argument("--no-progress", action="store_true", help="no progress bars")
    qm = pr.add_argument_group("QM-FRG (methods qmfrg, qmfrg-aligned, qmfrg-merge, qmfrg-quantum, qmfrg-act, ...; "
                               "docs/qmfrg.md)")
    qm.add_argument("--tau", type=float, default=None,
                    help="threshold mode: remove every channel redundant at this distance (--sparsity is then the cap)")
    qm.add_argument("--merge", nargs="?", const=True, default=None, choices=["fold", "ls", "ls-kept", "ot"],
                    help="re-express removed channels through the kept ones: ls (least squares through the "
                         "representative; the default of a bare --merge), ls-kept (through all kept channels), ot "
                         "(optimal-transport fusion), fold (alpha = 1, data-free)")
    qm.add_argument("--metric", default=None,
                    help=f"edge distance: {', '.join(edge_metrics()[:-1])} or {edge_metrics()[-1]} (act, white: "
                         "functional states on the calibration images; filter: data-free; docs/theory.md)")
    qm.add_argument("--estimator", default=None, choices=["exact", "quantum"],
                    help="functional metrics: exact, or estimated by a quantum kernel at --shots")
    qm.add_argument("--shots", type=int, default=None, help="shots per kernel entry of the quantum metric (1..2**63-1)")
    pr.add_argument("--hardware-aware", action="store_true",
                    help="per-group widths from a cost table measured on --device: as fast as uniform pruning at "
                         "--sparsity, removing channels where they cost the most time for the least importance")
    pr.add_argument("--round-to", type=int, default=None, help="keep channel counts multiples of N")
    pr.add_argument("--latency-batch", type=int, default=8,
                    help="batch size at which --hardware-aware measures latency (default 8)")
    _add_max_memory(pr)
    return p


def _cmd_run(a: argparse.Namespace) -> int:
    from qkernels.suite.runner import run

    path = run(profile=a.profile, sections=a.sections, device=a.device, out=a.out, seed=a.seed, resume=a.resume,
               progress=not a.no_progress, cluster=a.cluster)
    print(path)
    return 0


def _cmd_worker(a: argparse.Namespace) -> int:
    from qkernels.suite.engine.worker import worker_command
    return worker_command(a)


def _cmd_report(a: argparse.Namespace) -> int:
    from qkernels.suite.report.build import build_report
    from qkernels.suite.runfolder import RunFolder

    rf = RunFolder(a.run_dir)
    if not rf.path.is_dir():
        raise InputError(f"run folder {a.run_dir!r} does not exist")
    if not rf.env_path.is_file() and not any(rf.path.glob("*.csv")):
        raise InputError(f"{a.run_dir!r} is not a qkernels run folder (no env.json and no section CSV)")
    if a.fail_on_regression and a.compare is None and a.compare_bench is None:
        raise InputError("--fail-on-regression needs --compare OTHER_RUN_DIR or --compare-bench OLD_JSON")
    if a.bench_threshold is not None and a.compare_bench is None:
        raise InputError("--bench-threshold needs --compare-bench OLD_JSON")
    if a.compare is not None:
        other = RunFolder(a.compare)
        if not other.path.is_dir():
            raise InputError(f"--compare: run folder {a.compare!r} does not exist")
        if a.fail_on_regression and not other.env_path.is_file() and not any(other.path.glob("*.csv")):
            raise InputError(f"--compare: {a.compare!r} is not a qkernels run folder (no env.json and no section CSV)")
    for p in build_report(rf, bench_json=a.bench_json, compare=a.compare, compare_bench=a.compare_bench,
                          bench_threshold=a.bench_threshold):
        print(p)
    regressed = False
    if a.compare is not None:
        regressed |= _gate_runs(rf, a.compare, a.fail_on_regression)
    if a.compare_bench is not None:
        regressed |= _gate_bench(a.bench_json[0], a.compare_bench, a.bench_threshold)
    return 1 if regressed and a.fail_on_regression else 0


def _gate_runs(rf, other: str, strict: bool) -> bool:
    """Print the regressions of ``rf`` against run ``other`` on stderr; whether there is one."""
    from qkernels.suite.report.compare import compare
    from qkernels.suite.runfolder import RunFolder

    result = compare(rf, RunFolder(other))
    if strict and not result.comparable:
        raise InputError(f"--compare: nothing to compare with {other!r} (no section with metrics in both runs and "
                         "no claim with a verdict in both); the report is written")
    for line in result.regression_lines():
        print(f"qkernels: regression: {line}", file=sys.stderr)
    print(f"qkernels: compare {other}: {result.summary()}", file=sys.stderr)
    return bool(result.regression_lines())


def _gate_bench(new: str, old: str, threshold: float | None) -> bool:
    """Print the benchmark regressions of ``new`` against ``old`` on stderr; whether there is one."""
    from qkernels.suite.report.benchcompare import THRESHOLD, compare_bench, load_pair

    result = compare_bench(*load_pair(new, old), threshold or THRESHOLD)
    for line in result.regression_lines():
        print(f"qkernels: regression: {line}", file=sys.stderr)
    for note in result.notes:
        print(f"qkernels: compare-bench: note: {note}", file=sys.stderr)
    print(f"qkernels: compare-bench {old}: {result.summary()}", file=sys.stderr)
    return result.same_machine and not result.regressions.empty


def _quantum_device_records() -> list[dict]:
    from qkernels.quantum.devices import quantum_devices

    return [{"name": d["name"], "framework": "pennylane", "usable": d["usable"], "reason": d["reason"],
             "device_count": 1 if d["usable"] else 0, "device_names": [d["name"]] if d["usable"] else [],
             "details": {"kind": d["kind"], "installed": d["installed"], "distribution": d["distribution"]}}
            for d in quantum_devices()]


def _cmd_devices(a: argparse.Namespace) -> int:
    from qkernels.hw.backends import available_backends

    torch_records = [{"framework": "torch", **b.as_dict()} for b in available_backends()]
    quantum = _quantum_device_records()
    if a.json:
        print(json.dumps(torch_records + quantum, indent=2))
        return 0
    width = max(len(r["name"]) for r in torch_records + quantum)
    for title, records in (("torch backends (models, metrics, latency)", torch_records),
                           ("PennyLane devices (quantum kernels)", quantum)):
        print(f"# {title}")
        for r in records:
            state = "usable" if r["usable"] else "unusable"
            names = f" [{', '.join(r['device_names'])}]" if r["device_names"] and r["framework"] == "torch" else ""
            print(f"{r['name']:<{width}}  {state:<8}  {r['reason']}{names}")
    return 0


def _operators(spec: str, arch: str | None, seed: int, granularity: str, embeddings: bool = False):
    from qkernels.geometry.operators import extract_operators, operators_from_state_dict
    from qkernels.nn.models import load_model

    if arch is not None:
        from qkernels.nn.models import model_spec

        model_spec(arch)  # validate the name first
    obj = load_model(spec, arch=arch, seed=seed)
    if isinstance(obj, dict):
        return operators_from_state_dict(obj, granularity, embeddings=embeddings)
    return extract_operators(obj, granularity, embeddings=embeddings)


def _cmd_distances(a: argparse.Namespace) -> int:
    from qkernels.core.atomic import atomic_open
    from qkernels.geometry.metrics import parse_metrics
    from qkernels.geometry.tables import iter_distance_table
    from qkernels.hw.backends import resolve_device

    metrics = parse_metrics(a.metric)
    device = resolve_device(a.device)
    if a.out is not None and Path(a.out).is_dir():
        raise InputError(f"--out {a.out!r} is a folder; give a file name")
    if a.out is not None and Path(a.out).exists() and not Path(a.out).is_file():
        raise InputError(f"--out {a.out!r} exists and is not a regular file (a device or pipe is not replaced)")
    ops_a = _operators(a.model_a, a.arch, a.seed, a.granularity, a.embeddings)
    ops_b = _operators(a.model_b, a.arch_b, a.seed, a.granularity, a.embeddings) if a.model_b is not None else None
    blocks = iter_distance_table(ops_a, ops_b, metrics=metrics, device=device)
    first = next(blocks)  # refusals (no pairs, memory) come before any output, so they are the only line
    if a.out is None:
        _write_blocks(sys.stdout, first, blocks)
    else:
        with atomic_open(a.out) as fh:  # the CSV appears complete or not at all
            _write_blocks(fh, first, blocks)
    # notes on the modules that are not operators, once the table is complete (a failure stays one line)
    for ops in (ops_a, ops_b):
        for s in (ops.skipped if ops is not None else []):
            print(f"qkernels: skipped {s.name} ({s.module_type}): {s.reason}", file=sys.stderr)
    if a.out is not None:
        print(a.out)
    return 0


def _write_blocks(fh, first, rest) -> None:
    first.to_csv(fh, index=False)
    for df in rest:
        df.to_csv(fh, index=False, header=False)


def _cmd_prune(a: argparse.Namespace) -> int:
    from qkernels.suite.commands.prune import PruneRequest, prune_command

    line, _ = prune_command(PruneRequest.from_args(a))
    print(line)
    return 0


def _one_line(text: str) -> str:
    """Drop terminal escape codes and control characters; join lines."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
    return " ".join("".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text).split())


_COMMANDS = {"run": _cmd_run, "report": _cmd_report, "devices": _cmd_devices, "distances": _cmd_distances,
             "prune": _cmd_prune, "worker": _cmd_worker}


#: OSError numbers that come from the user's environment (space, permissions, paths), not from a bug
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_USER_ERRNOS = _DISK_FULL | {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                             errno.ENAMETOOLONG, errno.ENOENT, errno.ELOOP, errno.EMFILE, errno.ENFILE}


def _free_space(path: str) -> str:
    """Free space on the file system of ``path`` (or its nearest existing parent)."""
    p = Path(path).absolute()
    for q in (p, *p.parents):
        if q.exists():
            try:
                return f"{fmt_bytes(shutil.disk_usage(q).free)} free on that file system"
            except OSError:
                return "free space unknown"
    return "free space unknown"


def _os_error_line(exc: OSError, command: str = "run") -> str:
    """One line for an OSError caused by the environment: what, where, and the free space."""
    reason = exc.strerror or type(exc).__name__
    if exc.filename is None:  # a write to standard output, or a file the system did not name
        return f"cannot write the output: {reason}"
    path = exc.filename
    if exc.errno in _DISK_FULL:
        if command == "run":
            return (f"cannot write {str(path)!r}: {reason} ({_free_space(str(path))}); finished units are kept, "
                    "free some space and continue with --resume")
        return (f"cannot write {str(path)!r}: {reason} ({_free_space(str(path))}); nothing was left behind, "
                "free some space and run again")
    return f"cannot use {str(path)!r}: {reason}" + (f" ({_free_space(str(path))})" if exc.errno == errno.EROFS else "")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = None
    try:
        from qkernels.core.envvars import check_environment
        from qkernels.core.memory import max_memory

        args = _build_parser().parse_args(argv)
        check_environment()
        with max_memory(getattr(args, "max_memory", None)):
            return _COMMANDS[args.command](args)
    except InputError as exc:
        print(f"qkernels: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except OSError as exc:
        if exc.errno not in _USER_ERRNOS:
            traceback.print_exc()
            print("qkernels: internal error (this is a bug; please report it with the traceback above)",
                  file=sys.stderr)
            return 1
        command = getattr(args, "command", None) or "run"
        print(f"qkernels: error: {_one_line(_os_error_line(exc, command))}", file=sys.stderr)
        return 2
    except MemoryError:
        print("qkernels: error: out of memory: the machine (or its limit) has less memory than this step needs; "
              "give a smaller --max-memory so that it is refused or streamed before it starts", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print("qkernels: interrupted; finished units are kept (continue with --resume)", file=sys.stderr)
        return 130
    except Exception as exc:
        if _host_out_of_memory(exc):
            print(f"qkernels: error: out of memory ({_one_line(str(exc).splitlines()[0])[:200]}); give a smaller "
                  "--max-memory so that the step is refused or streamed before it starts", file=sys.stderr)
            return 2
        traceback.print_exc()
        print("qkernels: internal error (this is a bug; please report it with the traceback above)", file=sys.stderr)
        return 1


def _host_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the CPU allocator failing (torch raises RuntimeError, not MemoryError)."""
    msg = str(exc)
    return isinstance(exc, RuntimeError) and ("DefaultCPUAllocator: can't allocate memory" in msg
                                             or "DefaultCPUAllocator: not enough memory" in msg)


def console_main() -> None:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())


__all__ = ["main", "console_main"]
