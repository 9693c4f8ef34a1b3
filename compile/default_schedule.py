"""The untuned schedule: a heuristic, structure-driven schedule for any PrimFunc.

``default_schedule(func, target)`` is what a PrimFunc without a tuning record compiles
with, so a model never runs on naive loops. It looks only at the block structure (iter
var kinds, bindings, the buffers each block reads and writes), never at operator names:

1. **Inline.** A spatial block that writes an intermediate buffer and whose consumers are
   all spatial is inlined into them (``compute_inline``); producers feeding a reduction
   (padding before a convolution, say) stay materialized — each of their elements is
   read many times by the reduction.
2. **Reductions with a vectorizable output axis** (matmul, batch_matmul, conv2d,
   depthwise conv, pooling, a fused conv+bias+relu): the output's last axis ``v`` is
   split by the vector width and vectorized; a second spatial axis ``r`` that the
   broadcast operand depends on (the rows of A, the output channels of the kernel) is
   tiled by a few rows; the ``r × v`` register tile runs innermost, under the reduction
   loops, unrolled, with its accumulators in a local buffer (``cache_write``, or the
   intermediate the epilogue reads) written back — through the epilogue, which is
   ``reverse_compute_at`` the tile — right after the reduction. The outer spatial loops
   are fused and run in parallel. The tile's shape (vectors × rows) is the one with the
   most multiply-adds per load; an intermediate read with a small constant stride along
   the vector axis (a strided convolution's padding) is stored de-interleaved so those
   loads are contiguous. Without a contiguous output axis (NCHW convolutions, dense
   layers) the weight is packed with the output channels innermost (a layout-rewrite
   block the graph builder runs once for constant weights) and the tile vectorizes the
   channels; the data rows every channel block reads are staged per parallel iteration in
   a compact buffer, and large weight slices are blocked along the reduction
   (:mod:`.packed_schedule`). A matmul against a constant weight takes packed column
   panels, one with a constant left operand (a pointwise convolution over flattened
   pixels) row panels (:mod:`.dense_schedule`).
3. **Other reductions** (softmax, layer norm, reductions over the contiguous axis): the
   outer spatial loops are fused and parallel.
4. **Spatial blocks** (elementwise, broadcast, injective): all loops fused, split by the
   vector width, the inner part vectorized when the output is contiguous along it, the
   outer part parallel.

Every step is tried on a copy of the schedule and dropped if a primitive refuses it, so
an unknown structure falls back to fewer transformations (down to the function
unchanged); schedule primitives preserve semantics, so results never change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from onnxtune.tir.function import PrimFunc
from onnxtune.tir.functor import collect_vars
from onnxtune.tir.module_equality import block_reduces
from onnxtune.tir.schedule import Schedule, ScheduleError
from onnxtune.tir.schedule.primitives import queries
from onnxtune.tir.schedule.tree import index
from onnxtune.tir.stmt import BlockRealize

from .packed_schedule import packed_axis, packed_tile
from .schedule_facts import (
    _coef,
    _const,
    _constant_params,
    _deinterleave,
    _divisor_at_most,
    _Facts,
    _facts,
    _parallel_prefix,
    _prod,
    _rfactor_lanes,
    _uses,
    _vectorize_inner,
)

log = logging.getLogger(__name__)

#: below this many output elements a loop nest is not worth a parallel launch
MIN_PARALLEL_ELEMENTS = 4096
#: below this many multiply-adds a reduction runs serially
MIN_PARALLEL_WORK = 32768
#: accumulators (vector registers) a register tile may use
REGISTER_BUDGET = 16
#: weights up to SMALL_WEIGHT_BYTES stay cached while every tile of an input larger than
#: INNER_INPUT_BYTES visits all channel blocks. The parallel loop then splits the rows
#: (not the channel blocks) between threads: each thread reads only its rows of the input,
#: which the previous kernel, split the same way, left in that core's L2 (ResNet-50's
#: 56x56 3x3 convolutions: 30% faster in the model at 512 KB than at 1 MB).
SMALL_WEIGHT_BYTES = 1024 * 1024
INNER_INPUT_BYTES = 512 * 1024
#: an input larger than this, read by channel blocks that run in parallel (a large
#: weight), is staged in chunks (see CHANNEL_CHUNKS)
LARGE_INPUT_BYTES = 1024 * 1024
#: a packed weight slice larger than this is blocked along the reduction: the block stays in
#: L1 (next to the input rows it meets) while every spatial tile of the thread uses it
WEIGHT_BLOCK_BYTES = 16 * 1024
#: the fused parallel loop should have at least this many iterations per thread
CHUNKS_PER_THREAD = 4
#: stage a packed tile's data input per parallel iteration (see ``packed_schedule._stage_input``)
STAGE_INPUT = True
#: store a strided tile input de-interleaved (see ``_deinterleave``)
DEINTERLEAVE = True
#: channel blocks run in parallel (weights over SMALL_WEIGHT_BYTES) over an input larger
#: than LARGE_INPUT_BYTES: split into threads x this many chunks, each staging every row once
CHANNEL_CHUNKS = 1
#: vectorize a packed tile's epilogue along the output's last axis when it reads a residual
VECTOR_EPILOGUE = True
#: packed tiles of pointwise reductions hold half the points and two channel vectors
POINTWISE_HALF_TILE = True
#: packed tiles of pointwise reductions (1x1 convolutions, which stay convolutions over
#: 14x14 and 7x7 images) hold two channel vectors and as many points as
#: POINTWISE_WIDE_REGISTERS - 2 accumulators leave (a 14-point row, where the half tile
#: took 7), and run their channel blocks in parallel, each thread reading half the weights
#: (unless CHANNELS_INNER is given)
POINTWISE_WIDE = True
POINTWISE_WIDE_REGISTERS = 30
#: a packed tile holds at most this many vectors of output channels
PACKED_VECTORS_MAX = 4
#: accumulators of a tile vectorized along a row of an odd number of vectors (a 7 x 16
#: row: ResNet-50's and MobileNetV2's stems), whose vectors x rows the planner picks for
#: the most multiply-adds per load: all but two of AVX-512's 32 registers
ODD_ROW_REGISTERS = 30
#: a tile vectorized along the output's last axis holds at most this many full vectors
TILE_VECTORS_MAX = 2
#: a packed tile's channel blocks run innermost of its outer loops (each input tile reused
#: by every channel block): None decides by SMALL_WEIGHT_BYTES and INNER_INPUT_BYTES,
#: True / False force it
CHANNELS_INNER: bool | None = None
#: a packed tile takes at most this many points along the output's last axis (the rest of
#: its register budget goes to the next axis: 7 x 2 instead of 14 x 1); None: no cap
PACKED_WIDTH_MAX: int | None = None
#: a packed tile holds this many channel vectors (its points get the rest of the register
#: budget; POINTWISE_HALF_TILE and PACKED_VECTORS_MAX then do not apply); None: decided
#: by those
PACKED_VECTORS: int | None = None
#: a matmul against a constant 2-d weight uses packed column panels (compile/dense_schedule)
DENSE_PANELS = True
#: a matmul with a constant 2-d left operand (a pointwise convolution over flattened pixels)
#: uses row panels (compile/dense_schedule), with PANEL_ACCUMULATORS vector accumulators
#: (rows x vectors; the vectors then the rows fixed by PANEL_VECTORS / PANEL_ROWS if set)
ROW_PANELS = True
PANEL_ACCUMULATORS = 28
PANEL_ROWS: int | None = None
PANEL_VECTORS: int | None = None
#: a row panel tile copies its strip of the right operand into a contiguous block when the
#: strip is larger than this many bytes; None: never
PANEL_STAGE_BYTES: int | None = 32 * 1024
#: a padded input read per channel (a depthwise convolution's, a pooling window's) is
#: computed inside the tile's parallel loop, one channel block at a time while it is cached,
#: instead of in a pass of its own over the whole tensor
PAD_AT_TILE = True
#: a reduction whose output rows are one vector wide (a 16x16 image) takes the packed tile
#: when its weight packs (else the rows are vectorized)
ONE_VECTOR_ROWS_PACKED = True

#: a convolution in channel-blocked layouts (NCHW16c) takes its own register tile
#: (compile/blocked_schedule): at most BLOCKED_REGISTERS vector registers for accumulators,
#: weight vectors and the broadcast; at most BLOCKED_POINTS points of a row and
#: BLOCKED_VECTORS channel blocks (None: as the registers allow, up to 4 blocks); rows
#: outermost of the parallel loops instead of channel groups (None: when the weight is at
#: most BLOCKED_ROWS_WEIGHT_BYTES and there are rows enough for the threads); the padding
#: read through its condition instead of copied per row
BLOCKED_TILES = True
BLOCKED_REGISTERS = 31
BLOCKED_POINTS: int | None = None
BLOCKED_VECTORS: int | None = None
BLOCKED_ROWS_OUTER: bool | None = None
BLOCKED_ROWS_WEIGHT_BYTES = 768 * 1024
BLOCKED_PAD_INLINE = False
#: channel groups outermost, a group's weights larger than this: the input channels are
#: blocked so that each block of weights serves every row while in L1 — when the rows hold
#: at least BLOCKED_WEIGHT_BLOCK_TILES register tiles (a 2x2 image's one or two tiles gain
#: nothing and pay the accumulators' stores: ResNet-18's last layers at 64x64 input,
#: 0.38 -> 0.50 ms)
BLOCKED_WEIGHT_BLOCK_BYTES = 32 * 1024
BLOCKED_WEIGHT_BLOCK_TILES = 4
#: rows outermost, weights larger than BLOCKED_WEIGHT_BLOCK_BYTES: block the input
#: channels too, so that a row's tiles share each block of weights while it is in L1 (off:
#: ResNet-50 untuned 44.97 -> 46.16 ms with it, ResNet-18 20.4-20.7 -> 20.3; a variant)
BLOCKED_ROW_WEIGHT_BLOCKS = False
#: input channels carved into blocks and a weight larger than this many bytes: each tile's
#: reduction prefetches (into L2) the next block's weights, which then come from memory
#: while the rows of this block run (a model's largest weights are in no cache: ResNet-50's
#: layer4, 2-9 MB, 10.18 -> 9.45 ms in the model, the whole model 0.978x; prefetching every
#: carved weight, layer3's 1-2.4 MB ones too, lost elsewhere what layer4 gained); None: never
BLOCKED_PREFETCH_BYTES: int | None = 3 * 1024 * 1024
#: a depthwise convolution in a channel-blocked layout: at most this many output points
#: of a row per tile (28-point tiles: LLVM forwards the window's inputs between columns
#: through registers and spills; 14, against the generic schedule: 0.50-0.63x its time on
#: MobileNetV2's 56- and 112-wide rows, 0.90x on 14-wide, 0.96x on 7-wide)
BLOCKED_DEPTHWISE_POINTS = 14

#: the module constants one call may override through ``knobs`` (see
#: :func:`default_schedule_of`), with the types they take
KNOBS: dict[str, tuple[type, ...]] = {
    "MIN_PARALLEL_ELEMENTS": (int,),
    "MIN_PARALLEL_WORK": (int,),
    "REGISTER_BUDGET": (int,),
    "SMALL_WEIGHT_BYTES": (int,),
    "LARGE_INPUT_BYTES": (int,),
    "INNER_INPUT_BYTES": (int,),
    "WEIGHT_BLOCK_BYTES": (int,),
    "CHUNKS_PER_THREAD": (int,),
    "STAGE_INPUT": (bool,),
    "DEINTERLEAVE": (bool,),
    "CHANNEL_CHUNKS": (int,),
    "VECTOR_EPILOGUE": (bool,),
    "POINTWISE_HALF_TILE": (bool,),
    "POINTWISE_WIDE": (bool,),
    "POINTWISE_WIDE_REGISTERS": (int,),
    "PACKED_VECTORS_MAX": (int,),
    "TILE_VECTORS_MAX": (int,),
    "ODD_ROW_REGISTERS": (int,),
    "CHANNELS_INNER": (bool, type(None)),
    "PACKED_WIDTH_MAX": (int, type(None)),
    "PACKED_VECTORS": (int, type(None)),
    "DENSE_PANELS": (bool,),
    "PAD_AT_TILE": (bool,),
    "ONE_VECTOR_ROWS_PACKED": (bool,),
    "ROW_PANELS": (bool,),
    "PANEL_ACCUMULATORS": (int,),
    "PANEL_ROWS": (int, type(None)),
    "PANEL_VECTORS": (int, type(None)),
    "PANEL_STAGE_BYTES": (int, type(None)),
    "BLOCKED_TILES": (bool,),
    "BLOCKED_REGISTERS": (int,),
    "BLOCKED_POINTS": (int, type(None)),
    "BLOCKED_VECTORS": (int, type(None)),
    "BLOCKED_ROWS_OUTER": (bool, type(None)),
    "BLOCKED_ROWS_WEIGHT_BYTES": (int,),
    "BLOCKED_PAD_INLINE": (bool,),
    "BLOCKED_WEIGHT_BLOCK_BYTES": (int,),
    "BLOCKED_WEIGHT_BLOCK_TILES": (int,),
    "BLOCKED_ROW_WEIGHT_BLOCKS": (bool,),
    "BLOCKED_PREFETCH_BYTES": (int, type(None)),
    "BLOCKED_DEPTHWISE_POINTS": (int,),
}
#: smallest value of each integer knob
_KNOB_MIN = {"REGISTER_BUDGET": 3, "ODD_ROW_REGISTERS": 3, "CHUNKS_PER_THREAD": 1,
             "PACKED_VECTORS_MAX": 1, "TILE_VECTORS_MAX": 1, "PACKED_WIDTH_MAX": 1,
             "PACKED_VECTORS": 1, "PANEL_ACCUMULATORS": 1, "PANEL_ROWS": 1, "PANEL_VECTORS": 1,
             "BLOCKED_REGISTERS": 3, "BLOCKED_POINTS": 1, "BLOCKED_VECTORS": 1,
             "BLOCKED_DEPTHWISE_POINTS": 1}


def resolve_knobs(knobs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every knob's value: the module constant (read now), overridden by ``knobs``.
    Raises ValueError naming an unknown knob or a value of the wrong type or range."""
    consts = globals()
    out = {name: consts[name] for name in KNOBS}
    for name, value in (knobs or {}).items():
        if name not in KNOBS:
            raise ValueError(f"default_schedule: unknown knob {name!r}; expected one of "
                             f"{sorted(KNOBS)}")
        types = KNOBS[name]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise ValueError(f"default_schedule: knob {name} must be "
                             f"{' or '.join(t.__name__ for t in types)}, got {value!r}")
        if isinstance(value, int) and not isinstance(value, bool) and \
                value < _KNOB_MIN.get(name, 0):
            raise ValueError(f"default_schedule: knob {name} must be >= "
                             f"{_KNOB_MIN.get(name, 0)}, got {value}")
        out[name] = value
    return out


