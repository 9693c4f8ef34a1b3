"""onnxtune.tir: the tensor IR (TVM TensorIR-like), TE, schedules and analysis."""

from __future__ import annotations

from . import dtype
from .buffer import Buffer, BufferRegion, decl_buffer
from .expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    And,
    BinaryOp,
    Broadcast,
    BufferLoad,
    Call,
    Cast,
    CmpOp,
    Div,
    FloatImm,
    FloorDiv,
    FloorMod,
    IntImm,
    IterType,
    IterVar,
    Let,
    Max,
    Min,
    Mod,
    Mul,
    Node,
    Not,
    Or,
    PrimExpr,
    Ramp,
    Range,
    Reduce,
    Select,
    StringImm,
    Sub,
    Var,
    cast,
    const,
    convert,
)
from .function import IRModule, PrimFunc
from .functor import (
    Mutator,
    Visitor,
    post_order_visit,
    pre_order_visit,
    replace_buffers,
    substitute,
)
from .op import (
    abs,
    all,
    any,
    ceil,
    ceildiv,
    cos,
    div,
    erf,
    exp,
    exp2,
    floor,
    floordiv,
    floormod,
    fmod,
    if_then_else,
    indexdiv,
    indexmod,
    infinity,
    isnan,
    log,
    log1p,
    log2,
    logical_not,
    max,
    max_value,
    min,
    min_value,
    pow,
    round,
    rsqrt,
    select,
    sigmoid,
    sin,
    sqrt,
    tanh,
    trunc,
    truncdiv,
    truncmod,
)
from .serialize import load_json, save_json
from .stmt import (
    Allocate,
    Block,
    BlockRealize,
    BufferStore,
    Evaluate,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    SeqStmt,
    Stmt,
)
from .structural import assert_structural_equal, structural_equal, structural_hash

_SCHEDULE_NAMES = ("Schedule", "Trace", "ScheduleError", "BlockRV", "SBlockRV", "LoopRV",
                   "ExprRV", "IndexMap", "Instruction", "InstructionKind")


def __getattr__(name: str):
    """Schedule names are imported lazily (``tir.Schedule``, ``tir.Trace``, ...)."""
    if name in _SCHEDULE_NAMES:
        from . import schedule

        return getattr(schedule, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
