"""SearchStrategy: ReplayTrace, ReplayFunc and EvolutionarySearch on a matmul space."""

from __future__ import annotations

import numpy as np
import pytest
from tuning_standins import (
    FnSpace,
    RejectOddTiles,
    TileMutator,
    TileScoreModel,
    inner_tile_score,
    tile_matmul,
)

from onnxtune.compile import build
from onnxtune.tir import testing
from onnxtune.tir.schedule.instruction import SAMPLE_PERFECT_TILE
from onnxtune.tuner.database import MemoryDatabase, TuningRecord
from onnxtune.tuner.runner import RunnerResult
from onnxtune.tuner.search_strategy import (
    EvolutionarySearch,
    MeasureCandidate,
    ReplayFunc,
    ReplayTrace,
    SearchStrategy,
)
from onnxtune.tuner.search_strategy.search_strategy import module_key
from onnxtune.tuner.tune_context import TuneContext

FUNC, REF = testing.matmul(64, 64, 64)


def _ctx(strategy, seed=7, postprocs=None, fn=tile_matmul, mutators=None):
    return TuneContext(FUNC, target="llvm", space_generator=FnSpace(fn, postprocs, mutators),
                       search_strategy=strategy, rand_state=seed)


def _decisions(sch):
    return tuple(tuple(sch.trace.get_decision(i)) for i in sch.trace.insts
                 if i.kind is SAMPLE_PERFECT_TILE)


def _drive(ctx, max_trials, per_iter, database=None, cost_model=None, secs=None):
    """Run the strategy's loop; record each candidate in ``database`` like AddToDatabase."""
    ctx.search_strategy.pre_tuning(max_trials, per_iter, ctx.generate_design_space(), database,
                                   cost_model)
    batches = []
    while (cands := ctx.generate_measure_candidates()) is not None:
        assert all(isinstance(c, MeasureCandidate) for c in cands)
        batches.append(cands)
        results = [RunnerResult([secs(c) if secs else 1e-3], None) for c in cands]
        if database is not None:
            wl = database.commit_workload(ctx.mod)
            for c, r in zip(cands, results, strict=True):
                database.commit_tuning_record(TuningRecord(c.sch.trace, wl, r.run_secs))
        ctx.notify_runner_results(cands, results)
    ctx.post_tuning()
    return batches


def _check_correct(sch):
    args = testing.make_args(FUNC, seed=3)
    build(sch.mod)["main"](*args)
    np.testing.assert_allclose(args[-1], REF(*args[:-1]), rtol=1e-4, atol=1e-4)


def test_create_kinds_and_unknown():
    assert isinstance(SearchStrategy.create("replay-trace"), ReplayTrace)
    assert isinstance(SearchStrategy.create("replay-func"), ReplayFunc)
    evo = SearchStrategy.create("evolutionary", population_size=8, init_min_unmeasured=2)
    assert isinstance(evo, EvolutionarySearch) and evo.population_size == 8
    with pytest.raises(ValueError, match="unknown SearchStrategy kind 'greedy'"):
        SearchStrategy.create("greedy")


def test_replay_trace_budget_fresh_decisions_and_correctness():
    ctx = _ctx(ReplayTrace())
    batches = _drive(ctx, max_trials=10, per_iter=4)
    assert [len(b) for b in batches] == [4, 4, 2]
    decs = {_decisions(c.sch) for b in batches for c in b}
    assert len(decs) > 5  # re-sampled, not the design space's decisions again and again
    for c in batches[0][:2]:
        _check_correct(c.sch)
        assert [a.shape for a in c.args_info] == [(64, 64)] * 3


def test_replay_trace_same_seed_same_candidates_and_postproc_filter():
    a = _drive(_ctx(ReplayTrace(), seed=11), 6, 6)
    b = _drive(_ctx(ReplayTrace(), seed=11), 6, 6)
    assert [_decisions(c.sch) for c in a[0]] == [_decisions(c.sch) for c in b[0]]
    kept = _drive(_ctx(ReplayTrace(), postprocs=[RejectOddTiles()]), 12, 12)
    assert all(_decisions(c.sch)[0][0] % 2 == 0 for c in kept[0])
    assert len(kept[0]) == 12


def test_replay_func_calls_the_space_generator_each_time():
    calls = []

    def fn(sch):
        calls.append(1)
        tile_matmul(sch)

    ctx = _ctx(ReplayFunc(), fn=fn)
    n0 = len(calls)
    batches = _drive(ctx, max_trials=5, per_iter=3)
    assert [len(b) for b in batches] == [3, 2]
    assert len(calls) - n0 >= 5 + 1  # one call per candidate (+ the design space itself)
    assert len({_decisions(c.sch) for b in batches for c in b}) > 1
    _check_correct(batches[0][0].sch)


def test_lifecycle_errors():
    rt = ReplayTrace()
    with pytest.raises(ValueError, match="not attached to a TuneContext"):
        rt.pre_tuning(4, 2, [object()])
    ctx = _ctx(ReplayTrace())
    with pytest.raises(ValueError, match="before pre_tuning"):
        ctx.generate_measure_candidates()
    with pytest.raises(ValueError, match="num_trials_per_iter must be >= 1"):
        ctx.search_strategy.pre_tuning(4, 0, ctx.generate_design_space(), MemoryDatabase())
    with pytest.raises(ValueError, match="no design spaces"):
        ctx.search_strategy.pre_tuning(4, 2, [])


