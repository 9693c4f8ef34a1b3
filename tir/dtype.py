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

#: Narrow dtypes (ml_dtypes' names, as onnx's numpy arrays carry them): storage-only in the
#: IR. A value of one is its bit pattern in the storage integer named here (the value in
#: the low bits, one element per byte even for 4- and 2-bit types, as ml_dtypes stores
#: them). No arithmetic is defined on them: the only operation is ``reinterpret`` to and
#: from the storage dtype (conversions are integer bit manipulation, frontend/op/cast.py).
NARROW_DTYPES: dict[str, str] = {
    "bfloat16": "uint16",
    "float8_e4m3fn": "uint8",
    "float8_e4m3fnuz": "uint8",
    "float8_e5m2": "uint8",
    "float8_e5m2fnuz": "uint8",
    "float8_e8m0fnu": "uint8",
    "float4_e2m1fn": "uint8",
    "int4": "uint8",
    "uint4": "uint8",
    "int2": "uint8",
    "uint2": "uint8",
}
# a narrow dtype's width is its storage width (what a buffer element takes in memory)
DTYPE_BITS.update({n: {"uint8": 8, "uint16": 16}[s] for n, s in NARROW_DTYPES.items()})

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
    if dtype in NARROW_DTYPES:
        _register_narrow()
    return dtype


def is_narrow(dtype: str) -> bool:
    """True for the storage-only narrow dtypes (bfloat16, float8_*, int4, ...)."""
    return dtype in NARROW_DTYPES


def storage_dtype(dtype: str) -> str:
    """The integer dtype holding a narrow dtype's bits (the dtype itself for others)."""
    return NARROW_DTYPES.get(dtype, dtype)


def _register_narrow() -> None:
    """Import ml_dtypes, which registers the narrow dtype names with numpy (lazily: only a
    model that uses one needs it)."""
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        raise ImportError(
            "the narrow dtypes (bfloat16, float8_*, int4, ...) need the ml_dtypes package"
        ) from None


def is_float(dtype: str) -> bool:
    """True for the arithmetic float dtypes (not the storage-only narrow floats)."""
    return dtype.startswith("float") and dtype not in NARROW_DTYPES


def is_int(dtype: str) -> bool:
    """True for signed and unsigned integers (not bool, not int4/int2...)."""
    return (dtype.startswith("int") or dtype.startswith("uint")) and dtype not in NARROW_DTYPES


def is_uint(dtype: str) -> bool:
    return dtype.startswith("uint") and dtype not in NARROW_DTYPES


def is_bool(dtype: str) -> bool:
    return dtype == "bool"


def bits(dtype: str) -> int:
    return DTYPE_BITS[dtype]


def itemsize(dtype: str) -> int:
    """Bytes one element takes in memory (bool is stored as one byte)."""
    return max(1, DTYPE_BITS[dtype] // 8)


def to_numpy(dtype: str) -> np.dtype:
    if dtype in NARROW_DTYPES:
        _register_narrow()
    return np.dtype(dtype)


def promote(a: str, b: str) -> str:
    """The dtype two operands of a binary arithmetic op are converted to."""
    if a == b:
        return a
    if a in NARROW_DTYPES or b in NARROW_DTYPES:
        raise TypeError(
            f"no arithmetic between {a} and {b}: {a if a in NARROW_DTYPES else b} is a "
            f"storage-only dtype (convert it with the 'cast' op first)"
        )
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
