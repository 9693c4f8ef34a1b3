"""Mutator MutateComputeLocation."""

from __future__ import annotations

import pytest
from postproc_workloads import replay, run_and_check, tiled_conv2d, tiled_matmul

from onnxtune.tir.schedule import instruction as K
from onnxtune.tir.schedule.sampling import RandState
from onnxtune.tir.schedule.schedule import compute_location_choices
from onnxtune.tuner.mutator.mutate_compute_location import MutateComputeLocation
from onnxtune.tuner.postproc import Postproc
from onnxtune.tuner.tune_context import TuneContext


def decisions(trace, kind):
    return [trace.get_decision(i) for i in trace.insts if i.kind is kind]


def mutator(func):
    m = MutateComputeLocation()
    m._initialize_with_tune_context(TuneContext(func, target="llvm -num-cores=2"))
    return m


@pytest.mark.parametrize("loc", [-1, 2, 5])
def test_changes_only_the_location(loc):
    sch, f, ref = tiled_conv2d(seed=7, location=loc)
    new = mutator(f).apply(sch.trace, RandState(loc + 10))
    assert new is not None
    old_loc = decisions(sch.trace, K.SAMPLE_COMPUTE_LOCATION)
    new_loc = decisions(new, K.SAMPLE_COMPUTE_LOCATION)
    assert old_loc == [loc] and new_loc != old_loc
    for kind in (K.SAMPLE_PERFECT_TILE, K.SAMPLE_CATEGORICAL):
        assert decisions(new, kind) == decisions(sch.trace, kind)
    out = replay(new, f, Postproc.create("llvm"))
    run_and_check(out.func, ref)


def test_every_new_location_is_a_valid_one():
    sch, f, _ = tiled_conv2d(seed=7, location=-1)
    # the pad block's candidates where the instruction runs: those of the tiled conv
    before = replay_until_location(sch.trace, f)
    valid = {c for c, _ in compute_location_choices(before.func, "pad_temp")} - {-1}
    seen = set()
    m = mutator(f)
    for s in range(12):
        new = m.apply(sch.trace, RandState(s))
        seen.add(decisions(new, K.SAMPLE_COMPUTE_LOCATION)[0])
    assert seen <= valid and len(seen) > 2


def replay_until_location(trace, f):
    from onnxtune.tir.schedule import Schedule, Trace

    insts = []
    for inst in trace.insts:
        if inst.kind is K.SAMPLE_COMPUTE_LOCATION:
            break
        insts.append(inst)
    sch = Schedule(f)
    Trace(insts, trace.decisions).apply_to_schedule(sch)
    return sch


def test_deterministic_with_seed():
    sch, f, _ = tiled_conv2d(seed=7, location=3)
    a = mutator(f).apply(sch.trace, RandState(5))
    b = mutator(f).apply(sch.trace, RandState(5))
    assert a.as_json() == b.as_json()


def test_no_location_no_mutation_and_needs_context():
    sch, f, _ = tiled_matmul()
    assert mutator(f).apply(sch.trace, RandState(0)) is None
    with pytest.raises(ValueError, match="TuneContext"):
        MutateComputeLocation().apply(sch.trace, RandState(0))