def default_schedule(func: PrimFunc, target: Any = None) -> PrimFunc:
    """The heuristic schedule of ``func`` for ``target`` (a ``Target``, its string, or None
    for the host). Returns a PrimFunc computing exactly what ``func`` computes."""
    from .target import Target

    tgt = Target("llvm") if target is None else (
        target if isinstance(target, Target) else Target(target))
    return default_schedule_of(func, tgt).func


def default_schedule_of(func: PrimFunc, target: Any = None,
                        knobs: dict[str, Any] | None = None) -> Schedule:
    """The :class:`Schedule` (with its trace) that :func:`default_schedule` applies: the
    tuner measures it as every task's first candidate. ``knobs`` overrides module
    constants for this call (names in :data:`KNOBS`, e.g. ``{"REGISTER_BUDGET": 24}``);
    None gives the default schedule."""
    from .target import Target

    tgt = Target("llvm") if target is None else (
        target if isinstance(target, Target) else Target(target))
    planner = _Planner(Schedule(func), tgt, knobs)
    planner.run()
    return planner.sch


# ----------------------------------------------------------------------------------------
# block facts


# ----------------------------------------------------------------------------------------
# the planner


class _Planner:
    def __init__(self, sch: Schedule, target: Any, knobs: dict[str, Any] | None = None):
        self.sch = sch
        self.target = target
        self.threads = max(1, int(getattr(target, "num_cores", 1) or 1))
        self.done: set[str] = set()
        self.knobs = resolve_knobs(knobs)
        # per-channel producers of a reduction, left for its tile to compute inside itself
        self.deferred: set[str] = set()

    def k(self, name: str) -> Any:
        """The value of knob ``name`` for this plan."""
        return self.knobs[name]

    # -- helpers --------------------------------------------------------------------------
    def attempt(self, what: str, fn: Callable[[Schedule], Any]) -> Any:
        """Run ``fn`` on a copy; keep the copy if it succeeds. Returns fn's result or None."""
        trial = self.sch.copy()
        try:
            out = fn(trial)
        except (ScheduleError, ValueError, NotImplementedError) as err:
            log.debug("default_schedule: %s skipped: %s", what, err)
            return None
        self.sch = trial
        return True if out is None else out

    def params(self) -> set:
        return set(self.sch.func.params)

    def blocks(self) -> list[str]:
        return self._blocks_of(self.sch)

    @staticmethod
    def _blocks_of(sch: Schedule) -> list[str]:
        """The block names of ``sch`` in program order, the root block left out."""
        ix = index(sch.func)
        root = sch.func.body
        names = list(ix.order)
        if isinstance(root, BlockRealize) and names and names[0] == root.block.name_hint:
            names = names[1:]
        return names

    def lanes(self, dtype: str) -> int:
        try:
            return max(1, self.target.vector_lanes(dtype))
        except (ValueError, AttributeError):
            return 4

    # -- driver ---------------------------------------------------------------------------
    def run(self) -> None:
        self.inline()
        self.row_fusion()
        for name in self.blocks():
            if name in self.done or name not in index(self.sch.func).blocks:
                continue
            facts = _facts(self.sch, name)
            if facts is None or not facts.trivial:
                continue
            if facts.is_reduction:
                if not self.tile_reduction(facts):
                    self.parallel_outer(facts)
            elif self.k("PAD_AT_TILE") and self._per_channel_input(name):
                self.deferred.add(name)
                continue
            else:
                self.spatial(facts)
            self.done.add(name)
        for name in sorted(self.deferred - self.done):  # their tile did not take them
            if name in index(self.sch.func).blocks:
                facts = _facts(self.sch, name)
                if facts is not None and facts.trivial:
                    self.spatial(facts)
            self.done.add(name)

    def _per_channel_input(self, name: str) -> bool:
        """Does block ``name`` (not a reduction) feed exactly one block, a reduction that
        reads it with reduction variables only in its last two indices, or the two before
        a blocked layout's lanes (a depthwise convolution's or a pooling window's padded
        input, not a dense convolution's, which every output channel reads whole)?"""
        s = self.sch
        try:
            consumers = s.get_consumers(s.get_block(name))
        except Exception:  # noqa: BLE001 - not a plain block
            return False
        if len(consumers) != 1:
            return False
        cf = _facts(s, s.get(consumers[0]).name_hint)
        if cf is None or not cf.is_reduction or not cf.trivial:
            return False
        buf = s.get(s.get_block(name)).writes[0].buffer
        lds = [ld for ld in cf.loads if ld.buffer is buf]
        red = {v for v, _ in cf.reduce}

        def window_dims(idx):  # a blocked layout's lanes (5-d, no reduction) left out
            if len(idx) >= 5 and not red & collect_vars(idx[-1]):
                return idx[:-1]
            return idx

        return bool(lds) and all(
            len(ld.indices) >= 3
            and not any(red & collect_vars(i) for i in window_dims(ld.indices)[:-2])
            for ld in lds)

    def _pad_at(self, s: Schedule, f: _Facts, loop) -> None:
        """Compute the deferred producers of ``f`` at ``loop`` of its tile, their last axis
        vectorized (see PAD_AT_TILE)."""
        for ld in f.loads:
            writers = [b for b in s.get_producers(s.get_block(f.name))
                       if any(w.buffer is ld.buffer for w in s.get(b).writes)]
            if len(writers) != 1 or s.get(writers[0]).name_hint not in self.deferred:
                continue
            s.compute_at(writers[0], loop)
            _vectorize_inner(s, writers[0], self.lanes(f.out_dtype), split=True)
            self.done.add(s.get(writers[0]).name_hint)

    # -- 1. inlining ----------------------------------------------------------------------
    def inline(self) -> None:
        changed = True
        while changed:
            changed = False
            for name in self.blocks():
                facts = _facts(self.sch, name)
                if facts is None or facts.is_reduction:
                    continue
                out_buf = facts.block.writes[0].buffer
                if out_buf in self.params():
                    continue
                cnames = queries.get_consumers(self.sch.func, name)
                if not cnames or any(
                    (cf := _facts(self.sch, c)) is None or cf.is_reduction for c in cnames
                ):
                    continue
                if self.attempt(f"compute_inline {name}",
                                lambda s, n=name: s.compute_inline(s.get_block(n))):
                    changed = True

    # -- 1b. row fusion ---------------------------------------------------------------------
    def row_fusion(self) -> None:
        """Reductions over the contiguous axis feeding an output (softmax, layer norm): every
        stage computed per row under the output's row loop — one parallel region, each row's
        data read while in cache."""
        names = self.blocks()
        if len(names) < 2:
            return
        self_blocks = _Planner._blocks_of
        facts = [_facts(self.sch, n) for n in names]
        if any(f is None or not f.trivial for f in facts):
            return
        reductions = [f for f in facts if f.is_reduction]
        last = facts[-1]
        if (not reductions or last.is_reduction or len(last.spatial) < 2
                or last.block.writes[0].buffer not in self.params()):
            return
        lanes = self.lanes(last.out_dtype)
        if any(len(f.spatial) != len(last.spatial) - 1 for f in reductions):
            return  # not one value per row (a dense layer's outputs, say)
        consts = _constant_params(self.sch.func)
        if any(self._vector_axis(f) is not None or packed_axis(f, lanes, consts) is not None
               for f in reductions):
            return  # a tiled reduction serves these better
        rows = _prod([e for _, e in last.spatial[:-1]])
        work = _prod([e for _, e in last.spatial])

        def go(s: Schedule) -> None:
            rfs = [rf for f in reductions if (rf := _rfactor_lanes(s, f, lanes))]
            out = s.get_block(last.name)
            loops = s.get_loops(out)
            for name in reversed(self_blocks(s)[:-1]):
                s.compute_at(s.get_block(name), loops[-2])
            for rf, d in rfs:  # compute_at rebuilt their loops: lanes innermost, vectorized
                lanes_loop, red_loop = s.get_loops(rf)[-2:]
                if _const(s.get(lanes_loop).extent) == d:
                    s.reorder(red_loop, lanes_loop)
                    s.vectorize(lanes_loop)
            for f in facts:
                if not f.is_reduction and f.out_indices and \
                        f.out_indices[-1] is f.spatial[-1][0]:
                    inner = s.get_loops(s.get_block(f.name))[-1]
                    ext = _const(s.get(inner).extent) or 1
                    if ext >= lanes:
                        _, v = s.split(inner, [None, lanes])
                        s.vectorize(v)
            if self.threads > 1 and rows > 1 and work >= self.k("MIN_PARALLEL_ELEMENTS"):
                s.parallel(s.fuse(*loops[:-1]) if len(loops) > 2 else loops[0])

        if self.attempt("row fusion", go):
            self.done.update(names)

    # -- 2. tiled reductions --------------------------------------------------------------
    def _vector_axis(self, f: _Facts) -> int | None:
        """Position (in ``f.spatial``) of the axis to vectorize: the variable that is the
        output's last index, indexing the last dimension of some input and no other."""
        if not f.out_indices:
            return None
        last = f.out_indices[-1]
        pos = next((k for k, (v, _) in enumerate(f.spatial) if last is v), None)
        if pos is None:
            return None
        var = f.spatial[pos][0]
        contiguous = False
        for ld in f.loads:
            if not ld.indices:
                continue
            for k, idx in enumerate(ld.indices):
                if var in collect_vars(idx):
                    if k != len(ld.indices) - 1:
                        return None
                    contiguous = True
        return pos if contiguous else None

    def _register_axis(self, f: _Facts, vpos: int) -> int | None:
        """A spatial axis (not the vector one) that an operand without the vector axis
        depends on — tiling it reuses each vector load for several accumulators."""
        vvar = f.spatial[vpos][0]
        best, best_ext = None, 1
        for k, (var, ext) in enumerate(f.spatial):
            if k == vpos or ext <= 1:
                continue
            for ld in f.loads:
                used = set().union(*(collect_vars(i) for i in ld.indices)) if ld.indices else set()
                if vvar not in used and var in used and ext > best_ext:
                    best, best_ext = k, ext
        return best

    def tile_reduction(self, f: _Facts) -> bool:
        spatial_total = 1
        for _, e in f.spatial:
            spatial_total *= e
        red_total = 1
        for _, e in f.reduce:
            red_total *= e
        lanes = self.lanes(f.out_dtype)
        if spatial_total < 2 * lanes:
            return False
        vpos = self._vector_axis(f)
        parallel = (spatial_total * red_total >= self.k("MIN_PARALLEL_WORK")
                    and self.threads > 1)
        if self.k("BLOCKED_TILES"):
            from .blocked_schedule import (
                blocked_conv,
                blocked_depthwise,
                blocked_depthwise_schedule,
                blocked_schedule,
            )

            for detect, sched, what in ((blocked_conv, blocked_schedule, "blocked tile"),
                                        (blocked_depthwise, blocked_depthwise_schedule,
                                         "blocked depthwise tile")):
                widx = detect(f, lanes, self.params())
                if widx is None:
                    continue
                out = self.attempt(f"{what} {f.name}", lambda s, sched=sched, widx=widx:
                                   sched(s, f, widx, lanes, parallel, self.threads, self.k))
                if out is not None:
                    if out:
                        self.done.add(out)
                    return True
        if self.k("DENSE_PANELS"):
            from .dense_schedule import dense_operands, dense_tile

            widx = dense_operands(self.sch.func, f, lanes)
            if widx is not None:
                out = self.attempt(f"dense panels {f.name}", lambda s: dense_tile(
                    s, f, widx, lanes, self.threads, self.k("REGISTER_BUDGET"),
                    self.k("CHUNKS_PER_THREAD"), parallel))
                if out is not None:
                    if out:
                        self.done.add(out)
                    return True
        if self.k("ROW_PANELS"):
            from .dense_schedule import row_panel_operands, row_panel_tile

            widx = row_panel_operands(self.sch.func, f, lanes)
            if widx is not None:
                out = self.attempt(f"row panels {f.name}", lambda s: row_panel_tile(
                    s, f, widx, lanes, self.threads, self.k("PANEL_ACCUMULATORS"),
                    self.k("CHUNKS_PER_THREAD"), parallel, self.k("PANEL_ROWS"),
                    self.k("PANEL_VECTORS"), self.k("PANEL_STAGE_BYTES")))
                if out is not None:
                    if out:
                        self.done.add(out)
                    return True
        if (vpos is None or f.spatial[vpos][1] % lanes
                or (f.spatial[vpos][1] == lanes and self.k("ONE_VECTOR_ROWS_PACKED"))):
            # (a row of one vector: the tile then holds one vector x a few channels, and
            # the packed tile's channel vectors x points reuse each load more)
            packed = packed_axis(f, lanes, _constant_params(self.sch.func))
            if packed is not None:
                out = self.attempt(f"packed tile {f.name}",
                                   lambda s: packed_tile(s, f, *packed, lanes, parallel,
                                                      self.threads, self.k))
                if out is not None:
                    if isinstance(out, str) and out:
                        self.done.add(out)
                    return True
        if vpos is None:
            return False
        vext = f.spatial[vpos][1]
        if vext % lanes == 0:
            v = lanes
        else:
            v = next((d for d in (lanes // 2, lanes // 4) if d >= 4 and vext % d == 0), 0)
            if not v:
                v = vext if vext < lanes else lanes
        nvec = -(-vext // v)
        budget = self.k("REGISTER_BUDGET")
        u = _divisor_at_most(nvec, self.k("TILE_VECTORS_MAX") if v == lanes else 8) \
            if vext % v == 0 else 1
        rpos = self._register_axis(f, vpos)
        r = 1
        if rpos is not None:
            r = _divisor_at_most(f.spatial[rpos][1], max(1, budget // u))
            if u == 1 and vext % v == 0 and nvec > 1 and self._unit_stride(f, vpos):
                # no small divisor of the vector count (112 = 7 x 16): more vectors per
                # tile when that feeds more multiply-adds per load (u loads, r broadcasts)
                rext = f.spatial[rpos][1]
                best = (self._fmas_per_load(f, vpos, rpos, 1, r), 1, r)
                wide = self.k("ODD_ROW_REGISTERS")
                for u2 in range(2, min(nvec, wide // 2) + 1):
                    if nvec % u2 == 0:
                        r2 = _divisor_at_most(rext, wide // u2)
                        best = max(best, (self._fmas_per_load(f, vpos, rpos, u2, r2), u2, r2))
                _, u, r = best
        out = self.attempt(
            f"tile {f.name}", lambda s: self._tile(s, f, vpos, v, u, rpos, r, parallel))
        if isinstance(out, str) and out:
            self.done.add(out)  # the epilogue now lives in the tile
        return out is not None

    @staticmethod
    def _fmas_per_load(f: _Facts, vpos: int, rpos: int, u: int, r: int) -> float:
        """Multiply-adds per load of a ``u`` vectors x ``r`` rows register tile: each input
        is loaded once per distinct (vector, row) it depends on."""
        vvar, rvar = f.spatial[vpos][0], f.spatial[rpos][0]
        loads = 0
        for ld in f.loads:
            used = set().union(*(collect_vars(i) for i in ld.indices)) if ld.indices else set()
            loads += (u if vvar in used else 1) * (r if rvar in used else 1)
        return u * r / max(1, loads)

    def _unit_stride(self, f: _Facts, vpos: int) -> bool:
        """Every load along the vector variable is contiguous (or will be, de-interleaved):
        several vectors per tile then cost one plain load each."""
        vvar, params = f.spatial[vpos][0], set(self.params())
        rpos = self._register_axis(f, vpos)
        for ld in f.loads:
            k = _coef(ld.indices[-1], vvar) if ld.indices else 0
            if k in (0, 1):
                continue
            if (k is None or not self.k("DEINTERLEAVE") or ld.buffer in params
                    or not 2 <= k <= 4
                    or rpos is None or _uses(ld, f.spatial[rpos][0])):
                return False
        return True

    def _tile(self, s: Schedule, f: _Facts, vpos: int, v: int, u: int, rpos: int | None,
              r: int, parallel: bool) -> str:
        if self.k("DEINTERLEAVE") and rpos is not None:
            _deinterleave(s, f, f.spatial[vpos][0], f.spatial[rpos][0])
        blk = s.get_block(f.name)
        loops = s.get_loops(blk)
        ns = len(f.spatial)
        sp, rd = loops[:ns], loops[ns:]
        outer, inner = [], []
        for k, lp in enumerate(sp):
            ext = f.spatial[k][1]
            if k == vpos:
                if u * v >= ext and ext <= v:
                    inner_v = [lp]
                    outer_v = []
                else:
                    parts = s.split(lp, [None, u, v]) if u > 1 else s.split(lp, [None, v])
                    outer_v, inner_v = [parts[0]], list(parts[1:])
                outer += outer_v
                vec_loops = inner_v
            elif k == rpos and r > 1:
                o, i = s.split(lp, [None, r])
                outer.append(o)
                inner.insert(0, i)
            else:
                outer.append(lp)
        s.reorder(*outer, *rd, *inner, *vec_loops)
        anchor = outer[-1] if outer else None
        out_buf = f.block.writes[0].buffer
        epilogue = None
        if anchor is not None:
            if out_buf in set(s.func.params):
                wb = s.cache_write(blk, 0, "local")
                s.reverse_compute_at(wb, anchor)
                epilogue = wb
            else:
                consumers = s.get_consumers(blk)
                # (a reduction consuming this one, a Winograd transform's second step, is
                # a block of its own to tile, not an epilogue)
                if len(consumers) == 1 and not block_reduces(s.get(consumers[0])):
                    s.reverse_compute_at(consumers[0], anchor)
                    epilogue = consumers[0]
        for lp in inner:
            s.unroll(lp)
        if len(vec_loops) == 2:
            s.unroll(vec_loops[0])
        s.vectorize(vec_loops[-1])
        if epilogue is not None:
            _vectorize_inner(s, epilogue, v)
        par = None
        if parallel and outer:
            par = _parallel_prefix(s, outer, self.threads, self.k("CHUNKS_PER_THREAD"))
        if self.deferred:
            # inside the parallel loop, else the first loop that does not run once
            at = par if par is not None else next(
                (lp for lp in outer if (_const(s.get(lp).extent) or 2) > 1), None)
            if at is not None:
                self._pad_at(s, f, at)
        if rd:  # last: parallel and vectorize want the reduction block whole
            init = s.decompose_reduction(blk, rd[0])
            _vectorize_inner(s, init, v)
        return s.get(epilogue).name_hint if epilogue is not None else ""

    # -- 3. other reductions --------------------------------------------------------------
    def parallel_outer(self, f: _Facts) -> None:
        total = 1
        for _, e in f.spatial:
            total *= e
        work = total
        for _, e in f.reduce:
            work *= e
        parallel = self.threads > 1 and total > 1 and work >= self.k("MIN_PARALLEL_WORK")
        lanes = self.lanes(f.out_dtype)

        def go(s: Schedule, vectorize: bool) -> None:
            target = s.get_block(f.name)
            if vectorize:
                got = _rfactor_lanes(s, f, lanes)
                if got is not None:
                    target = got[0]
                    s.vectorize(s.get_loops(target)[-1])
            if parallel:
                _parallel_prefix(s, s.get_loops(target)[:len(f.spatial)], self.threads,
                                 self.k("CHUNKS_PER_THREAD"))

        if self._contiguous_reduction(f) and self.attempt(
                f"vectorized reduction {f.name}", lambda s: go(s, True)):
            return
        if parallel:
            self.attempt(f"parallel {f.name}", lambda s: go(s, False))

    def _contiguous_reduction(self, f: _Facts) -> bool:
        """One reduction axis, the innermost loop, indexing only the last dimension of the
        inputs that use it (a dot product along contiguous rows)."""
        if len(f.reduce) != 1:
            return False
        rvar = f.reduce[0][0]
        used = False
        for ld in f.loads:
            for k, idx in enumerate(ld.indices):
                if rvar in collect_vars(idx):
                    if k != len(ld.indices) - 1:
                        return False
                    used = True
        return used

    # -- 4. spatial blocks ----------------------------------------------------------------
    def spatial(self, f: _Facts) -> None:
        total = 1
        for _, e in f.spatial:
            total *= e
        if total <= 1:
            return
        lanes = self.lanes(f.out_dtype)
        contiguous = bool(f.out_indices) and f.out_indices[-1] is f.spatial[-1][0]
        par = self.threads > 1 and total >= self.k("MIN_PARALLEL_ELEMENTS")
        inner_ext = f.spatial[-1][1]

        def go(s: Schedule) -> None:
            loops = s.get_loops(s.get_block(f.name))
            outer = list(loops[:-1])
            vec = None
            if contiguous and inner_ext >= lanes:
                o, vec = s.split(loops[-1], [None, lanes])
                outer.append(o)
            elif contiguous and inner_ext > 1:
                vec = loops[-1]
            else:
                outer.append(loops[-1])
            if vec is not None:
                s.vectorize(vec)
            if par and outer:
                fused = s.fuse(*outer) if len(outer) > 1 else outer[0]
                s.parallel(fused)

        if not self.attempt(f"spatial {f.name}", go) and par:
            self.parallel_outer(f)
