"""Issue 19: bounded memory, and one clear line for every user-caused failure.

Each test here is one class of the hostile-use report: memory estimated before allocation (with
peak memory measured in a subprocess under an address-space limit), integer overflow, disk full
(a mocked ENOSPC), decompression bombs, third-party warnings, no silent repair, the same
validation everywhere, the report's Markdown, file names from data, env.json on resume, and the
run-folder lock.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import socket
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

import qkernels
from qkernels.core.errors import InputError
from qkernels.core.memory import max_memory, memory_budget, parse_size
from qkernels.suite import sections as sections_pkg
from qkernels.suite.cli import main
from qkernels.suite.document.blocks import Paragraph, Table, to_markdown
from qkernels.suite.runfolder import LOCK_NAME, RunFolder, RunFolderLock, safe_name
from qkernels.suite.sections.base import Section, Unit

ROOT = Path(__file__).resolve().parents[1]
GiB = 1 << 30


def _cli(capsys, *args) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("qkernels: error:") and "Traceback" not in err, err
    return lines[0]


# peak RSS of this process since its exec (VmHWM). ru_maxrss is not used: on Linux a child keeps the
# parent's maximum from before its exec, so under pytest it reports pytest's own peak.
PEAK_RSS = ("def _peak_rss():\n"
            "    with open('/proc/self/status') as fh:\n"
            "        return int(fh.read().split('VmHWM:')[1].split()[0]) * 1024\n")


def _limited(code: str, limit_bytes: int = 4 * GiB, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python under an address-space limit (``ulimit -v``)."""
    prelude = (f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit_bytes}, {limit_bytes}))\n"
               + PEAK_RSS)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("QK_MAX_MEMORY", None)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=timeout)


# ---- memory: estimated before allocation ------------------------------------------------------

def _bert_like(path: Path, rows: int = 30522, dim: int = 384, hidden: int = 768) -> dict[str, int]:
    """A checkpoint shaped like MiniLM: a word-embedding table and a few linear layers."""
    g = torch.Generator().manual_seed(0)
    sd = {"embeddings.word_embeddings.weight": torch.randn(rows, dim, generator=g),
          "embeddings.LayerNorm.weight": torch.ones(dim), "embeddings.LayerNorm.bias": torch.zeros(dim),
          "encoder.layer.0.attention.self.query.weight": torch.randn(dim, dim, generator=g),
          "encoder.layer.0.attention.self.query.bias": torch.randn(dim, generator=g),
          "encoder.layer.0.intermediate.dense.weight": torch.randn(hidden, dim, generator=g),
          "encoder.layer.0.intermediate.dense.bias": torch.randn(hidden, generator=g)}
    save_file(sd, str(path))
    return {"encoder.layer.0.attention.self.query": dim, "encoder.layer.0.intermediate.dense": hidden}


_MEASURE = """
import sys, resource, json
from qkernels.suite.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "peak_rss": _peak_rss()}), file=sys.stderr)
"""


