"""``qkernels prune`` on the command line: summary line, pruned-model file, exit 2 on bad input."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from qkernels.nn.models import build_model
from qkernels.pruning import load_pruned
from qkernels.suite.cli import main
from qkernels.suite.sweeps import pruning as sweep


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tiny class-named image folder: 3 classes told apart by colour."""
    root = tmp_path_factory.mktemp("imgs")
    for k, c in enumerate(("red", "green", "blue")):
        (root / c).mkdir()
        for i in range(12):
            rgb = [20 + i, 20 + i, 20 + i]
            rgb[k] = 200 + i
            Image.new("RGB", (10, 10), tuple(rgb)).save(root / c / f"{i}.png")
    return root


def _cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_prune_builtin_model_writes_a_loadable_file(capsys, folder, tmp_path):
    out = tmp_path / "p.safetensors"
    sweep.clear_memory_cache()
    rc, stdout, err = _cli(capsys, "prune", "mlp", "--method", "l1", "--sparsity", "0.5", "--data", f"folder:{folder}",
                           "--size", "8", "--epochs", "2", "--finetune-epochs", "1", "--out", out, "--no-progress")
    assert rc == 0, err
    line = stdout.strip()
    assert "\n" not in line and line.startswith("l1 p=0.5 on mlp") and "MACs" in line and "params" in line
    assert "top-1" in line and f"wrote {out}" in line
    model, meta = load_pruned(out)
    assert model.net[1].out_features == 128 and meta["extra"]["accuracy_finetuned"] is not None
    # prune the pruned file again
    rc, stdout, err = _cli(capsys, "prune", out, "--method", "random", "--sparsity", "0.5", "--data",
                           f"folder:{folder}", "--size", "8", "--out", tmp_path / "pp.safetensors")
    assert rc == 0, err
    assert load_pruned(tmp_path / "pp.safetensors")[0].net[1].out_features == 64


def test_prune_a_checkpoint_with_arch(capsys, folder, tmp_path):
    m = build_model("resnet18_small", width=0.125, num_classes=3)
    ck = tmp_path / "r.pt"
    torch.save(m.state_dict(), ck)
    rc, stdout, err = _cli(capsys, "prune", ck, "--arch", "resnet18_small", "--method", "taylor", "--sparsity", "0.25",
                           "--data", f"folder:{folder}", "--size", "16", "--threads", "1")
    assert rc == 0, err
    assert "taylor p=0.25 on resnet18_small (checkpoint)" in stdout


def test_prune_with_qmfrg_threshold_and_merge(capsys, folder, tmp_path):
    out = tmp_path / "q.safetensors"
    rc, stdout, err = _cli(capsys, "prune", "mlp", "--method", "qmfrg", "--sparsity", "0.9", "--tau", "0.001",
                           "--merge", "--data", f"folder:{folder}", "--size", "8", "--epochs", "1", "--out", out)
    assert rc == 0, err and stdout.startswith("qmfrg p=0.9 on mlp")
    crit = load_pruned(out)[1]["extra"]["criterion"]
    assert crit["mode"] == "threshold" and crit["merge"] and crit["tau"] == 0.001


