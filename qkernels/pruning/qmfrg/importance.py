"""QM-FRG as pruning criteria: ``qmfrg``, ``qmfrg-aligned``, ``qmfrg-merge``, ``qmfrg-quantum``.

For every group the criterion builds the redundancy graph of its channels
(:mod:`~qkernels.pruning.qmfrg.channels`, :mod:`~qkernels.pruning.qmfrg.graph`) and scores each channel by the
single-linkage merge that makes it redundant (higher = keep). Two modes:

* **target sparsity** (default): ``prune(model, "qmfrg", p, x)`` keeps max(1, ⌊n(1 − p)⌋) channels
  per group, like every criterion (equal MACs); the τ that yields exactly that many clusters is
  chosen per group and reported (``record["criterion"]["groups"][k]["tau"]``).
* **threshold**: ``prune(model, "qmfrg", p_max, x, tau=τ)`` removes every channel that is redundant
  at τ (d ≤ τ to another member of its cluster), but never more than ``p_max`` of a group
  (the documented minimum: max(1, ⌊n(1 − p_max)⌋) channels stay, so a group whose states are all
  equal keeps exactly that many). The sparsity that results is ``record["channel_sparsity"]``.

Options (criterion options of :func:`qkernels.pruning.prune`: keyword arguments, or
``PruneOptions(criterion=...)``): ``tau`` (≥ 0), ``metric`` (one of
:func:`~qkernels.pruning.qmfrg.channels.edge_metrics`: a registered metric such as ``fs`` or
``w2cum``, or ``aligned``, ``quantum``), ``layers`` (``out``, default: the filters that produce
the channel; ``all``: also the input slices of the layers that read it), ``merge`` (fold removed
channels into their representatives, :mod:`~qkernels.pruning.qmfrg.merge`), ``shots`` and
``quantum_method`` (the quantum metric; ``shots`` ≥ 1, default 256).

Example:
    >>> import torch
    >>> from qkernels.nn.models import build_model
    >>> from qkernels.pruning import prune
    >>> m = build_model("mlp", in_features=8, hidden=(6,), num_classes=3)
    >>> pm, rec = prune(m, "qmfrg", 0.5, torch.zeros(1, 8))
    >>> rec["channels_after"], rec["criterion"]["mode"], rec["criterion"]["groups"][0]["clusters"]
    (3, 'target', 3)
"""

from __future__ import annotations

import torch
import torch_pruning as tp

from qkernels.core.errors import InputError
from qkernels.pruning.activations import channel_moments
from qkernels.pruning.qmfrg.channels import LAYER_SETS, check_metric, group_distances, group_operators
from qkernels.pruning.qmfrg.graph import check_tau, single_linkage
from qkernels.pruning.qmfrg.merge import (
    DATA_MERGES,
    check_merge,
    consumer_maps,
    ls_kept_merge,
    ls_merge,
    merge_group,
    ot_merge,
    producer_maps,
)
from qkernels.pruning.qmfrg.states import DATA_METRICS, FUNCTIONAL_METRICS, functional_distances
from qkernels.pruning.registry import PruneContext, register_method

OPTIONS = ("tau", "metric", "layers", "merge", "shots", "quantum_method", "estimator")
ESTIMATORS = ("exact", "quantum")
DEFAULT_SHOTS = 256


