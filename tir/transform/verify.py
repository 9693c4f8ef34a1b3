"""Structural checks of lowered functions, run between passes when ONNXTUNE_DEBUG=1."""

from __future__ import annotations

import os

from ..buffer import Buffer
from ..expr import BufferLoad, Let, Var
from ..function import PrimFunc
from ..functor import children
from ..stmt import Allocate, Block, BlockRealize, BufferStore, For, LetStmt


def debug_enabled() -> bool:
    """True when the environment variable ONNXTUNE_DEBUG is set to a non-zero value."""
    return os.environ.get("ONNXTUNE_DEBUG", "0") not in ("", "0")


class LoweringError(ValueError):
    """A lowered function breaks an invariant the code generator relies on."""


def verify_lowered(func: PrimFunc, stage: str = "lowering", flat: bool = False) -> None:
    """Check that no block is left, every variable is defined where it is used, and every
    buffer accessed is a parameter or allocated around the access (1-D if ``flat``).

    Raises :class:`LoweringError` naming the pass (``stage``) and the offending node.
    """
    buffers: set[Buffer] = set(func.params)
    _Verifier(stage, flat, buffers).check(func.body, frozenset())


class _Verifier:
    def __init__(self, stage: str, flat: bool, buffers: set[Buffer]):
        self.stage, self.flat, self.buffers = stage, flat, buffers

    def fail(self, msg: str) -> None:
        raise LoweringError(f"after {self.stage}: {msg}")

    def check_buffer(self, buf: Buffer, n_idx: int, bound: frozenset) -> None:
        if buf not in self.buffers and buf not in bound:
            self.fail(f"buffer {buf.name} is accessed outside its allocation")
        if self.flat and n_idx != 1:
            self.fail(f"buffer {buf.name} is accessed with {n_idx} indices after flattening")
        for s in buf.shape:
            self.check(s, bound)

    def check(self, node, bound: frozenset) -> None:
        stack = [(node, bound)]
        while stack:
            n, bound = stack.pop()
            if isinstance(n, (Block, BlockRealize)):
                name = n.name_hint if isinstance(n, Block) else n.block.name_hint
                self.fail(f"block {name!r} is still present")
            if isinstance(n, Var):
                if n not in bound:
                    self.fail(f"variable {n.name} is used outside the scope that defines it")
                continue
            if isinstance(n, For):
                stack.append((n.min, bound))
                stack.append((n.extent, bound))
                stack.append((n.body, bound | {n.loop_var}))
                continue
            if isinstance(n, (LetStmt, Let)):
                stack.append((n.value, bound))
                stack.append((n.body, bound | {n.var}))
                continue
            if isinstance(n, Allocate):
                for s in n.buffer.shape:
                    stack.append((s, bound))
                stack.append((n.body, bound | {n.buffer}))
                continue
            if isinstance(n, (BufferLoad, BufferStore)):
                self.check_buffer(n.buffer, len(n.indices), bound)
            for c in children(n):
                stack.append((c, bound))
