"""The latency part of ``bench/gpu_check.sh``: dense, pruned and deployed models on one device, batch 1–256.

For each model (the standard-width ResNet-18 at 224², the half-width small-stem ResNet-18 at 32²,
the MLP of the latency benchmark; ``--small``: tiny versions for a CPU test) the dense model and
its 50% L1-pruned copy are timed eager and deployed (:func:`qkernels.hw.deploy.deploy`: BN folded,
channels_last, and ``torch.compile`` with ``--compile``), interleaved, at every batch size. A batch
that runs out of memory is a row with its error; the sweep goes on. Each deployed model is
checked against the eager one (``max_abs_diff``). Writes ``latency_<device>.csv`` and
``latency_<device>.json`` (the rows and :func:`qkernels.suite.envinfo.collect_env`).

Command: ``python -m qkernels.suite.speed.devicecheck --device cuda --out DIR [--compile] [--small]``.
On a device that is not usable it writes one row saying why and exits 0 (the script goes on);
bad arguments exit 2.

Example:
    >>> rows = latency_rows("cpu", small=True, batch_sizes=(1,), budget_s=0.0)
    >>> sorted({(r["mode"], r["pruned"]) for r in rows})
    [('deployed', False), ('deployed', True), ('eager', False), ('eager', True)]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd
import torch

from qkernels.core.errors import InputError

BATCHES = (1, 8, 32, 64, 128, 256)


def _models(small: bool) -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    from qkernels.nn.models import build_model

    if small:
        return {"resnet18_small_w0.125@16": (build_model("resnet18_small", width=0.125, seed=0), (3, 16, 16)),
                "mlp@16": (build_model("mlp", in_features=3 * 16 * 16, seed=0), (3, 16, 16))}
    return {"resnet18@224": (build_model("resnet18", seed=0), (3, 224, 224)),
            "resnet18_small_w0.5@32": (build_model("resnet18_small", width=0.5, seed=0), (3, 32, 32)),
            "mlp@32": (build_model("mlp", in_features=3 * 32 * 32, hidden=(1024, 512), seed=0), (3, 32, 32))}


def latency_rows(device: str, *, small: bool = False, compile: bool = False, batch_sizes=BATCHES,
                 budget_s: float = 1.0, rounds: int = 2) -> list[dict]:
    """One row per model × pruned × mode × batch (see the module text)."""
    from qkernels.hw.backends import resolve_device
    from qkernels.hw.deploy import deploy, max_abs_difference
    from qkernels.hw.latency import measure_interleaved
    from qkernels.pruning import prune

    dev = resolve_device(device)
    rows: list[dict] = []
    for name, (model, shape) in _models(small).items():
        model = model.eval()
        pm, rec = prune(model, "l1", 0.5, torch.zeros(1, *shape))
        ratio = rec["macs_before"] / rec["macs_after"]
        x = torch.randn(8, *shape, generator=torch.Generator().manual_seed(0))
        models, notes = {}, {}
        for pruned, m in ((False, model), (True, pm.eval())):
            models[("eager", pruned)] = m
            d, info = deploy(m, x, device=dev, compile=compile)
            info["max_abs_diff"] = max_abs_difference(m.to(dev), d, x.to(dev))
            models[("deployed", pruned)], notes[pruned] = d, info
        for mode in ("eager", "deployed"):
            cl = mode == "deployed" and notes[False]["channels_last"]
            got = measure_interleaved({p: models[(mode, p)] for p in (False, True)}, shape, rounds=rounds,
                                      device=dev, batch_sizes=batch_sizes, warmup=2, min_repeat=4, max_repeat=100,
                                      budget_s=budget_s, channels_last=cl)
            for i, batch in enumerate(batch_sizes):
                d, p = got[False][i], got[True][i]
                for pruned, r in ((False, d), (True, p)):
                    speed = d.get("median_s", math.nan) / r["median_s"] if r.get("median_s") else math.nan
                    extra = notes[pruned] if mode == "deployed" else {}
                    rows.append({"model": name, "device": str(dev), "mode": mode, "pruned": pruned, "batch": batch,
                                 "median_s": r.get("median_s", math.nan), "p90_s": r.get("p90_s", math.nan),
                                 "throughput": r.get("throughput", math.nan), "n": r.get("n", 0),
                                 "speedup": speed if pruned else 1.0, "mac_ratio": ratio,
                                 "efficiency": speed / ratio if pruned else math.nan,
                                 "peak_mem_bytes": r.get("peak_mem_bytes"), "error": r.get("error", ""),
                                 "bn_folded": extra.get("bn_folded"), "channels_last": extra.get("channels_last"),
                                 "compiled": extra.get("compiled"), "max_abs_diff": extra.get("max_abs_diff")})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m qkernels.suite.speed.devicecheck", description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", required=True)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)))
    a = ap.parse_args(argv)
    try:
        batches = tuple(int(b) for b in a.batches.split(","))
        if not batches or min(batches) < 1:
            raise ValueError
    except ValueError:
        print(f"devicecheck: --batches: expected positive integers separated by commas, got {a.batches!r}",
              file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = a.device.replace(":", "")
    from qkernels.suite.envinfo import collect_env

    try:
        rows = latency_rows(a.device, small=a.small, compile=a.compile, batch_sizes=batches,
                            budget_s=0.05 if a.small else 1.0)
        why = ""
    except InputError as exc:  # the device is not usable here: say so, the script goes on
        rows, why = [], str(exc)
    frame = pd.DataFrame(rows if rows else [{"device": a.device, "error": f"not measured: {why}"}])
    frame.to_csv(out / f"latency_{tag}.csv", index=False)
    env = collect_env(seed=0, profile="gpu_check", device=a.device)
    (out / f"latency_{tag}.json").write_text(json.dumps({"env": env, "skipped": why, "rows": rows}, indent=1,
                                                         default=str), encoding="utf-8")
    print(f"devicecheck: {len(rows)} rows on {a.device}" + (f" (not measured: {why})" if why else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