class QMFRGImportance(tp.importance.Importance):
    """Torch-Pruning importance of QM-FRG (see the module docstring).

    A :class:`~qkernels.pruning.registry.Criterion` with all three optional hooks:
    ``group_keep`` (threshold mode), ``before_removal`` (merge mode) and ``record``.
    """

    def __init__(self, metric: str = "fs", tau: float | None = None, layers: str = "out", merge: object = False,
                 kernel=None, names: dict | None = None, stats: dict | None = None, estimator: str = "exact"):
        self.metric = check_metric(metric)
        self.tau = None if tau is None else check_tau(tau)
        if layers not in LAYER_SETS:
            raise InputError(f"layers: expected one of {', '.join(LAYER_SETS)}, got {layers!r}")
        if estimator not in ESTIMATORS:
            raise InputError(f"estimator: expected one of {', '.join(ESTIMATORS)}, got {estimator!r}")
        if estimator == "quantum" and self.metric not in FUNCTIONAL_METRICS:
            raise InputError(f"estimator 'quantum' applies to the functional metrics ({', '.join(FUNCTIONAL_METRICS)}); "
                             "the spectral states' quantum estimate is metric 'quantum'")
        self.estimator = estimator
        self.quantum = self.metric == "quantum" or estimator == "quantum"
        if self.quantum and kernel is None:
            raise InputError("a quantum estimate needs a QuantumKernel")
        self.merge = check_merge(merge)
        if (self.metric in DATA_METRICS or self.merge in DATA_MERGES) and stats is None:
            raise InputError(f"QM-FRG with metric {self.metric!r} and merge {self.merge!r} needs calibration data "
                             "(labelled batches: calib=...)")
        self.layers, self.kernel, self.stats = layers, kernel, stats
        self.names = names or {}
        self._state: dict[int, dict] = {}
        self.groups: list[dict] = []

    def _distances(self, group, ops, estimated: bool):
        if self.metric in FUNCTIONAL_METRICS:
            return functional_distances(group, self.metric, self.stats, self.kernel if estimated else None)
        metric = self.metric if estimated or self.metric != "quantum" else "fs"
        return group_distances(group, metric, self.layers, self.kernel, ops=ops)

    def __call__(self, group) -> torch.Tensor:
        n = len(group[0].idxs)
        root = group[0].dep.target.module
        ops = group_operators(group, self.layers) if self.metric not in FUNCTIONAL_METRICS else None
        D, strength, n_layers = self._distances(group, ops, estimated=True)
        dendro = single_linkage(D, strength)
        exact = None
        if self.quantum:  # the exact graph, to report how far the estimated one is from it
            De, _, _ = self._distances(group, ops, estimated=False)
            exact = (De, D, single_linkage(De, strength))
        local_of = consumer_maps(group) if self.merge else {}
        producers = producer_maps(group) if self.merge == "ot" else []
        self._state[id(root)] = {"dendro": dendro, "local_of": local_of, "producers": producers, "n": n,
                                 "layers": n_layers, "exact": exact,
                                 "name": self.names.get(root, type(root).__name__)}
        return torch.as_tensor(dendro.scores(), dtype=torch.float64)

    def group_keep(self, group, n: int, keep: int) -> int:
        """Channels the group keeps: ``keep`` (target mode), or its clusters at τ, at least ``keep``."""
        st = self._state[id(group[0].dep.target.module)]
        d = st["dendro"]
        if self.tau is not None:
            keep = max(keep, n - d.redundant_at(self.tau))
        drop = n - keep
        st["rep"] = d.cut(drop)[1]
        self.groups.append({"root": st["name"], "channels": n, "keep": keep, "clusters": keep,
                            "tau": d.tau_for(drop), "layers": st["layers"], "folds": 0})
        st["record"] = self.groups[-1]
        if st["exact"] is not None:
            st["record"].update(agreement_with_exact(*st["exact"], st["rep"], drop))
        return keep

    def before_removal(self, pruning_group) -> None:
        """Merge mode: re-express the channels about to be removed through the kept ones
        (:mod:`~qkernels.pruning.qmfrg.merge`)."""
        if not self.merge:
            return
        st = self._state.get(id(pruning_group[0].dep.target.module))
        if st is None or "rep" not in st:
            return
        rep = st["rep"]
        rep_of = {int(i): int(rep[i]) for i in range(len(rep)) if rep[i] != i}
        if self.merge == "fold":
            folds = merge_group(pruning_group, rep_of, st["local_of"])
        elif self.merge == "ls":
            folds = ls_merge(pruning_group, rep_of, st["local_of"], self.stats)
        elif self.merge == "ls-kept":
            folds = ls_kept_merge(pruning_group, sorted(rep_of), st["local_of"], self.stats)
        else:
            kept = sorted(set(range(st["n"])) - set(rep_of))
            folds = ot_merge(st["producers"], pruning_group, kept, st["local_of"], st["n"])
        st["record"]["folds"] = folds

    def record(self) -> dict:
        """What the criterion did, per pruned group (JSON-ready)."""
        return {"metric": self.metric, "estimator": self.estimator, "mode": "target" if self.tau is None else "threshold",
                "tau": self.tau, "merge": self.merge, "layers": self.layers, "groups": list(self.groups)}


