"""One illegal use of every schedule primitive (issue 3), through the ``Schedule`` methods:
each raises ``ScheduleError`` whose message starts with the primitive's name, names the
block or loop involved and states the condition broken, and leaves the schedule exactly as
it was (same function object, same trace length). Trace-level misuse (JSON, replay,
with_decision) raises with a message naming the instruction or RV.

The primitives' own files test more illegal cases; this file is the one-per-primitive
catalogue, so a primitive that loses its checks shows up here.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from schedule_workloads import conv2d, conv2d_bias_relu, matmul, run, softmax

from onnxtune import tir
from onnxtune.tir.schedule import ScheduleError, Trace


def _loops(sch, name):
    return sch.get_loops(sch.get_block(name))


# Each case: (workload, setup). ``setup(sch)`` does the legal preparation and returns the
# illegal call (a zero-argument callable) and the regular expressions its message must
# match: the first is the primitive prefix, the others name the block/loop and condition.


def _get_block(sch):
    return lambda: sch.get_block("nope"), [r"^get_block: ", r"no block named 'nope'",
                                            r"'T_exp'"]


def _get_loops(sch):
    b = sch.get_block("T_exp")
    sch.compute_inline(b)
    return lambda: sch.get_loops(b), [r"^get_loops: ", r"block 'T_exp' no longer exists",
                                      r"stale"]


def _get_child_blocks(sch):
    i, _, _ = _loops(sch, "C")
    sch.split(i, [2, 4])
    return lambda: sch.get_child_blocks(i), [r"^get_child_blocks: ",
                                             r"loop i no longer exists", r"stale"]


def _get_producers(sch):
    blk = sch.get_block("root")
    return lambda: sch.get_producers(blk), [
        r"^get_producers: ", r"block 'root' is the root block"]


def _get_consumers(sch):
    blk = sch.get_block("root")
    return lambda: sch.get_consumers(blk), [
        r"^get_consumers: ", r"block 'root' is the root block"]


def _split(sch):
    i, _, _ = _loops(sch, "C")
    return lambda: sch.split(i, [2, 3]), [
        r"^split: ", r"the product of the factors \[2, 3\] is 6, smaller than the extent 8 "
                     r"of loop i"]


def _fuse(sch):
    i, _, k = _loops(sch, "C")
    return lambda: sch.fuse(i, k), [r"^fuse: ", r"loop i is not the parent of loop r0"]


def _reorder(sch):
    i0, _ = _loops(sch, "T_max")
    i1, _ = _loops(sch, "T_exp")
    return lambda: sch.reorder(i0, i1), [r"^reorder: ", r"\bi\b", r"not in one chain"]


def _parallel(sch):
    _, _, k = _loops(sch, "C")
    return lambda: sch.parallel(k), [
        r"^parallel: ", r"cannot parallelize loop r0", r"block 'C'",
        r"comm_reduce iter var vr0"]


def _vectorize(sch):
    _, _, k = _loops(sch, "C")
    return lambda: sch.vectorize(k), [r"^vectorize: ", r"cannot vectorize loop r0", r"vr0"]


def _unroll(sch):
    i, j, _ = _loops(sch, "C")
    sch.fuse(i, j)
    return lambda: sch.unroll(i), [r"^unroll: ", r"loop i no longer exists", r"stale"]


def _bind(sch):
    _, _, k = _loops(sch, "C")
    return lambda: sch.bind(k, "blockIdx.x"), [r"^bind: ", r"cannot bind loop r0",
                                               r"blockIdx\.x"]


def _annotate(sch):
    _, j, _ = _loops(sch, "C")
    return lambda: sch.annotate(j, "bad", object()), [
        r"^annotate: ", r"annotation 'bad'", r"unsupported value"]


def _unannotate(sch):
    blk = sch.get_block("C")
    return lambda: sch.unannotate(blk, "x"), [
        r"^unannotate: ", r"block 'C' has no annotation 'x'"]


def _compute_at(sch):
    _, j = _loops(sch, "T_softmax")
    blk = sch.get_block("T_max")
    return lambda: sch.compute_at(blk, j), [
        r"^compute_at: ", r"loop j is not an ancestor of every consumer of block T_max",
        r"'T_exp'"]


def _reverse_compute_at(sch):
    _, r = _loops(sch, "T_max")
    blk = sch.get_block("T_exp")
    return lambda: sch.reverse_compute_at(blk, r), [
        r"^reverse_compute_at: ", r"loop r0 is a reduction loop of producer T_max"]


def _compute_inline(sch):
    blk = sch.get_block("conv")
    return lambda: sch.compute_inline(blk), [
        r"^compute_inline: ", r"block conv has an init statement", r"reduction block"]


def _reverse_compute_inline(sch):
    blk = sch.get_block("T_max")
    return lambda: sch.reverse_compute_inline(blk), [
        r"^reverse_compute_inline: ", r"block T_max has an init statement"]


def _cache_read(sch):
    blk = sch.get_block("C")
    return lambda: sch.cache_read(blk, 5, "global"), [
        r"^cache_read: ", r"block C has 2 read region\(s\) \['A', 'B'\]", r"got 5"]


def _cache_write(sch):
    blk = sch.get_block("C")
    return lambda: sch.cache_write(blk, 1, "global"), [
        r"^cache_write: ", r"block C has 1 write region\(s\)", r"got 1"]


def _set_scope(sch):
    blk = sch.get_block("T_softmax")
    return lambda: sch.set_scope(blk, 0, "shared"), [
        r"^set_scope: ", r"buffer T_softmax is a parameter of the function"]


def _decompose_reduction(sch):
    i, _ = _loops(sch, "T_exp")
    blk = sch.get_block("T_exp")
    return lambda: sch.decompose_reduction(blk, i), [
        r"^decompose_reduction: ", r"block T_exp has no init statement"]


def _rfactor(sch):
    _, j, _ = _loops(sch, "C")
    return lambda: sch.rfactor(j, 0), [
        r"^rfactor: ", r"loop j is bound to a spatial iter var of block C"]


def _transform_layout(sch):
    blk = sch.get_block("T_exp")
    return lambda: sch.transform_layout(blk, ("write", 0),
                                        lambda a, b: (a - 1, b)), [
        r"^transform_layout: ", r"cannot transform buffer T_exp: ", r"negative"]


def _storage_align(sch):
    blk = sch.get_block("T_exp")
    return lambda: sch.storage_align(blk, 0, 5, 16, 1), [
        r"^storage_align: ", r"axis 5 is out of range for buffer T_exp"]


def _sample_perfect_tile(sch):
    i, _, _ = _loops(sch, "C")
    return lambda: sch.sample_perfect_tile(i, 3, decision=[2, 4]), [
        r"^sample_perfect_tile: ", r"has 2 factors, expected n=3"]


def _sample_categorical(sch):
    return lambda: sch.sample_categorical([10, 20, 30], [1, 1, 1], decision=3), [
        r"^sample_categorical: ", r"decision 3 is out of range for 3"]


def _sample_compute_location(sch):
    blk = sch.get_block("root")
    return lambda: sch.sample_compute_location(blk), [
        r"^sample_compute_location: ", r"block 'root' is the root block"]


def _get(sch):
    other = tir.Schedule(sch.func)
    b = other.get_block("C")
    return lambda: sch.get(b), [r"^get: ", r"not defined in this schedule"]


CASES = {
    "get_block": (softmax, _get_block),
    "get_loops": (softmax, _get_loops),
    "get_child_blocks": (matmul, _get_child_blocks),
    "get_producers": (softmax, _get_producers),
    "get_consumers": (softmax, _get_consumers),
    "split": (matmul, _split),
    "fuse": (matmul, _fuse),
    "reorder": (softmax, _reorder),
    "parallel": (matmul, _parallel),
    "vectorize": (matmul, _vectorize),
    "unroll": (matmul, _unroll),
    "bind": (matmul, _bind),
    "annotate": (matmul, _annotate),
    "unannotate": (matmul, _unannotate),
    "compute_at": (softmax, _compute_at),
    "reverse_compute_at": (softmax, _reverse_compute_at),
    "compute_inline": (conv2d, _compute_inline),
    "reverse_compute_inline": (softmax, _reverse_compute_inline),
    "cache_read": (matmul, _cache_read),
    "cache_write": (matmul, _cache_write),
    "set_scope": (softmax, _set_scope),
    "decompose_reduction": (softmax, _decompose_reduction),
    "rfactor": (matmul, _rfactor),
    "transform_layout": (softmax, _transform_layout),
    "storage_align": (softmax, _storage_align),
    "sample_perfect_tile": (matmul, _sample_perfect_tile),
    "sample_categorical": (matmul, _sample_categorical),
    "sample_compute_location": (matmul, _sample_compute_location),
    "get": (matmul, _get),
}


@pytest.mark.parametrize("prim", sorted(CASES))
def test_illegal_use_is_rejected_and_leaves_schedule_unchanged(prim):
    workload, setup = CASES[prim]
    f, _ = workload()
    sch = tir.Schedule(f, debug_mask="all")
    call, patterns = setup(sch)
    before, n = sch.func, len(sch.trace)
    with pytest.raises(ScheduleError) as err:
        call()
    msg = str(err.value)
    for pat in patterns:
        assert re.search(pat, msg), f"{pat!r} not in {msg!r}"
    assert sch.func is before, f"{prim} changed the function before failing"
    assert len(sch.trace) == n, f"{prim} recorded an instruction before failing"


def test_every_issue3_primitive_has_a_case():
    """The issue's list of Schedule primitives (get_sblock is get_block's alias)."""
    listed = """get_block get_loops get_child_blocks get_producers get_consumers split fuse
    reorder parallel vectorize unroll bind annotate unannotate compute_at reverse_compute_at
    compute_inline reverse_compute_inline cache_read cache_write set_scope
    decompose_reduction rfactor transform_layout storage_align sample_perfect_tile
    sample_categorical sample_compute_location get""".split()
    assert sorted(listed) == sorted(CASES)
    assert tir.Schedule.get_sblock is tir.Schedule.get_block


def test_stale_rvs_after_inline_name_the_block_for_every_block_primitive():
    """After compute_inline removed T_exp, every block primitive given its BlockRV says so."""
    f, _ = softmax()
    sch = tir.Schedule(f)
    b = sch.get_block("T_exp")
    sch.compute_inline(b)
    calls = {
        "compute_at": lambda: sch.compute_at(b, _loops(sch, "T_softmax")[0]),
        "cache_read": lambda: sch.cache_read(b, 0, "global"),
        "cache_write": lambda: sch.cache_write(b, 0, "global"),
        "annotate": lambda: sch.annotate(b, "k", 1),
        "get_consumers": lambda: sch.get_consumers(b),
        "sample_compute_location": lambda: sch.sample_compute_location(b),
    }
    for prim, call in calls.items():
        with pytest.raises(ScheduleError, match=rf"^{prim}: block 'T_exp' no longer exists"):
            call()


def test_special_locations_are_not_loops():
    f, _ = softmax()
    sch = tir.Schedule(f)
    exp = sch.get_block("T_exp")
    for decision, name in ((-1, "root"), (-2, "inline")):
        loc = sch.sample_compute_location(exp, decision=decision)
        for prim in ("split", "parallel", "vectorize", "unroll", "get_child_blocks"):
            call = getattr(sch, prim)
            args = (loc, [2, None]) if prim == "split" else (loc,)
            with pytest.raises(ScheduleError,
                               match=rf"^{prim}: the LoopRV is the special '{name}' location"):
                call(*args)


def test_wrong_rv_kinds_raise_type_errors_naming_the_primitive():
    f, _ = matmul()
    sch = tir.Schedule(f)
    b = sch.get_block("C")
    i, _, _ = sch.get_loops(b)
    with pytest.raises(TypeError, match="get_loops: expected a BlockRV, got LoopRV"):
        sch.get_loops(i)
    with pytest.raises(TypeError, match="split: expected a LoopRV, got BlockRV"):
        sch.split(b, [2, None])
    with pytest.raises(TypeError, match="get: expected a BlockRV, LoopRV or ExprRV, got int"):
        sch.get(3)
    with pytest.raises(AttributeError):
        sch.mod = tir.IRModule({"main": f})  # the module is read-only: primitives change it


# ----------------------------------------------------------------------------------------
# Trace misuse


def _tiled_trace(f):
    sch = tir.Schedule(f, seed=1)
    i, j, _ = _loops(sch, "C")
    sch.split(i, sch.sample_perfect_tile(i, 2))
    v = sch.sample_categorical([0, 16], [0.5, 0.5])
    sch.annotate(sch.get_block("C"), "meta_schedule.unroll_explicit", v)
    sch.vectorize(j)
    return sch


def test_from_json_rejects_undefined_rvs_and_bad_instructions():
    with pytest.raises(ValueError, match="instruction 0 uses the undefined RV 'l1'"):
        Trace.from_json([[["Split", ["l1", ["v2"]], [True, False], ["l3", "l4"]]], []])
    with pytest.raises(ValueError, match="unknown instruction kind 'Bogus'"):
        Trace.from_json([[["Bogus", [], [], []]], []])


def test_as_json_from_json_keeps_every_decision():
    f, _ = matmul(8, 12, 6)
    sch = _tiled_trace(f)
    obj = json.loads(json.dumps(sch.trace.as_json()))
    back = Trace.from_json(obj)
    assert list(back.decisions.values()) == list(sch.trace.decisions.values())
    assert back.as_json() == sch.trace.as_json()


def test_apply_to_schedule_of_another_function_names_the_missing_block():
    f, _ = matmul(8, 12, 6)
    sch = _tiled_trace(f)
    g, _ = softmax()
    with pytest.raises(ScheduleError, match=r"^get_block: no block named 'C' in the function; "
                                            r"blocks are \['root', 'T_max'"):
        sch.trace.apply_to_schedule(tir.Schedule(g), remove_postproc=False)


def test_apply_to_schedule_where_a_step_becomes_illegal():
    """A trace replayed on a function where one of its steps is illegal stops there with
    that primitive's message (vectorizing a reduction loop here)."""
    f, _ = matmul(8, 12, 6)
    sch = tir.Schedule(f)
    _, j, _ = _loops(sch, "C")
    sch.vectorize(j)
    from onnxtune.tir.expr import IterType, IterVar
    from onnxtune.tir.schedule.tree import find_block, replace
    from onnxtune.tir.stmt import Block, BlockRealize

    # the same nest where j is bound to a reduction iter var
    loc = find_block(f, "C")
    blk = loc.stmt.block
    ivs = list(blk.iter_vars)
    ivs[1] = IterVar(ivs[1].dom, ivs[1].var, IterType.COMM_REDUCE)
    nb = Block(tuple(ivs), blk.reads, blk.writes, blk.name_hint, blk.body, blk.init)
    g = replace(f, loc, BlockRealize(loc.stmt.iter_values, loc.stmt.predicate, nb))
    with pytest.raises(ScheduleError,
                       match="^vectorize: loop j does not have compact dataflow: block 'C'"):
        sch.trace.apply_to_schedule(tir.Schedule(g), remove_postproc=False)