@pytest.mark.parametrize("args,match", [
    (["mlp", "--method", "magic", "--sparsity", "0.5"], "unknown pruning method 'magic'"),
    (["mlp", "--method", "l1", "--sparsity", "1.5"], "sparsity must be in"),
    (["mlp", "--method", "l1", "--sparsity", "0"], "sparsity must be in"),
    (["mlp", "--method", "l1", "--sparsity", "abc"], "invalid float"),
    (["mlp", "--method", "l1"], "required"),
    (["nosuchmodel", "--method", "l1", "--sparsity", "0.5"], "unknown model 'nosuchmodel'"),
    (["mlp", "--method", "bn_scale", "--sparsity", "0.5"], "no BatchNorm"),
    (["mlp", "--method", "l1", "--sparsity", "0.5", "--threads", "0"], "--threads must be at least 1"),
    (["mlp", "--method", "l1", "--sparsity", "0.5", "--device", "bogus"], "bogus"),
    (["mlp", "--method", "qmfrg", "--sparsity", "0.5", "--tau", "-1"], "tau"),
    (["mlp", "--method", "qmfrg-quantum", "--sparsity", "0.5", "--shots", "0"], "shots: must be positive"),
    (["mlp", "--method", "l1", "--sparsity", "0.5", "--merge"], "options of the QM-FRG methods"),
    (["mlp", "--method", "qmfrg", "--sparsity", "0.5", "--metric", "cosine"], "metric"),
])
def test_bad_input_exits_2_with_one_line(capsys, folder, args, match):
    rc, out, err = _cli(capsys, "prune", *args, "--data", f"folder:{folder}", "--size", "8", "--epochs", "1")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and match in err and "Traceback" not in err


def test_checkpoint_shape_mismatch_names_the_tensor(capsys, folder, tmp_path):
    state = build_model("resnet18_small", width=0.125, num_classes=3).state_dict()
    state["layer2.0.conv1.weight"] = torch.zeros(16, 9, 3, 3)
    ck = tmp_path / "bad.pt"
    torch.save(state, ck)
    rc, _, err = _cli(capsys, "prune", ck, "--arch", "resnet18_small", "--method", "l1", "--sparsity", "0.5",
                      "--data", f"folder:{folder}", "--size", "8")
    assert rc == 2 and "'layer2.0.conv1.weight' has shape (16, 9, 3, 3)" in err
    rc, _, err = _cli(capsys, "prune", ck, "--method", "l1", "--sparsity", "0.5", "--data", f"folder:{folder}")
    assert rc == 2 and "needs --arch" in err


def test_bad_data_exits_2(capsys, tmp_path):
    (tmp_path / "one" / "only").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "one" / "only" / "a.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "one" / "only" / "b.png")
    rc, _, err = _cli(capsys, "prune", "mlp", "--method", "l1", "--sparsity", "0.5", "--data", f"folder:{tmp_path / 'one'}")
    assert rc == 2 and "at least 2 class" in err


def test_prune_request_from_arguments_and_checks():
    import argparse

    from qkernels.core.errors import InputError
    from qkernels.suite.cli import _build_parser
    from qkernels.suite.commands.prune import PruneRequest

    a = _build_parser().parse_args(["prune", "mlp", "--method", "qmfrg", "--sparsity", "0.5", "--tau", "0.1",
                                    "--merge", "--no-progress", "--round-to", "8"])
    r = PruneRequest.from_args(a)
    assert (r.model, r.method, r.sparsity, r.round_to, r.progress) == ("mlp", "qmfrg", 0.5, 8, False)
    assert r.options == {"tau": 0.1, "merge": True}
    assert r.validated()[1] == 0.5
    assert isinstance(a, argparse.Namespace)
    for bad, match in ((dict(latency_batch=0), "--latency-batch"), (dict(round_to=0), "--round-to"),
                       (dict(options={"metric": "cosine"}), "metric: expected one of"),
                       (dict(hardware_aware=True), "--hardware-aware takes no QM-FRG options")):
        with pytest.raises(InputError, match=match):
            PruneRequest(**{**r.__dict__, **bad}).validated()


def test_prune_command_takes_a_request_or_keywords(folder):
    from qkernels.suite.commands.prune import PruneRequest, prune_command

    sweep.clear_memory_cache()
    common = dict(data=f"folder:{folder}", size=8, epochs=1, progress=False)
    line_a, rec_a = prune_command("mlp", method="l1", sparsity=0.5, **common)
    line_b, rec_b = prune_command(PruneRequest("mlp", "l1", 0.5, **common))
    assert rec_a["removed"] == rec_b["removed"] and rec_a["accuracy_oneshot"] == rec_b["accuracy_oneshot"]
    assert line_a.split("top-1")[1].split("; pruned in")[0] == line_b.split("top-1")[1].split("; pruned in")[0]