def agreement_with_exact(D_exact, D_est, exact, rep_est, drop: int) -> dict:
    """How an estimated graph agrees with the exact one at the exact graph's τ for ``drop`` removals.

    ``edge_agreement``: the fraction of channel pairs whose edge (d ≤ τ) is the same in both;
    ``kept_agreement``: the fraction of the exact graph's kept channels that the estimate keeps.

    Example:
        >>> import numpy as np
        >>> from qkernels.pruning.qmfrg.graph import single_linkage
        >>> D = np.array([[0, .1, .9], [.1, 0, .8], [.9, .8, 0]])
        >>> agreement_with_exact(D, D, single_linkage(D), single_linkage(D).cut(1)[1], 1)
        {'tau_exact': 0.1, 'edge_agreement': 1.0, 'kept_agreement': 1.0}
    """
    import numpy as np

    tau = exact.tau_for(drop)
    i, j = np.triu_indices(len(D_exact), k=1)
    edges = float(np.mean((D_exact[i, j] <= tau) == (D_est[i, j] <= tau))) if len(i) else 1.0
    kept_exact = set(np.unique(exact.cut(drop)[1]).tolist())
    kept_est = set(np.unique(rep_est).tolist())
    return {"tau_exact": tau, "edge_agreement": edges, "kept_agreement": len(kept_exact & kept_est) / len(kept_exact)}


def _factory(metric: str, merge: object = False, estimator: str = "exact"):
    def make(ctx: PruneContext) -> QMFRGImportance:
        opts = dict(ctx.options)
        bad = sorted(set(opts) - set(OPTIONS))
        if bad:
            raise InputError(f"unknown QM-FRG option(s) {', '.join(bad)}; known: {', '.join(OPTIONS)}")
        m = check_metric(opts.get("metric", metric))
        est = opts.get("estimator", estimator)
        mg = check_merge(opts.get("merge", merge))
        kernel = None
        if m == "quantum" or est == "quantum":
            from qkernels.quantum import QuantumKernel
            from qkernels.quantum.estimation import check_shots

            shots = check_shots(opts.get("shots", DEFAULT_SHOTS), allow_none=True)
            kernel = QuantumKernel(opts.get("quantum_method", "compute_uncompute"), shots=shots, seed=ctx.seed)
        elif opts.get("shots") is not None:
            raise InputError("shots: only a quantum estimate (metric='quantum' or estimator='quantum') uses shots")
        stats = None
        if m in DATA_METRICS or mg in DATA_MERGES:
            if not ctx.calib:
                raise InputError(f"QM-FRG with metric {m!r} and merge {mg!r} needs calibration data (labelled "
                                 "batches: calib=...)")
            stats = channel_moments(ctx.model, ctx.calib, inputs=mg in DATA_MERGES)  # inputs: the merges only
        names = {mod: name for name, mod in ctx.model.named_modules()}
        return QMFRGImportance(m, opts.get("tau"), opts.get("layers", "out"), mg, kernel, names, stats, est)
    return make


register_method("qmfrg", _factory("fs"),
                "QM-FRG (paper form): single-linkage redundancy graph of the channels' Fubini-Study distances; "
                "one representative per cluster is kept")
register_method("qmfrg-aligned", _factory("aligned"),
                "QM-FRG with the misalignment term: edges from ||s_i - s_j|| + A_ij (singular vectors count)")
register_method("qmfrg-merge", _factory("fs", merge="ls"),
                "QM-FRG (d_FS) whose removed channels are re-expressed through their representatives by least "
                "squares on the calibration activations (merge='fold' gives the first version's alpha = 1)",
                needs_data=True)
register_method("qmfrg-quantum", _factory("quantum"),
                "QM-FRG with d_FS estimated by a quantum kernel at a shot budget (shots=, default 256)", sweep=False)
# functional states (docs/theory.md, "Functional states"; docs/qmfrg.md)
register_method("qmfrg-act", _factory("act"),
                "QM-FRG on activation states: arccos|corr| of the channels' responses on the calibration images",
                needs_data=True, sweep=False)
register_method("qmfrg-white", _factory("white"),
                "QM-FRG on whitened operator states: rows of [W, b] Sigma^(1/2) on the calibration data (uncentred)",
                needs_data=True, sweep=False)
register_method("qmfrg-filter", _factory("filter"),
                "QM-FRG on sign-lifted, scale-normalized filter states (data-free; BN-scale invariant)", sweep=False)
for _state, _data in (("act", True), ("white", True), ("filter", False)):
    for _mode in ("ls", "ls-kept", "ot"):
        register_method(f"qmfrg-{_state}-{_mode}", _factory(_state, merge=_mode),
                        f"qmfrg-{_state} with merge '{_mode}' (docs/qmfrg.md)", needs_data=_data or _mode != "ot",
                        sweep=False)
register_method("qmfrg-act-quantum", _factory("act", estimator="quantum"),
                "qmfrg-act with the distances estimated by a quantum kernel from the activation states (shots=)",
                needs_data=True, sweep=False)


__all__ = ["QMFRGImportance", "OPTIONS", "ESTIMATORS", "DEFAULT_SHOTS", "agreement_with_exact"]
