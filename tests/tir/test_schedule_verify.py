"""verify_well_formed: accepts the workloads and scheduled forms, names each broken rule."""

from __future__ import annotations

import pytest
from schedule_workloads import WORKLOADS, matmul, renest

from onnxtune import tir
from onnxtune.tir import (
    Block,
    BlockRealize,
    BufferRegion,
    BufferStore,
    ForKind,
    Range,
    Var,
    const,
    decl_buffer,
)
from onnxtune.tir.schedule.tree import find_block, replace
from onnxtune.tir.schedule.verify import VerifyError, verify_well_formed


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_workloads_are_well_formed(name):
    verify_well_formed(WORKLOADS[name]()[0])


def _matmul_with(f=None, **changes):
    f = f or matmul(4, 4, 4)[0]
    loc = find_block(f, "C")
    r = loc.stmt
    b = r.block
    fields = {k: getattr(b, k) for k in ("iter_vars", "reads", "writes", "name_hint", "body",
                                          "init", "alloc_buffers", "annotations")}
    values = changes.pop("iter_values", r.iter_values)
    fields.update(changes)
    return replace(f, loc, BlockRealize(values, r.predicate, Block(**fields)))


def test_binding_count_and_domain():
    f = _matmul_with(iter_values=find_block(matmul(4, 4, 4)[0], "C").stmt.iter_values[:2])
    with pytest.raises(VerifyError, match="3 iter vars but 2 bound values"):
        verify_well_formed(f)
    f, _ = matmul(4, 4, 4)
    sch = tir.Schedule(f)
    i, j, k = (sch.get(x).loop_var for x in sch.get_loops(sch.get_block("C")))
    bad = renest(f, "C", [(i, 4), (j, 4), (k, 4)], [i + 1, j, k])
    with pytest.raises(VerifyError, match=r"iter var vi is bound to i \+ 1, which ranges over "
                                          r"\[1, 4\], outside its domain \[0, 3\]"):
        verify_well_formed(bad)


def test_variable_scope():
    f, _ = matmul(4, 4, 4)
    sch = tir.Schedule(f)
    i = sch.get(sch.get_loops(sch.get_block("C"))[0]).loop_var
    c = f.params[2]
    blk = find_block(f, "C").stmt.block
    body = BufferStore(c, const(1.0), (i, blk.iter_vars[1].var))
    with pytest.raises(VerifyError, match="variable i is used in a store to C in block 'C' "
                                          "outside the scope"):
        verify_well_formed(_matmul_with(f, body=body))


def test_unknown_buffer_and_region_coverage():
    f, _ = matmul(4, 4, 4)
    blk = find_block(f, "C").stmt.block
    vi, vj, _ = (iv.var for iv in blk.iter_vars)
    other = decl_buffer((4, 4), name="D")
    with pytest.raises(VerifyError, match="buffer D is accessed"):
        verify_well_formed(_matmul_with(body=BufferStore(other, const(1.0), (vi, vj))))
    c = f.params[2]
    shifted = BufferStore(c, const(1.0), (vj, vi))
    with pytest.raises(VerifyError, match=r"block 'C' writes C at \[vj, \+1\), \[vi, \+1\)"):
        verify_well_formed(_matmul_with(f, body=shifted))
    wide = (BufferRegion(c, (Range(const(0), const(4)), Range(const(0), const(4)))),)
    verify_well_formed(_matmul_with(f, body=shifted, writes=wide))


def test_duplicate_block_names():
    f, _ = matmul(4, 4, 4)
    loc = find_block(f, "C")
    g = replace(f, loc, tir.stmt.seq(loc.stmt, _renamed(loc.stmt)))
    with pytest.raises(VerifyError, match="two blocks are named 'C'"):
        verify_well_formed(g)


def _renamed(r):
    from onnxtune.tir.functor import substitute

    b = r.block
    new = {iv.var: Var(iv.var.name) for iv in b.iter_vars}
    return substitute(r, new)


def test_loop_kinds():
    f, _ = matmul(4, 4, 4)
    sch = tir.Schedule(f)
    i, j, k = (sch.get(x).loop_var for x in sch.get_loops(sch.get_block("C")))
    p, v = ForKind.PARALLEL, ForKind.VECTORIZED
    nested = renest(f, "C", [(i, 4, p), (j, 4, p), (k, 4)], [i, j, k])
    with pytest.raises(VerifyError, match="parallel loop j is nested in parallel loop i"):
        verify_well_formed(nested)
    race = renest(f, "C", [(k, 4, p), (i, 4), (j, 4)], [i, j, k])
    with pytest.raises(VerifyError, match="reduction iter var vr0 depends on parallel loop"):
        verify_well_formed(race)
    n = Var("n")
    dyn = renest(f, "C", [(i, 4), (j, 4), (k, n, v)], [i, j, k])
    with pytest.raises(VerifyError, match="vectorized loop r0 has a non-constant extent"):
        verify_well_formed(dyn)
