"""The ``tones`` data set: seeded synthetic pitch frames for CREPE, split into train / calib / test.

Every split is drawn by :func:`qkernels.nn.data.tones.tone_frames` from its own seed (derived from
the data seed and the split's name), so the splits never share a frame. The test split holds the
*hard* tones (noise, inharmonic partials, missing fundamentals; the trained crepe-tiny gets most but
not all of them right, so pruning has room to lose accuracy); train and calibration splits are
drawn the same way, so that BN re-estimation, Taylor gradients and fine-tuning see the test
distribution. ``kind="clean"`` makes every split clean (the check that a rebuilt CREPE is the
network its authors trained).

Example:
    >>> d = tones(n_train=8, n_calib=4, n_test=4)
    >>> d.name, d.image_shape, len(d.test), d.task.name, round(d.chance, 4)
    ('tones', (1024,), 4, 'pitch', 0.0211)
"""

from __future__ import annotations

import zlib
from functools import lru_cache

from qkernels.core.checks import check_seed
from qkernels.core.errors import InputError
from qkernels.nn.data.base import DataSplits
from qkernels.nn.data.signals import SignalSet

#: bump when the generator changes, so cached results made from older frames are not reused
TONES_VERSION = 1
F0_RANGE = (65.0, 1000.0)


def _split_seed(seed: int, split: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(split.encode())) % (2**63 - 1)


@lru_cache(maxsize=4)
def tones(seed: int = 0, *, n_train: int = 2000, n_calib: int = 512, n_test: int = 1000,
          kind: str = "hard") -> DataSplits:
    """The tone splits (cached in memory). ``kind`` is ``hard`` (default) or ``clean``.

    Raises:
        InputError: a count below 1 (train may be 0), an unknown kind.
    """
    from qkernels.nn.data.tones import tone_frames

    seed = check_seed(seed)
    if kind not in ("hard", "clean"):
        raise InputError(f"tones: kind must be 'hard' or 'clean', got {kind!r}")
    for name, n in (("n_calib", n_calib), ("n_test", n_test), ("n_train", n_train + 1)):
        if not isinstance(n, int) or n < 1:
            raise InputError(f"tones: {name} must be a positive integer, got {n!r}")
    parts = {}
    for split, n in (("train", n_train), ("calib", n_calib), ("test", n_test)):
        x, c = tone_frames(max(n, 1), _split_seed(seed, split), kind=kind, f0_range=F0_RANGE)
        parts[split] = SignalSet(x[:n].float().contiguous(), c[:n].double().contiguous())
    info = {"kind": kind, "version": TONES_VERSION, "f0_range": list(F0_RANGE), "sample_rate": 16000,
            "n_train": n_train, "n_calib": n_calib, "n_test": n_test, "seed": seed}
    return DataSplits("tones", parts["train"], parts["test"], parts["calib"],
                      "tones" if kind == "hard" else "tones:clean", info)


__all__ = ["tones", "TONES_VERSION", "F0_RANGE"]
