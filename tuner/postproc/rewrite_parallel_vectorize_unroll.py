"""RewriteParallelVectorizeUnroll: turn the root block's parallel / vectorize / unroll
annotations (set by the ParallelizeVectorizeUnroll schedule rule) into real loop kinds.

For every block directly under an annotated block (TVM's algorithm):

- **parallel**: the leading data-parallel loops (constant extent, no annotation, serial)
  are fused while the product of their extents stays within ``meta_schedule.parallel``
  (the first loop with several children ends the run), then marked parallel;
- **vectorize**: the trailing data-parallel loops through which every buffer the block
  touches is accessed contiguously are fused while the product stays within
  ``meta_schedule.vectorize``, then marked vectorized (vectorizing wins when both want
  the same loops; when every loop could be both they are fused, split and both applied);
- **unroll**: the outermost loop of a block with a reduction gets
  ``pragma_auto_unroll_max_step`` (the sampled max step) and ``pragma_unroll_explicit``,
  which the lowering's ``unroll_loops`` pass honours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from onnxtune.tir.arith import Analyzer
from onnxtune.tir.expr import Add, IntImm, IterType, Mul, Sub, Var
from onnxtune.tir.functor import substitute
from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.primitives.queries import child_realizes
from onnxtune.tir.schedule.tree import free_vars, index
from onnxtune.tir.stmt import BlockRealize, For, ForKind, SeqStmt, Stmt
from onnxtune.tir.transform.unroll import PRAGMA_AUTO_UNROLL_MAX_STEP, PRAGMA_UNROLL_EXPLICIT

from .postproc import Postproc

log = logging.getLogger(__name__)

PARALLEL = "meta_schedule.parallel"
VECTORIZE = "meta_schedule.vectorize"
UNROLL_EXPLICIT = "meta_schedule.unroll_explicit"
UNROLL_IMPLICIT = "meta_schedule.unroll_implicit"
_KEYS = (PARALLEL, VECTORIZE, UNROLL_EXPLICIT, UNROLL_IMPLICIT)


# ----------------------------------------------------------------------------------------
# loop analysis shared with the other postprocessors and mutators


def loop_iter_type(loop: For) -> IterType:
    """TVM's GetLoopIterType: DATA_PAR if every block iter whose binding uses the loop
    variable (in the blocks directly below the loop) is data-parallel, COMM_REDUCE if
    every such iter is a reduction, OPAQUE otherwise (mixed or other iter types)."""
    lv = loop.loop_var
    n_sp = n_red = n_other = 0
    for realize in child_realizes(loop):
        for iv, value in zip(realize.block.iter_vars, realize.iter_values, strict=True):
            if lv not in free_vars(value):
                continue
            if iv.iter_type == IterType.DATA_PAR:
                n_sp += 1
            elif iv.iter_type == IterType.COMM_REDUCE:
                n_red += 1
            else:
                n_other += 1
    if n_other or (n_sp and n_red):
        return IterType.OPAQUE
    return IterType.COMM_REDUCE if n_red else IterType.DATA_PAR


def is_single_stmt(s: Stmt) -> bool:
    return not isinstance(s, SeqStmt) or len(s.seq) == 1


def _plain(loop: For) -> bool:
    """A serial loop without annotations or thread binding."""
    return loop.kind == ForKind.SERIAL and not loop.annotations and not loop.thread_binding


def _const(loop: For) -> int | None:
    if isinstance(loop.extent, IntImm) and isinstance(loop.min, IntImm):
        return loop.extent.value
    return None


def _coef(e: Any, var: Var) -> int | None:
    """The coefficient of ``var`` in ``e`` (None if ``var`` occurs non-linearly)."""
    if e is var:
        return 1
    if var not in free_vars(e):
        return 0
    t = type(e)
    if t is Add or t is Sub:
        a, b = _coef(e.a, var), _coef(e.b, var)
        if a is None or b is None:
            return None
        return a + b if t is Add else a - b
    if t is Mul:
        if type(e.b) is IntImm:
            a = _coef(e.a, var)
            return None if a is None else a * e.b.value
        if type(e.a) is IntImm:
            b = _coef(e.b, var)
            return None if b is None else b * e.a.value
    return None


def _stride(index_expr: Any, var: Var, an: Analyzer) -> int:
    """The coefficient of ``var`` in an index: 0 if absent, -1 if not linear in it."""
    c = _coef(an.simplify(index_expr), var)
    return -1 if c is None else c


def _linear_coefs(e: Any, binding: dict[Var, Any]) -> tuple[dict[Var, int], set[Var]]:
    """The coefficient of every variable that ``e`` (with ``binding`` substituted) uses
    linearly, and the variables it uses inside non-linear terms: a walk over ``+ - *const``
    that builds and simplifies nothing."""
    coefs: dict[Var, int] = {}
    nonlinear: set[Var] = set()
    stack: list[tuple[Any, int]] = [(e, 1)]
    while stack:
        x, k = stack.pop()
        t = type(x)
        if t is Var:
            v = binding.get(x)
            if v is not None:
                stack.append((v, k))
            else:
                coefs[x] = coefs.get(x, 0) + k
        elif t is IntImm:
            continue
        elif t is Add:
            stack.append((x.a, k))
            stack.append((x.b, k))
        elif t is Sub:
            stack.append((x.a, k))
            stack.append((x.b, -k))
        elif t is Mul and type(x.b) is IntImm:
            stack.append((x.a, k * x.b.value))
        elif t is Mul and type(x.a) is IntImm:
            stack.append((x.b, k * x.a.value))
        else:
            for v in free_vars(x):
                b = binding.get(v)
                nonlinear.update(free_vars(b) if b is not None else (v,))
    return coefs, nonlinear


def max_vectorizable_loops(realize: BlockRealize, loops: list[For]) -> int:
    """How many innermost loops of the block can be fused and stay contiguous for every
    buffer the block reads or writes (TVM's stride analysis)."""
    block = realize.block
    binding = {iv.var: v for iv, v in zip(block.iter_vars, realize.iter_values, strict=True)}
    an = Analyzer()
    best = len(loops)
    for access in (*block.reads, *block.writes):
        shape = [s.value if isinstance(s, IntImm) else None for s in access.buffer.shape]
        strides: list[int] = []
        lin: dict[int, tuple[dict[Var, int], set[Var]]] = {}
        for loop in loops:
            stride, buf_stride = 0, 1
            for d in range(len(access.region) - 1, -1, -1):
                ent = lin.get(d)
                if ent is None:
                    ent = lin[d] = _linear_coefs(access.region[d].min, binding)
                coefs, nonlinear = ent
                if loop.loop_var in nonlinear:  # let the simplifier decide
                    idx = substitute(access.region[d].min, binding)
                    coef = _stride(idx, loop.loop_var, an)
                else:  # a linear use survives simplification with the same coefficient
                    coef = coefs.get(loop.loop_var, 0)
                if coef != 0:
                    stride = coef * buf_stride if coef > 0 and buf_stride > 0 else -1
                    break
                if shape[d] is None:
                    buf_stride = -1
                    break
                buf_stride *= shape[d]
            strides.append(stride)
        fusible, prev = 0, -1
        for i in range(len(strides) - 1, -1, -1):
            if strides[i] == 0:
                fusible += 1
                continue
            if strides[i] < 0:
                break
            if prev == -1:
                if strides[i] != 1 and fusible != 0:
                    break
                fusible += 1
                prev = i
            else:
                ext = _const(loops[prev])
                if ext is not None and strides[i] == strides[prev] * ext:
                    fusible += 1
                    prev = i
                else:
                    break
        best = min(best, fusible)
    return best


# ----------------------------------------------------------------------------------------
# parsing the root annotations


@dataclass
class Parsed:
    """The annotations of one annotated block (-1 where absent)."""

    max_parallel_extent: int = -1
    max_vectorize_extent: int = -1
    unroll_explicit: int = -1
    unroll_implicit: int = -1
    num_parallel_loops: int = -1
    num_vectorize_loops: int = -1


def _as_int(value: Any, key: str) -> int:
    if isinstance(value, IntImm):
        return value.value
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleError(f"RewriteParallelVectorizeUnroll: annotation {key!r} must be an "
                            f"integer, got {value!r}")
    return int(value)


def find_annotated_block(func: Any) -> str | None:
    """The first block (pre-order) carrying any of the meta_schedule parallel / vectorize /
    unroll annotations."""
    ix = index(func)
    for name in ix.order:
        ann = ix.blocks[name].stmt.block.annotations
        if any(k in ann for k in _KEYS):
            return name
    return None


def parse_annotations(ann: dict[str, Any]) -> Parsed:
    p = Parsed()
    if PARALLEL in ann:
        p.max_parallel_extent = _as_int(ann[PARALLEL], PARALLEL)
    if VECTORIZE in ann:
        p.max_vectorize_extent = _as_int(ann[VECTORIZE], VECTORIZE)
    if UNROLL_EXPLICIT in ann:
        p.unroll_explicit = _as_int(ann[UNROLL_EXPLICIT], UNROLL_EXPLICIT)
    if UNROLL_IMPLICIT in ann:
        p.unroll_implicit = _as_int(ann[UNROLL_IMPLICIT], UNROLL_IMPLICIT)
    return p


def parallel_loop_count(loops: list[For], max_extent: int) -> tuple[int, int]:
    """(number of leading loops to fuse and parallelize, the product of their extents)
    as TVM decides it; the count includes the loop whose extent passes the limit."""
    n, prod = 0, 1
    for loop in loops:
        ext = _const(loop)
        if not _plain(loop) or ext is None or loop_iter_type(loop) != IterType.DATA_PAR:
            break
        n += 1
        prod *= ext
        if prod > max_extent or not is_single_stmt(loop.body):
            break
    return n, prod


def adjust_parallel_vectorize(realize: BlockRealize, loops: list[For], parsed: Parsed
                              ) -> Parsed:
    """How many leading loops of the block to parallelize and trailing loops to vectorize
    under the root annotations ``parsed`` (TVM's AdjustParallelVectorize; -1: none)."""
    p = Parsed(**vars(parsed))
    if p.max_parallel_extent == -1 and p.max_vectorize_extent == -1:
        return p
    n = len(loops)
    if p.max_parallel_extent != -1:
        p.num_parallel_loops, prod = parallel_loop_count(loops, p.max_parallel_extent)
        if prod == 1:
            p.num_parallel_loops = -1
    if p.max_vectorize_extent != -1:
        limit = max_vectorizable_loops(realize, loops)
        num, prod = 0, 1
        for loop in reversed(loops):
            if num >= limit:
                break
            ext = _const(loop)
            if (not _plain(loop) or ext is None or loop_iter_type(loop) != IterType.DATA_PAR
                    or not is_single_stmt(loop.body)):
                break
            if prod * ext > p.max_vectorize_extent:
                break
            prod *= ext
            num += 1
        p.num_vectorize_loops = -1 if prod == 1 else num
    if p.num_parallel_loops != -1 and p.num_vectorize_loops != -1:
        p.num_parallel_loops = min(p.num_parallel_loops, n - p.num_vectorize_loops)
    return p


# ----------------------------------------------------------------------------------------
# the rewrite


def _loops(sch: Any, block_rv: Any) -> list[For]:
    return [sch.get(lv) for lv in sch.get_loops(block_rv)]


def _rewrite_block(sch: Any, block_rv: Any, parsed: Parsed) -> None:
    name = sch.get(block_rv).name_hint
    loop_rvs = sch.get_loops(block_rv)
    if not loop_rvs:
        return
    realize = index(sch.func).block(name).stmt
    p = adjust_parallel_vectorize(realize, [sch.get(lv) for lv in loop_rvs], parsed)
    n = len(loop_rvs)
    if p.num_parallel_loops == n and p.num_vectorize_loops == n:
        fused = sch.fuse(*loop_rvs) if n > 1 else loop_rvs[0]
        outer, inner = sch.split(fused, [None, p.max_vectorize_extent])
        sch.vectorize(inner)
        sch.parallel(outer)
        loop_rvs = [outer, inner]
    else:
        if p.num_parallel_loops > 0:
            k = p.num_parallel_loops
            fused = sch.fuse(*loop_rvs[:k]) if k > 1 else loop_rvs[0]
            sch.parallel(fused)
            loop_rvs = [fused, *loop_rvs[k:]]
        if p.num_vectorize_loops > 0:
            k = p.num_vectorize_loops
            fused = sch.fuse(*loop_rvs[-k:]) if k > 1 else loop_rvs[-1]
            sch.vectorize(fused)
            loop_rvs = [*loop_rvs[:-k], fused]
    if p.unroll_explicit != -1 or p.unroll_implicit != -1:
        max_step = p.unroll_explicit + p.unroll_implicit + 1
        explicit = p.unroll_explicit != -1
        block = sch.get(block_rv)
        has_reduction = any(iv.iter_type != IterType.DATA_PAR for iv in block.iter_vars)
        if max_step > 0 and has_reduction:
            sch.annotate(loop_rvs[0], PRAGMA_AUTO_UNROLL_MAX_STEP, max_step)
            sch.annotate(loop_rvs[0], PRAGMA_UNROLL_EXPLICIT, int(explicit))


def rewrite_parallel_vectorize_unroll(sch: Any) -> bool:
    """Apply the rewrite in place; False if the annotations are malformed."""
    while True:
        name = find_annotated_block(sch.func)
        if name is None:
            return True
        ann = index(sch.func).block(name).stmt.block.annotations
        parsed = parse_annotations(ann)
        if parsed.unroll_explicit != -1 and parsed.unroll_implicit != -1:
            raise ScheduleError(f"RewriteParallelVectorizeUnroll: block {name!r} has both "
                                f"{UNROLL_EXPLICIT!r} and {UNROLL_IMPLICIT!r}")
        root = sch.get_block(name)
        for key in _KEYS:
            if key in ann:
                sch.unannotate(root, key)
        for block_rv in sch.get_child_blocks(root):
            try:
                _rewrite_block(sch, block_rv, parsed)
            except ScheduleError as err:
                # every primitive above either applies whole or not at all, so the program
                # is still correct; the block keeps whatever was applied before the error
                log.debug("RewriteParallelVectorizeUnroll: block skipped: %s", err)


class RewriteParallelVectorizeUnroll(Postproc):
    """A postprocessor that applies parallelization, vectorization and auto unrolling
    according to the annotations of each block (see the module docstring)."""

    def apply(self, sch: Any) -> bool:
        try:
            return rewrite_parallel_vectorize_unroll(sch)
        except ValueError as err:  # ScheduleError and arithmetic errors
            log.debug("RewriteParallelVectorizeUnroll rejected the schedule: %s", err)
            return False
