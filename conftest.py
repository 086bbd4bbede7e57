"""Shared pytest fixtures for tests/ and bench/: the backend under test.

``QK_DEVICE`` (set by tox's backend factor; default cpu) names the backend. When it is not usable
here, tests that take the ``qk_device`` fixture are skipped with the reason, unless
``QK_REQUIRE_DEVICE=1``, which turns the skip into a failure.
"""

from __future__ import annotations

import os

# Vendor plug-ins (torch_npu, torch_mlu) auto-load through torch's "torch.backends" entry point on
# ``import torch`` and raise (or exit) when their runtime is missing: keep them off, as
# qkernels/__init__ does; qkernels.hw.backends probes them in a subprocess and imports them itself.
os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")

import pytest  # noqa: E402
import torch  # noqa: E402

from qkernels.core.errors import InputError
from qkernels.hw.backends import resolve_device


@pytest.fixture(scope="session")
def qk_device() -> torch.device:
    name = os.environ.get("QK_DEVICE", "cpu")
    try:
        return resolve_device(name)
    except InputError as exc:
        if os.environ.get("QK_REQUIRE_DEVICE") == "1":
            pytest.fail(f"QK_DEVICE={name} is required (QK_REQUIRE_DEVICE=1) but not usable: {exc}")
        pytest.skip(f"QK_DEVICE={name} is not usable here: {exc}")


@pytest.fixture(autouse=True, scope="session")
def _qk_cache_dir(tmp_path_factory):
    """Trained checkpoints of the tests go to a temporary cache, never to ~/.cache/qkernels."""
    old = os.environ.get("QK_CACHE_DIR")
    os.environ["QK_CACHE_DIR"] = str(tmp_path_factory.mktemp("qk_cache"))
    yield
    if old is None:
        os.environ.pop("QK_CACHE_DIR", None)
    else:
        os.environ["QK_CACHE_DIR"] = old
