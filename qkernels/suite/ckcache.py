"""A cache of trained dense checkpoints, keyed by the configuration that produced them.

A configuration is a JSON-able dict (architecture and its arguments, the data set's fingerprint,
every training setting, the seed, a format version). Its key is the SHA-256 of its canonical
JSON; the cache keeps ``<root>/dense/<key>.safetensors`` (the state dict; no pickle) and
``<key>.json`` (the configuration and what training reported). Writes are atomic, so an
interrupted run leaves either no entry or a complete one; an unreadable entry is retrained.

The root is ``$QK_CACHE_DIR`` if set, else ``~/.cache/qkernels``.

Example:
    >>> import tempfile, torch
    >>> from torch import nn
    >>> root = tempfile.mkdtemp()
    >>> calls = []
    >>> def fit(m):
    ...     calls.append(1)
    ...     return {"accuracy": 1.0}
    >>> cfg = {"arch": "linear", "seed": 0}
    >>> m1, info, hit = cached_model(cfg, lambda: nn.Linear(2, 2), fit, root=root)
    >>> m2, info, hit2 = cached_model(cfg, lambda: nn.Linear(2, 2), fit, root=root)
    >>> len(calls), hit, hit2, torch.equal(m1.weight, m2.weight)
    (1, False, True, True)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

from torch import nn

from qkernels.core.atomic import atomic_write_bytes, atomic_write_json
from qkernels.nn.device import model_device

#: bump when the meaning of a cached entry changes
CACHE_VERSION = 1


def cache_root(root: str | Path | None = None) -> Path:
    """``root``, else ``$QK_CACHE_DIR``, else ``~/.cache/qkernels``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("QK_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "qkernels"


def config_key(config: dict) -> str:
    """SHA-256 (24 hex digits) of the canonical JSON of ``config``."""
    text = json.dumps({"cache_version": CACHE_VERSION, **config}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def entry_paths(config: dict, root: str | Path | None = None) -> tuple[Path, Path]:
    """The (weights, info) paths of ``config``'s entry."""
    d = cache_root(root) / "dense"
    k = config_key(config)
    return d / f"{k}.safetensors", d / f"{k}.json"


def key_paths(key: str, root: str | Path | None = None) -> tuple[Path, Path]:
    """The (weights, info) paths of the entry with cache key ``key`` (see :func:`config_key`)."""
    if not re.fullmatch(r"[0-9a-f]{24}", key):
        raise ValueError(f"not a checkpoint-cache key: {key!r}")
    d = cache_root(root) / "dense"
    return d / f"{key}.safetensors", d / f"{key}.json"


def entry_files(key: str, root: str | Path | None = None) -> dict[str, bytes]:
    """The files of entry ``key`` as ``{path relative to the cache root: bytes}`` ({} when absent).

    This is how a cluster ships a trained dense model from the worker that trained it to the
    workers that need it (:mod:`qkernels.suite.engine`); :func:`install_files` writes them back.

    Example:
        >>> import tempfile
        >>> from torch import nn
        >>> a, b = tempfile.mkdtemp(), tempfile.mkdtemp()
        >>> cfg = {"arch": "linear", "seed": 0}
        >>> _ = save_entry(cfg, nn.Linear(2, 2), {"accuracy": 1.0}, root=a)
        >>> files = entry_files(config_key(cfg), root=a)
        >>> sorted(p.split("/")[0] for p in files), install_files(files, root=b)
        (['dense', 'dense'], 2)
        >>> load_entry(cfg, nn.Linear(2, 2), root=b)
        {'accuracy': 1.0}
    """
    out: dict[str, bytes] = {}
    base = cache_root(root)
    for p in key_paths(key, root):
        if not p.is_file():
            return {}
        out[p.relative_to(base).as_posix()] = p.read_bytes()
    return out


def install_files(files: dict[str, bytes], root: str | Path | None = None) -> int:
    """Write the files of :func:`entry_files` under the cache root (atomic; a file already there with
    the same size is kept). Returns how many were written."""
    base = cache_root(root)
    written = 0
    for rel, data in files.items():
        parts = Path(rel).parts
        if len(parts) != 2 or parts[0] != "dense" or not re.fullmatch(r"[0-9a-f]{24}\.(safetensors|json)", parts[1]):
            raise ValueError(f"not a checkpoint-cache file: {rel!r}")
        path = base / rel
        if path.is_file() and path.stat().st_size == len(data):
            continue
        atomic_write_bytes(path, data)
        written += 1
    return written


def save_entry(config: dict, model: nn.Module, info: dict, root: str | Path | None = None) -> Path:
    """Store ``model``'s state dict and ``info`` under ``config`` (atomic)."""
    from safetensors.torch import save

    wpath, ipath = entry_paths(config, root)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(wpath, save(state, metadata={"config_key": config_key(config)}))
    atomic_write_json(ipath, {"key": config_key(config), "config": config, "info": info})
    return wpath


def load_entry(config: dict, model: nn.Module, root: str | Path | None = None) -> dict | None:
    """Load ``config``'s entry into ``model`` (strictly) and return its info, or None if absent or unusable."""
    from safetensors.torch import load_file

    wpath, ipath = entry_paths(config, root)
    if not (wpath.is_file() and ipath.is_file()):
        return None
    try:
        meta = json.loads(ipath.read_text(encoding="utf-8"))
        state = load_file(str(wpath), device="cpu")
        if meta.get("key") != config_key(config):
            raise ValueError("key mismatch")
        dev = model_device(model)
        model.load_state_dict({k: v.to(dev) for k, v in state.items()}, strict=True)
    except Exception as exc:  # a corrupt or stale entry is retrained, not fatal
        warnings.warn(f"checkpoint cache: ignoring unusable entry {wpath.name} ({type(exc).__name__}: {exc})",
                      stacklevel=2)
        return None
    return meta.get("info", {})


def cached_model(
    config: dict,
    build: Callable[[], nn.Module],
    fit: Callable[[nn.Module], dict],
    *,
    root: str | Path | None = None,
) -> tuple[nn.Module, dict, bool]:
    """The model of ``config``: loaded from the cache, or built, trained by ``fit`` and stored.

    Returns ``(model, info, hit)``: ``info`` is what ``fit`` returned when it was trained, and
    ``hit`` says whether it came from the cache.
    """
    model = build()
    info = load_entry(config, model, root)
    if info is not None:
        return model.eval(), info, True
    info = fit(model)
    save_entry(config, model, info, root)
    return model.eval(), info, False


__all__ = ["cache_root", "config_key", "entry_paths", "key_paths", "entry_files", "install_files", "save_entry", "load_entry", "cached_model", "CACHE_VERSION"]
