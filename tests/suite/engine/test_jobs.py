"""The jobs of a run: dependencies from checkpoints and ``needs``, the order of a cluster run, seeding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from qkernels.suite.engine.jobs import PlannedSection, build_jobs, execution_order
from qkernels.suite.engine.tasks import Outcome, RowsView, run_unit, unit_seed
from qkernels.suite.runfolder import RunFolder
from qkernels.suite.sections.base import Unit

A, B = "a" * 24, "b" * 24


def _unit(key, **kw):
    return Unit(key, key, lambda: pd.DataFrame({"k": [key]}), **kw)


def _plan(units, sink=None, name="s"):
    return PlannedSection(None, name, "quick", None, 0, units, sink)


def test_first_user_of_a_checkpoint_trains_it_and_the_others_wait():
    units = [_unit("t", timed=True, checkpoints=(A,)), _unit("d", checkpoints=(A,)), _unit("p", checkpoints=(A, B)),
             _unit("q", checkpoints=(B,))]
    jobs = build_jobs([_plan(units)], lambda key: None)
    deps = {j.unit.key: j.deps for j in jobs}
    # the timed unit comes first in the plan but runs after the parallel phase: "d" trains A
    assert deps == {"t": (1,), "d": (), "p": (1,), "q": (2,)}
    assert [j.unit.key for j in execution_order(jobs)] == ["d", "p", "q", "t"]


def test_checkpoints_the_driver_has_are_given_not_trained():
    files = Outcome("", A, checkpoints={f"dense/{A}.json": b"{}"})
    jobs = build_jobs([_plan([_unit("d", checkpoints=(A,)), _unit("p", checkpoints=(A,))])],
                      lambda key: files if key == A else None)
    assert [j.deps for j in jobs] == [(), ()] and all(j.given == (files,) for j in jobs)
    shared = Outcome("", A)  # the workers share the cache, and the entry is there: nothing to ship or wait for
    jobs = build_jobs([_plan([_unit("d", checkpoints=(A,)), _unit("p", checkpoints=(A,))])], lambda key: shared)
    assert [(j.deps, j.given) for j in jobs] == [((), ()), ((), ())]


def test_needs_wait_for_running_units_and_read_finished_ones(tmp_path):
    sink = RunFolder(tmp_path).sink("s")
    sink.put("table", pd.DataFrame({"x": [1.5]}))
    units = [_unit("table2", timed=True), _unit("p1", timed=True, needs=("table",)),
             _unit("p2", timed=True, needs=("table2",))]
    jobs = build_jobs([_plan(units, sink)], lambda key: None)
    assert jobs[1].deps == () and jobs[1].given[0].rows.x.tolist() == [1.5]
    assert jobs[2].deps == (0,) and jobs[2].given == ()
    with pytest.raises(RuntimeError, match="reads timed unit"):
        build_jobs([_plan([_unit("t", timed=True), _unit("u", needs=("t",))])], lambda key: None)


def test_units_start_from_generators_seeded_by_their_key():
    draw = Unit("k", "k", lambda: pd.DataFrame({"r": [np.random.rand()], "t": [torch.rand(1).item()]}))
    a = run_unit(draw, seed=3, section="s").rows
    np.random.rand(5), torch.rand(7)  # whatever ran before
    b = run_unit(draw, seed=3, section="s").rows
    assert a.equals(b) and not a.equals(run_unit(draw, seed=4, section="s").rows)
    assert unit_seed(3, "s", "k") != unit_seed(3, "t", "k")


def test_a_device_error_costs_the_unit_and_anything_else_propagates():
    def oom():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    out = run_unit(Unit("k", "k", oom), seed=0, section="s")
    assert out.rows is None and "out of memory" in out.error and out.meta["status"] == "device error"
    with pytest.raises(ZeroDivisionError):
        run_unit(Unit("k", "k", lambda: 1 / 0), seed=0, section="s")
    with pytest.raises(TypeError, match="expected a DataFrame"):
        run_unit(Unit("k", "k", lambda: [1]), seed=0, section="s")


def test_timed_threads_are_set_for_the_unit_only():
    before = torch.get_num_threads()
    out = run_unit(Unit("k", "k", lambda: pd.DataFrame({"n": [torch.get_num_threads()]})), seed=0, section="s",
                   threads=1)
    assert out.rows.n.tolist() == [1] and out.meta["threads"] == 1 and torch.get_num_threads() == before


def test_rows_view_is_what_a_worker_plan_reads():
    view = RowsView()
    assert not view.sink("latency").has("table:x")
    view.sink("latency").rows["table:x"] = pd.DataFrame({"a": [1]})
    assert view.sink("latency").get("table:x").a.tolist() == [1]
