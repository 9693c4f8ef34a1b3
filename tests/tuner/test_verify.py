"""The database ranks a schedule by its latest measurement, and verify_best_records
re-measures the leading schedules so that one lucky measurement cannot win."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.tir import te
from onnxtune.tir.function import IRModule
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.arg_info import ArgInfo
from onnxtune.tuner.database import JSONDatabase, MemoryDatabase, TuningRecord
from onnxtune.tuner.verify import verify_best_records


def _matmul(n: int = 128) -> IRModule:
    a = te.placeholder((n, n), "float32", name="A")
    b = te.placeholder((n, n), "float32", name="B")
    k = te.reduce_axis((0, n), name="k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    return IRModule({"main": te.create_prim_func([a, b, c])})


def _naive(mod: IRModule) -> Schedule:
    return Schedule(mod)  # the unscheduled triple loop: i, j, k with a strided B load


def _tiled(mod: IRModule) -> Schedule:
    s = Schedule(mod)
    blk = s.get_block("C")
    i, j, k = s.get_loops(blk)
    jo, ji = s.split(j, [None, 16])
    s.reorder(i, jo, k, ji)
    s.vectorize(ji)
    s.decompose_reduction(blk, k)
    return s


def _record(sch: Schedule, wl, secs):
    return TuningRecord(sch.trace, wl, secs, None, ArgInfo.from_entry_func(sch.mod))


def test_a_later_measurement_of_the_same_schedule_supersedes_the_earlier():
    mod = _matmul(16)
    db = MemoryDatabase()
    wl = db.commit_workload(mod)
    slow, fast = _naive(mod), _tiled(mod)
    db.commit_tuning_record(_record(slow, wl, [1e-6]))
    db.commit_tuning_record(_record(fast, wl, [2e-6]))
    assert db.get_top_k(wl, 1)[0].run_secs == [1e-6]
    db.commit_tuning_record(_record(slow, wl, [3e-6, 3e-6]))  # re-measured: slower
    top = db.get_top_k(wl, 5)
    assert [r.run_secs for r in top] == [[2e-6], [3e-6, 3e-6]]
    db.commit_tuning_record(_record(fast, wl, None))  # re-measured: it failed this time
    assert [r.run_secs for r in db.get_top_k(wl, 5)] == [[3e-6, 3e-6]]
    assert len(db) == 4  # every record is kept


def test_the_latest_measurement_wins_after_reloading_a_json_database(tmp_path):
    mod = _matmul(16)
    db = JSONDatabase(work_dir=str(tmp_path))
    wl = db.commit_workload(mod)
    slow, fast = _naive(mod), _tiled(mod)
    db.commit_tuning_record(_record(slow, wl, [1e-6]))
    db.commit_tuning_record(_record(fast, wl, [2e-6]))
    db.commit_tuning_record(_record(slow, wl, [5e-6]))
    again = JSONDatabase(work_dir=str(tmp_path))
    top = again.get_top_k(again.commit_workload(mod), 2)
    assert [r.run_secs for r in top] == [[2e-6], [5e-6]]


def test_verification_replaces_a_lucky_measurement_and_keeps_the_faster_schedule(tmp_path):
    mod = _matmul(128)
    db = JSONDatabase(work_dir=str(tmp_path))
    wl = db.commit_workload(mod)
    slow, fast = _naive(mod), _tiled(mod)
    # the naive loop (strided loads, no vectors) was "measured" absurdly fast once
    db.commit_tuning_record(_record(slow, wl, [1e-9]))
    db.commit_tuning_record(_record(fast, wl, [1.0]))
    assert db.query_tuning_record(mod).run_secs == [1e-9]
    (res,) = verify_best_records(db, [mod], "llvm", top_k=2, rounds=3, min_repeat_ms=5)
    assert res.measured == 2 and res.changed
    assert res.before_secs == pytest.approx(1e-9)
    best = db.query_tuning_record(mod)
    assert len(best.run_secs) == 3 and all(0 < s < 1.0 for s in best.run_secs)
    assert best.trace.as_json() == fast.trace.as_json()
    assert res.after_secs == pytest.approx(np.mean(best.run_secs))
    # the new measurements are on disk: a fresh process compiles the same choice
    again = JSONDatabase(work_dir=str(tmp_path))
    assert again.query_tuning_record(mod).trace.as_json() == fast.trace.as_json()


def test_extra_schedules_are_measured_and_can_win(tmp_path):
    mod = _matmul(128)
    db = MemoryDatabase()
    wl = db.commit_workload(mod)
    db.commit_tuning_record(_record(_naive(mod), wl, [1e-9]))
    (res,) = verify_best_records(db, [wl], "llvm", top_k=1, rounds=2, min_repeat_ms=5,
                                 extra={0: [_tiled(mod)]})
    assert res.measured == 2
    assert db.query_tuning_record(mod).trace.as_json() == _tiled(mod).trace.as_json()


def test_a_record_measured_once_that_outranks_the_verified_ones_is_raced_too():
    mod = _matmul(128)
    db = MemoryDatabase()
    wl = db.commit_workload(mod)
    slow, fast = _naive(mod), _tiled(mod)
    db.commit_tuning_record(_record(fast, wl, [2e-9]))
    db.commit_tuning_record(_record(slow, wl, [1e-9]))
    # top_k=1 re-measures only the naive one; then the tiled one (its record measured
    # once, 2 ns) ranks first and is raced against it in a second pass
    (res,) = verify_best_records(db, [wl], "llvm", top_k=1, rounds=2, min_repeat_ms=5)
    assert res.measured == 2
    best = db.query_tuning_record(mod)
    assert best.trace.as_json() == fast.trace.as_json() and len(best.run_secs) == 2


def test_verification_checks_its_arguments():
    with pytest.raises(ValueError, match="top_k"):
        verify_best_records(MemoryDatabase(), [], "llvm", top_k=0)
