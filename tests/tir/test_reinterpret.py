"""tir.op.reinterpret and the storage-only narrow dtypes: IR checks, interpreter, codegen,
printer and serialization."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.compile import build
from onnxtune.tir import dtype as dt
from onnxtune.tir import interp, te
from onnxtune.tir import op as tir_op
from onnxtune.tir.expr import Var, cast
from onnxtune.tir.printer import astext
from onnxtune.tir.serialize import load_json, save_json
from onnxtune.tir.structural import structural_equal

md = pytest.importorskip("ml_dtypes")


def _func(src: str, dst: str, n: int = 37):
    x = te.placeholder((n,), src, "x")
    y = te.compute((n,), lambda i: tir_op.reinterpret(dst, x[i]), name="y")
    return te.create_prim_func([x, y])


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(f"uint{8 * a.dtype.itemsize}")


CASES = [("float32", "uint32"), ("uint32", "float32"), ("float32", "int32"),
         ("float16", "uint16"), ("int16", "float16"), ("float64", "uint64"),
         ("uint8", "float8_e4m3fn"), ("float8_e5m2", "uint8"), ("uint16", "bfloat16"),
         ("bfloat16", "int16"), ("uint8", "int4")]


@pytest.mark.parametrize("src,dst", CASES)
def test_reinterpret_compiled_and_interpreted_keep_the_bits(src, dst):
    rng = np.random.default_rng(0)
    nb = dt.bits(src) // 8
    raw = rng.integers(0, 256, 37 * nb, dtype=np.uint8)
    if src == "uint8" and dst == "int4":
        raw &= 0x0F  # int4's canonical storage: the low nibble
    x = raw.view(dt.to_numpy(src))
    f = _func(src, dst)
    out = np.zeros(37, dt.to_numpy(dst))
    build(f, "llvm")["main"](x, out)
    np.testing.assert_array_equal(_bits(out), _bits(x))
    out2 = np.zeros(37, dt.to_numpy(dst))
    interp.run(f, x, out2)
    np.testing.assert_array_equal(_bits(out2), _bits(x))


def test_reinterpret_vectorized():
    f = _func("float32", "uint32", 1024)
    from onnxtune.tir.schedule import Schedule

    sch = Schedule(f)
    (i,) = sch.get_loops(sch.get_block("y"))
    _, inner = sch.split(i, [None, 16])
    sch.vectorize(inner)
    x = np.random.default_rng(1).standard_normal(1024).astype(np.float32)
    out = np.zeros(1024, np.uint32)
    build(sch.mod["main"], "llvm")["main"](x, out)
    np.testing.assert_array_equal(out, x.view(np.uint32))


def test_reinterpret_checks_widths_and_narrow_dtypes_have_no_arithmetic():
    v = Var("v", "float32")
    assert tir_op.reinterpret("float32", v) is v
    with pytest.raises(ValueError, match="same width"):
        tir_op.reinterpret("uint16", v)
    with pytest.raises(ValueError, match="same width"):
        tir_op.reinterpret("bool", Var("b", "int8"))
    w = Var("w", "bfloat16")
    with pytest.raises(TypeError, match="storage-only"):
        cast("float32", w)
    with pytest.raises(TypeError, match="no Add on bfloat16"):
        w + w  # noqa: B018
    with pytest.raises(TypeError, match="no arithmetic"):
        Var("u", "uint16") + w  # noqa: B018
    assert not dt.is_float("float8_e4m3fn") and not dt.is_int("int4")
    assert not dt.is_uint("uint4") and dt.is_narrow("uint2")
    assert dt.storage_dtype("bfloat16") == "uint16" and dt.storage_dtype("int4") == "uint8"
    assert dt.to_numpy("float8_e5m2") == np.dtype(md.float8_e5m2)
    assert dt.check_dtype(np.dtype(md.bfloat16)) == "bfloat16"


def test_reinterpret_prints_and_serializes():
    f = _func("bfloat16", "uint16")
    text = astext(f)
    assert "reinterpret" in text and "bfloat16" in text
    g = load_json(save_json(f))
    assert structural_equal(f, g)
