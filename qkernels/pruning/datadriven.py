"""Data-aware pruning baselines of the literature: ``activation`` and ``thinet``.

Both read the calibration images that the data-aware QM-FRG criteria read (``ctx.calib``), so
that a win of the spectral criteria over them is not a win of "using data" alone. Both score the
channels of a Torch-Pruning dependency group through its **consumers**: the items whose input
channels are cut (``dep.pruning_fn`` in :data:`~qkernels.pruning.groups.IN_FNS`), i.e. the next
convolutions and linear layers, which read the channel after its BatchNorm and nonlinearity. A
root channel may map to several input indices of a consumer (a linear layer after a flatten);
its quantities are summed over them (the mapping of
:func:`~qkernels.pruning.groups.by_root`). Higher = keep.

- ``activation``: activation-based channel importance (the "activation" criterion of Molchanov
  et al., *Pruning convolutional neural networks for resource efficient inference*, ICLR 2017,
  weighted by the consumers' weights as in NISP, Yu et al., CVPR 2018): the channel's
  contribution energy to the next layers,
  ``score(c) = sqrt(Σ_consumers E[a_c²] · ‖W[:, c]‖²)``, with E[a_c²] the mean square of the
  activation the consumer reads, over the calibration images and positions (RMS²), and
  ‖W[:, c]‖ the norm of the consumer's weights on that channel (all outputs and kernel taps).
  One forward pass (:func:`~qkernels.pruning.activations.channel_moments`).
- ``thinet``: ThiNet (Luo, Wu and Lin, *ThiNet: a filter level pruning method for deep neural
  network compression*, ICCV 2017): greedy channel selection that minimizes the reconstruction
  error of the next layer's output. For every consumer, m random entries (image, output channel,
  output position) of its output on the calibration images are sampled, and the contribution
  x̂_c of each input channel to each entry is recorded (:func:`conv_contributions`,
  :func:`linear_contributions`), so that Σ_c x̂_c is the entry minus the bias. Removing a set T
  of channels changes the entries by Σ_{c∈T} x̂_c; ThiNet's greedy grows T one channel at a time,
  always adding the channel that keeps Σ_samples (Σ_{c∈T} x̂_c)² smallest (:func:`thinet_order`,
  on the Gram matrix of the contributions). The order of removal is the score: the channel removed
  first has the lowest. The objective is **summed over all the consumers of the group** (the
  residual stream of a ResNet has several), each divided by the energy Σ_samples y² of its sampled
  outputs (bias excluded), so that every consumer counts by its relative reconstruction error.
  One forward pass over the calibration images for the whole model (forward hooks on every
  convolution and linear layer, in the factory); option ``samples`` (default
  :data:`THINET_SAMPLES`), drawn from a generator seeded by the pruning seed. Luo et al. then
  refit the kept weights by least squares; ``thinet-ls-kept`` (:mod:`qkernels.pruning.reconstruct`)
  adds that step.

A group that no consumer with statistics reads (the classifier's input is always one, but the
criteria do not rely on it) falls back to the energy E[y²] of the producers' outputs. The record
(``record["criterion"]``) counts the calibration images and the groups that fell back.

Example:
    >>> import torch
    >>> from qkernels.nn.models import build_model
    >>> from qkernels.pruning import prune
    >>> m = build_model("mlp", in_features=8, hidden=(6,), num_classes=3)
    >>> calib = [(torch.randn(32, 8), torch.zeros(32, dtype=torch.long))]
    >>> pa, ra = prune(m, "activation", 0.5, torch.zeros(1, 8), calib=calib)
    >>> pt, rt = prune(m, "thinet", 0.5, torch.zeros(1, 8), calib=calib)
    >>> pa.net[1].out_features, pt.net[1].out_features, rt["criterion"]["calib_images"]
    (3, 3, 32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from qkernels.core.errors import InputError
from qkernels.pruning.activations import LayerMoments, channel_moments
from qkernels.pruning.groups import IN_FNS, OUT_FNS, is_weighted
from qkernels.pruning.registry import PruneContext, register_method

#: sampled output entries per consumer layer (ThiNet's m)
THINET_SAMPLES = 2048
#: elements of one chunk of unfolded patches (bounds the memory of a ThiNet hook)
UNFOLD_CHUNK = 1 << 24

_Batches = Sequence[tuple[torch.Tensor, Any]]


# ----------------------------------------------------------------------------- shared helpers


def _check_calib(ctx: PruneContext, name: str, options: Sequence[str] = ()) -> None:
    if not ctx.calib:
        raise InputError(f"pruning method {name!r} needs calibration data (labelled batches: calib=...)")
    bad = sorted(set(ctx.options) - set(options))
    if bad:
        known = f"; known: {', '.join(options)}" if options else " (it takes none)"
        raise InputError(f"unknown option(s) of {name!r}: {', '.join(bad)}{known}")


def _consumer_items(group: Any) -> list[tuple[nn.Module, list[int], list[int]]]:
    """``(layer, its input indices, their root indices)`` of each distinct weighted consumer of ``group``."""
    out, seen = [], set()
    for item in group:
        layer = item.dep.layer
        if item.dep.pruning_fn in IN_FNS and is_weighted(layer) and id(layer) not in seen:
            seen.add(id(layer))
            out.append((layer, [int(i) for i in item.idxs], [int(r) for r in item.root_idxs]))
    return out


def _producer_items(group: Any) -> list[tuple[nn.Module, list[int], list[int]]]:
    """``(layer, its output indices, their root indices)`` of each distinct weighted producer of ``group``."""
    out, seen = [], set()
    for item in group:
        layer = item.dep.layer
        if item.dep.pruning_fn in OUT_FNS and is_weighted(layer) and id(layer) not in seen:
            seen.add(id(layer))
            out.append((layer, [int(i) for i in item.idxs], [int(r) for r in item.root_idxs]))
    return out


def _per_root(values: torch.Tensor, idxs: list[int], roots: list[int], n: int) -> torch.Tensor:
    """Σ over each root's indices of ``values`` (one value per layer index): a (n,) float64 tensor."""
    v = values.detach().double().cpu()[torch.as_tensor(idxs, dtype=torch.long)]
    return torch.zeros(n, dtype=torch.float64).index_add_(0, torch.as_tensor(roots, dtype=torch.long), v)