def test_with_decision_out_of_range_fails_on_replay():
    """with_decision does not validate (as in TVM); replaying an impossible categorical
    decision raises naming the decision."""
    f, _ = matmul(8, 12, 6)
    sch = _tiled_trace(f)
    cat = next(i for i in sch.trace.insts if i.kind.name == "SampleCategorical")
    bad = sch.trace.with_decision(cat, 7, remove_postproc=True)
    with pytest.raises(ScheduleError,
                       match="^sample_categorical: the decision 7 is out of range for 2 "
                             "candidates"):
        bad.apply_to_schedule(tir.Schedule(f), remove_postproc=False)


def test_simplified_keeps_what_replay_needs():
    """simplified() never drops an instruction whose output a kept one uses, so the
    simplified trace replays to the same program (no 'undefined RV')."""
    f, _ = matmul(8, 12, 6)
    sch = _tiled_trace(f)
    sch.get_loops(sch.get_block("C"))  # dead
    simple = sch.trace.simplified(remove_postproc=True)
    assert len(simple) < len(sch.trace)
    back = Trace.from_json(json.loads(json.dumps(simple.as_json())))
    s2 = tir.Schedule(f)
    back.apply_to_schedule(s2, remove_postproc=False)
    assert tir.structural.structural_equal(s2.func, sch.func)