def _measure(args: list[str], limit_bytes: int = 4 * GiB, timeout: float = 600) -> tuple[int, int, str]:
    """(exit status, peak RSS in bytes, stderr without the measurement) of ``qkernels ARGS`` in a fresh
    process under ``ulimit -v limit_bytes``."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit_bytes}, {limit_bytes}))\n" + PEAK_RSS
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("QK_MAX_MEMORY", None)
    p = subprocess.run([sys.executable, "-c", prelude + _MEASURE, *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    *lines, last = p.stderr.strip().splitlines()
    rec = json.loads(last)
    return rec["rc"], rec["peak_rss"], "\n".join(lines)


@pytest.mark.slow
def test_distances_on_a_30k_row_embedding_at_filter_granularity_stays_bounded(tmp_path):
    """MiniLM's 30,522 x 384 word embedding once made `distances --granularity filter` build all
    466 million row pairs in memory (killed at 23.8 GB). Now the table is skipped as an embedding
    (named on stderr), the rest is streamed to the CSV, and the peak RSS is measured under a 4 GB
    address-space limit."""
    ck = tmp_path / "minilm_like.safetensors"
    widths = _bert_like(ck)
    out = tmp_path / "d.csv"
    rc, peak, err = _measure(["distances", str(ck), "--granularity", "filter", "--out", str(out)])
    assert rc == 0, err
    assert "skipped embeddings.word_embeddings (state_dict): embedding" in err
    df = pd.read_csv(out)
    assert len(df) == sum(w * (w - 1) // 2 for w in widths.values())
    assert df.groupby("layer").size().to_dict() == {k: w * (w - 1) // 2 for k, w in widths.items()}
    assert df.fs.notna().all() and (df.fs >= 0).all()
    print(f"peak RSS {peak / 2**20:.0f} MiB")
    assert peak < 1.5 * GiB, f"peak RSS {peak / 2**20:.0f} MiB"


@pytest.mark.slow
def test_embedding_rows_asked_for_are_streamed_with_a_bounded_working_set(tmp_path):
    """With --embeddings the 466 million pairs of the 30k rows are computed block by block: RSS stays
    flat while the CSV grows, and a run stopped half-way leaves no partial CSV behind."""
    ck = tmp_path / "minilm_like.safetensors"
    _bert_like(ck, hidden=8)
    out = tmp_path / "all.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    code = (f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({4 * GiB}, {4 * GiB}))\n"
            "import sys\nfrom qkernels.suite.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, "distances", str(ck), "--granularity", "filter", "--embeddings",
                             "--out", str(out)], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    rss, written = [], []
    try:
        t0 = time.time()
        while time.time() - t0 < 60 and proc.poll() is None:
            time.sleep(0.5)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            rss.append(int(status.split("VmRSS:")[1].split()[0]) * 1024)
            tmp = [p for p in tmp_path.iterdir() if p.name.startswith(".all.csv.")]
            written.append(tmp[0].stat().st_size if tmp else 0)
            if written[-1] > 40 << 20:  # 40 MiB of CSV: several hundred thousand rows streamed
                break
    finally:
        proc.kill()
        proc.wait()
    assert written[-1] > 40 << 20, (written[-5:], proc.stderr.read().decode()[-2000:])
    assert max(rss) < 1.5 * GiB, f"peak RSS {max(rss) / 2**20:.0f} MiB"
    # flat: the last samples are not much above those taken once streaming began
    streaming = [r for r, w in zip(rss, written) if w > 0]
    assert max(streaming) - min(streaming) < 256 << 20, [r >> 20 for r in streaming]
    assert not out.exists()  # a killed write never leaves a partial CSV under the target name


def _sparse_safetensors(path: Path, shape: tuple[int, int]) -> int:
    """A safetensors file with a float32 tensor of ``shape`` (zeros, written as a sparse file) and a
    small 4 x 4 one after it (so that there is a pair to compare)."""
    nbytes = 4 * shape[0] * shape[1]
    header = json.dumps({"w.weight": {"dtype": "F32", "shape": list(shape), "data_offsets": [0, nbytes]},
                         "v.weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [nbytes, nbytes + 64]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + nbytes + 64)
    return nbytes


def test_a_header_claiming_more_data_than_the_file_is_refused_without_reading(tmp_path):
    p = tmp_path / "liar.safetensors"
    header = json.dumps({"w.weight": {"dtype": "F32", "shape": [1 << 20, 1 << 20],
                                      "data_offsets": [0, 4 << 40]}}).encode()
    p.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(InputError, match="truncated: its header claims 4,398,046,511,104 bytes"):
        qkernels.load_state_dict(p)
    bad = tmp_path / "inconsistent.safetensors"
    header = json.dumps({"w.weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 8]}}).encode()
    bad.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(InputError, match="does not match"):
        qkernels.load_state_dict(bad)


def test_checkpoint_reading_is_checked_against_the_budget_from_the_header(tmp_path, capsys):
    p = tmp_path / "big.safetensors"
    _sparse_safetensors(p, (16384, 16384))  # 1 GiB claimed, nothing on disk
    rc, _, err = _cli(capsys, "distances", p, "--max-memory", "512M")
    line = _one_line(err)
    assert rc == 2 and "reading checkpoint" in line and "1.0 GiB" in line and "--max-memory 512M" in line


@pytest.mark.slow
def test_a_1_gib_operator_is_refused_with_its_estimate_under_a_4_gb_limit(tmp_path):
    """One 16,384 x 16,384 float32 tensor drove the process to 11.9 GB; now the spectrum's working
    set is estimated first, and the refusal comes before it is allocated."""
    p = tmp_path / "big.safetensors"
    _sparse_safetensors(p, (16384, 16384))
    rc, peak, err = _measure(["distances", str(p)])
    assert rc == 2, err
    line = _one_line(err)
    assert "the spectrum of operator 'w' (16384x16384)" in line and "over the memory budget" in line
    print(f"peak RSS {peak / 2**20:.0f} MiB")
    assert peak < 1.75 * GiB, f"peak RSS {peak / 2**20:.0f} MiB"  # the 1 GiB tensor, read once, and the interpreter


def test_the_spectrum_working_set_is_refused_before_allocating(tmp_path, capsys):
    ck = tmp_path / "m.safetensors"
    save_file({"w.weight": torch.randn(1024, 1024), "v.weight": torch.randn(1024, 1024)}, str(ck))
    rc, _, err = _cli(capsys, "distances", ck, "--max-memory", "12M")
    line = _one_line(err)
    assert rc == 2 and "spectrum of operator 'v' (1024x1024)" in line and "--max-memory 12M" in line
    rc, out, err = _cli(capsys, "distances", ck, "--max-memory", "200M")
    assert rc == 0 and len(pd.read_csv(io.StringIO(out))) == 1
    with max_memory("1M"), pytest.raises(InputError, match="spectrum of a 600x600 matrix"):
        qkernels.spectrum(np.ones((600, 600)))


def test_a_distance_table_held_in_memory_is_refused_over_the_budget_and_streams_otherwise():
    ops = qkernels.extract_operators(qkernels.build_model("mlp"), "filter")
    with max_memory("4M"), pytest.raises(InputError, match=r"distance table of 40,813 operator pairs.*iter_distance_table"):
        qkernels.distance_table(ops, metrics=["fs"])
    from qkernels.geometry.tables import iter_distance_table

    full = qkernels.distance_table(ops, metrics=["fs", "w2cum"])
    with max_memory("4M"):
        blocks = list(iter_distance_table(ops, metrics=["fs", "w2cum"], block_pairs=1000))
    assert max(len(b) for b in blocks) == 1000
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), full)


def test_quantum_registers_are_refused_from_the_shapes_before_any_copy():
    """Two 2**31-long states passed 7 GB before; at 2**28 the refusal came after a 4.5 GB peak. The
    inputs here are broadcast views (no memory of their own): any copy would need gigabytes, and
    the subprocess's 4 GB address-space limit would turn it into a MemoryError, not a refusal."""
    p = _limited("""
        import numpy as np, resource
        from qkernels import QuantumKernel, InputError
        for n in (2**28, 2**31):
            P = np.broadcast_to(np.float64(n ** -0.5), (2, n))
            for method, call in (("swap", "matrix"), ("compute_uncompute", "matrix"), ("swap", "fidelity")):
                k = QuantumKernel(method)
                try:
                    k.matrix(P) if call == "matrix" else k.fidelity(P[0], P[1])
                except InputError as exc:
                    assert "needs about" in str(exc), exc
                else:
                    raise SystemExit("accepted")
        print(_peak_rss())
    """, timeout=120)
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.split()[-1]) < 1 * GiB


