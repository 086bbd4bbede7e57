"""``qkernels run``: the run folder it writes, resuming, reproducibility, refusals.

The metrics section runs on a tiny configuration here (the MLP only, tiny speed workloads); one
slow test runs the real quick profile end to end through the command line.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import qkernels
from qkernels.core.errors import InputError
from qkernels.hw.backends import resolve_device
from qkernels.nn.models import build_model
from qkernels.suite.cli import main
from qkernels.suite.runfolder import part_filename
from qkernels.suite.runner import run
from qkernels.suite.sections import SectionContext, get_section
from qkernels.suite.sections.metrics import plan as metrics_section
from qkernels.suite.speed import goals as speedgoals

TINY = metrics_section.MetricsProfile(models=("mlp",), filter_ref_pairs=2, speed_repeat=1, n_emd2_1d=5, n_emd2=1)
REAL_QUICK = metrics_section.PROFILES["quick"]  # before any test patches it
UNIT_KEYS = ["layer_pairs:mlp", "filters:mlp", "speed:fs_allpairs", "speed:w2cum_allpairs", "speed:spectra_resnet18"]
ROW_KEY = ["kind", "granularity", "op_a", "op_b", "metric", "stat"]


def _tiny_fs(repeat=3, device="cpu"):
    return speedgoals.measure_fs_allpairs(n=64, d=8, repeat=1, device=device)


def _tiny_w2(n_emd2_1d=200, n_emd2=3, repeat=3):
    return speedgoals.measure_w2cum_allpairs(n=16, d=16, n_emd2_1d=min(n_emd2_1d, 5), n_emd2=min(n_emd2, 1), repeat=1)


def _tiny_spectra(repeat=3, device="cpu"):
    # the real one builds ResNet-18 and takes seconds on a busy 2-core machine; same keys, tiny work
    model = build_model("mlp", seed=0)
    ops = qkernels.extract_operators(model)
    t = qkernels.time_callable(lambda: qkernels.operator_spectra(ops, device=device), repeat=1, warmup=0)
    return {"total_s": t.median, "operators": len(ops)}


@pytest.fixture(scope="module")
def tiny():
    mp = pytest.MonkeyPatch()
    mp.setitem(metrics_section.PROFILES, "quick", TINY)
    mp.setattr(metrics_section, "measure_fs_allpairs", _tiny_fs)
    mp.setattr(metrics_section, "measure_w2cum_allpairs", _tiny_w2)
    mp.setattr(metrics_section, "measure_spectra_resnet18", _tiny_spectra)
    yield
    mp.undo()


@pytest.fixture(scope="module")
def first_run(tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("first") / "run"
    path = run(out=out, sections="metrics", progress=False)
    assert path == out
    return path


def _csv(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "metrics.csv")


def _non_speed(df: pd.DataFrame) -> pd.DataFrame:
    return df[df.kind != "speed"].reset_index(drop=True)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ---- the run folder -----------------------------------------------------------------------------
def test_env_json(first_run):
    env = json.loads((first_run / "env.json").read_text())
    for k in ("packages", "python", "os", "cpu", "torch_threads", "devices", "seeds", "profile", "git", "start",
              "end", "status"):
        assert k in env, k
    pk = env["packages"]
    for name in ("torch", "pennylane", "POT", "numpy", "scipy", "pandas"):
        assert name in pk
    assert pk["torch"] == torch.__version__ and pk["numpy"] == np.__version__ and pk["pandas"] == pd.__version__
    assert env["status"] == "complete" and env["profile"] == "quick" and env["seeds"]["seed"] == 0
    assert env["device"] == str(resolve_device("auto")) and env["sections"] == ["metrics"]
    assert env["torch_threads"] == torch.get_num_threads()
    assert any(d["name"] == "cpu" and d["usable"] for d in env["devices"])
    assert isinstance(env["git"], dict)
    start, end = datetime.fromisoformat(env["start"]), datetime.fromisoformat(env["end"])
    assert start <= end
    assert env["duration_s"] >= 0
    assert env["resumed"] == []


def test_metrics_csv_columns_and_rows(first_run):
    header = (first_run / "metrics.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    documented = [c.strip() for k in metrics_section.COLUMNS for c in k.split(",")]
    assert header == documented
    df = _csv(first_run)
    n_layers = sum(isinstance(m, nn.Linear) for m in build_model("mlp").modules())
    n_metrics = 7
    layer_pairs = df[(df.kind == "pair") & (df.granularity == "layer")]
    assert len(layer_pairs) == n_layers * (n_layers - 1) // 2 * n_metrics
    filter_pairs = df[(df.kind == "pair") & (df.granularity == "filter")]
    assert len(filter_pairs) == n_layers * TINY.filter_ref_pairs * n_metrics
    assert (filter_pairs.op_a.str.split("[").str[0] == filter_pairs.op_b.str.split("[").str[0]).all()
    within = df[df.kind == "within_layer"]
    assert set(within.op_a) == {"net.1", "net.3", "net.5"}
    assert set(df[df.kind == "speed"].metric) == {"fs_allpairs", "w2cum_allpairs", "spectra_resnet18"}
    assert not df.duplicated(ROW_KEY).any()
    pairs = df[df.kind == "pair"]
    assert (pairs.abs_err < 1e-8).all()  # every metric agrees with its reference


def test_values_match_an_independent_computation(first_run):
    """d_FS of the first two MLP layers, from NumPy SVDs of the seed-0 weights."""
    model = build_model("mlp", seed=0)
    spectra = {}
    for name in ("net.1", "net.3"):
        lin = model.get_submodule(name)
        W, b = lin.weight.detach().double().numpy(), lin.bias.detach().double().numpy()
        A = np.zeros((W.shape[0] + 1, W.shape[1] + 1))
        A[:-1, :-1], A[:-1, -1], A[-1, -1] = W, b, 1.0
        spectra[name] = np.linalg.svd(A, compute_uv=False)
    N = max(map(len, spectra.values()))
    a, b = (np.pad(s, (0, N - len(s))) for s in spectra.values())
    fs = math.acos(min(1.0, float(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b))))
    df = _csv(first_run)
    row = df[(df.kind == "pair") & (df.op_a == "net.1") & (df.op_b == "net.3") & (df.metric == "fs")]
    assert len(row) == 1
    assert row.value.iloc[0] == pytest.approx(fs, abs=1e-7)
    assert row.N.iloc[0] == N and row.norm_a.iloc[0] == pytest.approx(np.linalg.norm(spectra["net.1"]), rel=1e-9)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.bad, self.imgs = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        elif tag != "meta":
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.bad.append(tag)


def test_report_and_figures(first_run):
    md = (first_run / "report.md").read_text(encoding="utf-8")
    page = (first_run / "report.html").read_text(encoding="utf-8")
    assert "## Claims of the paper" in md and "Claims of the paper" in page
    assert md.index("## Claims of the paper") < md.index("## Exact spectral metrics")
    figs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert figs and all(f.startswith("figures/") and f.endswith(".png") for f in figs)
    for f in figs:
        assert (first_run / f).is_file()
    t = _Tags()
    t.feed(page)
    assert t.bad == [] and t.stack == []
    assert sorted(t.imgs) == sorted(figs)


def test_parts_and_no_temp_files(first_run):
    parts = first_run / ".parts" / "metrics"
    assert (parts / "DONE").read_text().split() == UNIT_KEYS
    assert sorted(p.name for p in parts.glob("*.csv")) == sorted(part_filename(k) for k in UNIT_KEYS)
    leftovers = [p for p in first_run.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    # the section CSV is the parts in plan order
    parts_df = pd.concat([pd.read_csv(parts / part_filename(k)) for k in UNIT_KEYS], ignore_index=True)
    pd.testing.assert_frame_equal(_csv(first_run), parts_df, check_dtype=False)


# ---- resuming -----------------------------------------------------------------------------------
@pytest.fixture
def counting(monkeypatch):
    """Count the calls of the work functions of the metrics section's units."""
    calls = {"layer_pairs": 0, "filter_stats": 0, "speed": 0}

    def wrap(name, fn, slot):
        def inner(*a, **k):
            calls[slot] += 1
            return fn(*a, **k)

        monkeypatch.setattr(metrics_section, name, inner)

    wrap("layer_pairs", metrics_section.layer_pairs, "layer_pairs")
    wrap("filter_stats", metrics_section.filter_stats, "filter_stats")
    for name in ("measure_fs_allpairs", "measure_w2cum_allpairs", "measure_spectra_resnet18"):
        wrap(name, getattr(metrics_section, name), "speed")
    return calls


