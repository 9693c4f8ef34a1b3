"""Block analyses the schedule rules decide by (TVM's meta-schedule ``analysis`` helpers):
spatial / reduction blocks, trivial bindings, loop iter types, read-write patterns, and
whether a block needs multi-level tiling."""

from __future__ import annotations

from typing import Any

from onnxtune.tir.expr import Add, Call, IntImm, IterType, Select, Sub, Var
from onnxtune.tir.functor import collect_vars, pre_order_visit
from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.primitives.block_common import reduction_block_error, scope_children
from onnxtune.tir.schedule.tree import Located, index
from onnxtune.tir.stmt import Block, BlockRealize, For, IfThenElse

#: annotation keys shared with the postprocs and mutators (TVM's names)
TILING_STRUCTURE = "meta_schedule.tiling_structure"
RANDOM_COMPUTE_PRODUCER = "meta_schedule.random_compute_producer"
PARALLEL = "meta_schedule.parallel"
VECTORIZE = "meta_schedule.vectorize"
UNROLL_EXPLICIT = "meta_schedule.unroll_explicit"
UNROLL_IMPLICIT = "meta_schedule.unroll_implicit"
AUTO_TENSORIZE = "meta_schedule.auto_tensorize"
INLINE_RULE = "meta_schedule.inline_rule"
WRITE_CACHE_LEVEL = "meta_schedule.write_cache_level"
CUSTOM_RULE = "schedule_rule"


def has_block(sch: Any, block_rv: Any) -> bool:
    """True if ``block_rv`` still names a block of the schedule (TVM's HasBlock)."""
    try:
        sch.get(block_rv)
    except ScheduleError:
        return False
    return True


def locate(sch: Any, block_rv: Any) -> Located:
    """The BlockRealize of ``block_rv`` with its ancestors."""
    return index(sch.func).block(sch.get(block_rv).name_hint)


def is_root(loc: Located) -> bool:
    return not loc.ancestors


def is_spatial(block: Block) -> bool:
    """Every iter var is data-parallel."""
    return all(iv.iter_type == IterType.DATA_PAR for iv in block.iter_vars)


def is_spatial_prim_func(func: Any) -> bool:
    """Every block of the function (the root aside) is spatial (TVM's IsSpatialPrimFunc)."""
    ix = index(func)
    return all(is_spatial(loc.stmt.block) for loc in ix.blocks.values() if loc.ancestors)


def is_trivial_binding(loc: Located) -> bool:
    """Each iter var is bound to the loop at its position, in order, and nothing else."""
    realize: BlockRealize = loc.stmt
    loops = loc.loops()
    if len(loops) != len(realize.iter_values):
        return False
    return all(v is f.loop_var for v, f in zip(realize.iter_values, loops, strict=True))


def is_reduction_block(loc: Located) -> bool:
    """TVM's IsReductionBlock: an init, spatial/reduce iter vars, affine bindings, the only
    writer of its output, which no reduce var indexes."""
    if not loc.ancestors:
        return False
    return reduction_block_error(loc.stmt, scope_children(loc), loc.loops()) is None


def has_been_multi_level_tiled(block: Block) -> bool:
    return TILING_STRUCTURE in block.annotations


def loop_iter_type(loc: Located, loop: For) -> IterType:
    """What kind of iterations ``loop`` runs for the block: DATA_PAR if it only binds
    spatial iter vars, COMM_REDUCE if only reduce ones, OPAQUE if both or other kinds
    (a loop binding nothing counts as DATA_PAR)."""
    realize: BlockRealize = loc.stmt
    kinds = set()
    for iv, val in zip(realize.block.iter_vars, realize.iter_values, strict=True):
        if loop.loop_var in collect_vars(val):
            kinds.add(iv.iter_type)
    if not kinds:
        return IterType.DATA_PAR
    if len(kinds) == 1:
        k = next(iter(kinds))
        if k in (IterType.DATA_PAR, IterType.COMM_REDUCE):
            return k
    return IterType.OPAQUE


def int_extent(loop: For) -> int | None:
    return loop.extent.value if isinstance(loop.extent, IntImm) else None


def cumulative_lengths(loc: Located) -> tuple[int, int]:
    """Products of the extents of the spatial and of the reduction loops above the block
    (-1 where an extent is not constant)."""
    space, red = 1, 1
    for f in loc.loops():
        ext = int_extent(f)
        kind = loop_iter_type(loc, f)
        if kind == IterType.DATA_PAR:
            space = -1 if ext is None or space == -1 else space * ext
        elif kind == IterType.COMM_REDUCE:
            red = -1 if ext is None or red == -1 else red * ext
    return space, red


