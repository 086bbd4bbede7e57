"""Sections and profiles for the engine tests (importable by Dask workers: the repository root is on their path).

- :data:`TINY_PRUNING`: the pruning section on a profile that runs in seconds (an 8×8-pixel digits
  MLP, three criteria, two sparsities, two seeds, fine-tuning at one sparsity);
- :class:`FaultSection`: four units, one of which kills its worker process (``os._exit``) while
  ``$QK_TEST_KILL_UNIT`` names it;
- :class:`GpuSection`: units that ask for a ``GPU`` resource and report nothing but their key
  (where they ran is in ``<section>_units.csv``).
"""

from __future__ import annotations

import os
import time

import pandas as pd

from qkernels.suite.document.blocks import Paragraph
from qkernels.suite.sections.base import Section, Unit, timed_unit
from qkernels.suite.sweeps.pruning import ModelSetup, SweepConfig, TrainSetup

TINY_PRUNING = SweepConfig(
    data="digits", data_options=(("n_calib", 200), ("n_test", 300), ("n_train", 600), ("size", 8)),
    models=(ModelSetup("mlp", "mlp", (("hidden", (16,)),), TrainSetup(epochs=1, lr=0.05, batch_size=64)),),
    methods=("l1", "random", "qmfrg"), sparsities=(0.3, 0.5), replicates=2, bn_images=64, taylor_images=32,
    finetune_epochs=0.25, finetune_sparsities=(0.5,))

#: the columns that hold measured times: they differ between any two runs, sequential or not
def time_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.endswith("_time_s")]


def without_times(path, *also: str) -> str:
    """The CSV at ``path`` as text, without its measured-time columns and the columns ``also`` (what two
    runs must share byte for byte)."""
    df = pd.read_csv(path)
    return df.drop(columns=time_columns(df) + [c for c in also if c in df.columns]).to_csv(index=False)


def _rows(key: str) -> pd.DataFrame:
    if os.environ.get("QK_TEST_KILL_UNIT") == key:
        os._exit(3)  # the worker process dies in the middle of the unit
    if os.environ.get("QK_TEST_SLOW_UNIT") == key:
        time.sleep(30)
    return pd.DataFrame({"unit": [key], "value": [len(key)]})


class FaultSection(Section):
    name, title, summary, order = "faults", "Faults", "units, one of which may kill its worker", 90
    profiles = {"quick": 4}

    def plan(self, ctx):
        return [Unit(f"u{i}", f"unit {i}", lambda i=i: _rows(f"u{i}")) for i in range(self.profiles[ctx.profile])]

    def plan_with(self, ctx, profile):
        return [Unit(f"u{i}", f"unit {i}", lambda i=i: _rows(f"u{i}")) for i in range(profile)]

    def report(self, run, df):
        return [Paragraph(f"{len(df)} rows")]


class GpuSection(Section):
    name, title, summary, order = "gpus", "GPU units", "units that ask for a GPU", 91
    profiles = {"quick": 6}

    def plan(self, ctx):
        return self.plan_with(ctx, self.profiles[ctx.profile])

    def plan_with(self, ctx, profile):
        units = [Unit(f"g{i}", f"gpu unit {i}", lambda i=i: _rows(f"g{i}"), resources=(("GPU", 1),))
                 for i in range(profile)]
        return units + [Unit("c0", "cpu unit", lambda: _rows("c0")),
                        timed_unit("t0", "timed unit", lambda: _rows("t0"), threads=1)]

    def report(self, run, df):
        return [Paragraph(f"{len(df)} rows")]
