"""Data types: names, checks and promotion rules shared by the IR, TE and codegen."""

from __future__ import annotations

import numpy as np

#: Every scalar dtype the IR accepts, with its width in bits.
DTYPE_BITS: dict[str, int] = {
    "bool": 1,
    "int8": 8,
    "int16": 16,
    "int32": 32,
    "int64": 64,
    "uint8": 8,
    "uint16": 16,
    "uint32": 32,
    "uint64": 64,
    "float16": 16,
    "float32": 32,
    "float64": 64,
}

#: dtype used for raw pointers (buffer data handles).
HANDLE = "handle"


def check_dtype(dtype: object) -> str:
    """Return ``dtype`` as a canonical name, or raise ValueError listing the accepted names."""
    if isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic)):
        dtype = np.dtype(dtype).name
    if dtype == HANDLE:
        return HANDLE
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise ValueError(
            f"unsupported dtype {dtype!r}; expected one of {', '.join(sorted(DTYPE_BITS))}"
        )
    return dtype


def is_float(dtype: str) -> bool:
    return dtype.startswith("float")


def is_int(dtype: str) -> bool:
    """True for signed and unsigned integers (not bool)."""
    return dtype.startswith("int") or dtype.startswith("uint")


def is_uint(dtype: str) -> bool:
    return dtype.startswith("uint")


def is_bool(dtype: str) -> bool:
    return dtype == "bool"


def bits(dtype: str) -> int:
    return DTYPE_BITS[dtype]


def itemsize(dtype: str) -> int:
    """Bytes one element takes in memory (bool is stored as one byte)."""
    return max(1, DTYPE_BITS[dtype] // 8)


def to_numpy(dtype: str) -> np.dtype:
    return np.dtype(dtype)


def promote(a: str, b: str) -> str:
    """The dtype two operands of a binary arithmetic op are converted to."""
    if a == b:
        return a
    fa, fb = is_float(a), is_float(b)
    if fa and fb:
        return a if bits(a) >= bits(b) else b
    if fa:
        return a
    if fb:
        return b
    if is_bool(a):
        return b
    if is_bool(b):
        return a
    # both integers: the wider wins; on a tie a signed type wins
    if bits(a) != bits(b):
        return a if bits(a) > bits(b) else b
    return b if is_uint(a) else a


def min_value(dtype: str) -> int | float:
    if is_float(dtype):
        return float(np.finfo(dtype).min) if dtype != "float16" else -65504.0
    if is_bool(dtype):
        return 0
    return int(np.iinfo(dtype).min)


def max_value(dtype: str) -> int | float:
    if is_float(dtype):
        return float(np.finfo(dtype).max) if dtype != "float16" else 65504.0
    if is_bool(dtype):
        return 1
    return int(np.iinfo(dtype).max)
