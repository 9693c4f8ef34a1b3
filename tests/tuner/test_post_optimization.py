"""Post-optimization: the Droplet search space and walk, on a synthetic cost."""

from __future__ import annotations

import math

import numpy as np
from tuning_standins import FnSpace, InProcessBuilder, InProcessRunner, TileScoreModel

from onnxtune.compile import build
from onnxtune.tir import For, testing
from onnxtune.tir.functor import post_order_visit
from onnxtune.tir.schedule import Schedule
from onnxtune.tuner.builder import Builder, BuilderResult
from onnxtune.tuner.database import MemoryDatabase, TuningRecord
from onnxtune.tuner.post_optimization import Droplet, Space, factorizations, optimize_workload
from onnxtune.tuner.runner import Runner, RunnerFuture, RunnerResult
from onnxtune.tuner.search_strategy import EvolutionarySearch
from onnxtune.tuner.tir_integration import compile_tir, tune_tir

FUNC, REF = testing.matmul(64, 64, 64)


def synthetic_cost(mod) -> float:
    """Seconds that are smallest when every loop has extent 4."""
    extents = []
    post_order_visit(mod["main"].body,
                     lambda n: extents.append(n.extent.value) if isinstance(n, For) else None)
    return 1e-3 * (1 + sum(abs(math.log2(e) - 2) for e in extents))


class _ModBuilder(Builder):
    def __init__(self):
        self.mods = {}

    def build(self, build_inputs):
        out = []
        for inp in build_inputs:
            path = f"mod://{len(self.mods)}"
            self.mods[path] = inp.mod
            out.append(BuilderResult(path, None))
        return out


class _CostRunner(Runner):
    def __init__(self, builder):
        self.builder = builder
        self.runs = 0

    def run(self, runner_inputs):
        out = []
        for inp in runner_inputs:
            self.runs += 1
            c = synthetic_cost(self.builder.mods[inp.artifact_path])
            res = RunnerResult([c * 0.999, c, c * 1.001], None)
            out.append(RunnerFuture(lambda: True, lambda r=res: r))
        return out


def _record(decisions, db):
    sch = Schedule(FUNC)
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    tiles = [sch.sample_perfect_tile(lp, n, 16, decision=d)
             for lp, n, d in zip((i, j, k), (4, 4, 2), decisions, strict=True)]
    sch.reorder(*[x for t in (sch.split(i, tiles[0]), sch.split(j, tiles[1])) for x in t[:2]],
                *sch.split(k, tiles[2]))
    sch.enter_postproc()
    wl = db.commit_workload(FUNC)
    c = synthetic_cost(sch.mod)
    rec = TuningRecord(sch.trace, wl, [c * 0.999, c, c * 1.001])
    db.commit_tuning_record(rec)
    return rec


def test_factorizations():
    assert len(factorizations(8, 3)) == 10  # ordered factorizations of 2^3 into 3 parts
    assert all(math.prod(f) == 8 for f in factorizations(8, 3))
    assert all(f[-1] <= 2 for f in factorizations(64, 4, 2))
    assert factorizations(7, 2) == [(1, 7), (7, 1)]
    assert len(factorizations(512, 4, limit=50)) == 50


def test_space_knobs_round_trip():
    db = MemoryDatabase()
    rec = _record([[64, 1, 1, 1], [1, 1, 1, 64], [64, 1]], db)
    sp = Space(rec, rec.workload, "llvm")
    assert len(sp.dims) == 3
    assert sp.dims[2] == len(factorizations(64, 2, 16))  # innermost <= 16
    assert [sp.get_value(k, p) for k, p in enumerate(sp.start)] == [
        (64, 1, 1, 1), (1, 1, 1, 64), (64, 1)]
    for point in (0, 17, sp.knob2point([d - 1 for d in sp.dims])):
        assert sp.knob2point(sp.point2knob(point)) == point
    tr = sp.template([0, 0, 0])
    sch = Schedule(FUNC)
    tr.apply_to_schedule(sch, remove_postproc=True)
    args = testing.make_args(FUNC, seed=2)
    build(sch.mod)["main"](*args)
    np.testing.assert_allclose(args[-1], REF(*args[:-1]), rtol=1e-4, atol=1e-4)
    assert Space.add_space([1, 2], [2, 3, 4], limit=3) == [1, 2, 3]


def test_droplet_walks_downhill_and_records():
    db = MemoryDatabase()
    rec = _record([[64, 1, 1, 1], [1, 1, 1, 64], [64, 1]], db)  # a poor start
    start = rec.mean_secs()
    builder = _ModBuilder()
    runner = _CostRunner(builder)
    drop = Droplet(rec, rec.workload, "llvm", db)
    assert len(drop.next) <= 6 and all(p[0] != drop.best_choice[0] for p in drop.next)
    found = drop.run(builder, runner, [], trials=40)
    assert found is not None and found.mean_secs() < 0.7 * start
    assert runner.runs <= 40 and len(db) == 1 + runner.runs
    assert db.query_tuning_record(FUNC).mean_secs() == found.mean_secs()


def test_droplet_moves_only_on_significant_improvement():
    db = MemoryDatabase()
    rec = _record([[4, 4, 4, 1], [4, 4, 4, 1], [8, 8]], db)
    drop = Droplet(rec, rec.workload, "llvm", None, pvalue=0.05)
    pos = drop.next[:2]
    noisy = [[rec.mean_secs() * 0.99, rec.mean_secs() * 1.2, rec.mean_secs() * 0.7], None]
    drop.update(pos, noisy)
    assert drop.best_choice[1] == drop.space.start  # not significant: stays
    drop.update(drop.next[:1], [[rec.mean_secs() * 0.5] * 2 + [rec.mean_secs() * 0.51]])
    assert drop.best_choice[1] != drop.space.start and drop.step == 1


def test_optimize_workload_without_records_or_knobs():
    assert optimize_workload(MemoryDatabase(), FUNC, "llvm", None, None, []) is None


def test_tune_tir_with_post_optimization(tmp_path):
    func, ref = testing.matmul(32, 32, 32)
    evo = EvolutionarySearch(population_size=16, init_min_unmeasured=4, genetic_num_iters=1)
    db = tune_tir(func, "llvm", str(tmp_path), 4, num_trials_per_iter=4,
                  builder=InProcessBuilder(), runner=InProcessRunner(number=1, repeat=2),
                  database="memory", cost_model=TileScoreModel(), space=FnSpace(),
                  strategy=evo, seed=2, post_optimization=6)
    recs = db.get_all_tuning_records()
    assert 4 < len(recs) <= 10  # the droplet measured neighbours of the best
    sch = compile_tir(db, func, "llvm")
    args = testing.make_args(func, seed=1)
    build(sch.mod)["main"](*args)
    np.testing.assert_allclose(args[-1], ref(*args[:-1]), rtol=1e-4, atol=1e-4)