def test_the_budget_comes_from_the_option_then_the_variable_then_the_machine(monkeypatch):
    monkeypatch.delenv("QK_MAX_MEMORY", raising=False)
    default = memory_budget()
    assert not default.explicit and default.bytes > 0 and "available" in default.source
    monkeypatch.setenv("QK_MAX_MEMORY", "3G")
    assert memory_budget().bytes == 3 * GiB and memory_budget().source == "QK_MAX_MEMORY=3G"
    with max_memory("1.5GB"):
        assert memory_budget().bytes == 1_500_000_000
    assert parse_size("50%", "x", available=1000) == 500
    for bad in ("abc", "-1G", "0", "1e30", "5 parsecs", "200%"):
        with pytest.raises(InputError):
            parse_size(bad, "--max-memory")


def test_an_address_space_limit_lowers_the_default_budget():
    p = _limited("""
        from qkernels.core.memory import memory_budget
        print(memory_budget().bytes)
    """, limit_bytes=3 * GiB, timeout=60)
    assert p.returncode == 0, p.stderr
    assert int(p.stdout) < 1.5 * GiB


# ---- integers at the boundary ---------------------------------------------------------------

@pytest.mark.parametrize("seed", ["99999999999999999999", "-1", str(2**63), "1.5"])
@pytest.mark.parametrize("command", [["run", "--sections", "metrics"], ["distances", "mlp"],
                                     ["prune", "mlp", "--method", "l1", "--sparsity", "0.5"]], ids=lambda c: c[0])
def test_seeds_out_of_range_are_one_line_in_every_command(tmp_path, capsys, command, seed):
    out = tmp_path / "run"
    extra = ["--out", out, "--no-progress"] if command[0] == "run" else []
    rc, _, err = _cli(capsys, *command, *extra, "--seed", seed)
    assert rc == 2 and "--seed" in _one_line(err)
    assert not out.exists(), "a refused run wrote files (env.json)"


