"""The ``cast`` op on the narrow dtypes (bfloat16, float8, float4, 4-/2-bit integers),
bit for bit against ONNX's reference Cast (ml_dtypes' conversions, saturation, float8e8m0
rounding), and the ONNX import / executable / InferenceSession path with ml_dtypes arrays."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

md = pytest.importorskip("ml_dtypes")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference.ops.op_cast import cast_to  # noqa: E402

from onnxtune.compile import build  # noqa: E402
from onnxtune.frontend.op import get_op  # noqa: E402
from onnxtune.frontend.op.cast import cast_numpy  # noqa: E402
from onnxtune.tir import interp, te  # noqa: E402

NARROW = ["bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
          "float8_e8m0fnu", "float4_e2m1fn", "int4", "uint4", "int2", "uint2"]
SATURATING = ["float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz"]


def _onnx_type(name: str) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(name))


def _reference(x: np.ndarray, dst: str, sat: bool, rm: str) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.asarray(cast_to(x, _onnx_type(dst), sat, rm)).astype(np.dtype(dst))


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(f"uint{8 * a.dtype.itemsize}")


def _convs(dsts, src: str):
    """(dst, saturate, round_mode) for every conversion of ``src`` worth checking."""
    out = []
    for d in dsts:
        if d == src:
            continue
        if d in SATURATING and src not in NARROW:
            out += [(d, True, "up"), (d, False, "up")]
        elif d == "float8_e8m0fnu" and src not in NARROW:
            out += [(d, s, r) for s in (True, False) for r in ("up", "down", "nearest")]
        else:
            out.append((d, True, "up"))
    return out


def _run_all(x: np.ndarray, convs, use_interp: bool = False) -> list[np.ndarray]:
    """All conversions of ``x`` in one compiled function (one output each)."""
    p = te.placeholder(x.shape, x.dtype.name, "x")
    ys = [get_op("cast").compute(p, dtype=d, saturate=s, round_mode=r) for d, s, r in convs]
    f = te.create_prim_func([p, *ys])
    outs = [np.zeros(x.shape, np.dtype(d)) for d, _, _ in convs]
    if use_interp:
        interp.run(f, x, *outs)
    else:
        build(f, "llvm")["main"](x, *outs)
    return outs


def _check(x: np.ndarray, convs, outs, nan_payloads: bool = False) -> None:
    for (d, s, r), got in zip(convs, outs, strict=True):
        ref = _reference(x, d, s, r)
        gb, rb = _bits(got), _bits(ref)
        bad = gb != rb
        if nan_payloads:  # a float NaN may differ in payload only
            with np.errstate(all="ignore"):
                bad &= ~(np.isnan(got.astype(np.float64)) & np.isnan(ref.astype(np.float64)))
        k = np.flatnonzero(bad)
        assert not k.size, (
            f"{x.dtype} -> {d} (saturate={s}, round_mode={r}): {k.size} differ, e.g. "
            f"{x[k[:4]].tolist()} gave {[hex(v) for v in gb[k[:4]]]}, expected "
            f"{[hex(v) for v in rb[k[:4]]]}")


def _f32_inputs() -> np.ndarray:
    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 1.1754942e-38,
             3.4028235e38, -3.4028235e38,
             448, 449, 464, 465, 480, 500, -464, 240, 247, 248, 57344, 61439, 61440, 61441,
             65536, 6, 5, 5.5, 7, 100, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 2**-6, 2**-7, 2**-9,
             2**-10, 3 * 2**-10, 2**-14, 2**-16, 2**-17, 3 * 2**-17, 1 + 2**-8, 1 + 3 * 2**-8,
             2.0**127, 2.0**-127, 1.5 * 2**127, -9, -8.5, 7.5, 15.5, 16, 17, 2**24 + 2, 2**30]
    nan_payloads = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FFFFFFF],
                            np.uint32).view(np.float32)
    return np.concatenate([
        np.array(edges, np.float32), nan_payloads,
        rng.integers(0, 2**32, 4000, dtype=np.uint64).astype(np.uint32).view(np.float32),
        (rng.standard_normal(4000) * np.exp2(rng.integers(-20, 20, 4000))).astype(np.float32),
        (rng.integers(-300, 300, 1000) / 4).astype(np.float32),
    ])


def test_float32_to_narrow_matches_onnx_reference():
    x = _f32_inputs()
    convs = _convs(NARROW, "float32")
    _check(x, convs, _run_all(x, convs))


def test_every_float16_to_narrow_matches_onnx_reference():
    x = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
    convs = _convs(NARROW, "float16")
    _check(x, convs, _run_all(x, convs))


@pytest.mark.parametrize("src", NARROW)
def test_every_narrow_value_to_wide_types_matches_onnx_reference(src):
    n = {"bfloat16": 65536, "int4": 16, "uint4": 16, "float4_e2m1fn": 16,
         "int2": 4, "uint2": 4}.get(src, 256)
    x = np.arange(n, dtype=np.uint32).astype(f"uint{8 * np.dtype(src).itemsize}")
    x = x.view(np.dtype(src))
    convs = _convs(["float32", "float16", "float64", "bool"], src)
    _check(x, convs, _run_all(x, convs), nan_payloads=True)
    # to integers: truncation then wrapping (only where C defines the conversion)
    with np.errstate(all="ignore"):
        f = x.astype(np.float32)
    xi = x[np.isfinite(f) & (np.abs(f) < 2**31)]
    convs = _convs(["int8", "uint8", "int32", "int64"], src)
    _check(xi, convs, _run_all(xi, convs))


def test_narrow_to_narrow_matches_onnx_reference():
    x = np.arange(256, dtype=np.uint8).view(md.float8_e5m2)
    floats = [d for d in NARROW if d not in ("int4", "uint4", "int2", "uint2")]
    convs = _convs(floats, "float8_e5m2")
    _check(x, convs, _run_all(x, convs), nan_payloads=True)
    # float -> integer is undefined for infinities and NaN (ONNX, C)
    xf = x[np.isfinite(x.astype(np.float32))]
    convs = _convs(["int4", "uint4", "int2", "uint2"], "float8_e5m2")
    _check(xf, convs, _run_all(xf, convs))


@pytest.mark.parametrize("src", ["float64", "int32", "int8", "uint16", "bool"])
def test_wide_sources_to_narrow_match_onnx_reference(src):
    rng = np.random.default_rng(2)
    if src == "float64":
        x = np.concatenate([rng.standard_normal(3000) * np.exp2(rng.integers(-30, 30, 3000)),
                            [1 + 2**-8 + 2**-40, 464.000000001, 2**31 - 0.5, 1e9 + 3,
                             2**40 + 3, np.nan, -np.inf]])
    elif src == "bool":
        x = rng.integers(0, 2, 50).astype(bool)
    else:
        info = np.iinfo(src)
        x = rng.integers(info.min, int(info.max) + 1, 3000).astype(src)
    x = np.asarray(x).astype(src)
    convs = _convs(NARROW, src)
    _check(x, convs, _run_all(x, convs))


def test_interpreter_agrees_with_the_compiled_kernels():
    x = _f32_inputs()[:400]
    convs = _convs(["bfloat16", "float8_e4m3fn", "float8_e8m0fnu", "int4", "float4_e2m1fn"],
                   "float32")
    for a, b in zip(_run_all(x, convs), _run_all(x, convs, use_interp=True), strict=True):
        np.testing.assert_array_equal(_bits(a), _bits(b))
    y = np.arange(256, dtype=np.uint8).view(md.float8_e4m3fnuz)
    convs = [("float32", True, "up"), ("int8", True, "up")]
    for a, b in zip(_run_all(y, convs), _run_all(y, convs, use_interp=True), strict=True):
        np.testing.assert_array_equal(_bits(a), _bits(b))


def test_cast_numpy_folding_matches_onnx_reference():
    x = _f32_inputs()
    for d, s, r in _convs(NARROW, "float32"):
        np.testing.assert_array_equal(_bits(cast_numpy(x, d, s, r)), _bits(_reference(x, d, s, r)))
    y = np.arange(256, dtype=np.uint8).view(md.float8_e4m3fn)
    np.testing.assert_array_equal(cast_numpy(y, "float16"), _reference(y, "float16", True, "up"))


def test_cast_rejects_an_unknown_round_mode():
    p = te.placeholder((4,), "float32", "x")
    with pytest.raises(ValueError, match="round_mode 'odd'"):
        get_op("cast").compute(p, dtype="float8_e8m0fnu", round_mode="odd")


# ----------------------------------------------------------------------------------------
# through the ONNX importer, the executable and InferenceSession


def _model(nodes, inputs, outputs, inits=(), opset=25):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_onnx_cast_chain_through_inference_session():
    from onnxtune import InferenceSession, compile_model

    shape = (4, 257)  # long enough rows to be vectorized by the default schedule
    vi = helper.make_tensor_value_info
    w = np.linspace(-600, 600, 257, dtype=np.float32)
    init = onnx.numpy_helper.from_array(w.astype(md.float8_e4m3fn), "w8")
    nodes = [
        helper.make_node("Cast", ["x"], ["x8"], to=TensorProto.FLOAT8E4M3FN, saturate=0),
        helper.make_node("Cast", ["x8"], ["x8f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["w8"], ["wf"], to=TensorProto.FLOAT),  # folded at import
        helper.make_node("Add", ["x8f", "wf"], ["s"]),
        helper.make_node("CastLike", ["s", "b"], ["sb"]),
        helper.make_node("Cast", ["b"], ["bi"], to=TensorProto.INT4),
    ]
    model = _model(nodes, [vi("x", TensorProto.FLOAT, shape), vi("b", TensorProto.BFLOAT16,
                                                                    shape)],
                   [vi("x8", TensorProto.FLOAT8E4M3FN, shape), vi("sb", TensorProto.BFLOAT16,
                                                                   shape),
                    vi("bi", TensorProto.INT4, shape)], [init])
    sess = InferenceSession(compile_model(model))
    assert [(i.name, i.type) for i in sess.get_inputs()] == [("x", "tensor(float)"),
                                                              ("b", "tensor(bfloat16)")]
    assert [o.type for o in sess.get_outputs()] == ["tensor(float8e4m3fn)", "tensor(bfloat16)",
                                                    "tensor(int4)"]
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 300).astype(np.float32)
    b = (rng.standard_normal(shape) * 10).astype(md.bfloat16)
    x8, sb, bi = sess.run(None, {"x": x, "b": b})
    ref_x8 = _reference(x, "float8_e4m3fn", False, "up")
    np.testing.assert_array_equal(_bits(x8), _bits(ref_x8))
    ref_sb = (ref_x8.astype(np.float32) + w.astype(md.float8_e4m3fn).astype(np.float32))
    ref_sb = ref_sb.astype(md.bfloat16)
    nan = np.isnan(ref_sb.astype(np.float32))  # which NaN an addition returns may vary
    np.testing.assert_array_equal(np.isnan(sb.astype(np.float32)), nan)
    np.testing.assert_array_equal(_bits(sb)[~nan], _bits(ref_sb)[~nan])
    assert bi.dtype == md.int4
    np.testing.assert_array_equal(_bits(bi), _bits(_reference(b, "int4", True, "up")))
    with pytest.raises(ValueError, match="'b'.*bfloat16"):
        sess.run(None, {"x": x, "b": b.astype(np.float32)})


def test_onnx_einsum_on_bfloat16():
    from onnxtune.compile.executable import VirtualMachine
    from onnxtune.compile.graph_build import build_graph
    from onnxtune.frontend.onnx import from_onnx

    vi = helper.make_tensor_value_info
    model = _model([helper.make_node("Einsum", ["a", "b"], ["c"], equation="ij,jk->ik")],
                   [vi("a", TensorProto.BFLOAT16, (3, 5)), vi("b", TensorProto.BFLOAT16,
                                                               (5, 2))],
                   [vi("c", TensorProto.BFLOAT16, (3, 2))])
    vm = VirtualMachine(build_graph(from_onnx(model), "llvm"))
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 5)).astype(md.bfloat16)
    b = rng.standard_normal((5, 2)).astype(md.bfloat16)
    c = vm["main"](a, b)
    c = c[0] if isinstance(c, tuple) else c
    assert c.dtype == md.bfloat16
    ref = (a.astype(np.float32) @ b.astype(np.float32)).astype(md.bfloat16)
    np.testing.assert_array_equal(_bits(c), _bits(ref))


def test_exported_narrow_model_runs_in_a_fresh_process(tmp_path):
    """ml_dtypes is imported only when a narrow dtype is met (not by importing onnxtune);
    an exported artifact with narrow inputs, outputs and constants loads and runs."""
    import os
    import subprocess
    import sys

    from onnxtune import compile_model

    vi = helper.make_tensor_value_info
    w = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4).astype(md.bfloat16)
    g = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT8E5M2),
         helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
         helper.make_node("Cast", ["w"], ["wf"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["xf", "wf"], ["z"])],
        "g", [vi("x", TensorProto.BFLOAT16, (3, 4))],
        [vi("y", TensorProto.FLOAT8E5M2, (3, 4)), vi("z", TensorProto.FLOAT, (3, 4))],
        [onnx.numpy_helper.from_array(w, "w")])
    path = str(tmp_path / "narrow.so")
    compile_model(_model(g.node, g.input, g.output, g.initializer, opset=21)).export_library(path)
    code = f"""
import sys
import numpy as np
import onnxtune, onnxtune.compile.executable, onnxtune.session
assert "ml_dtypes" not in sys.modules
s = onnxtune.InferenceSession({path!r})
import ml_dtypes as md
x = np.arange(12, dtype=np.float32).reshape(3, 4).astype(md.bfloat16)
y, z = s.run(None, {{"x": x}})
assert y.dtype == md.float8_e5m2, y.dtype
print(y.view(np.uint8).tolist(), z.tolist())
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    want_y = x.astype(md.float8_e5m2).view(np.uint8).tolist()
    want_z = (x + w.astype(np.float32)).tolist()
    assert r.stdout.strip() == f"{want_y} {want_z}"