# ----------------------------------------------------------------------------------------
# Illegal uses found by the 5,000-example property run and by hand, now rejected.


def test_transform_layout_rejects_a_non_injective_map():
    f, make = softmax()
    sch = tir.Schedule(f, debug_mask="all")
    arrays = make(np.random.default_rng(0))
    expected = run(f, arrays)[-1]
    try:
        sch.transform_layout(sch.get_block("T_exp"), ("write", 0), lambda a, b: (a * b,))
    except ScheduleError as err:
        assert "T_exp" in str(err)
        return
    # accepted: then at least the result must not change (it does: T_exp[1*2] and
    # T_exp[2*1] alias)
    np.testing.assert_allclose(run(sch.func, arrays)[-1], expected, rtol=1e-5, atol=1e-5)


def test_nested_parallel_is_caught_by_debug_mask():
    """parallel() itself accepts a parallel loop inside another (as TVM's primitive does);
    the debug_mask verifier rejects it naming both loops."""
    f, _ = conv2d_bias_relu()
    sch = tir.Schedule(f, debug_mask="all")
    n, c, *_ = _loops(sch, "conv")
    sch.parallel(n)
    with pytest.raises(ScheduleError, match="parallel produced ill-formed IR: .*parallel loop "
                                            "j is nested in parallel loop i"):
        sch.parallel(c)