def test_seeds_and_shots_in_the_library():
    for bad in (-1, 2**63, 2**64, True, 1.0):
        with pytest.raises(InputError, match="seed"):
            qkernels.QuantumKernel(seed=bad)
        with pytest.raises(InputError, match="seed"):
            qkernels.build_model("mlp", seed=bad)
    qkernels.QuantumKernel(seed=2**63 - 1)
    with pytest.raises(InputError, match=r"at most 2\*\*63-1"):
        qkernels.QuantumKernel(shots=2**63)
    k = qkernels.QuantumKernel("compute_uncompute", shots=2**63 - 1, seed=1)
    assert np.isfinite(k.matrix(np.eye(2))).all()


def test_shot_plans_are_positive_or_refused():
    with pytest.raises(InputError, match="2\\*\\*63-1"):
        qkernels.plan_shots(1e-5, 0.05, "swap")
    for eps in (1e-4, 3e-4, 1e-3):
        for method in ("swap", "compute_uncompute"):
            plan = qkernels.plan_shots(eps, 0.05, method)
            hoeffding = qkernels.plan_shots(eps, 0.05, method, bound="hoeffding")
            assert 1 <= plan.shots <= hoeffding.shots
            # the closed form of the Hoeffding bound: ln(2/δ) / (2 β² sin⁴ ε)
            beta = 0.5 if method == "swap" else 1.0
            assert hoeffding.shots == pytest.approx(math.log(2 / 0.05) / (2 * beta**2 * math.sin(eps) ** 4), rel=1e-6)


# ---- disk full and permissions --------------------------------------------------------------

class _FullDisk:
    """Make atomic writes fail with ENOSPC after ``allow`` successful ones."""

    def __init__(self, monkeypatch, allow: int = 0):
        import qkernels.core.atomic as atomic

        self.left = allow
        real = atomic.os.fsync

        def fsync(fd):
            if self.left <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.left -= 1
            return real(fd)

        monkeypatch.setattr(atomic.os, "fsync", fsync)


def test_disk_full_is_one_line_with_the_path_and_the_free_space(tmp_path, capsys, monkeypatch):
    _FullDisk(monkeypatch)
    target = tmp_path / "d.csv"
    rc, _, err = _cli(capsys, "distances", "mlp", "--out", target)
    line = _one_line(err)
    assert rc == 2 and "No space left on device" in line and str(target) in line and "free on that file system" in line
    assert "--resume" not in line  # the resume hint belongs to qkernels run
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary


class _Steps(Section):
    name, title, summary = "robust_steps", "Steps", "three units of one row each (a test section)"
    profiles = {"quick": None, "full": None}
    units = 3

    def plan(self, ctx):
        return [Unit(f"step={i}", f"step {i}", lambda i=i: pd.DataFrame({"step": [i], "x": [i * i]}))
                for i in range(self.units)]

    def report(self, run, df):
        return [Paragraph(f"{len(df)} steps")]


class _Other(_Steps):
    name, title = "robust_other", "Other"
    units = 1


@pytest.fixture
def steps(monkeypatch):
    monkeypatch.setitem(sections_pkg._registry(), _Steps.name, _Steps())
    monkeypatch.setitem(sections_pkg._registry(), _Other.name, _Other())
    return _Steps.name


