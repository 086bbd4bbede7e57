"""Safe loading of checkpoints (state dicts) that other people made.

Nothing here runs code from a file: ``.safetensors`` files are read with safetensors, everything
else with ``torch.load(..., weights_only=True)``, which refuses pickles that would construct
arbitrary objects. Common wrappers (``{"state_dict": ...}``, ``{"model": ...}``, DataParallel's
``module.`` prefix) are unwrapped.

Example:
    >>> import torch, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
    >>> torch.save({"state_dict": {"fc.weight": torch.ones(2, 2)}}, path)
    >>> list(load_state_dict(path))
    ['fc.weight']
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from qkernels.core.errors import InputError

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "weights")


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` without executing code from it.

    Raises:
        InputError: missing or unreadable file, a pickle that needs code to load, or a file
            that holds no tensors.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"checkpoint {str(p)!r}: no such file")
    if not p.is_file():
        raise InputError(f"checkpoint {str(p)!r}: not a regular file")
    if p.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:  # pragma: no cover - safetensors is a dependency
            raise InputError("reading .safetensors files needs the 'safetensors' package") from None
        try:
            obj = load_file(str(p), device="cpu")
        except Exception as exc:
            raise InputError(f"checkpoint {str(p)!r}: not a readable safetensors file ({exc})") from None
    else:
        try:
            obj = torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"checkpoint {str(p)!r}: refused to load: it holds objects other than tensors, and "
                f"loading them could run code from the file (weights_only=True; {first})"
            ) from None
        except Exception as exc:
            raise InputError(f"checkpoint {str(p)!r}: cannot be read as a PyTorch file ({type(exc).__name__}: {exc})") from None
    return _as_state_dict(obj, str(p))


def _as_state_dict(obj: object, where: str) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, Mapping):
        raise InputError(f"checkpoint {where!r}: expected a state dict (name -> tensor), got {type(obj).__name__}")
    state = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise InputError(f"checkpoint {where!r}: holds no tensors")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


__all__ = ["load_state_dict"]