def test_decompose_reduction_over_a_non_injective_spatial_loop():
    """Found by the 5,000-example property run (te_softmax, seed 6433363), shrunk by hand:
    after compute_at under a fused consumer loop, T_sum is recomputed for each of the 7
    iterations that share a row; decompose_reduction at that loop zeroes each row once and
    then accumulates it 7 times. The primitive must reject this (as it already does when
    the loop is bound to no iter var of the block) or keep the program's result."""
    f, make = softmax(4, 7)
    arrays = make(np.random.default_rng(0))
    expected = run(f, arrays)[-1]
    sch = tir.Schedule(f, debug_mask="all")
    s = sch.get_block("T_sum")
    fused = sch.fuse(*sch.get_loops(sch.get_block("T_softmax")))
    sch.compute_at(s, fused)
    np.testing.assert_allclose(run(sch.func, arrays)[-1], expected, rtol=1e-5, atol=1e-5)
    try:
        sch.decompose_reduction(s, fused)
    except ScheduleError as err:
        assert "T_sum" in str(err) and "i_j_fused" in str(err)
        return
    np.testing.assert_allclose(run(sch.func, arrays)[-1], expected, rtol=1e-5, atol=1e-5)


def test_sample_perfect_tile_rejects_a_bad_max_innermost_factor():
    """It used to loop forever on max_innermost_factor=0 (no sample can satisfy it)."""
    f, _ = conv2d_bias_relu()
    sch = tir.Schedule(f)
    loop = _loops(sch, "conv")[1]
    for bad in (0, -5):
        with pytest.raises(ScheduleError, match="max_innermost_factor must be -1"):
            sch.sample_perfect_tile(loop, 2, max_innermost_factor=bad)