def test_resume_redoes_only_what_is_missing(first_run, tmp_path, counting):
    out = _copy(first_run, tmp_path / "run")
    parts = out / ".parts" / "metrics"
    (out / "metrics.csv").unlink()
    (parts / "DONE").unlink()
    (parts / part_filename("layer_pairs:mlp")).unlink()
    env_before = json.loads((out / "env.json").read_text())

    assert run(resume=True, out=out, sections="metrics", progress=False) == out
    assert counting == {"layer_pairs": 1, "filter_stats": 0, "speed": 0}
    # the speed parts were kept, so even the timings are the first run's
    pd.testing.assert_frame_equal(_csv(out), _csv(first_run))
    env = json.loads((out / "env.json").read_text())
    assert env["status"] == "complete" and env["start"] == env_before["start"] and len(env["resumed"]) == 1
    assert (parts / "DONE").read_text().split() == UNIT_KEYS


def test_resume_of_a_finished_run_does_no_work(first_run, tmp_path, counting):
    out = _copy(first_run, tmp_path / "run")
    run(resume=True, out=out, sections="metrics", progress=False)
    assert counting == {"layer_pairs": 0, "filter_stats": 0, "speed": 0}
    pd.testing.assert_frame_equal(_csv(out), _csv(first_run))


def test_interrupted_run_then_resume(tiny, first_run, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_filter_stats = metrics_section.filter_stats

    def crash(*a, **k):
        raise RuntimeError("simulated crash in the middle of the section")

    monkeypatch.setattr(metrics_section, "filter_stats", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(out=out, sections="metrics", progress=False)
    parts = out / ".parts" / "metrics"
    assert not (out / "metrics.csv").exists() and not (parts / "DONE").exists()
    assert (parts / part_filename("layer_pairs:mlp")).is_file()
    assert not (parts / part_filename("filters:mlp")).exists()
    assert json.loads((out / "env.json").read_text())["status"] == "running"

    layer_calls = []
    real_layer_pairs = metrics_section.layer_pairs
    monkeypatch.setattr(metrics_section, "filter_stats", real_filter_stats)
    monkeypatch.setattr(metrics_section, "layer_pairs", lambda *a, **k: layer_calls.append(1) or real_layer_pairs(*a, **k))
    run(resume=True, out=out, sections="metrics", progress=False)
    assert layer_calls == []  # the finished unit was not redone
    df = _csv(out)
    assert not df.duplicated(ROW_KEY).any()
    pd.testing.assert_frame_equal(_non_speed(df), _non_speed(_csv(first_run)))
    assert json.loads((out / "env.json").read_text())["status"] == "complete"


@pytest.mark.parametrize("change", [{"seed": 1}, {"profile": "full"}])
def test_resume_with_other_settings_is_refused(first_run, tmp_path, change):
    out = _copy(first_run, tmp_path / "run")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(InputError, match="cannot resume"):
        run(resume=True, out=out, sections="metrics", progress=False, **change)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_non_empty_out_without_resume_is_refused(first_run, tmp_path):
    out = _copy(first_run, tmp_path / "run")
    before = (out / "metrics.csv").read_bytes()
    with pytest.raises(InputError, match="not empty"):
        run(out=out, sections="metrics", progress=False)
    assert (out / "metrics.csv").read_bytes() == before


def test_resume_picks_the_newest_run_under_root(first_run, tmp_path, counting):
    root = tmp_path / "runs"
    with pytest.raises(InputError, match="no run folder to resume"):
        run(resume=True, root=root, sections="metrics", progress=False)
    _copy(first_run, root / "20200101T000000Z")
    newest = _copy(first_run, root / "20300101T000000Z")
    (root / "20990101T000000Z").mkdir()  # not a run folder
    assert run(resume=True, root=root, sections="metrics", progress=False) == newest
    assert len(json.loads((newest / "env.json").read_text())["resumed"]) == 1
    assert json.loads((root / "20200101T000000Z" / "env.json").read_text())["resumed"] == []


# ---- reproducibility ----------------------------------------------------------------------------
def test_same_seed_same_rows(first_run, tmp_path):
    again = run(out=tmp_path / "again", sections="metrics", progress=False, seed=0)
    pd.testing.assert_frame_equal(_non_speed(_csv(again)), _non_speed(_csv(first_run)))


def test_other_seed_other_values(first_run, tmp_path):
    other = run(out=tmp_path / "other", sections="metrics", progress=False, seed=5)
    a, b = _non_speed(_csv(first_run)), _non_speed(_csv(other))
    key = (a.kind == "pair") & (a.granularity == "layer") & (a.metric == "fs")
    assert a[key].op_a.tolist() == b[key].op_a.tolist()
    assert not np.allclose(a[key].value.to_numpy(), b[key].value.to_numpy(), rtol=0, atol=1e-9)
    assert json.loads((other / "env.json").read_text())["seeds"]["seed"] == 5


def _ctx(seed):
    return SectionContext(run=None, profile="quick", device=torch.device("cpu"), seed=seed)


def test_seed_for_is_stable_and_distinct():
    a = _ctx(0).seed_for("filters:mlp")
    assert a == _ctx(0).seed_for("filters:mlp")
    assert a != _ctx(1).seed_for("filters:mlp")
    assert a != _ctx(0).seed_for("filters:vit_tiny")
    seeds = {_ctx(s).seed_for(k) for s in range(20) for k in ("a", "b", "c", "filters:mlp")}
    assert len(seeds) == 80
    assert all(0 <= s < 2**32 for s in seeds)


def test_seed_for_does_not_depend_on_the_process():
    code = ("import torch; from qkernels.suite.sections import SectionContext; "
            "print(SectionContext(None, 'quick', torch.device('cpu'), 3).seed_for('filters:mlp'))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == _ctx(3).seed_for("filters:mlp")


def test_plan_uses_the_derived_seeds(tiny):
    units = get_section("metrics").plan(_ctx(7))
    assert [u.key for u in units] == UNIT_KEYS
    filt = next(u for u in units if u.key == "filters:mlp")
    assert filt.run.args[-1] == _ctx(7).seed_for("filters:mlp") and filt.run.args[1] == 7


# ---- refusals write nothing ---------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"profile": "huge"}, "unknown profile"),
    ({"sections": "bogus"}, "unknown section"),
    ({"sections": "metrics,bogus"}, "unknown section"),
    ({"sections": ","}, "no section"),
    ({"device": "tpu"}, "unknown device"),
    ({"seed": -1}, "non-negative"),
])
def test_bad_arguments_write_nothing(tmp_path, kwargs, match):
    out = tmp_path / "run"
    with pytest.raises(InputError, match=match):
        run(out=out, progress=False, **kwargs)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unusable_device_writes_nothing(tmp_path):
    with pytest.raises(InputError, match="not usable"):
        run(out=tmp_path / "run", device="cuda", progress=False)
    assert not (tmp_path / "run").exists()


def test_interrupt_through_the_cli(tiny, tmp_path, monkeypatch, capsys):
    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(metrics_section, "filter_stats", interrupt)
    out = tmp_path / "run"
    assert main(["run", "--sections", "metrics", "--out", str(out), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert "--resume" in err and "Traceback" not in err
    assert (out / ".parts" / "metrics" / part_filename("layer_pairs:mlp")).is_file()


def test_cli_run_prints_the_folder_last(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--sections", "metrics", "--out", str(out), "--no-progress", "--seed", "0"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    assert (out / "metrics.csv").is_file()


# ---- the real thing -----------------------------------------------------------------------------
@pytest.mark.slow
def test_quick_profile_end_to_end(tmp_path):
    """The unpatched quick profile, as a user runs it (about 20 s on 2 cores)."""
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "qkernels", "run", "--sections", "metrics", "--out", str(out),
                           "--no-progress"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    assert "Traceback" not in proc.stderr
    df = _csv(out)
    quick = REAL_QUICK
    assert set(df.model.dropna()) - {""} >= set(quick.models)
    for model in quick.models:
        n = len(qkernels.extract_operators(build_model(model, seed=0)))
        lp = df[(df.kind == "pair") & (df.granularity == "layer") & (df.model == model) & (df.metric == "fs")]
        assert len(lp) == n * (n - 1) // 2
    assert (df[df.kind == "pair"].abs_err < 1e-6).all()
    speed = df[df.kind == "speed"]
    assert set(speed.metric) == {"fs_allpairs", "w2cum_allpairs", "spectra_resnet18"}
    assert (speed.value >= 0).all()
    env = json.loads((out / "env.json").read_text())
    assert env["status"] == "complete"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Claims of the paper" in md and "Speed goals" in md
    for f in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out / f).is_file()
