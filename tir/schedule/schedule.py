"""Schedule: TVM's TensorIR schedule API over immutable IR, recording every call in a Trace.

The schedule holds the current PrimFunc and a symbol table from random variables to what
they stand for (a block name, a loop variable, an integer). Each primitive is a pure
function on PrimFunc (:mod:`.primitives`); this class only resolves RVs, calls it, checks
the result when ``debug_mask="all"``, and appends an instruction to the trace. Copying a
schedule shares the IR and copies two small dicts, so forks are cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..expr import IntImm, Var
from ..function import IRModule, PrimFunc
from ..stmt import For
from . import instruction as K
from .error import ScheduleError
from .instruction import BlockRV, ExprRV, Instruction, LoopRV
from .primitives import loop_kinds, loop_ops, queries
from .sampling import RandState, fix_perfect_tile_decision, pick_compute_location
from .sampling import sample_categorical as _sample_categorical
from .sampling import sample_perfect_tile as _sample_perfect_tile
from .schedule_blocks import BlockPrimitives
from .trace import Trace
from .tree import index

#: the special values of a LoopRV returned by sample_compute_location
ROOT_MARK = "root"
INLINE_MARK = "inline"


def _as_module(mod: IRModule | PrimFunc) -> IRModule:
    if isinstance(mod, PrimFunc):
        return IRModule({"main": mod})
    if isinstance(mod, IRModule):
        return mod
    raise TypeError(f"Schedule expects a PrimFunc or an IRModule, got {type(mod).__name__}")


def _entry(mod: IRModule) -> str:
    prims = [k for k, f in mod.functions.items() if isinstance(f, PrimFunc)]
    if "main" in prims:
        return "main"
    if len(prims) == 1:
        return prims[0]
    raise ValueError(
        f"Schedule: the IRModule has no function 'main' and {len(prims)} PrimFuncs "
        f"{sorted(prims)}; pass a single PrimFunc or a module with 'main'"
    )


def _debug_flag(debug_mask: str | int) -> bool:
    if debug_mask in ("none", 0):
        return False
    if debug_mask == "all" or (isinstance(debug_mask, int) and debug_mask != 0):
        return True
    raise ValueError(f"Schedule: debug_mask must be 'none' or 'all', got {debug_mask!r}")


class Schedule(BlockPrimitives):
    """A TensorIR schedule of one PrimFunc (the module's ``main``).

    ``seed`` makes sampling deterministic (None: a seed from the OS); with
    ``debug_mask="all"`` the function is verified after every primitive.
    """

    __slots__ = ("_debug", "_func", "_func_name", "_mod", "_rand", "_table", "_trace")

    def __init__(self, mod: IRModule | PrimFunc, seed: int | None = None,
                 debug_mask: str | int = "none"):
        m = _as_module(mod)
        self._mod = m
        self._func_name = _entry(m)
        self._func: PrimFunc = m[self._func_name]
        self._table: dict[Any, Any] = {}
        self._trace = Trace()
        self._rand = RandState(seed)
        self._debug = _debug_flag(debug_mask)

    # -- state ----------------------------------------------------------------------------
    @property
    def mod(self) -> IRModule:
        """The scheduled module (the working function replaced by its current form)."""
        if self._mod[self._func_name] is not self._func:
            self._mod = self._mod.with_function(self._func_name, self._func)
        return self._mod

    @property
    def func(self) -> PrimFunc:
        """The current form of the function being scheduled."""
        return self._func

    @property
    def func_working_on(self) -> str:
        return self._func_name

    @property
    def trace(self) -> Trace:
        """The instructions applied so far (the live trace)."""
        return self._trace

    def copy(self) -> Schedule:
        """An independent schedule sharing the (immutable) IR; same RVs, trace, random state."""
        s = Schedule.__new__(Schedule)
        s._mod = self._mod
        s._func_name = self._func_name
        s._func = self._func
        s._table = dict(self._table)
        s._trace = self._trace.copy()
        s._rand = self._rand.copy()
        s._debug = self._debug
        return s

    def seed(self, seed: int) -> None:
        """Reset the random state."""
        self._rand = RandState(seed)

    def fork_seed(self) -> int:
        """A new seed derived from (and advancing) the random state."""
        return self._rand.fork_seed()

    def get(self, rv: BlockRV | LoopRV | ExprRV) -> Any:
        """What an RV stands for now: the Block, the For, or the int."""
        if isinstance(rv, ExprRV):
            return self._expr(rv, "get")
        if isinstance(rv, BlockRV):
            return index(self._func).block(self._block(rv, "get"), "get").stmt.block
        if isinstance(rv, LoopRV):
            v = self._lookup(rv, "get")
            if isinstance(v, str):
                return v
            return index(self._func).loop(self._loop(rv, "get"), "get").stmt
        raise TypeError(f"get: expected a BlockRV, LoopRV or ExprRV, got {type(rv).__name__}")

    def remove_rv(self, rv: BlockRV | LoopRV | ExprRV) -> None:
        """Forget an RV (later uses raise ScheduleError)."""
        self._table.pop(rv, None)

    def show(self) -> None:
        """Print the current function and the trace."""
        try:
            text = self._func.script()
        except Exception as err:  # noqa: BLE001 - the printer may not know every node yet
            text = f"<cannot print the function: {err}>"
        print(text)
        print(repr(self._trace))

    def enter_postproc(self) -> None:
        """Mark the start of post-processing in the trace (``remove_postproc`` cuts here)."""
        self._record(K.ENTER_POSTPROC, (), (), ())

    # -- RVs ------------------------------------------------------------------------------
    def _lookup(self, rv: Any, prim: str) -> Any:
        try:
            return self._table[rv]
        except (KeyError, TypeError):
            raise ScheduleError(
                f"{prim}: {rv!r} is not defined in this schedule (it comes from another "
                "schedule, or was removed)"
            ) from None

    def _block(self, rv: Any, prim: str) -> str:
        if not isinstance(rv, BlockRV):
            raise TypeError(f"{prim}: expected a BlockRV, got {type(rv).__name__}")
        name = self._lookup(rv, prim)
        if not index(self._func).has_block(name):
            raise ScheduleError(
                f"{prim}: block {name!r} no longer exists (a later primitive removed it); "
                "the BlockRV is stale"
            )
        return name

    def _loop(self, rv: Any, prim: str) -> Var:
        if not isinstance(rv, LoopRV):
            raise TypeError(f"{prim}: expected a LoopRV, got {type(rv).__name__}")
        var = self._lookup(rv, prim)
        if isinstance(var, str):
            raise ScheduleError(
                f"{prim}: the LoopRV is the special {var!r} location from "
                "sample_compute_location, not a loop"
            )
        if not index(self._func).has_loop(var):
            raise ScheduleError(
                f"{prim}: loop {var.name} no longer exists (a later primitive such as split, "
                "fuse or compute_at replaced it); the LoopRV is stale"
            )
        return var

    def _expr(self, rv: Any, prim: str) -> int:
        if isinstance(rv, ExprRV):
            return self._lookup(rv, prim)
        if isinstance(rv, bool) or not isinstance(rv, int):
            raise TypeError(f"{prim}: expected an int or an ExprRV, got {type(rv).__name__}")
        return rv

    def _target(self, rv: Any, prim: str) -> str | Var:
        if isinstance(rv, BlockRV):
            return self._block(rv, prim)
        if isinstance(rv, LoopRV):
            return self._loop(rv, prim)
        raise TypeError(f"{prim}: expected a BlockRV or a LoopRV, got {type(rv).__name__}")

    def _new(self, cls: type, value: Any) -> Any:
        rv = cls()
        self._table[rv] = value
        return rv

    def _update(self, func: PrimFunc, prim: str) -> None:
        if self._debug and func is not self._func:
            from .verify import verify_well_formed

            try:
                verify_well_formed(func)
            except ScheduleError as err:
                raise ScheduleError(f"{prim} produced ill-formed IR: {err}") from None
        self._func = func

    def _record(self, kind: K.InstructionKind, inputs: Sequence[Any], attrs: Sequence[Any],
                outputs: Sequence[Any], decision: Any = None) -> None:
        self._trace.append(Instruction(kind, inputs, attrs, outputs), decision)

    # -- queries --------------------------------------------------------------------------
    def get_block(self, name: str, func_name: str | None = None) -> BlockRV:
        """The block called ``name``."""
        if func_name not in (None, self._func_name):
            raise ScheduleError(
                f"get_block: this schedule works on function {self._func_name!r}, not "
                f"{func_name!r}"
            )
        queries.get_block(self._func, name)
        rv = self._new(BlockRV, name)
        self._record(K.GET_BLOCK, (), (name, func_name or self._func_name), (rv,))
        return rv

    get_sblock = get_block

    def get_loops(self, block: BlockRV) -> list[LoopRV]:
        """The loops above ``block`` (within its scope), outermost first."""
        name = self._block(block, "get_loops")
        out = [self._new(LoopRV, v) for v in queries.get_loops(self._func, name)]
        self._record(K.GET_LOOPS, (block,), (), out)
        return out

    def get_child_blocks(self, block_or_loop: BlockRV | LoopRV) -> list[BlockRV]:
        """The blocks directly under a block or a loop."""
        target = self._target(block_or_loop, "get_child_blocks")
        out = [self._new(BlockRV, n) for n in queries.get_child_blocks(self._func, target)]
        self._record(K.GET_CHILD_BLOCKS, (block_or_loop,), (), out)
        return out

    def get_producers(self, block: BlockRV) -> list[BlockRV]:
        """The blocks of the same scope that write what ``block`` reads."""
        name = self._block(block, "get_producers")
        out = [self._new(BlockRV, n) for n in queries.get_producers(self._func, name)]
        self._record(K.GET_PRODUCERS, (block,), (), out)
        return out

    def get_consumers(self, block: BlockRV) -> list[BlockRV]:
        """The blocks of the same scope that read what ``block`` writes."""
        name = self._block(block, "get_consumers")
        out = [self._new(BlockRV, n) for n in queries.get_consumers(self._func, name)]
        self._record(K.GET_CONSUMERS, (block,), (), out)
        return out

    # -- loop transformations -------------------------------------------------------------
    def split(self, loop: LoopRV, factors: Sequence[int | ExprRV | None],
              preserve_unit_iters: bool = True,
              disable_predication: bool = False) -> list[LoopRV]:
        """Split ``loop`` into ``len(factors)`` loops; one factor may be None (inferred).
        A non-divisible split guards the blocks below with a predicate."""
        var = self._loop(loop, "split")
        vals: list[int | None] = []
        for x in factors:
            v = self._expr(x, "split") if isinstance(x, ExprRV) else x
            vals.append(None if v == -1 else v)  # -1 means "infer", as in TVM
        func, new_vars = loop_ops.split(self._func, var, vals, preserve_unit_iters,
                                        disable_predication)
        self._update(func, "split")
        out = [self._new(LoopRV, v) for v in new_vars]
        self._record(K.SPLIT, (loop, tuple(factors)),
                     (preserve_unit_iters, disable_predication), out)
        return out

    def fuse(self, *loops: LoopRV, preserve_unit_iters: bool = True) -> LoopRV:
        """Fuse perfectly nested loops (outermost first) into one."""
        vars_ = [self._loop(x, "fuse") for x in loops]
        func, fused = loop_ops.fuse(self._func, vars_, preserve_unit_iters)
        self._update(func, "fuse")
        rv = self._new(LoopRV, fused)
        self._record(K.FUSE, (tuple(loops),), (preserve_unit_iters,), (rv,))
        return rv

    def reorder(self, *ordered_loops: LoopRV) -> None:
        """Reorder loops of one nest into the given order."""
        vars_ = [self._loop(x, "reorder") for x in ordered_loops]
        self._update(loop_ops.reorder(self._func, vars_), "reorder")
        self._record(K.REORDER, (tuple(ordered_loops),), (), ())

    def parallel(self, loop: LoopRV) -> None:
        """Run ``loop``'s iterations in parallel threads."""
        self._update(loop_kinds.parallel(self._func, self._loop(loop, "parallel")), "parallel")
        self._record(K.PARALLEL, (loop,), (), ())

    def vectorize(self, loop: LoopRV) -> None:
        """Vectorize ``loop`` (constant extent, data-parallel blocks below)."""
        self._update(loop_kinds.vectorize(self._func, self._loop(loop, "vectorize")),
                     "vectorize")
        self._record(K.VECTORIZE, (loop,), (), ())

    def unroll(self, loop: LoopRV) -> None:
        """Unroll ``loop``."""
        self._update(loop_kinds.unroll(self._func, self._loop(loop, "unroll")), "unroll")
        self._record(K.UNROLL, (loop,), (), ())

    def bind(self, loop: LoopRV, thread_axis: str) -> None:
        """Bind ``loop`` to a GPU thread axis such as ``"threadIdx.x"``."""
        self._update(loop_kinds.bind(self._func, self._loop(loop, "bind"), thread_axis), "bind")
        self._record(K.BIND, (loop,), (thread_axis,), ())

    def annotate(self, block_or_loop: BlockRV | LoopRV, ann_key: str, ann_val: Any) -> None:
        """Set an annotation on a block or a loop (an ExprRV value is stored as its int)."""
        target = self._target(block_or_loop, "annotate")
        value = self._expr(ann_val, "annotate") if isinstance(ann_val, ExprRV) else ann_val
        self._update(loop_kinds.annotate(self._func, target, ann_key, value), "annotate")
        rec = tuple(ann_val) if isinstance(ann_val, list) else ann_val
        self._record(K.ANNOTATE, (block_or_loop, rec), (ann_key,), ())

    def unannotate(self, block_or_loop: BlockRV | LoopRV, ann_key: str) -> None:
        """Remove an annotation from a block or a loop."""
        target = self._target(block_or_loop, "unannotate")
        self._update(loop_kinds.unannotate(self._func, target, ann_key), "unannotate")
        self._record(K.UNANNOTATE, (block_or_loop,), (ann_key,), ())

    # -- sampling -------------------------------------------------------------------------
    def sample_perfect_tile(self, loop: LoopRV, n: int, max_innermost_factor: int = 16,
                            decision: Sequence[int] | None = None) -> list[ExprRV]:
        """``n`` tile sizes whose product is the loop's extent (innermost at most
        ``max_innermost_factor``; -1: unbounded)."""
        prim = "sample_perfect_tile"
        var = self._loop(loop, prim)
        f: For = index(self._func).loop(var, prim).stmt
        ext = f.extent.value if isinstance(f.extent, IntImm) else None
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ScheduleError(f"{prim}: loop {var.name}: n must be a positive int, got {n!r}")
        if max_innermost_factor != -1 and (isinstance(max_innermost_factor, bool) or not
                                           isinstance(max_innermost_factor, int)
                                           or max_innermost_factor < 1):
            raise ScheduleError(f"{prim}: loop {var.name}: max_innermost_factor must be -1 "
                                f"(unbounded) or a positive int, got {max_innermost_factor!r}")
        if ext is None:
            result = [-1] + [1] * (n - 1)  # TVM: a dynamic extent is left to split to infer
        elif decision is not None:
            if len(decision) != n:
                raise ScheduleError(
                    f"{prim}: the decision {list(decision)} has {len(decision)} factors, "
                    f"expected n={n}"
                )
            result = fix_perfect_tile_decision(decision, ext)
        else:
            result = _sample_perfect_tile(self._rand, ext, n, max_innermost_factor)
        out = [self._new(ExprRV, v) for v in result]
        self._record(K.SAMPLE_PERFECT_TILE, (loop,), (n, max_innermost_factor), out,
                     list(result))
        return out

    def sample_categorical(self, candidates: Sequence[int], probs: Sequence[float],
                           decision: int | None = None) -> ExprRV:
        """One of ``candidates`` drawn with probabilities ``probs``."""
        prim = "sample_categorical"
        cands, ps = [int(c) for c in candidates], [float(p) for p in probs]
        if len(cands) != len(ps) or not cands:
            raise ScheduleError(
                f"{prim}: {len(cands)} candidates and {len(ps)} probabilities; they must be "
                "non-empty and of equal length"
            )
        i = _sample_categorical(self._rand, ps, decision)
        rv = self._new(ExprRV, cands[i])
        self._record(K.SAMPLE_CATEGORICAL, (), (tuple(cands), tuple(ps)), (rv,), i)
        return rv

    def sample_compute_location(self, block: BlockRV, decision: int | None = None) -> LoopRV:
        """A loop ``block`` can be computed at, or the special root / inline location
        (decisions as TVM: -2 inline, -1 root, k the k-th loop of the first consumer).

        Replaying a decision skips collecting every candidate (each one a trial
        compute_at) when the decided location still exists: root always, inline when the
        block can be inlined, loop k when the first consumer has it. Otherwise the
        candidates are collected and TVM's fallback (the nearest candidate before the
        decision) applies."""
        prim = "sample_compute_location"
        name = self._block(block, prim)
        hit = None if decision is None else _replayed_location(self._func, name, int(decision))
        if hit is not None:
            code, value = hit
        else:
            coded = compute_location_choices(self._func, name)
            pos = pick_compute_location(self._rand, [c for c, _ in coded], decision)
            code, value = coded[pos]
        rv = self._new(LoopRV, value)
        self._record(K.SAMPLE_COMPUTE_LOCATION, (block,), (), (rv,), code)
        return rv


def _replayed_location(func: PrimFunc, block: str, d: int) -> tuple[int, Var | str] | None:
    """The location a replayed decision names, if it plainly still exists (else None)."""
    from .schedule_blocks import block_primitive

    if d == -1:
        return -1, ROOT_MARK
    if d == -2:
        try:
            block_primitive("compute_inline")(func, block)
        except ScheduleError:
            return None
        return -2, INLINE_MARK
    if d >= 0:
        consumers = queries.get_consumers(func, block)
        if consumers:
            loops = queries.get_loops(func, consumers[0])
            if d < len(loops):
                return d, loops[d]
    return None


def compute_location_choices(func: PrimFunc, block: str) -> list[tuple[int, Var | str]]:
    """Where ``block`` may be computed, as ``(decision, location)`` pairs sorted by
    decision, with TVM's codes: -2 inline, -1 root, k ≥ 0 the k-th loop (outermost = 0)
    of the block's first consumer. Mutators use this to propose new decisions."""
    from .schedule_blocks import block_primitive

    prim = "sample_compute_location"
    cands = block_primitive("compute_location_candidates")(func, block)
    consumers = queries.get_consumers(func, block)
    loops = queries.get_loops(func, consumers[0]) if consumers else []
    position = {id(lv): k for k, lv in enumerate(loops)}  # by identity (no EQ nodes built)
    coded: list[tuple[int, Var | str]] = []
    for c in cands:
        if isinstance(c, str) and c == INLINE_MARK:
            coded.append((-2, c))
        elif isinstance(c, str) and c == ROOT_MARK:
            coded.append((-1, c))
        elif isinstance(c, Var) and id(c) in position:
            coded.append((position[id(c)], c))
        else:
            raise ScheduleError(
                f"{prim}: internal: candidate {c!r} of block {block!r} is not a loop of its "
                "first consumer"
            )
    coded.sort(key=lambda x: x[0])
    return coded
