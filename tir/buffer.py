"""Buffers (multi-dimensional arrays the IR reads and writes) and buffer regions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import dtype as dt
from .expr import BufferLoad, IntImm, Node, PrimExpr, Range, convert


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Buffer(Node):
    """A dense row-major array of ``shape`` and ``dtype`` living in memory ``scope``.

    Buffers are compared by identity inside one function; structural equality maps the
    buffers of two functions onto each other.
    """

    name: str
    shape: tuple[PrimExpr, ...]
    dtype: str = "float32"
    scope: str = "global"
    #: byte alignment the allocation guarantees (0 = the default of the allocator)
    align: int = 0
    #: storage_align hints: ``(axis, factor, offset)`` triples padding the row stride
    storage_align: tuple[tuple[int, int, int], ...] = ()

    def __getitem__(self, indices: Any) -> BufferLoad:
        if not isinstance(indices, tuple):
            indices = (indices,)
        if len(indices) != len(self.shape):
            raise ValueError(
                f"buffer {self.name} has {len(self.shape)} dimensions, "
                f"indexed with {len(indices)}"
            )
        return BufferLoad(self, tuple(convert(i) for i in indices))

    def vload(self, indices: Any) -> BufferLoad:
        return self[tuple(indices) if isinstance(indices, (list, tuple)) else indices]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def static_shape(self) -> tuple[int, ...]:
        """The shape as Python ints; raises ValueError if a dimension is not constant."""
        out = []
        for i, s in enumerate(self.shape):
            if not isinstance(s, IntImm):
                raise ValueError(f"buffer {self.name}: dimension {i} ({s}) is not a constant")
            out.append(s.value)
        return tuple(out)

    def numel(self) -> int:
        n = 1
        for s in self.static_shape():
            n *= s
        return n

    def nbytes(self) -> int:
        return self.numel() * dt.itemsize(self.dtype)

    def full_region(self) -> BufferRegion:
        return BufferRegion(self, tuple(Range(IntImm(0, s.dtype), s) for s in self.shape))


def decl_buffer(
    shape: Any, dtype: str = "float32", name: str = "buf", scope: str = "global"
) -> Buffer:
    """Declare a buffer; ``shape`` may hold ints or expressions."""
    if isinstance(shape, (int, PrimExpr)):
        shape = (shape,)
    dims = []
    for s in shape:
        e = convert(s)
        if isinstance(e, IntImm) and e.value < 0:
            raise ValueError(f"buffer {name}: negative dimension {e.value} in shape")
        dims.append(e)
    return Buffer(name, tuple(dims), dt.check_dtype(dtype), scope)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BufferRegion(Node):
    """A rectangular region of a buffer: one Range per dimension."""

    buffer: Buffer
    region: tuple[Range, ...]