def test_disk_full_during_a_run_keeps_the_finished_units_and_resume_completes(tmp_path, capsys, monkeypatch, steps):
    out = tmp_path / "run"
    full = _FullDisk(monkeypatch, allow=2)  # env.json and the first part
    rc, _, err = _cli(capsys, "run", "--sections", steps, "--out", out, "--no-progress")
    line = _one_line(err)
    assert rc == 2 and "No space left on device" in line and "--resume" in line
    parts = list((out / ".parts" / steps).glob("*.csv"))
    assert len(parts) == 1 and not list(out.rglob("*.tmp"))
    assert not (out / LOCK_NAME).exists()
    full.left = 10**6
    rc, _, err = _cli(capsys, "run", "--sections", steps, "--out", out, "--no-progress", "--resume")
    assert rc == 0, err
    assert pd.read_csv(out / f"{steps}.csv").step.tolist() == [0, 1, 2]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_folder_that_cannot_be_written_is_one_line(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        rc, _, err = _cli(capsys, "distances", "mlp", "--out", ro / "d.csv")
    finally:
        ro.chmod(0o700)
    line = _one_line(err)
    assert rc == 2 and "Permission denied" in line and str(ro) in line


# ---- files other people made ----------------------------------------------------------------

def _png(path: Path, w: int, h: int) -> None:
    """A PNG whose header claims w x h pixels (the pixel data is a few bytes)."""
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [30000, 10000], ids=["bomb", "likely-bomb"])
def test_a_decompression_bomb_in_an_image_folder_is_bad_input(tmp_path, capsys, side):
    from PIL import Image

    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(tmp_path / c / f"{i}.png")
    _png(tmp_path / "cat" / "huge.png", side, side)
    with pytest.raises(InputError, match="huge.png.*decompression bomb"):
        qkernels.load_data(f"folder:{tmp_path}", size=8)
    rc, _, err = _cli(capsys, "prune", "mlp", "--method", "l1", "--sparsity", "0.5", "--data", f"folder:{tmp_path}")
    assert rc == 2 and "decompression bomb" in _one_line(err)


def test_a_refused_pickle_is_the_only_line_and_names_the_refused_global(tmp_path, capsys):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    p4 = tmp_path / "p4.pt"
    with open(p4, "wb") as fh:  # protocol 4: torch warns about it on stderr
        pickle.dump({"fc.weight": torch.ones(2, 2)}, fh, protocol=4)
    evil = tmp_path / "evil.pt"
    torch.save({"fc.weight": torch.ones(2, 2), "x": Evil()}, evil)
    legacy = tmp_path / "legacy.pt"
    torch.save({"fc.weight": torch.ones(2, 2), "x": Evil()}, legacy, _use_new_zipfile_serialization=False)
    for path, name in ((p4, "torch.storage._load_from_bytes"), (evil, f"{os.system.__module__}.system"),
                       (legacy, f"{os.system.__module__}.system")):
        rc, _, err = _cli(capsys, "distances", path)
        line = _one_line(err)
        assert rc == 2 and f"'{name}'" in line and "weights_only" not in line, line


def test_no_silent_repair_of_a_bias_in_a_checkpoint(tmp_path, capsys):
    ck = tmp_path / "m.safetensors"
    save_file({"fc.weight": torch.randn(4, 3), "fc.bias": torch.randn(5), "fc2.weight": torch.randn(4, 4)}, str(ck))
    rc, _, err = _cli(capsys, "distances", ck)
    assert rc == 2 and "'fc.bias'" in _one_line(err) and "'fc.weight'" in err