def needs_multi_level_tiling(loc: Located) -> bool:
    """TVM's NeedsMultiLevelTiling: a non-spatial block with one write, trivial bindings,
    distinct reads, and at least one spatial iter var some read does not use (data
    reuse: matmul's A ignores j, conv's kernel ignores the batch and the image)."""
    if not loc.ancestors:
        return False
    block: Block = loc.stmt.block
    if has_been_multi_level_tiled(block):
        return False
    if len(block.writes) != 1 or not block.reads or is_spatial(block):
        return False
    if not is_trivial_binding(loc):
        return False
    write_buffer = block.writes[0].buffer
    spatial = []
    for iv in block.iter_vars:
        trivial = (isinstance(iv.dom.min, IntImm) and isinstance(iv.dom.extent, IntImm)
                   and iv.dom.min.value == 0 and iv.dom.extent.value == 1)
        if iv.iter_type == IterType.DATA_PAR and not trivial:
            spatial.append(iv.var)
    seen = set()
    unused = 0
    for r in block.reads:
        if r.buffer in seen:
            return False
        seen.add(r.buffer)
        if r.buffer is write_buffer:
            continue
        used: set[Var] = set()
        for rg in r.region:
            if not isinstance(rg.extent, IntImm):
                return False
            used |= collect_vars(rg.min)
        unused += sum(1 for v in spatial if v not in used)
    return unused >= 1


def _var_plus_const(e: Any) -> tuple[Var, int] | None:
    if isinstance(e, Var):
        return e, 0
    if isinstance(e, (Add, Sub)) and isinstance(e.a, Var) and isinstance(e.b, IntImm):
        return e.a, e.b.value if isinstance(e, Add) else -e.b.value
    if isinstance(e, Add) and isinstance(e.b, Var) and isinstance(e.a, IntImm):
        return e.b, e.a.value
    return None


def analyze_read_write_pattern(read: Any, write: Any) -> tuple[bool, bool, bool, bool]:
    """TVM's AnalyzeReadWritePattern: (exists, surjective, injective, ordered) of the map
    from the read region's indices (``var ± const`` or constants) to the write indices."""
    not_exist = (False, False, False, False)
    var2idx: dict[Var, int] = {}
    for i, rg in enumerate(write.region):
        if not isinstance(rg.extent, IntImm) or not isinstance(rg.min, Var):
            return not_exist
        var2idx[rg.min] = i
    mapped = []
    for rg in read.region:
        if not isinstance(rg.extent, IntImm):
            return not_exist
        if isinstance(rg.min, IntImm):
            continue
        vc = _var_plus_const(rg.min)
        if vc is None or vc[0] not in var2idx:
            return not_exist
        mapped.append(var2idx[vc[0]])
    counts = [0] * len(write.region)
    ordered, last = True, -1
    for i in mapped:
        counts[i] += 1
        if last > i:
            ordered = False
        last = i
    surjective = all(c > 0 for c in counts)
    injective = all(c < 2 for c in counts)
    return True, surjective, injective, ordered


def has_op(realize: BlockRealize, ops: set[str]) -> bool:
    """True if the block calls one of the math ops ``ops`` (names like ``"exp"``)."""
    found = False

    def f(n: Any) -> bool:
        nonlocal found
        if found:
            return False
        if isinstance(n, Call) and n.op in ops:
            found = True
        return not found

    pre_order_visit(realize.block, f)
    return found


def has_if_then_else(realize: BlockRealize) -> bool:
    """True if the block branches: a predicate, an IfThenElse, a Select or if_then_else."""
    if not (isinstance(realize.predicate, IntImm) and realize.predicate.value == 1):
        return True
    found = False

    def f(n: Any) -> bool:
        nonlocal found
        if found:
            return False
        if isinstance(n, (IfThenElse, Select)) or (isinstance(n, Call)
                                                   and n.op == "if_then_else"):
            found = True
        elif isinstance(n, BlockRealize) and not (
                isinstance(n.predicate, IntImm) and n.predicate.value == 1):
            found = True
        return not found

    pre_order_visit(realize.block, f)
    return found


def is_write_cache(block: Block) -> bool:
    """TVM's IsWriteCache: one write, and every read maps injectively and in order onto
    it (a copy or an elementwise epilogue that can act as the write cache)."""
    if len(block.writes) != 1:
        return False
    w = block.writes[0]
    for r in block.reads:
        exists, _, injective, ordered = analyze_read_write_pattern(r, w)
        if not (exists and injective and ordered):
            return False
    return True
