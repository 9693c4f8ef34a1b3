"""AutoInline: inline elementwise / injective blocks into their consumers (or producer)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from onnxtune.tir.schedule import ScheduleError
from onnxtune.tir.schedule.primitives import queries
from onnxtune.tir.schedule.primitives.block_common import scope_children
from onnxtune.tir.schedule.schedule_blocks import block_primitive
from onnxtune.tir.schedule.tree import index

from . import analysis as A
from .schedule_rule import ScheduleRule


class InlineType(enum.Enum):
    NO_INLINE = 0
    INTO_CONSUMER = 1
    INTO_PRODUCER = 2


def _strip_tir(op: str) -> str:
    return op[4:] if op.startswith("tir.") else op


class AutoInline(ScheduleRule):
    """TVM's AutoInline rule.

    A block is inlined into its consumers (``compute_inline``) when it writes one buffer
    and either computes a constant tensor (``inline_const_tensor``) or, unless the whole
    function is spatial, calls none of ``disallow_op``, has no branch
    (``disallow_if_then_else``) and reads every buffer through an injective and ordered
    index map (``require_injective`` / ``require_ordered``). With ``into_producer`` an
    elementwise consumer of a single complete producer is reverse-inlined instead.
    A block annotated ``meta_schedule.inline_rule = "disable"`` is left alone.
    """

    def __init__(self, into_producer: bool = False, into_consumer: bool = True,
                 inline_const_tensor: bool = True, disallow_if_then_else: bool = True,
                 require_injective: bool = True, require_ordered: bool = True,
                 disallow_op: Sequence[str] | None = None):
        self.into_producer = into_producer
        self.into_consumer = into_consumer
        self.inline_const_tensor = inline_const_tensor
        self.disallow_if_then_else = disallow_if_then_else
        self.require_injective = require_injective
        self.require_ordered = require_ordered
        self.disallow_op = [str(x) for x in (disallow_op or [])]

    def apply(self, sch: Any, block: Any) -> list[Any]:
        kind = self.check_inline(sch, block)
        if kind is InlineType.INTO_CONSUMER:
            sch.compute_inline(block)
        elif kind is InlineType.INTO_PRODUCER:
            sch.reverse_compute_inline(block)
        return [sch]

    def check_inline(self, sch: Any, block_rv: Any) -> InlineType:
        """How (if at all) the rule inlines the block."""
        loc = A.locate(sch, block_rv)
        if A.is_root(loc):
            return InlineType.NO_INLINE
        realize = loc.stmt
        block = realize.block
        func = sch.func
        name = block.name_hint
        spatial_func = A.is_spatial_prim_func(func)
        # 1. one written buffer
        if len(block.writes) != 1:
            return InlineType.NO_INLINE
        # 2. a constant tensor is inlined whatever else holds
        if self.inline_const_tensor and not block.reads and self.into_consumer:
            if queries.get_consumers(func, name) and _can(func, "compute_inline", name):
                return InlineType.INTO_CONSUMER
        if not spatial_func:
            # 3. no disallowed op
            if self.disallow_op and A.has_op(realize, {_strip_tir(o) for o in
                                                       self.disallow_op}):
                return InlineType.NO_INLINE
            # 4. no branch
            if self.disallow_if_then_else and A.has_if_then_else(realize):
                return InlineType.NO_INLINE
            # 5. injective and ordered reads
            if self.require_injective or self.require_ordered:
                w = block.writes[0]
                for r in block.reads:
                    _, _, injective, ordered = A.analyze_read_write_pattern(r, w)
                    if self.require_injective and not injective:
                        return InlineType.NO_INLINE
                    if self.require_ordered and not ordered:
                        return InlineType.NO_INLINE
        # 6. disabled by annotation
        if block.annotations.get(A.INLINE_RULE) == "disable":
            return InlineType.NO_INLINE
        # last: the consumers, or a single complete producer
        if self.into_consumer and queries.get_consumers(func, name) and _can(
                func, "compute_inline", name):
            return InlineType.INTO_CONSUMER
        if self.into_producer:
            producers = queries.get_producers(func, name)
            if len(producers) == 1:
                ploc = index(func).block(producers[0])
                pblock = ploc.stmt.block
                if (A.is_spatial(pblock)
                        and A.AUTO_TENSORIZE not in pblock.annotations
                        and _only_writer(ploc, pblock)
                        and _can(func, "reverse_compute_inline", name)):
                    return InlineType.INTO_PRODUCER
        return InlineType.NO_INLINE


def _only_writer(loc: Any, block: Any) -> bool:
    children = scope_children(loc)
    for w in block.writes:
        if sum(1 for r in children if any(x.buffer is w.buffer for x in r.block.writes)) > 1:
            return False
    return True


def _can(func: Any, prim: str, name: str) -> bool:
    """Whether the primitive would accept the block (tried on the immutable function)."""
    try:
        block_primitive(prim)(func, name)
    except ScheduleError:
        return False
    return True


class InlineConstantScalars(ScheduleRule):
    """Inline blocks that compute a scalar constant (TVM's InlineConstantScalars)."""

    def apply(self, sch: Any, block: Any) -> list[Any]:
        loc = A.locate(sch, block)
        if A.is_root(loc):
            return [sch]
        b = loc.stmt.block
        if (len(b.writes) == 1 and not b.reads and not b.writes[0].buffer.shape
                and _can(sch.func, "compute_inline", b.name_hint)):
            sch.compute_inline(block)
        return [sch]
