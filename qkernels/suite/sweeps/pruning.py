"""The pruning sweep: configurations (profiles), cached dense models, and one unit of work.

A sweep trains (or loads from the checkpoint cache) one dense model per model × replicate, then
for every method × sparsity × replicate prunes it one-shot, re-estimates BatchNorm statistics on
the calibration split, evaluates on the test split (stage ``oneshot``), optionally fine-tunes
briefly and evaluates again (stage ``finetuned``). Replicate r uses one seed for the dense
model's initialization and batch order, the calibration images drawn for BN re-estimation and
Taylor gradients, and the randomness of the ``random`` criterion; the data set itself is fixed
(``data_seed``), so every replicate is tested on the same images.

The functions here are what the ``pruning`` section runs (its profiles are SweepConfigs:
:data:`qkernels.suite.sections.pruning.plan.PROFILES`); other sections (latency) rebuild the same
pruned models with :func:`build_pruned`, from the same seed (:func:`replicate_seed`). Trained dense
models are kept in memory by a :class:`DenseCache` that the caller owns and passes to the units.

Example:
    >>> cfg = SweepConfig(models=(ModelSetup("mlp", "mlp", (("hidden", (16,)),)),), sparsities=(0.5,))
    >>> [m.name for m in cfg.models], cfg.replicates, cfg.finetunes(0.5)
    (['mlp'], 3, False)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import pandas as pd
import torch
from torch import nn

from qkernels.nn.data import DataSplits, load_data
from qkernels.nn.models import build_model, model_spec
from qkernels.nn.packaged import file_sha256
from qkernels.nn.training import compare_outputs, evaluate, recalibrate_bn, train
from qkernels.pruning.prune import count_macs_params, prune
from qkernels.pruning.registry import get_method, method_names
from qkernels.suite.ckcache import cached_model, config_key
from qkernels.suite.stats import pack_correct


@dataclass(frozen=True)
class TrainSetup:
    """How a dense model is trained (SGD, one-cycle schedule; see :func:`qkernels.nn.training.train`)."""

    epochs: float = 4.0
    lr: float = 0.05
    batch_size: int = 128
    weight_decay: float = 5e-4
    momentum: float = 0.9
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class ModelSetup:
    """One model of the sweep: a name for the CSV, a built-in architecture and its arguments.

    ``data`` (with ``data_options``) replaces the profile's data set for this model; a pretrained
    built-in (``crepe-tiny``, ``lenet5-mnist``, ...) is never trained and uses its own data set
    (:attr:`qkernels.nn.models.ModelSpec.data`) unless ``data`` says otherwise. ``sparsities`` and
    ``methods`` replace the profile's for this model (e.g. fewer points for a slow model).
    """

    name: str
    arch: str
    kwargs: tuple[tuple[str, object], ...] = ()
    train: TrainSetup = TrainSetup()
    data: str | None = None
    data_options: tuple[tuple[str, object], ...] = ()
    #: this model's sparsities and criteria (None: the profile's)
    sparsities: tuple[float, ...] | None = None
    methods: tuple[str, ...] | None = None
    #: this model's fine-tuning learning rate (None: the profile's); pretrained networks trained with
    #: Adam (CREPE) diverge at the SGD rate that suits the models trained here
    finetune_lr: float | None = None

    @property
    def arch_kwargs(self) -> dict:
        return dict(self.kwargs)

    @property
    def pretrained(self) -> bool:
        return model_spec(self.arch).pretrained


@dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep depends on (one profile)."""

    data: str = "digits"
    data_options: tuple[tuple[str, object], ...] = ()
    data_seed: int = 0
    models: tuple[ModelSetup, ...] = ()
    methods: tuple[str, ...] | None = None  # None: every method registered with sweep=True
    sparsities: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    replicates: int = 3
    bn_images: int = 1024  # calibration images for BN re-estimation
    taylor_images: int = 256  # calibration images for Taylor gradients
    finetune_epochs: float = 0.0
    finetune_lr: float = 0.01
    finetune_sparsities: tuple[float, ...] | None = None  # None: every sparsity
    #: QM-FRG's quantum variant: shot budgets and the sparsities it runs at (units of their own)
    quantum_shots: tuple[int, ...] = ()
    quantum_sparsities: tuple[float, ...] = ()
    eval_batch: int = 1000
    #: the functional criteria and data-aware baselines of issue 16, run at ``functional_sparsities``
    #: besides ``methods`` (units of their own; a method already swept at that sparsity is not repeated)
    functional_methods: tuple[str, ...] = ()
    functional_sparsities: tuple[float, ...] = ()
    #: evaluate every one-shot model on the calibration split too (``calib_accuracy``), where the
    #: functional claim chooses its criterion (never on the test split)
    calib_eval: bool = False
    #: ``qmfrg-act`` with quantum-estimated distances at these shot budgets, at the first functional sparsity
    #: (rows ``qmfrg-act-quantum-s<shots>``)
    functional_quantum_shots: tuple[int, ...] = ()
    #: the checks of the instrument: controls, cross-architecture substitution, block level
    instruments: bool = True
    #: torch intra-op threads while a unit runs on the CPU (None: leave torch's setting). Small
    #: models gain nothing from a second thread, and on a busy 2-core machine two threads ran
    #: 20-40x slower than one (threads spin-waiting for each other).
    cpu_threads: int | None = 1

    def method_list(self, setup: ModelSetup | None = None) -> list[str]:
        if setup is not None and setup.methods is not None:
            return list(setup.methods)
        return list(self.methods) if self.methods is not None else method_names(sweep_only=True)

    def sparsity_list(self, setup: ModelSetup | None = None) -> tuple[float, ...]:
        return setup.sparsities if setup is not None and setup.sparsities is not None else self.sparsities

    def finetunes(self, sparsity: float) -> bool:
        if self.finetune_epochs <= 0:
            return False
        return self.finetune_sparsities is None or any(abs(sparsity - s) < 1e-9 for s in self.finetune_sparsities)


