"""Safe loading of checkpoints (state dicts) that other people made.

Nothing here runs code from a file: ``.safetensors`` files are read with safetensors, everything
else with ``torch.load(..., weights_only=True)``, which refuses pickles that would construct
arbitrary objects. A refusal names the global the pickle asked for (found by reading its opcodes,
never by running them), and torch's own warnings about the file are kept off the terminal, so the
refusal is the only line. Common wrappers (``{"state_dict": ...}``, ``{"model": ...}``,
DataParallel's ``module.`` prefix) are unwrapped.

Before anything is read, the tensor bytes are estimated from the file's index (the JSON header of
a safetensors file, the entry sizes of a PyTorch zip archive, or the file size of a legacy pickle)
and checked against the memory budget (:mod:`qkernels.core.memory`); a safetensors header that
claims more data than the file holds is refused as truncated.

Example:
    >>> import torch, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
    >>> torch.save({"state_dict": {"fc.weight": torch.ones(2, 2)}}, path)
    >>> list(load_state_dict(path))
    ['fc.weight']
"""

from __future__ import annotations

import json
import math
import pickle
import pickletools
import struct
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from qkernels.core.errors import InputError
from qkernels.core.memory import check_memory

#: bytes per element of the safetensors dtypes
_ST_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
              "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8, "C128": 16}

#: largest safetensors header read (the format's own limit is 100 MB)
_MAX_HEADER = 100_000_000


def _safetensors_index(p: Path) -> tuple[int, dict[str, tuple[str, tuple[int, ...], int, int]]]:
    """(data start, {name: (dtype, shape, begin, end)}) from a safetensors header, validated
    against the file size; nothing but the header is read."""
    where = f"checkpoint {str(p)!r}"
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise InputError(f"{where}: not a readable safetensors file (shorter than its 8-byte header length)")
        (n,) = struct.unpack("<Q", head)
        if n > min(_MAX_HEADER, size - 8):
            raise InputError(f"{where}: not a readable safetensors file (header length {n:,} bytes, file {size:,} bytes)")
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{where}: not a readable safetensors file (header: {type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise InputError(f"{where}: not a readable safetensors file (the header is not a JSON object)")
    entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    end_max = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
            itemsize = _ST_DTYPES[dtype]
            begin, end = int(begin), int(end)
        except (TypeError, KeyError, ValueError):
            raise InputError(f"{where}: not a readable safetensors file (bad header entry for {name!r})") from None
        numel = math.prod(shape)
        if min((numel, begin, end, *shape)) < 0 or end - begin != numel * itemsize:
            raise InputError(f"{where}: not a readable safetensors file (tensor {name!r}: shape {list(shape)} of {dtype} "
                             f"does not match its {end - begin:,} data bytes)")
        entries[name] = (dtype, shape, begin, end)
        end_max = max(end_max, end)
    if end_max > size - 8 - n:
        raise InputError(f"{where}: truncated: its header claims {end_max:,} bytes of tensor data but the file holds "
                         f"{size - 8 - n:,}")
    return 8 + n, entries


def safetensors_bytes(path: str | Path) -> int:
    """Bytes of tensor data a safetensors file holds, from its header alone (nothing else is read).

    Raises:
        InputError: not a safetensors header, or a header that claims more data than the file has.
    """
    _, entries = _safetensors_index(Path(path))
    return sum(end - begin for _, _, begin, end in entries.values())


def _torch_dtype(name: str) -> torch.dtype | None:
    table = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16", "F16": "float16",
             "BF16": "bfloat16", "I32": "int32", "U32": "uint32", "F32": "float32", "I64": "int64", "U64": "uint64",
             "F64": "float64", "C64": "complex64", "F8_E5M2": "float8_e5m2", "F8_E4M3": "float8_e4m3fn"}
    return getattr(torch, table.get(name, ""), None)


def _read_safetensors(p: Path) -> dict[str, torch.Tensor] | None:
    """The tensors of a safetensors file, each read straight into its own buffer (no mapping of
    the whole file, so memory is the tensors' size once). None where this reader does not apply
    (a big-endian machine or a dtype torch lacks): then safetensors reads the file."""
    import sys

    start, entries = _safetensors_index(p)
    if sys.byteorder != "little" or any(_torch_dtype(d) is None for d, _, _, _ in entries.values()):
        return None
    out: dict[str, torch.Tensor] = {}
    with open(p, "rb") as fh:
        for name, (dtype, shape, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2]):
            t = torch.empty(shape, dtype=_torch_dtype(dtype))
            if end > begin:
                buf = memoryview(t.reshape(-1).view(torch.uint8).numpy())
                fh.seek(start + begin)
                got = fh.readinto(buf)
                if got != end - begin:
                    raise InputError(f"checkpoint {str(p)!r}: truncated in tensor {name!r}")
            out[name] = t
    return out


