"""DefaultVariants / PostOrderApply(default_variants=...): the default schedule's knob
variants are extra design spaces, and the evolutionary search measures every one of them
in its first rounds (ahead of random samples), once, whether or not the cost model is
trained; a search over the variants alone stops when they are measured."""

from __future__ import annotations

import numpy as np
import pytest
from tuning_standins import InProcessBuilder, InProcessRunner, TileScoreModel

from onnxtune.compile import build, default_schedule, default_variants
from onnxtune.tir import testing
from onnxtune.tir.structural import module_hash
from onnxtune.tuner import TuneContext
from onnxtune.tuner.database import MemoryDatabase
from onnxtune.tuner.postproc import Postproc
from onnxtune.tuner.search_strategy import EvolutionarySearch
from onnxtune.tuner.search_strategy.search_strategy import (
    design_space_trace,
    is_fixed_trace,
    module_key,
    try_replay,
)
from onnxtune.tuner.space_generator import SpaceGenerator
from onnxtune.tuner.space_generator.default_variants import DefaultVariants
from onnxtune.tuner.space_generator.post_order_apply import PostOrderApply
from onnxtune.tuner.tir_integration import compile_tir, tune_tir

TARGET = "llvm -num-cores=2"


def _conv():
    func, ref = testing.conv2d_nchw(1, 32, 14, 14, 32, 1, 1)
    return func.with_attr("layout_free_buffers", [1]), ref


class _StripLayoutBuilder(InProcessBuilder):
    """The in-process builder, weight layout-rewrite blocks removed first (as LocalBuilder
    does; the runner's arguments then have the repacked weight shapes)."""

    def build(self, build_inputs):
        from onnxtune.tir import IRModule
        from onnxtune.tir.transform.layout_rewrite import remove_weight_layout_rewrite_block
        from onnxtune.tuner.builder import BuilderInput

        return super().build([BuilderInput(IRModule({k: remove_weight_layout_rewrite_block(f)
                                                     for k, f in i.mod.functions.items()}),
                                           i.target) for i in build_inputs])


def _variant_keys(func) -> list[int]:
    """The programs the search measures for the variants: replayed + post-processed."""
    keys = []
    for v in default_variants.default_schedule_variants(func, TARGET):
        sch = try_replay(func, design_space_trace(v), 1, Postproc.create("llvm"),
                         resample=True)
        assert sch is not None
        keys.append(module_key(sch.mod))
    return keys


def test_kinds_and_design_spaces():
    func, _ = _conv()
    n = len(default_variants.default_schedule_variants(func, TARGET))
    assert n >= 4
    ctx = TuneContext(func, target=TARGET, space_generator="default-variants", rand_state=1)
    assert isinstance(ctx.space_generator, DefaultVariants)
    spaces = ctx.generate_design_space()
    assert len(spaces) == n and all(is_fixed_trace(s.trace) for s in spaces)
    assert module_hash(spaces[0].mod) == module_hash(
        default_schedule.default_schedule_of(func, TARGET).mod)
    ctx = TuneContext(func, target=TARGET, space_generator="post-order-apply+default-variants",
                      rand_state=1)
    assert isinstance(ctx.space_generator, PostOrderApply)
    both = ctx.generate_design_space()
    plain = TuneContext(func, target=TARGET, space_generator="post-order-apply",
                        rand_state=1).generate_design_space()
    assert len(both) == len(plain) + n
    assert not any(is_fixed_trace(s.trace) for s in both[:len(plain)])
    assert len(TuneContext(func, target=TARGET, space_generator=PostOrderApply(
        default_variants=2), rand_state=1).generate_design_space()) == len(plain) + 2
    with pytest.raises(ValueError, match="default_variants"):
        PostOrderApply(default_variants=-1)
    with pytest.raises(ValueError, match="limit"):
        SpaceGenerator.create("default-variants", limit=0)


def test_variant_traces_survive_json():
    """The records the database stores: each variant's post-processed trace, through JSON,
    replays to the same program."""
    import json

    from onnxtune.tir.schedule import Schedule, Trace

    func, _ = _conv()
    for v in default_variants.default_schedule_variants(func, TARGET):
        sch = try_replay(func, design_space_trace(v), 1, Postproc.create("llvm"),
                         resample=True)
        text = json.dumps(sch.trace.as_json())
        again = Schedule(func)
        Trace.from_json(json.loads(text)).apply_to_schedule(again, remove_postproc=False)
        assert module_key(again.mod) == module_key(sch.mod)


@pytest.mark.parametrize("informed", [False, True])
def test_search_measures_every_variant_first(informed):
    """Each round of 4 picks takes the unmeasured variants first: after ceil(n / 4)
    rounds all are measured, with a trained (TileScoreModel) or untrained (None) model."""
    func, _ = _conv()
    keys = _variant_keys(func)
    n = len(keys)
    strategy = EvolutionarySearch(population_size=16, init_min_unmeasured=4,
                                  genetic_num_iters=1)
    ctx = TuneContext(func, target=TARGET, space_generator="post-order-apply+default-variants",
                      search_strategy=strategy, rand_state=3)
    db = MemoryDatabase()
    rounds = -(-n // 4) + 1
    ctx.pre_tuning(4 * rounds, 4, ctx.generate_design_space(), db,
                   TileScoreModel() if informed else None)
    picked = []
    for _ in range(rounds):
        cands = ctx.generate_measure_candidates()
        assert cands is not None and len(cands) == 4
        picked.append([module_key(c.sch.mod) for c in cands])
        ctx.notify_runner_results(cands, [None] * len(cands))
    ctx.post_tuning()
    first = [k for batch in picked[:-1] for k in batch]
    assert first[:n] == keys  # the variants, in order, before anything else
    flat = [k for batch in picked for k in batch]
    assert len(set(flat)) == len(flat)  # nothing twice; the last round is random samples


def test_variants_alone_stop_when_measured():
    func, _ = _conv()
    n = len(_variant_keys(func))
    ctx = TuneContext(func, target=TARGET, space_generator="default-variants",
                      search_strategy=EvolutionarySearch(population_size=16,
                                                         init_min_unmeasured=4),
                      rand_state=3)
    ctx.pre_tuning(100, 4, ctx.generate_design_space(), MemoryDatabase(), None)
    got = 0
    while (cands := ctx.generate_measure_candidates()) is not None:
        got += len(cands)
        ctx.notify_runner_results(cands, [None] * len(cands))
    assert got == n


def test_short_tune_of_a_small_conv_measures_the_variants(tmp_path):
    """tune_tir with the combined space: every variant is measured (as a valid record)
    and the best record compiles to a correct program."""
    func, ref = _conv()
    keys = _variant_keys(func)
    trials = len(keys) + 4
    db = tune_tir(func, TARGET, str(tmp_path), trials, num_trials_per_iter=4,
                  builder=_StripLayoutBuilder(), runner=InProcessRunner(number=1, repeat=1),
                  database="memory", cost_model=TileScoreModel(),
                  space="post-order-apply+default-variants",
                  strategy=EvolutionarySearch(population_size=16, init_min_unmeasured=4,
                                              genetic_num_iters=1),
                  seed=2, task_scheduler="round-robin")
    recs = db.get_all_tuning_records()
    assert len(recs) == trials
    measured = {module_key(r.schedule().mod): r for r in recs}
    for k in keys:
        assert k in measured and measured[k].is_valid()
    sch = compile_tir(db, func, TARGET)
    args = testing.make_args(func, seed=4)
    build(sch.mod)["main"](*args)
    np.testing.assert_allclose(args[-1], ref(*args[:-1]), rtol=1e-4, atol=1e-4)