def replicate_seed(seed_for: Callable[[str], int], replicate: int) -> int:
    """The seed of replicate ``replicate`` of a sweep, derived by ``seed_for`` (a run's
    :meth:`~qkernels.suite.sections.base.SectionContext.seed_for`) from the key ``replicate:<r>``.

    The pruning section seeds replicate r with it; the latency section seeds its models with
    replicate 0's, so it times the dense checkpoint the pruning section trained first.

    Example:
        >>> replicate_seed(lambda key: len(key), 0)
        11
    """
    return seed_for(f"replicate:{replicate}")


class DenseCache:
    """Trained dense models held in memory for the units of one plan, by checkpoint key and device.

    The units of a section that need the same dense model share one (the section's plan creates it
    and hands it to them); at most ``capacity`` models are kept, the oldest forgotten first. What it
    holds is shared: copy a model before changing it. Beside each model it can hold the model's
    outputs on the test split (:meth:`outputs`), the reference of the label-free comparisons.

    Example:
        >>> cache = DenseCache(capacity=1)
        >>> cache.put("a", ("model a", {}, False))
        >>> cache.put("b", ("model b", {}, False))
        >>> cache.get("a") is None, cache.get("b")[0], len(cache)
        (True, 'model b', 1)
    """

    def __init__(self, capacity: int = 8):
        self.capacity = capacity
        self._entries: dict[str, tuple[nn.Module, dict, bool]] = {}
        self._outputs: dict[str, torch.Tensor] = {}

    def get(self, key: str) -> tuple[nn.Module, dict, bool] | None:
        """``(model, info, from_cache)`` stored under ``key``, or None."""
        return self._entries.get(key)

    def put(self, key: str, entry: tuple[nn.Module, dict, bool]) -> None:
        """Store ``entry`` under ``key`` (forgetting the oldest entry when full)."""
        if len(self._entries) >= self.capacity:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = entry

    def outputs(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The outputs stored under ``key``, else ``compute()`` stored (the oldest forgotten when full)."""
        held = self._outputs.get(key)
        if held is None:
            held = compute()
            if len(self._outputs) >= self.capacity:
                self._outputs.pop(next(iter(self._outputs)))
            self._outputs[key] = held
        return held

    def clear(self) -> None:
        self._entries.clear()
        self._outputs.clear()

    def __len__(self) -> int:
        return len(self._entries)


# ---- data and dense models ---------------------------------------------------------------------
@lru_cache(maxsize=2)
def _data(spec: str, seed: int, options: tuple) -> DataSplits:
    return load_data(spec, seed=seed, **dict(options))


def sweep_data(cfg: SweepConfig) -> DataSplits:
    """The sweep's data set (cached in memory)."""
    return _data(cfg.data, cfg.data_seed, cfg.data_options)


@lru_cache(maxsize=8)
def _restat(data: DataSplits, mean: tuple, std: tuple) -> DataSplits:
    return data.with_stats(mean, std)  # held, so that its fingerprint is computed once


def model_data(cfg: SweepConfig, setup: ModelSetup) -> DataSplits:
    """The data set of one model of the sweep: its own (``setup.data``; a pretrained model's data set),
    else the profile's; normalized as a pretrained model's inputs were (cached in memory)."""
    spec = model_spec(setup.arch)
    name = setup.data or (spec.data if spec.pretrained else None)
    if name is None or (name == cfg.data and not setup.data_options):
        data = sweep_data(cfg)
    else:
        data = _data(name, cfg.data_seed, setup.data_options)
    if spec.input_stats is not None:
        data = _restat(data, *spec.input_stats)
    return data


def fit_arch_kwargs(arch: str, kwargs: dict, data: DataSplits) -> dict:
    """``kwargs`` of a built-in architecture completed from the data: class count, input channels,
    the MLP's input size, the ViT's image size."""
    kw = dict(kwargs)
    if model_spec(arch).pretrained:
        return kw
    c, h, w = data.image_shape
    kw["num_classes"] = data.num_classes
    if arch.startswith("resnet18"):
        kw["in_channels"] = c
    elif arch == "mlp":
        kw["in_features"] = c * h * w
        kw["hidden"] = tuple(kw.get("hidden", (256, 128)))
    elif arch == "vit_tiny":
        kw["image_size"] = h
        kw["in_channels"] = c
    return kw


def arch_kwargs(setup: ModelSetup, data: DataSplits) -> dict:
    """The architecture's arguments of ``setup``, completed from the data."""
    return fit_arch_kwargs(setup.arch, setup.arch_kwargs, data)


def dense_cache_config(arch: str, kwargs: dict, data: DataSplits, train_setup: TrainSetup, seed: int) -> dict:
    """The checkpoint-cache configuration of a dense model: architecture, data (by content), training,
    seed; for a pretrained model, the architecture, its weight file (by content) and the data."""
    spec = model_spec(arch)
    if spec.pretrained:
        from qkernels.nn.models.registry import weights_file

        return {"kind": "pretrained", "arch": arch, "weights_sha256": file_sha256(weights_file(arch)),
                "data": data.spec, "data_fingerprint": data.fingerprint()}
    return {"kind": "dense", "arch": arch,
            "arch_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(kwargs.items())},
            "data": data.spec, "data_fingerprint": data.fingerprint(), "train": asdict(train_setup), "seed": int(seed)}


def dense_config(cfg: SweepConfig, setup: ModelSetup, seed: int) -> dict:
    """The checkpoint-cache configuration of one dense model of the sweep."""
    data = model_data(cfg, setup)
    return dense_cache_config(setup.arch, arch_kwargs(setup, data), data, setup.train, seed)


def train_dense(arch: str, kwargs: dict, data: DataSplits, train_setup: TrainSetup, seed: int,
                device: torch.device | str = "cpu", progress: bool | None = None,
                eval_batch: int = 1000, cache: DenseCache | None = None) -> tuple[nn.Module, dict, bool]:
    """``(model, info, from_cache)``: a built-in architecture trained on ``data`` from ``seed``.

    Trained once per configuration: later calls load it (from ``cache`` when given, else from the
    checkpoint cache on disk, :mod:`qkernels.suite.ckcache`, which any process shares). ``info``
    holds the training record and the test accuracy. A model from ``cache`` is shared: copy it
    before changing it.
    """
    conf = dense_cache_config(arch, kwargs, data, train_setup, seed)
    key = config_key(conf) + f"@{torch.device(device)}"
    held = cache.get(key) if cache is not None else None
    if held is not None:
        m, info, _ = held
        return m, info, True
    if model_spec(arch).pretrained:  # the authors' weights: loaded, never trained
        t0 = time.perf_counter()
        model = build_model(arch).to(device)
        info = {"seconds": None, "pretrained": True, "load_s": time.perf_counter() - t0,
                "test": evaluate(model, data.test, batch_size=eval_batch)}
        if cache is not None:
            cache.put(key, (model, info, False))
        return model, info, False

    def build() -> nn.Module:
        return build_model(arch, seed=seed, **kwargs).to(device)

    def fit(model: nn.Module) -> dict:
        t = train_setup
        rec = train(model, data.train, epochs=t.epochs, lr=t.lr, batch_size=t.batch_size,
                    weight_decay=t.weight_decay, momentum=t.momentum, label_smoothing=t.label_smoothing,
                    seed=seed, progress=progress, desc=f"train {arch}")
        rec["test"] = evaluate(model, data.test, batch_size=eval_batch)
        return rec

    model, info, hit = cached_model(conf, build, fit)
    if cache is not None:
        cache.put(key, (model, info, hit))
    return model, info, hit


def dense_model(cfg: SweepConfig, setup: ModelSetup, seed: int, device: torch.device | str = "cpu",
                progress: bool | None = None, cache: DenseCache | None = None) -> tuple[nn.Module, dict, bool]:
    """The trained dense model of ``setup`` for ``seed`` (see :func:`train_dense`)."""
    data = model_data(cfg, setup)
    return train_dense(setup.arch, arch_kwargs(setup, data), data, setup.train, seed, device, progress,
                       cfg.eval_batch, cache)


@contextmanager
def torch_threads(n: int | None, device: torch.device | str = "cpu"):
    """Run the block with ``n`` torch intra-op threads when ``device`` is the CPU (then restore)."""
    if n is None or torch.device(device).type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def calib_batches(data: DataSplits, images: int, seed: int, batch: int = 256):
    """A seeded random subset of ``images`` calibration images, and its batches (BN re-estimation,
    Taylor scores); the pruning, latency and block sweeps share it so their models match."""
    g = torch.Generator().manual_seed(seed)
    sub = data.calib.subset(torch.randperm(len(data.calib), generator=g)[: min(images, len(data.calib))])
    return sub, list(sub.batches(batch))


# ---- units --------------------------------------------------------------------------------------
BASE_COLUMNS = ["model", "arch", "data", "method", "stage", "sparsity", "replicate", "seed", "accuracy", "loss",
                "n_test", "channel_sparsity", "channels", "channels_dense", "macs", "macs_dense", "macs_frac",
                "params", "params_dense", "params_frac", "prune_time_s", "score_time_s", "recal_time_s",
                "finetune_epochs", "finetune_time_s", "train_time_s", "eval_time_s", "threads", "dense_key", "cached",
                "qmfrg_tau", "shots", "edge_agreement", "kept_agreement", "n_classes", "chance", "metric",
                "dense_agreement", "output_distance", "dense_kl", "pretrained", "calib_accuracy", "correct"]


def dense_rows(cfg: SweepConfig, setup: ModelSetup, replicate: int, seed: int, device="cpu",
               progress: bool | None = None, *, cache: DenseCache | None = None) -> pd.DataFrame:
    """The unit that trains (or loads) one dense model: one ``dense`` row."""
    with torch_threads(cfg.cpu_threads, device):
        return _dense_rows(cfg, setup, replicate, seed, device, progress, cache)


def _dense_rows(cfg, setup, replicate, seed, device, progress, cache) -> pd.DataFrame:
    data = model_data(cfg, setup)
    model, info, hit = dense_model(cfg, setup, seed, device, progress, cache)
    t0 = time.perf_counter()
    ev = evaluate(model, data.test, batch_size=cfg.eval_batch, per_example=True)
    t_eval = time.perf_counter() - t0
    macs, params = count_macs_params(model, data.example_inputs())
    return pd.DataFrame([{
        "model": setup.name, "arch": setup.arch, "data": data.spec, "method": "dense", "stage": "dense",
        "sparsity": 0.0, "replicate": replicate, "seed": seed, "accuracy": ev["accuracy"], "loss": ev["loss"],
        "n_test": ev["n"], "channel_sparsity": 0.0, "channels": None, "channels_dense": None,
        "macs": macs, "macs_dense": macs, "macs_frac": 1.0, "params": params, "params_dense": params,
        "params_frac": 1.0, "prune_time_s": None, "score_time_s": None, "recal_time_s": None, "finetune_epochs": 0.0,
        "finetune_time_s": None, "train_time_s": info.get("seconds"), "eval_time_s": t_eval,
        "threads": torch.get_num_threads(),
        "dense_key": config_key(dense_config(cfg, setup, seed)), "cached": hit if not setup.pretrained else None,
        "n_classes": data.num_classes, "chance": data.chance, "metric": data.task.metric,
        "dense_agreement": 1.0, "output_distance": 0.0, "dense_kl": 0.0, "pretrained": setup.pretrained,
        "correct": pack_correct(ev["correct"])}], columns=BASE_COLUMNS)


def build_pruned(cfg: SweepConfig, setup: ModelSetup, method: str, sparsity: float, seed: int, device="cpu",
                 progress: bool | None = None, options: dict | None = None, *,
                 cache: DenseCache | None = None) -> tuple[nn.Module, dict]:
    """The pruned model of one sweep point (BN re-estimated, not fine-tuned) and its record;
    ``options`` go to the criterion (QM-FRG's quantum variant: ``shots``)."""
    data = model_data(cfg, setup)
    dense, _, _ = dense_model(cfg, setup, seed, device, progress, cache)
    spec = get_method(method)
    _, batches = calib_batches(data, cfg.taylor_images, seed)
    model, rec = prune(dense, method, sparsity, data.example_inputs().to(device),
                       calib=batches if spec.needs_data else None, seed=seed, task=data.task, **(options or {}))
    bn_set, _ = calib_batches(data, cfg.bn_images, seed + 1)
    t0 = time.perf_counter()
    rec["bn_images"] = recalibrate_bn(model, bn_set)
    rec["recal_time_s"] = time.perf_counter() - t0
    return model, rec


def prune_rows(cfg: SweepConfig, setup: ModelSetup, method: str, sparsity: float, replicate: int, seed: int,
               device="cpu", progress: bool | None = None, options: dict | None = None,
               label: str | None = None, *, cache: DenseCache | None = None) -> pd.DataFrame:
    """The unit of one model × method × sparsity × replicate: a ``oneshot`` row, and a
    ``finetuned`` row when the profile fine-tunes at this sparsity. ``options`` go to the
    criterion; ``label`` replaces the method name in the rows (e.g. ``qmfrg-quantum-s1024``)."""
    with torch_threads(cfg.cpu_threads, device):
        return _prune_rows(cfg, setup, method, sparsity, replicate, seed, device, progress, options, label, cache)


def dense_outputs(cfg: SweepConfig, setup: ModelSetup, seed: int, device="cpu", progress: bool | None = None, *,
                  cache: DenseCache | None = None) -> torch.Tensor:
    """The dense model's outputs on the test split (CPU tensor; held by ``cache`` beside the model), the
    reference of the label-free comparisons of every pruned model made from it."""
    def compute() -> torch.Tensor:
        dense, _, _ = dense_model(cfg, setup, seed, device, progress, cache)
        return evaluate(dense, model_data(cfg, setup).test, batch_size=cfg.eval_batch, keep_outputs=True)["outputs"]

    if cache is None:
        return compute()
    return cache.outputs(config_key(dense_config(cfg, setup, seed)) + f"@{torch.device(device)}", compute)


def _prune_rows(cfg, setup, method, sparsity, replicate, seed, device, progress, options, label,
                cache) -> pd.DataFrame:
    data = model_data(cfg, setup)
    ref = dense_outputs(cfg, setup, seed, device, progress, cache=cache)
    model, rec = build_pruned(cfg, setup, method, sparsity, seed, device, progress, options, cache=cache)
    t0 = time.perf_counter()
    ev = evaluate(model, data.test, batch_size=cfg.eval_batch, per_example=True, keep_outputs=True)
    t_eval = time.perf_counter() - t0
    near = compare_outputs(ev["outputs"], ref, data.task)
    groups = (rec.get("criterion") or {}).get("groups") or []
    agree = {k: (sum(g[k] for g in groups) / len(groups) if groups and all(k in g for g in groups) else None)
             for k in ("edge_agreement", "kept_agreement")}
    base = {"model": setup.name, "arch": setup.arch, "data": data.spec, "method": label or method,
            "sparsity": float(sparsity), "shots": (options or {}).get("shots"), **agree,
            "replicate": replicate, "seed": seed, "n_test": ev["n"], "channel_sparsity": rec["channel_sparsity"],
            "channels": rec["channels_after"], "channels_dense": rec["channels_before"], "macs": rec["macs_after"],
            "macs_dense": rec["macs_before"], "macs_frac": rec["macs_after"] / rec["macs_before"],
            "params": rec["params_after"], "params_dense": rec["params_before"],
            "params_frac": rec["params_after"] / rec["params_before"], "prune_time_s": rec["prune_time_s"],
            "score_time_s": rec["score_time_s"], "recal_time_s": rec["recal_time_s"], "train_time_s": None,
            "threads": torch.get_num_threads(),
            "dense_key": config_key(dense_config(cfg, setup, seed)), "cached": None,
            "qmfrg_tau": criterion_tau(rec), "n_classes": data.num_classes, "chance": data.chance,
            "metric": data.task.metric, "pretrained": setup.pretrained}
    calib_acc = evaluate(model, data.calib, batch_size=cfg.eval_batch)["accuracy"] if cfg.calib_eval else None
    rows = [{**base, "stage": "oneshot", "accuracy": ev["accuracy"], "loss": ev["loss"], "finetune_epochs": 0.0,
             "finetune_time_s": 0.0, "eval_time_s": t_eval, "correct": pack_correct(ev["correct"]),
             "calib_accuracy": calib_acc,
             "dense_agreement": near["agreement"], "output_distance": near["output_distance"],
             "dense_kl": near["kl"]}]
    if cfg.finetunes(sparsity):
        ft = train(model, data.train, epochs=cfg.finetune_epochs, lr=setup.finetune_lr or cfg.finetune_lr,
                   batch_size=setup.train.batch_size, weight_decay=setup.train.weight_decay,
                   momentum=setup.train.momentum, seed=seed + 2, progress=progress,
                   desc=f"finetune {method} {sparsity:g}")
        # BN statistics re-estimated after fine-tuning too (the protocol of every evaluated model; CREPE's
        # BatchNorm has momentum 0, so training would leave the pre-fine-tuning statistics in place)
        bn_set, _ = calib_batches(data, cfg.bn_images, seed + 1)
        recalibrate_bn(model, bn_set)
        t0 = time.perf_counter()
        ev2 = evaluate(model, data.test, batch_size=cfg.eval_batch, per_example=True, keep_outputs=True)
        near2 = compare_outputs(ev2["outputs"], ref, data.task)
        rows.append({**base, "stage": "finetuned", "accuracy": ev2["accuracy"], "loss": ev2["loss"],
                     "correct": pack_correct(ev2["correct"]), "dense_agreement": near2["agreement"],
                     "output_distance": near2["output_distance"], "dense_kl": near2["kl"],
                     "finetune_epochs": ft["epochs"], "finetune_time_s": ft["seconds"],
                     "eval_time_s": time.perf_counter() - t0})
    return pd.DataFrame(rows, columns=BASE_COLUMNS)


def criterion_tau(rec: dict) -> float | None:
    """QM-FRG records: the median over pruned groups of the threshold τ chosen per group (else None)."""
    groups = (rec.get("criterion") or {}).get("groups") or []
    taus = sorted(g["tau"] for g in groups if g.get("tau") is not None)
    if not taus:
        return None
    k = len(taus)
    return float(taus[k // 2] if k % 2 else (taus[k // 2 - 1] + taus[k // 2]) / 2)


@lru_cache(maxsize=None)
def _has_bn(arch: str) -> bool:
    spec = model_spec(arch)
    net = spec.build() if spec.pretrained else build_model(arch)
    return any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in net.modules())


def applicable(method: str, setup: ModelSetup) -> bool:
    """Whether ``method`` applies to ``setup``'s architecture (BN-only criteria need BatchNorm)."""
    return not get_method(method).requires_bn or _has_bn(setup.arch)


def clear_memory_cache() -> None:
    """Forget the data sets held in memory (dense models are held by each plan's :class:`DenseCache`;
    the checkpoint cache on disk stays)."""
    _data.cache_clear()
    _restat.cache_clear()


def with_overrides(cfg: SweepConfig, **changes) -> SweepConfig:
    """A copy of ``cfg`` with fields replaced (for tests and custom sweeps)."""
    return replace(cfg, **changes)


__all__ = ["TrainSetup", "ModelSetup", "SweepConfig", "DenseCache", "replicate_seed", "sweep_data", "model_data",
           "dense_outputs", "calib_batches",
           "dense_config", "dense_model", "dense_rows", "build_pruned", "prune_rows", "applicable", "with_overrides",
           "fit_arch_kwargs", "arch_kwargs", "train_dense", "dense_cache_config", "clear_memory_cache", "torch_threads",
           "BASE_COLUMNS"]