def test_prune_out_must_say_safetensors(tmp_path, capsys):
    for name in ("x.pt", "x.pth", "x", "x.safetensors.bak"):
        rc, _, err = _cli(capsys, "prune", "mlp", "--method", "l1", "--sparsity", "0.5", "--out", tmp_path / name)
        assert rc == 2 and "*.safetensors" in _one_line(err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("var, value", [("QK_MAX_RESULT_BYTES", "abc"), ("QK_MAX_RESULT_BYTES", "-5"),
                                        ("QK_MAX_MEMORY", "abc"), ("QK_MAX_MEMORY", "0")])
def test_an_invalid_environment_variable_is_an_error_naming_it(tmp_path, capsys, monkeypatch, var, value):
    rf = RunFolder(tmp_path)
    (tmp_path / "metrics.csv").write_text("a\n1\n")
    monkeypatch.setenv(var, value)
    for args in (["report", tmp_path], ["distances", "mlp"]):
        rc, _, err = _cli(capsys, *args)
        assert rc == 2 and var in _one_line(err)
    if var == "QK_MAX_RESULT_BYTES":
        from qkernels.suite.sectioncsv import read_section_csv

        with pytest.raises(InputError, match=var):
            read_section_csv(rf, "metrics")


# ---- the same validation everywhere ---------------------------------------------------------

def test_size_zero_is_refused_not_replaced(tmp_path, capsys):
    rc, _, err = _cli(capsys, "prune", "mlp", "--method", "l1", "--sparsity", "0.5", "--size", "0")
    assert rc == 2 and "--size" in _one_line(err)
    with pytest.raises(InputError, match="size"):
        qkernels.load_data("digits", size=0)
    with pytest.raises(InputError, match="size"):
        qkernels.load_data(f"folder:{tmp_path}", size=0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_states_are_treated_alike_from_numpy_and_torch(dtype):
    psi = np.array([0.6, 0.8])
    t = torch.tensor(psi).to(getattr(torch, dtype))
    inputs = [t] if dtype == "bfloat16" else [t, psi.astype(np.float16)]
    values = [float(qkernels.fs_distance(x, x)) for x in inputs]
    assert values == [values[0]] * len(values)
    for x in inputs:
        qkernels.spectrum(x[None] if isinstance(x, np.ndarray) else x[None])
        qkernels.pairwise_fs(x[None])
        qkernels.QuantumKernel().fidelity(x, x)
    bad = np.array([0.6, 0.9])
    for x in (torch.tensor(bad).to(getattr(torch, dtype)), bad.astype(np.float16)):
        with pytest.raises(InputError, match="unit vectors"):
            qkernels.fs_distance(x, x)


# ---- the report and file names from data ----------------------------------------------------

def test_report_markdown_escapes_csv_text():
    df = pd.DataFrame({"model": ["<script>alert(1)</script>", "![x](http://evil.example/t.png)",
                                 "[click](javascript:alert(1))", "[ok](#claims)", "a|b", "&amp; &#60;"],
                       "<b>col</b>": range(6)})
    md = to_markdown([Table(df, caption="<img src=x onerror=alert(1)>"), Paragraph("<iframe>")])
    assert "<" not in md.replace("&lt;", "")
    assert "![x]" not in md and "\\[click\\](javascript" in md and "[ok](#claims)" in md
    assert "a\\|b" in md and "&amp;amp;" in md


def test_file_names_from_model_names_are_sanitized(tmp_path):
    rf = RunFolder(tmp_path)
    names = ["org/model", "../../etc/passwd", "a\\b", "x" * 300, "", ".", "..", "résumé", "a b", "org_model"]
    files = [rf.figure(f"metrics_fs_{safe_name(n)}.png") for n in names]
    assert all(f.parent == rf.figures for f in files)
    assert len({f.name for f in files}) == len(names)  # distinct names stay distinct
    assert safe_name("resnet18") == "resnet18" and len(safe_name("x" * 300)) <= 89


# ---- env.json on resume, and one writer per run folder --------------------------------------

def test_resume_with_other_sections_keeps_the_folder_s_section_list(tmp_path, capsys, steps):
    out = tmp_path / "run"
    assert _cli(capsys, "run", "--sections", steps, "--out", out, "--no-progress")[0] == 0
    rc, _, err = _cli(capsys, "run", "--sections", _Other.name, "--out", out, "--no-progress", "--resume")
    assert rc == 0, err
    env = json.loads((out / "env.json").read_text())
    assert env["sections"] == [steps, _Other.name]
    md = (out / "report.md").read_text()
    assert f"`{steps}` (not requested" not in md and f"[{steps}](#{steps})" in md


def _hold_lock(folder: Path) -> subprocess.Popen:
    code = ("import sys, time\nfrom qkernels.suite.runfolder import RunFolder\n"
            "cm = RunFolder(sys.argv[1]).lock()\ncm.__enter__()\nprint('locked', flush=True)\ntime.sleep(120)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_is_refused_and_a_dead_owner_s_lock_is_taken_over(tmp_path, capsys, steps):
    out = tmp_path / "run"
    assert _cli(capsys, "run", "--sections", steps, "--out", out, "--no-progress")[0] == 0
    before = (out / "env.json").read_text()
    holder = _hold_lock(out)
    try:
        rc, _, err = _cli(capsys, "run", "--sections", steps, "--out", out, "--no-progress", "--resume")
        line = _one_line(err)
        assert rc == 2 and f"in use by pid {holder.pid} on {socket.gethostname()}" in line
        assert (out / "env.json").read_text() == before  # the refused process wrote nothing
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == holder.pid  # a stale lock is left behind
    rc, _, err = _cli(capsys, "run", "--sections", steps, "--out", out, "--no-progress", "--resume")
    assert rc == 0, err
    assert not (out / LOCK_NAME).exists()


def test_the_lock_in_one_process_and_a_fresh_folder():
    import tempfile

    folder = Path(tempfile.mkdtemp()) / "new"
    rf = RunFolder(folder)
    with rf.lock():
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
        with pytest.raises(InputError, match="in use by pid"):
            RunFolderLock(folder).acquire()
    assert folder.is_dir() and not (folder / LOCK_NAME).exists()
    with pytest.raises(InputError), RunFolder(Path(tempfile.mkdtemp()) / "refused").lock() as lk:
        raise InputError("refused inside")
    assert not lk.path.parent.exists()  # a refused run leaves no folder