def input_column_energy(layer: nn.Module) -> torch.Tensor:
    """‖W[:, c]‖² of every input channel (or feature) c of a convolution or linear layer: Σ over its
    outputs and kernel taps; a grouped convolution's channel counts only the outputs that read it.

    Example:
        >>> lin = nn.Linear(2, 2, bias=False)
        >>> with torch.no_grad():
        ...     _ = lin.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 0.0]]))
        >>> input_column_energy(lin).tolist()
        [10.0, 4.0]
    """
    w = layer.weight.detach().double()
    if isinstance(layer, nn.Linear):
        return w.pow(2).sum(0)
    groups = int(getattr(layer, "groups", 1))
    sq = w.pow(2).flatten(2).sum(2)  # (O, C_in / groups)
    return sq.view(groups, sq.shape[0] // groups, sq.shape[1]).sum(1).flatten()


def _output_energy(stats: LayerMoments | None) -> torch.Tensor | None:
    """E[y²] per output channel of a layer, or None without output statistics."""
    if stats is None or stats.out is None or stats.out.count == 0:
        return None
    return stats.out.gram.diagonal() / stats.out.count


def _producer_fallback(group: Any, n: int, energies: dict[nn.Module, torch.Tensor]) -> torch.Tensor | None:
    """sqrt(Σ over producers of E[y²]) per root channel, or None when no producer has statistics."""
    total, found = torch.zeros(n, dtype=torch.float64), False
    for layer, idxs, roots in _producer_items(group):
        e = energies.get(layer)
        if e is not None:
            total += _per_root(e, idxs, roots, n)
            found = True
    return total.sqrt().float() if found else None


# ----------------------------------------------------------------------------- activation


class ActivationImportance:
    """``activation``: sqrt(Σ_consumers E[a_c²]·‖W[:, c]‖²) per channel (see the module docstring).

    ``stats`` are the per-layer moments of :func:`~qkernels.pruning.activations.channel_moments`
    (only their diagonals are read).
    """

    def __init__(self, stats: dict[nn.Module, LayerMoments], images: int = 0):
        self.stats = stats
        self.images = int(images)
        self.fallbacks = 0
        self._out = {m: e for m, s in stats.items() if (e := _output_energy(s)) is not None}

    @torch.no_grad()
    def __call__(self, group: Any) -> torch.Tensor | None:
        n = len(group[0].idxs)
        energy, found = torch.zeros(n, dtype=torch.float64), False
        for layer, idxs, roots in _consumer_items(group):
            st = self.stats.get(layer)
            if st is None or st.inp is None or st.inp.count == 0:
                continue
            second = st.inp.gram.diagonal() / st.inp.count  # E[a²] per input index
            if second.numel() != input_column_energy(layer).numel():
                continue
            energy += _per_root(second, idxs, roots, n) * _per_root(input_column_energy(layer), idxs, roots, n)
            found = True
        if found:
            return energy.sqrt().float()
        self.fallbacks += 1
        return _producer_fallback(group, n, self._out)

    def record(self) -> dict:
        """The calibration images read and the groups scored by the producers' output energy."""
        return {"calib_images": self.images, "fallback_groups": self.fallbacks}


def _activation(ctx: PruneContext) -> ActivationImportance:
    _check_calib(ctx, "activation")
    return ActivationImportance(channel_moments(ctx.model, ctx.calib), sum(len(x) for x, _ in ctx.calib))


# ----------------------------------------------------------------------------- ThiNet contributions


def _conv_geometry(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The (padded where needed) input as a 4-D map and the arguments of ``F.unfold`` that match the layer."""
    padding = layer.padding
    if isinstance(padding, str) or layer.padding_mode != "zeros":
        mode = "constant" if layer.padding_mode == "zeros" else layer.padding_mode
        x = F.pad(x, layer._reversed_padding_repeated_twice, mode=mode)
        padding = (0,) * len(layer.kernel_size)
    kw = {"kernel_size": layer.kernel_size, "dilation": layer.dilation, "padding": padding, "stride": layer.stride}
    if isinstance(layer, nn.Conv1d):
        x = x.unsqueeze(2)
        kw = {k: (1 if k != "padding" else 0, *v) for k, v in kw.items()}
    return x, kw


def conv_contributions(layer: nn.Module, x: torch.Tensor, img: torch.Tensor, out_ch: torch.Tensor,
                       pos: torch.Tensor) -> torch.Tensor:
    """x̂ (s, C_in): the contribution of every input channel c to s output entries of a convolution.

    Entry j is output channel ``out_ch[j]`` of image ``img[j]`` of ``x`` at the flattened output
    position ``pos[j]``; x̂[j, c] = Σ_k W[o, c, k] · x[c, patch position k] (patches from
    ``F.unfold`` with the layer's stride, padding, padding mode and dilation), so that Σ_c x̂[j, c]
    is the entry minus the bias. Channels outside output o's group (grouped convolutions) give 0.
    Conv1d and Conv2d.

    Example:
        >>> conv = nn.Conv2d(2, 3, 3, stride=2, padding=1)
        >>> x = torch.randn(1, 2, 5, 5)
        >>> y = conv(x)
        >>> xh = conv_contributions(conv, x, torch.tensor([0]), torch.tensor([1]), torch.tensor([4]))
        >>> torch.allclose(xh.sum(1), y[0, 1].flatten()[4:5] - conv.bias[1], atol=1e-6)
        True
    """
    if not isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        raise InputError(f"ThiNet contributions: only Conv1d and Conv2d are supported, got {type(layer).__name__}")
    x, kw = _conv_geometry(layer, x.float())
    c_in, groups = x.shape[1], int(layer.groups)
    cg, og = c_in // groups, layer.out_channels // groups
    kk = 1
    for k in layer.kernel_size:
        kk *= int(k)
    w = layer.weight.detach().float().reshape(layer.out_channels, cg, kk)
    out = torch.zeros(len(img), c_in, dtype=torch.float32, device=x.device)
    if not len(img):
        return out
    uniq, inv = torch.unique(img, return_inverse=True)
    per_image = c_in * kk * max(1, _out_positions(x, kw))
    step = max(1, UNFOLD_CHUNK // per_image)
    for start in range(0, len(uniq), step):
        patches = F.unfold(x[uniq[start:start + step]], **kw)  # (b, C_in·kk, L)
        rows = torch.nonzero((inv >= start) & (inv < start + step)).flatten()
        if not len(rows):
            continue
        p = patches[inv[rows] - start, :, pos[rows]].view(len(rows), groups, cg, kk)
        o = out_ch[rows]
        g = torch.div(o, og, rounding_mode="floor")
        part = (p[torch.arange(len(rows), device=x.device), g] * w[o]).sum(-1)  # (r, cg)
        if groups == 1:
            out[rows] = part
        else:
            full = torch.zeros(len(rows), groups, cg, dtype=torch.float32, device=x.device)
            full[torch.arange(len(rows), device=x.device), g] = part
            out[rows] = full.view(len(rows), c_in)
    return out


def _out_positions(x: torch.Tensor, kw: dict) -> int:
    """Output positions of an unfold of the 4-D map ``x`` with the arguments ``kw``."""
    n = 1
    for size, k, d, p, s in zip(x.shape[2:], kw["kernel_size"], kw["dilation"], kw["padding"], kw["stride"]):
        n *= max(0, (int(size) + 2 * int(p) - int(d) * (int(k) - 1) - 1) // int(s) + 1)
    return n


def linear_contributions(layer: nn.Linear, x: torch.Tensor, img: torch.Tensor, out_ch: torch.Tensor,
                         pos: torch.Tensor) -> torch.Tensor:
    """x̂ (s, F): x̂[j, f] = W[o, f] · x[f] for output ``out_ch[j]`` of image ``img[j]`` at position
    ``pos[j]`` (the flattened middle dimensions of ``x``, e.g. tokens; 0 for a plain (N, F) input).

    Example:
        >>> lin = nn.Linear(3, 2)
        >>> x = torch.randn(4, 3)
        >>> xh = linear_contributions(lin, x, torch.tensor([2]), torch.tensor([1]), torch.tensor([0]))
        >>> torch.allclose(xh.sum(1), lin(x)[2, 1:2] - lin.bias[1])
        True
    """
    rows = x.float().reshape(x.shape[0], -1, x.shape[-1])[img, pos]
    return layer.weight.detach().float()[out_ch] * rows


def contributions(layer: nn.Module, x: torch.Tensor, img: torch.Tensor, out_ch: torch.Tensor,
                  pos: torch.Tensor) -> torch.Tensor:
    """:func:`linear_contributions` or :func:`conv_contributions`, by the layer's type."""
    if isinstance(layer, nn.Linear):
        return linear_contributions(layer, x, img, out_ch, pos)
    return conv_contributions(layer, x, img, out_ch, pos)


class _Sampled:
    """The sampled entries of one layer's output and the contributions of its input channels."""

    def __init__(self, layer: nn.Module, images: int, samples: int, gen: torch.Generator, device: torch.device):
        out_ch = layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels
        c_in = layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels
        self.img = torch.randint(images, (samples,), generator=gen)
        self.out_ch = torch.randint(int(out_ch), (samples,), generator=gen)
        self.u = torch.rand(samples, generator=gen, dtype=torch.float64)  # position, as a fraction
        self.x = torch.zeros(samples, int(c_in), dtype=torch.float32, device=device)
        self.filled = torch.zeros(samples, dtype=torch.bool)
        self.last_batch = -1

    def add(self, layer: nn.Module, x: torch.Tensor, positions: int, offset: int) -> None:
        rows = torch.nonzero((self.img >= offset) & (self.img < offset + x.shape[0])).flatten()
        if not len(rows):
            return
        pos = (self.u[rows] * positions).long().clamp_(max=max(positions - 1, 0))
        dev = x.device
        self.x[rows.to(self.x.device)] = contributions(
            layer, x, (self.img[rows] - offset).to(dev), self.out_ch[rows].to(dev), pos.to(dev)).to(self.x.device)
        self.filled[rows] = True


def _positions(layer: nn.Module, out: torch.Tensor) -> int:
    """Positions of one image's output of a layer: spatial size of a conv, middle dims of a linear layer."""
    if isinstance(layer, nn.Linear):
        return max(1, out[0].numel() // out.shape[-1])
    return max(1, out[0, 0].numel())


@torch.no_grad()
def sample_contributions(model: nn.Module, batches: _Batches, samples: int = THINET_SAMPLES, seed: int = 0,
                         layers: Sequence[nn.Module] | None = None
                         ) -> tuple[dict[nn.Module, torch.Tensor], dict[nn.Module, torch.Tensor]]:
    """ThiNet's sampled contributions of every consumer layer, in **one** forward pass over ``batches``.

    For every watched layer (default: every Conv1d/Conv2d and linear layer), ``samples`` entries
    (image, output channel, output position) of its output are drawn uniformly from a generator
    seeded by ``seed`` (layer by layer, in module order), and a forward hook records the
    contributions of its input channels to them (:func:`contributions`). A layer called several
    times in one forward pass is read at its first call of each batch.

    Returns:
        ``(contributions, output energy)``: layer -> x̂ (samples, C_in) float32 on the model's
        device, and layer -> E[y²] per output channel (float64, CPU) over the whole pass (the
        fallback of groups without consumers).

    Raises:
        InputError: no batch, a batch that is not a tensor, or ``samples`` < 1.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise InputError(f"ThiNet samples must be a positive integer, got {samples!r}")
    batches = list(batches)
    xs = [b[0] if isinstance(b, (tuple, list)) else b for b in batches]
    for x in xs:
        if not isinstance(x, torch.Tensor):
            raise InputError(f"calibration batch: expected a tensor of inputs, got {type(x).__name__}")
    images = sum(int(x.shape[0]) for x in xs)
    if not images:
        raise InputError("ThiNet needs at least one calibration image")
    watch = [m for m in model.modules() if is_weighted(m)] if layers is None else list(layers)
    watch = [m for m in watch if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)) and is_weighted(m)]
    gen = torch.Generator().manual_seed(int(seed))
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    state = {m: _Sampled(m, images, samples, gen, dev) for m in watch}
    energy: dict[nn.Module, torch.Tensor] = {}
    counts: dict[nn.Module, int] = {}
    where = {"batch": 0, "offset": 0}

    def hook(mod, args, out):
        st = state[mod]
        if st.last_batch == where["batch"]:
            return
        st.last_batch = where["batch"]
        x = args[0].detach()
        st.add(mod, x, _positions(mod, out), where["offset"])
        y = out.detach()
        y = y.reshape(-1, y.shape[-1]) if isinstance(mod, nn.Linear) else y.movedim(1, -1).reshape(-1, y.shape[1])
        e = y.double().pow(2).sum(0).cpu()
        energy[mod] = energy[mod] + e if mod in energy else e
        counts[mod] = counts.get(mod, 0) + int(y.shape[0])

    handles = [m.register_forward_hook(hook) for m in watch]
    was = model.training
    model.eval()
    try:
        for i, x in enumerate(xs):
            where["batch"] = i
            model(x)
            where["offset"] += int(x.shape[0])
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    contrib = {m: st.x for m, st in state.items() if bool(st.filled.all())}
    return contrib, {m: e / max(counts[m], 1) for m, e in energy.items()}


# ----------------------------------------------------------------------------- ThiNet greedy


def thinet_order(gram: torch.Tensor) -> list[int]:
    """ThiNet's greedy removal order on the Gram matrix G = X̂ᵀX̂ of the channels' contributions.

    T starts empty; each step adds the channel c ∉ T that minimizes the objective
    Σ_samples (Σ_{t∈T∪{c}} x̂_t)² = s_T + 2 g_T[c] + G[c, c], with s_T the objective of T and
    g_T = Σ_{t∈T} G[:, t] (O(n) per step once G is known). Ties go to the lowest index.

    Example:
        >>> xh = torch.tensor([[1.0, -1.0, 3.0], [0.5, -0.5, 0.0]])
        >>> thinet_order(xh.T @ xh)  # 0 alone costs 1.25, then 1 cancels it exactly
        [0, 1, 2]
    """
    g = gram.detach().double().cpu()
    n = g.shape[0]
    diag = g.diagonal().clone()
    acc = torch.zeros(n, dtype=torch.float64)
    taken = torch.zeros(n, dtype=torch.bool)
    s, order = 0.0, []
    for _ in range(n):
        obj = (s + 2.0 * acc + diag).masked_fill(taken, float("inf"))
        c = int(torch.argmin(obj))
        s = float(obj[c])
        acc += g[:, c]
        taken[c] = True
        order.append(c)
    return order


def _root_columns(xh: torch.Tensor, idxs: list[int], roots: list[int], n: int) -> torch.Tensor:
    """x̂ summed over each root's indices: (samples, n) float64 (columns of roots the layer does not read are 0)."""
    cols = xh[:, torch.as_tensor(idxs, dtype=torch.long, device=xh.device)].double()
    r = torch.as_tensor(roots, dtype=torch.long, device=xh.device)
    if len(set(roots)) == len(roots):
        out = torch.zeros(xh.shape[0], n, dtype=torch.float64, device=xh.device)
        out[:, r] = cols
        return out
    onehot = torch.zeros(len(roots), n, dtype=torch.float64, device=xh.device)
    onehot[torch.arange(len(roots), device=xh.device), r] = 1.0
    return cols @ onehot  # a matmul rather than index_add_: deterministic on every backend


class ThiNetImportance:
    """``thinet``: ThiNet's greedy removal order as scores (see the module docstring).

    ``contrib`` are the sampled contributions of :func:`sample_contributions`; the group's
    objective is the sum over its consumers of Σ_samples (Σ_{c∈T} x̂_c)², each divided by its
    sampled output energy Σ_samples (Σ_c x̂_c)².
    """

    def __init__(self, contrib: dict[nn.Module, torch.Tensor], out_energy: dict[nn.Module, torch.Tensor],
                 images: int = 0, samples: int = THINET_SAMPLES):
        self.contrib, self.out_energy = contrib, out_energy
        self.images, self.samples = int(images), int(samples)
        self.fallbacks = 0
        self._norm = {m: float(x.sum(1).double().pow(2).sum()) for m, x in contrib.items()}

    def group_gram(self, group: Any) -> torch.Tensor | None:
        """The summed, normalized Gram matrix (n, n) of the group's consumers, or None without consumers."""
        n = len(group[0].idxs)
        total, found = None, False
        for layer, idxs, roots in _consumer_items(group):
            xh = self.contrib.get(layer)
            if xh is None:
                continue
            cols = _root_columns(xh, idxs, roots, n)
            gram = cols.T @ cols
            scale = self._norm[layer] if self._norm[layer] > 0 else float(gram.trace())
            gram = gram / scale if scale > 0 else gram
            total = gram if total is None else total + gram
            found = True
        return total.cpu() if found else None

    @torch.no_grad()
    def __call__(self, group: Any) -> torch.Tensor | None:
        gram = self.group_gram(group)
        if gram is None:
            self.fallbacks += 1
            return _producer_fallback(group, len(group[0].idxs), self.out_energy)
        scores = torch.empty(gram.shape[0], dtype=torch.float32)
        scores[torch.as_tensor(thinet_order(gram))] = torch.arange(gram.shape[0], dtype=torch.float32)
        return scores

    def record(self) -> dict:
        """The calibration images, the samples per consumer, and the groups that fell back."""
        return {"calib_images": self.images, "samples": self.samples, "fallback_groups": self.fallbacks}


def _thinet(ctx: PruneContext) -> ThiNetImportance:
    _check_calib(ctx, "thinet", ("samples",))
    samples = ctx.options.get("samples", THINET_SAMPLES)
    contrib, energy = sample_contributions(ctx.model, ctx.calib, samples, ctx.seed)
    return ThiNetImportance(contrib, energy, sum(len(x) for x, _ in ctx.calib), samples)


register_method("activation", _activation,
                "activation energy: RMS of the channel as its consumers read it (calibration images) times the "
                "norm of the consumers' weights on it (Molchanov et al. 2017; NISP-like contribution)",
                needs_data=True, sweep=False)
register_method("thinet", _thinet,
                "ThiNet (Luo et al. 2017): greedy removal minimizing the reconstruction error of the consumers' "
                "sampled outputs on the calibration images (summed over consumers)",
                needs_data=True, sweep=False)


__all__ = ["THINET_SAMPLES", "UNFOLD_CHUNK", "ActivationImportance", "ThiNetImportance", "input_column_energy",
           "conv_contributions", "linear_contributions", "contributions", "sample_contributions", "thinet_order"]