def test_evolutionary_parameters_validated_and_clone():
    with pytest.raises(ValueError, match="genetic_mutate_prob must be in"):
        EvolutionarySearch(genetic_mutate_prob=1.5)
    with pytest.raises(ValueError, match="init_min_unmeasured must be <= population_size"):
        EvolutionarySearch(population_size=10, init_min_unmeasured=50)
    evo = EvolutionarySearch(population_size=16, init_min_unmeasured=4, eps_greedy=0.25)
    c = evo.clone()
    assert c is not evo and c._config() == evo._config()
    defaults = EvolutionarySearch()._config()
    assert defaults == {"population_size": 512, "init_measured_ratio": 0.2,
                        "init_min_unmeasured": 50, "max_fail_count": 5,
                        "genetic_num_iters": 4, "genetic_mutate_prob": 0.85,
                        "genetic_max_fail_count": 10, "eps_greedy": 0.05,
                        "skip_uninformed": True}


def _evo(**kw):
    cfg = {"population_size": 24, "init_min_unmeasured": 4, "genetic_num_iters": 2}
    cfg.update(kw)
    return EvolutionarySearch(**cfg)


def test_evolutionary_budget_no_duplicates_and_guided_by_the_model():
    model = TileScoreModel()
    db = MemoryDatabase()
    ctx = _ctx(_evo(eps_greedy=0.0), seed=5)
    batches = _drive(ctx, max_trials=12, per_iter=5, database=db, cost_model=model)
    assert [len(b) for b in batches] == [5, 5, 2]
    keys = [module_key(c.sch.mod) for b in batches for c in b]
    assert len(set(keys)) == len(keys) == len(db)
    assert model.predicted > 0
    # the evolved picks score better under the model than random samples of the space
    picked = np.mean([inner_tile_score(c.sch) for b in batches for c in b])
    rand = np.mean([inner_tile_score(c.sch) for b in _drive(_ctx(ReplayTrace(), seed=5), 12, 12)
                    for c in b])
    assert picked > 1.5 * rand
    _check_correct(batches[0][0].sch)


def test_evolutionary_resume_skips_measured_and_seeds_population_from_database():
    db = MemoryDatabase()
    first = _drive(_ctx(_evo(), seed=3), 6, 6, database=db, cost_model=TileScoreModel())
    seen = {module_key(c.sch.mod) for b in first for c in b}
    assert len(db) == 6
    evo = _evo(init_measured_ratio=0.5)
    ctx = _ctx(evo, seed=3)  # same seed: without the database it would propose the same
    ctx.search_strategy.pre_tuning(6, 6, ctx.generate_design_space(), db, TileScoreModel())
    assert evo._state.measured == seen
    best = evo._pick_best_from_database(4)
    assert len(best) == 4 and {m.key for m in best} <= seen
    cands = ctx.generate_measure_candidates()
    assert cands and not ({module_key(c.sch.mod) for c in cands} & seen)


def test_evolutionary_eps_greedy_and_postprocs_applied():
    ctx = _ctx(_evo(eps_greedy=1.0), postprocs=[RejectOddTiles()])
    batches = _drive(ctx, 8, 8, cost_model=TileScoreModel())
    assert len(batches[0]) == 8
    assert all(_decisions(c.sch)[0][0] % 2 == 0 for c in batches[0])


def test_evolutionary_stops_when_the_space_cannot_be_sampled():
    class RejectAll:
        def _initialize_with_tune_context(self, context):
            pass

        def apply(self, sch):
            return False

    ctx = _ctx(_evo(), postprocs=[RejectAll()])
    assert _drive(ctx, 8, 4) == []


def test_evolutionary_without_mutators_still_searches():
    ctx = _ctx(_evo(), mutators={})
    batches = _drive(ctx, 6, 3, cost_model=None)
    assert sum(len(b) for b in batches) == 6


def test_mutator_receives_task_rand_state():
    got = []

    class Spy(TileMutator):
        def apply(self, trace, rand_state=None):
            got.append(rand_state)
            return super().apply(trace, rand_state)

    spy = Spy()
    ctx = _ctx(_evo(genetic_mutate_prob=1.0), mutators={spy: 1.0})
    _drive(ctx, 3, 3, cost_model=TileScoreModel())
    assert got and all(r is ctx.search_strategy.rand_state for r in got)


def test_evolution_is_skipped_while_the_model_is_untrained():
    class Untrained(TileScoreModel):
        trained = False

    model = Untrained()
    batches = _drive(_ctx(_evo(), seed=4), 6, 3, cost_model=model)
    assert sum(len(b) for b in batches) == 6 and model.predicted == 0
    model = Untrained()
    batches = _drive(_ctx(_evo(skip_uninformed=False), seed=4), 6, 3, cost_model=model)
    assert sum(len(b) for b in batches) == 6 and model.predicted > 0