def checkpoint_bytes(path: str | Path) -> int:
    """An estimate of the memory reading ``path`` takes: its tensor bytes (see the module docstring)."""
    p = Path(path)
    if p.suffix == ".safetensors":
        return safetensors_bytes(p)
    size = p.stat().st_size
    if zipfile.is_zipfile(p):
        try:
            with zipfile.ZipFile(p) as z:
                return max(size, sum(i.file_size for i in z.infolist()))
        except (zipfile.BadZipFile, OSError, ValueError):
            return size
    return size


_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
_QUIET_OPS = {"MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT", "FRAME", "PROTO"}  # push nothing


def _pickle_globals(data) -> list[str]:
    """The ``module.name`` globals a pickle stream asks for, read from its opcodes (never run).

    STACK_GLOBAL takes its two names from the stack; they are followed through the memo, since
    a pickler fetches a module name it has written before with BINGET.
    """
    names: list[str] = []
    recent: list[str | None] = []
    memo: dict[int, str | None] = {}
    try:
        while True:
            for op, arg, _ in pickletools.genops(data):
                if op.name in _STRING_OPS:
                    recent.append(str(arg))
                elif op.name == "MEMOIZE":
                    memo[len(memo)] = recent[-1] if recent else None
                elif op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
                    memo[int(arg)] = recent[-1] if recent else None
                elif op.name in ("BINGET", "LONG_BINGET", "GET"):
                    recent.append(memo.get(int(arg)))
                elif op.name == "GLOBAL":
                    names.append(str(arg).replace(" ", ".", 1))
                    recent.append(None)
                elif op.name == "STACK_GLOBAL":
                    if len(recent) >= 2 and recent[-2] is not None and recent[-1] is not None:
                        names.append(f"{recent[-2]}.{recent[-1]}")
                    recent.append(None)
                elif op.name not in _QUIET_OPS:
                    recent.append(None)
                del recent[:-4]
            if not hasattr(data, "peek") or not data.peek(1):
                break  # a legacy torch file is several pickles in a row
    except Exception:  # a malformed stream: report what was found up to there
        pass
    return list(dict.fromkeys(names))


def refused_globals(path: str | Path) -> list[str]:
    """The globals in the checkpoint's pickle that ``torch.load(weights_only=True)`` does not allow."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except Exception:  # pragma: no cover - a torch without that helper
        allowed = set()
    try:
        allowed |= {f"{g.__module__}.{g.__qualname__}" for g in torch.serialization.get_safe_globals()
                    if hasattr(g, "__qualname__")}
    except Exception:  # pragma: no cover
        pass
    p = Path(path)
    found: list[str] = []
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                for name in z.namelist():
                    if name.endswith(".pkl"):
                        with z.open(name) as fh:
                            found += _pickle_globals(fh)
        else:
            with open(p, "rb") as fh:
                found = _pickle_globals(fh)
    except (OSError, zipfile.BadZipFile, ValueError):
        return []
    if not allowed:  # pragma: no cover - cannot tell which are refused
        return []
    return [g for g in dict.fromkeys(found) if g not in allowed]

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
    try:
        need = checkpoint_bytes(p)
    except OSError as exc:
        raise InputError(f"checkpoint {str(p)!r}: cannot be read ({exc.strerror or exc})") from None
    check_memory(f"reading checkpoint {str(p)!r}", need)
    with warnings.catch_warnings():  # torch's advice about the file must not reach the terminal
        warnings.simplefilter("ignore")
        obj = _load(p)
    return _as_state_dict(obj, str(p))


def _load(p: Path) -> object:
    if p.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:  # pragma: no cover - safetensors is a dependency
            raise InputError("reading .safetensors files needs the 'safetensors' package") from None
        tensors = _read_safetensors(p)
        if tensors is not None:
            return tensors
        try:
            return load_file(str(p), device="cpu")
        except Exception as exc:
            raise InputError(f"checkpoint {str(p)!r}: not a readable safetensors file ({exc})") from None
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        bad = refused_globals(p)
        if bad:
            what = f"it needs {'the global' if len(bad) == 1 else 'the globals'} " + ", ".join(repr(b) for b in bad[:3])
            what += f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
            what += ", which is not a tensor type" if len(bad) == 1 else ", which are not tensor types"
        else:
            detail = next((ln.strip() for ln in str(exc).splitlines()
                           if ln.strip().startswith(("Unsupported", "Trying to load"))), "")
            what = "it holds objects other than tensors" + (f" ({detail.rstrip('.')})" if detail else "")
        raise InputError(f"checkpoint {str(p)!r}: refused to load: {what}; loading it could run code from the "
                         "file (only tensors and plain containers are read)") from None
    except Exception as exc:
        raise InputError(f"checkpoint {str(p)!r}: cannot be read as a PyTorch file ({type(exc).__name__}: "
                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None


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


__all__ = ["load_state_dict", "checkpoint_bytes", "safetensors_bytes", "refused_globals"]
