"""FlattenBuffer: turn every multi-dimensional access into a row-major 1-D access."""

from __future__ import annotations

from ..buffer import Buffer
from ..expr import Add, BufferLoad, Cast, IntImm, Mul, PrimExpr
from ..function import PrimFunc
from ..functor import Mutator
from ..stmt import Allocate, BufferStore

#: byte alignment of every buffer the generated code allocates
ALLOC_ALIGN = 64


def _mul(a: PrimExpr, b: PrimExpr) -> PrimExpr:
    if isinstance(a, IntImm) and isinstance(b, IntImm):
        return IntImm(a.value * b.value, a.dtype)
    if isinstance(b, IntImm) and b.value == 1:
        return a
    if isinstance(a, IntImm) and a.value == 1:
        return b
    return Mul(a, b)


def _add(a: PrimExpr, b: PrimExpr) -> PrimExpr:
    if isinstance(a, IntImm) and isinstance(b, IntImm):
        return IntImm(a.value + b.value, a.dtype)
    if isinstance(b, IntImm) and b.value == 0:
        return a
    if isinstance(a, IntImm) and a.value == 0:
        return b
    return Add(a, b)


def _as(e: PrimExpr, dtype: str) -> PrimExpr:
    if e.dtype == dtype:
        return e
    if isinstance(e, IntImm):
        return IntImm(e.value, dtype)
    return Cast(dtype, e)


class _Layout:
    """The strides (in elements) of a buffer and its flattened 1-D replacement."""

    def __init__(self, buf: Buffer, allocated: bool):
        self.buffer = buf
        shape = buf.shape
        aligns = {axis: (factor, offset) for axis, factor, offset in buf.storage_align}
        if aligns and not allocated:
            raise ValueError(
                f"buffer {buf.name}: storage_align applies to buffers the function allocates, "
                "not to parameters (their layout is the caller's dense row-major array)"
            )
        strides: list[PrimExpr] = [IntImm(0, "int64")] * len(shape)
        stride: PrimExpr = IntImm(1, "int64")
        for dim in range(len(shape) - 1, -1, -1):
            if dim in aligns:
                factor, offset = aligns[dim]
                if not isinstance(stride, IntImm):
                    raise NotImplementedError(
                        f"buffer {buf.name}: storage_align on axis {dim} needs a constant stride"
                    )
                if factor > 0:
                    stride = IntImm(
                        stride.value + (factor + offset - stride.value % factor) % factor, "int64"
                    )
            strides[dim] = stride
            stride = _mul(stride, _as(shape[dim], "int64"))
        self.strides = strides
        self.size = stride
        big = not isinstance(stride, IntImm) or stride.value >= 2**31
        self.index_dtype = "int64" if big else "int32"
        align = max(buf.align, ALLOC_ALIGN) if allocated else buf.align
        self.flat = Buffer(buf.name, (_as(stride, self.index_dtype),), buf.dtype, buf.scope, align)

    def flatten(self, indices: tuple[PrimExpr, ...]) -> PrimExpr:
        if len(indices) != len(self.strides):
            raise ValueError(
                f"buffer {self.buffer.name} has {len(self.strides)} dimensions, accessed with "
                f"{len(indices)} indices"
            )
        dtype = self.index_dtype
        if any(i.dtype == "int64" for i in indices):
            dtype = "int64"
        out: PrimExpr = IntImm(0, dtype)
        for idx, stride in zip(indices, self.strides, strict=True):
            out = _add(out, _mul(_as(idx, dtype), _as(stride, dtype)))
        return out


class _Flattener(Mutator):
    def __init__(self, params: tuple[Buffer, ...]):
        self.layouts: dict[Buffer, _Layout] = {p: _Layout(p, allocated=False) for p in params}

    def _layout(self, buf: Buffer) -> _Layout:
        lay = self.layouts.get(buf)
        if lay is None:
            raise ValueError(
                f"buffer {buf.name} is accessed but is neither a parameter nor allocated by a "
                "block (alloc_buffers) or an Allocate around the access"
            )
        return lay

    def visit_Allocate(self, n: Allocate) -> Allocate:
        lay = _Layout(n.buffer, allocated=True)
        self.layouts[n.buffer] = lay
        return Allocate(lay.flat, self.visit(n.body))

    def visit_BufferLoad(self, n: BufferLoad) -> PrimExpr:
        lay = self._layout(n.buffer)
        return BufferLoad(lay.flat, (lay.flatten(self.visit_tuple(n.indices)),))

    def visit_BufferStore(self, n: BufferStore) -> BufferStore:
        lay = self._layout(n.buffer)
        idx = lay.flatten(self.visit_tuple(n.indices))
        return BufferStore(lay.flat, self.visit(n.value), (idx,))


def flatten_buffer(func: PrimFunc) -> PrimFunc:
    """Make every buffer 1-D with row-major strides (``storage_align`` padding included).

    The returned function's ``params`` are the flattened parameter buffers (same names and
    dtypes, shape ``(numel,)``), in the same order. Allocated buffers get 64-byte
    alignment. Flat indices are int32 when the buffer has fewer than 2**31 elements and
    its indices are int32, otherwise int64.
    """
    fl = _Flattener(func.params)
    body = fl.visit(func.body)
    params = tuple(fl.layouts[p].flat for p in func.params)
    return PrimFunc(params, body, func.attrs)
