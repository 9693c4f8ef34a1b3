"""Results of the issue-3 primitives that the per-primitive files check only loosely:
bind, annotate / unannotate, set_scope, storage_align, the queries after block
primitives, the sampling RVs, ``sch.mod`` / ``sch.trace`` / ``copy`` / ``fork_seed`` /
``get`` / ``show``, and Trace ``with_decision`` / ``simplified`` / replay. Each is checked
against the expected IR (structural equality or printed script) and, where it changes
the program, against the unscheduled program's numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from schedule_workloads import conv2d_bias_relu, matmul, renest, run, softmax

from onnxtune import tir
from onnxtune.tir import ForKind
from onnxtune.tir.schedule import Trace
from onnxtune.tir.structural import assert_structural_equal


def _loops(sch, name):
    return sch.get_loops(sch.get_block(name))


def _names(sch, rvs):
    return [sch.get(b).name_hint for b in rvs]


def _same_numbers(f0, f1, make, seed=0):
    arrays = make(np.random.default_rng(seed))
    np.testing.assert_allclose(run(f1, arrays)[-1], run(f0, arrays)[-1], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------
# loop kinds and annotations


def test_bind_expected_ir():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f, debug_mask="all")
    i, j, k = _loops(sch, "C")
    sch.bind(i, "blockIdx.x")
    sch.bind(j, "threadIdx.x")
    script = sch.func.script()
    assert 'for i in T.thread_binding(8, thread="blockIdx.x"):' in script
    assert 'for j in T.thread_binding(12, thread="threadIdx.x"):' in script
    assert [sch.get(x).kind for x in (i, j, k)] == [ForKind.THREAD_BINDING] * 2 + [
        ForKind.SERIAL]
    # nothing else changes
    plain = script.replace('T.thread_binding(8, thread="blockIdx.x")', "range(8)")
    assert plain.replace('T.thread_binding(12, thread="threadIdx.x")', "range(12)") \
        == f.script()



def test_annotate_expected_ir_and_unannotate_restores_the_program():
    f, make = matmul(8, 12, 6)
    sch = tir.Schedule(f, debug_mask="all")
    b = sch.get_block("C")
    i, j, _ = sch.get_loops(b)
    sch.annotate(j, "pragma_auto_unroll_max_step", 16)
    sch.annotate(b, "meta_schedule.tiling_structure", "SSRSRS")
    v = sch.sample_categorical([0, 16, 64], [0.2, 0.3, 0.5], decision=2)
    sch.annotate(i, "pragma_unroll_explicit", v)  # an ExprRV is stored as its int
    script = sch.func.script()
    assert 'for j in T.serial(12, annotations={"pragma_auto_unroll_max_step": 16}):' in script
    assert 'T.block_attr({"meta_schedule.tiling_structure": "SSRSRS"})' in script
    assert sch.get(i).annotations == {"pragma_unroll_explicit": 64}
    sch.annotate(j, "pragma_auto_unroll_max_step", 64)  # the same key again: replaced
    assert sch.get(j).annotations == {"pragma_auto_unroll_max_step": 64}
    _same_numbers(f, sch.func, make)
    sch.unannotate(j, "pragma_auto_unroll_max_step")
    sch.unannotate(b, "meta_schedule.tiling_structure")
    sch.unannotate(i, "pragma_unroll_explicit")
    assert_structural_equal(sch.func, f)


def test_parallel_vectorize_unroll_on_split_loops_expected_ir():
    f, make = matmul(8, 12, 6)
    sch = tir.Schedule(f, debug_mask="all")
    i, j, k = _loops(sch, "C")
    j0, j1 = sch.split(j, [None, 4])
    sch.reorder(i, j0, k, j1)
    sch.parallel(i)
    sch.unroll(k)
    sch.vectorize(j1)
    iv, kv = sch.get(i).loop_var, sch.get(k).loop_var
    a, b = sch.get(j0).loop_var, sch.get(j1).loop_var
    expected = renest(f, "C", [(iv, 8, ForKind.PARALLEL), (a, 3), (kv, 6, ForKind.UNROLLED),
                               (b, 4, ForKind.VECTORIZED)], [iv, a * 4 + b, kv])
    assert_structural_equal(sch.func, expected)
    _same_numbers(f, sch.func, make)


# ----------------------------------------------------------------------------------------
# scopes and alignment


def test_set_scope_expected_ir():
    f, make = softmax()
    sch = tir.Schedule(f, debug_mask="all")
    sch.set_scope(sch.get_block("T_exp"), 0, "local")
    script = sch.func.script()
    assert 'T_exp = T.alloc_buffer((4, 7), "float32", scope="local")' in script
    # every reader sees the rescoped buffer (one buffer object)
    exp_buf = sch.get(sch.get_block("T_exp")).writes[0].buffer
    readers = [sch.get(sch.get_block(n)).reads for n in ("T_sum", "T_softmax")]
    assert all(any(r.buffer is exp_buf for r in rs) for rs in readers)
    _same_numbers(f, sch.func, make)


def test_storage_align_expected_ir_and_padded_lowering():
    f, make = softmax()
    sch = tir.Schedule(f, debug_mask="all")
    sch.storage_align(sch.get_block("T_exp"), 0, 0, 8, 1)
    assert 'T_exp = T.alloc_buffer((4, 7), "float32", storage_align=((0, 8, 1),))' \
        in sch.func.script()
    from onnxtune.tir.transform.pipeline import lower

    lowered = lower(sch.func).script()
    # rows of 7 are padded to a stride of 9 (9 % 8 == 1): 4 * 9 elements
    assert 'T_exp = T.allocate((36,), "float32"' in lowered
    assert "T_exp[i_1 * 9 + j]" in lowered
    _same_numbers(f, sch.func, make)


# ----------------------------------------------------------------------------------------
# queries after block primitives


def test_queries_follow_compute_at_and_caches():
    f, make = conv2d_bias_relu()
    sch = tir.Schedule(f, debug_mask="all")
    conv = sch.get_block("conv")
    pad = sch.get_block("pad")
    loops = sch.get_loops(conv)
    sch.compute_at(pad, loops[1])
    root = sch.get_block("root")
    # as in TVM: every block under the root's subtree not inside another block
    assert _names(sch, sch.get_child_blocks(root)) == ["pad", "conv", "T_add", "T_relu"]
    assert _names(sch, sch.get_child_blocks(loops[1])) == ["pad", "conv"]
    cw = sch.cache_write(conv, 0, "global")
    cache = sch.get(cw).name_hint
    assert _names(sch, sch.get_producers(sch.get_block("T_add"))) == [cache]
    assert _names(sch, sch.get_consumers(conv)) == [cache]
    assert _names(sch, sch.get_producers(conv)) == ["pad"]
    sch.compute_inline(sch.get_block("T_add"))
    assert _names(sch, sch.get_consumers(cw)) == ["T_relu"]
    _same_numbers(f, sch.func, make)


# ----------------------------------------------------------------------------------------
# sampling


def test_sample_perfect_tile_result_and_trace():
    f, make = matmul(8, 36, 6)
    sch = tir.Schedule(f, seed=4)
    _, j, _ = _loops(sch, "C")
    tiles = sch.sample_perfect_tile(j, 3, max_innermost_factor=4)
    vals = [sch.get(t) for t in tiles]
    assert vals[0] * vals[1] * vals[2] == 36 and vals[2] <= 4
    assert sch.trace.get_decision(sch.trace.insts[-1]) == vals
    sch.split(j, tiles)
    assert [sch.get(x).extent.value for x in _loops(sch, "C")[1:4]] == vals
    _same_numbers(f, sch.func, make)
    # max_innermost_factor=-1: no bound; a unit loop gives ones
    sch2 = tir.Schedule(matmul(1, 12, 6)[0], seed=0)
    i, _, _ = _loops(sch2, "C")
    assert [sch2.get(v) for v in sch2.sample_perfect_tile(i, 3, max_innermost_factor=-1)] \
        == [1, 1, 1]


def test_sample_compute_location_result_is_a_legal_location():
    f, make = softmax()
    for seed in range(6):
        sch = tir.Schedule(f, seed=seed, debug_mask="all")
        exp = sch.get_block("T_exp")
        loc = sch.sample_compute_location(exp)
        sch.compute_at(exp, loc)
        _same_numbers(f, sch.func, make, seed)


# ----------------------------------------------------------------------------------------
# Schedule state: mod, trace, copy, fork_seed, get, show


def test_mod_keeps_other_functions_and_tracks_the_scheduled_one():
    f, _ = matmul(8, 12, 6)
    g, _ = softmax()
    sch = tir.Schedule(tir.IRModule({"main": f, "other": g}))
    i, _, _ = _loops(sch, "C")
    sch.parallel(i)
    mod = sch.mod
    assert mod["main"] is sch.func and mod["other"] is g
    assert "T.parallel(8)" in mod["main"].script()


def test_trace_is_live_and_in_order():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    t = sch.trace
    i, _, _ = _loops(sch, "C")
    sch.split(i, [2, None])
    assert [x.kind.name for x in sch.trace.insts] == ["GetBlock", "GetLoops", "Split"]
    assert len(t) == 3  # the same Trace object grows with the schedule


def test_copy_diverges_both_ways():
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f, seed=7)
    i, j, _ = _loops(sch, "C")
    fork = sch.copy()
    sch.split(i, [2, None])
    fork.parallel(i)
    assert "T.parallel" not in sch.func.script() and "i_0" not in fork.func.script()
    assert [x.kind.name for x in sch.trace.insts][-1] == "Split"
    assert [x.kind.name for x in fork.trace.insts][-1] == "Parallel"
    replay = tir.Schedule(f)
    fork.trace.apply_to_schedule(replay, remove_postproc=False)
    assert_structural_equal(replay.func, fork.func)


def test_fork_seed_gives_reproducible_distinct_streams():
    f, _ = matmul(16, 36, 8)
    sch = tir.Schedule(f, seed=11)
    seeds = [sch.fork_seed() for _ in range(4)]
    assert len(set(seeds)) == 4
    again = tir.Schedule(f, seed=11)
    assert [again.fork_seed() for _ in range(4)] == seeds

    def draws(seed):
        s = tir.Schedule(f, seed=seed)
        _, j, _ = _loops(s, "C")
        return tuple(tuple(s.get(v) for v in s.sample_perfect_tile(j, 3)) for _ in range(5))

    assert draws(seeds[0]) == draws(seeds[0])
    assert len({draws(s) for s in seeds}) > 1


def test_get_of_every_rv_kind():
    from onnxtune.tir.stmt import Block, For

    f, _ = softmax()
    sch = tir.Schedule(f, seed=0)
    b = sch.get_block("T_exp")
    i, _ = sch.get_loops(b)
    v = sch.sample_categorical([3, 5], [0.0, 1.0])
    assert isinstance(sch.get(b), Block) and sch.get(b).name_hint == "T_exp"
    assert isinstance(sch.get(i), For) and sch.get(i).extent.value == 4
    assert sch.get(v) == 5
    assert sch.get(sch.sample_compute_location(b, decision=-2)) == "inline"


def test_show_prints_the_current_program_and_the_trace(capsys):
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    i, _, _ = _loops(sch, "C")
    sch.parallel(i)
    sch.show()
    out = capsys.readouterr().out
    assert sch.func.script() in out
    assert "sch.parallel(loop=l1)" in out


# ----------------------------------------------------------------------------------------
# Trace


def _sampled(f, seed):
    sch = tir.Schedule(f, seed=seed)
    b = sch.get_block("C")
    i, j, k = sch.get_loops(b)
    i0, i1 = sch.split(i, sch.sample_perfect_tile(i, 2, max_innermost_factor=4))
    j0, j1 = sch.split(j, sch.sample_perfect_tile(j, 2, max_innermost_factor=4))
    sch.reorder(i0, j0, k, i1, j1)
    sch.annotate(b, "meta_schedule.unroll_explicit",
                 sch.sample_categorical([0, 16, 64], [0.3, 0.3, 0.4]))
    sch.vectorize(j1)
    return sch


def test_json_round_trip_is_structurally_equal_over_seeds():
    f, make = matmul(8, 12, 6)
    for seed in range(5):
        sch = _sampled(f, seed)
        back = Trace.from_json(json.loads(json.dumps(sch.trace.as_json())))
        replay = tir.Schedule(f, seed=seed + 100)
        back.apply_to_schedule(replay, remove_postproc=False)
        assert_structural_equal(replay.func, sch.func)
    _same_numbers(f, sch.func, make)


def test_with_decision_changes_only_that_decision():
    f, _ = matmul(8, 12, 6)
    sch = _sampled(f, 0)
    insts = sch.trace.insts
    tile_i = insts[2]
    t2 = sch.trace.with_decision(tile_i, [4, 2], remove_postproc=False)
    assert t2.get_decision(tile_i) == [4, 2]
    for inst in insts:
        if inst is not tile_i:
            assert t2.get_decision(inst) == sch.trace.get_decision(inst)
    s2 = tir.Schedule(f)
    t2.apply_to_schedule(s2, remove_postproc=False)
    ext = [s2.get(lp).extent.value for lp in _loops(s2, "C")]
    assert ext[0] == 4 and ext[3] == 2  # i_0, then k, then i_1 after reorder


def test_simplified_result_replays_identically():
    f, _ = matmul(8, 12, 6)
    sch = _sampled(f, 3)
    for _ in range(3):
        sch.get_loops(sch.get_block("C"))  # dead queries
    sch.sample_perfect_tile(_loops(sch, "C")[0], 2)  # a dead sample
    simple = sch.trace.simplified(remove_postproc=True)
    kinds = [x.kind.name for x in simple.insts]
    assert kinds.count("GetLoops") == 1 and kinds.count("SamplePerfectTile") == 2
    s2 = tir.Schedule(f)
    simple.apply_to_schedule(s2, remove_postproc=False)
    assert_structural_equal(s2.func, sch.func)


@pytest.mark.parametrize("seed", [0, 1])
def test_replay_without_decisions_resamples_legally(seed):
    f, make = matmul(8, 12, 6)
    sch = _sampled(f, seed)
    seen = set()
    for s in range(6):
        s2 = tir.Schedule(f, seed=1000 * seed + s)
        sch.trace.apply_to_schedule(s2, False, decision_provider=lambda *a: None)
        seen.add(s2.func.script())
        _same_numbers(f, s2.func, make)
    assert len(seen) > 1
