"""The TVMScript-like printer: golden text, precedence, name clashes, robustness."""

from __future__ import annotations

import pytest
from ir_samples import block, constants, elementwise, loop, lowered, matmul, point, root, two_stage

from onnxtune import tir
from onnxtune.tir import (
    Block,
    BlockRealize,
    Broadcast,
    BufferLoad,
    BufferRegion,
    BufferStore,
    Call,
    Cast,
    Evaluate,
    FloatImm,
    For,
    ForKind,
    IntImm,
    IRModule,
    IterType,
    IterVar,
    Let,
    Not,
    PrimFunc,
    Ramp,
    Range,
    Reduce,
    Select,
    StringImm,
    Var,
    const,
    decl_buffer,
)
from onnxtune.tir.printer import astext

MATMUL = '''@T.prim_func
def main(A: T.Buffer((128, 64), "float32"), B: T.Buffer((64, 96), "float32"), C: T.Buffer((128, 96), "float32")):
    for i in range(128):
        for j in range(96):
            for k in range(64):
                with T.block("C"):
                    vi = T.axis.spatial(128, i)
                    vj = T.axis.spatial(96, j)
                    vk = T.axis.reduce(64, k)
                    T.reads(A[vi, vk], B[vk, vj])
                    T.writes(C[vi, vj])
                    with T.init():
                        C[vi, vj] = T.float32(0)
                    C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]'''  # noqa: E501


def test_matmul_golden():
    f = matmul()
    assert f.script() == MATMUL
    assert astext(f) == MATMUL
    assert repr(f) == MATMUL


def test_loop_kinds_annotations_alloc_buffer_golden():
    assert two_stage(scope="shared").script() == '''@T.prim_func
def main(A: T.Buffer((16, 8), "float32"), B: T.Buffer((16, 8), "float32")):
    T_1 = T.alloc_buffer((16, 8), "float32", scope="shared")
    for i in T.parallel(16):
        for j in T.vectorized(8):
            with T.block("T"):
                vi = T.axis.spatial(16, i)
                vj = T.axis.spatial(8, j)
                T.reads(A[vi, vj])
                T.writes(T_1[vi, vj])
                T_1[vi, vj] = A[vi, vj] * T.float32(2)
    for i_1 in range(16):
        for j_1 in T.unroll(8, annotations={"pragma_auto_unroll_max_step": 16}):
            with T.block("B"):
                vi_1 = T.axis.spatial(16, i_1)
                vj_1 = T.axis.spatial(8, j_1)
                T.reads(T_1[vi_1, vj_1])
                T.writes(B[vi_1, vj_1])
                T.block_attr({"schedule_rule": "None", "meta": [1, 2.5, {"x": "y"}]})
                B[vi_1, vj_1] = T_1[vi_1, vj_1] + T.float32(1)'''


def test_lowered_statements_golden():
    assert lowered().script() == '''@T.prim_func
def main(A: T.Buffer((10,), "float32"), B: T.Buffer((10,), "float32")):
    tmp = T.allocate((4,), "float32", "local")
    for i in range(T.int64(10)):
        x: T.int32 = T.Cast("int32", i) * 2
        if x < 10:
            B[T.Cast("int32", i)] = A[T.Cast("int32", i)] + tmp[0]
        else:
            B[T.Cast("int32", i)] = T.float32(0)
            T.evaluate(0)'''


def test_constants_and_func_attrs_golden():
    assert constants().script() == '''@T.prim_func
def consts(H: T.Buffer((4,), "float16"), C: T.Buffer((2,), "int8"), M: T.Buffer((1,), "bool"), F: T.Buffer((3,), "float32")):
    T.func_attr({"global_symbol": "consts", "tir.noalias": True})
    H[0] = T.float16(1.5)
    C[1] = T.int8(-7)
    M[0] = T.bool(True)
    F[0] = T.float32("inf")
    F[1] = T.float32("-inf")
    F[2] = T.float32("nan")
    H[3] = T.Cast("float16", F[0]) * T.float16(0.25)'''  # noqa: E501


def test_thread_binding_predicate_and_nonzero_domains():
    i, tx, vi = Var("i"), Var("tx"), Var("vi")
    a = decl_buffer((64,), "float32", "A")
    br = block("B", [(vi, 64, False)], [i * 32 + tx], BufferStore(a, a[vi] * 2.0, (vi,)),
               reads=(point(a, (vi,)),), writes=(point(a, (vi,)),), predicate=i * 32 + tx < 64)
    f = PrimFunc((a,), root(loop(i, 2, loop(tx, 32, br, ForKind.THREAD_BINDING,
                                            thread="threadIdx.x"))))
    assert f.script() == '''@T.prim_func
def main(A: T.Buffer((64,), "float32")):
    for i in range(2):
        for tx in T.thread_binding(32, thread="threadIdx.x"):
            with T.block("B"):
                vi = T.axis.spatial(64, i * 32 + tx)
                T.where(i * 32 + tx < 64)
                T.reads(A[vi])
                T.writes(A[vi])
                A[vi] = A[vi] * T.float32(2)'''
    blk = Block((IterVar(Range(const(2), const(6)), vi, IterType.DATA_PAR),),
                (BufferRegion(a, (Range(vi * 4, const(4)),)),), (), "X", Evaluate(const(0)))
    assert repr(blk) == '''with T.block("X", no_realize=True):
    vi = T.axis.spatial((2, 8))
    T.reads(A[vi * 4:vi * 4 + 4])
    T.writes()
    T.evaluate(0)'''
    f2 = For(i, const(3), const(5), ForKind.SERIAL, Evaluate(i))
    assert repr(f2) == "for i in range(3, 8):\n    T.evaluate(i)"


def test_module_text_names_functions_by_key():
    text = IRModule({"mm": matmul(4, 4, 4), "ew": elementwise()}).script()
    assert text.startswith("@I.ir_module\nclass Module:\n    @T.prim_func\n    def mm(")
    assert "\n    @T.prim_func\n    def ew(A: T.Buffer((4, 8), \"float32\")" in text
    assert "                        C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]" in text


x, y, z = Var("x"), Var("y"), Var("z")
f32 = Var("f", "float32")
k = IterVar(Range(const(0), const(8)), Var("k"), IterType.COMM_REDUCE)


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (x + y * z, "x + y * z"),
        ((x + y) * z, "(x + y) * z"),
        (x - (y - z), "x - (y - z)"),
        ((x - y) - z, "x - y - z"),
        (x + (y + z), "x + (y + z)"),
        (x * (y // z), "x * (y // z)"),
        (x // y * z, "x // y * z"),
        ((x * y) % z, "x * y % z"),
        (x % (y * z), "x % (y * z)"),
        (tir.floordiv(x, 4) % 4, "x // 4 % 4"),
        ((x + 1) * (y - 1), "(x + 1) * (y - 1)"),
        (tir.truncdiv(x, y), "T.truncdiv(x, y)"),
        (tir.truncmod(x, y), "T.truncmod(x, y)"),
        (f32 / (f32 * f32), "f / (f * f)"),
        ((f32 / f32) * f32, "f / f * f"),
        (tir.min(x, y) + 1, "T.min(x, y) + 1"),
        (tir.max(x, y * 2), "T.max(x, y * 2)"),
        (x * -3, "x * -3"),
        (x - -3, "x - -3"),
        ((x < y) & (y < z), "x < y and y < z"),
        ((x < y) | ((y < z) & (x == z)), "x < y or y < z and x == z"),
        (((x < y) | (y < z)) & (x == z), "(x < y or y < z) and x == z"),
        (~(x < y), "not x < y"),
        ((x < y) == (y < z), "(x < y) == (y < z)"),
        (Not(x < y) == (y < z), "(not x < y) == (y < z)"),
        (x + y != z, "x + y != z"),
        (x <= y, "x <= y"),
        (x >= y, "x >= y"),
        (x > y, "x > y"),
        (tir.exp(f32), "T.exp(f)"),
        (tir.if_then_else(x < y, f32, f32 + 1.0), "T.if_then_else(x < y, f, f + T.float32(1))"),
        (tir.cast("float16", f32), 'T.Cast("float16", f)'),
        (Cast("int64", x + y) * IntImm(2, "int64"), 'T.Cast("int64", x + y) * T.int64(2)'),
        (Select(x < y, x, y), "T.Select(x < y, x, y)"),
        (IntImm(3, "int64"), "T.int64(3)"),
        (IntImm(-3, "int64"), "T.int64(-3)"),
        (IntImm(200, "uint8"), "T.uint8(200)"),
        (FloatImm(1.5, "float16"), "T.float16(1.5)"),
        (FloatImm(2.0, "float64"), "T.float64(2)"),
        (FloatImm(1e-5), "T.float32(1e-05)"),
        (FloatImm(-0.5), "T.float32(-0.5)"),
        (FloatImm(float("nan")), 'T.float32("nan")'),
        (const(True), "T.bool(True)"),
        (const(False), "T.bool(False)"),
        (StringImm('say "hi"'), '"say \\"hi\\""'),
        (Ramp(x, const(1), 4), "T.Ramp(x, 1, 4)"),
        (Broadcast(f32, 8), "T.Broadcast(f, 8)"),
        (Let(x, y + 1, x * x), "T.Let(x, y + 1, x * x)"),
        (Call("float32", "pow", (f32, f32)), "T.pow(f, f)"),
        (Reduce("sum", f32 * f32, (k,)), 'T.reduce("sum", f * f, axis={k: range(8)})'),
        (Reduce("max", f32, (k,), x < 3, FloatImm(0.0)),
         'T.reduce("max", f, axis={k: range(8)}, where=x < 3, init=T.float32(0))'),
        (BufferLoad(decl_buffer((), "float32", "S"), ()), "S[()]"),
    ],
)
def test_expression_text(expr, text):
    assert astext(expr) == text
    assert repr(expr) == text


def test_same_name_different_objects_get_suffixes():
    x2 = Var("x")
    assert repr(x + x2 * x) == "x + x_1 * x"
    a1, a2 = decl_buffer((4,), "float32", "A"), decl_buffer((4,), "float32", "A")
    i = Var("i")
    f = PrimFunc((a1, a2), loop(i, 4, BufferStore(a1, a2[i], (i,))))
    assert f.script().splitlines()[1] == \
        'def main(A: T.Buffer((4,), "float32"), A_1: T.Buffer((4,), "float32")):'
    assert f.script().splitlines()[-1] == "        A[i] = A_1[i]"
    # names that are not identifiers, or reserved, are made printable and distinct
    odd = Var("i.outer")
    assert repr(odd + Var("T") + Var("for") + Var("")) == "i_outer + T_1 + for_1 + v"


def test_standalone_nodes():
    a = decl_buffer((128, 64), "float32", "A", "shared")
    assert repr(a) == 'A: T.Buffer((128, 64), "float32", scope="shared")'
    assert repr(Range(const(0), const(8))) == "range(8)"
    assert repr(Range(const(2), const(8))) == "range(2, 10)"
    assert repr(k) == 'T.iter_var(k, range(8), "reduce")'
    i = Var("i")
    assert repr(BufferRegion(a, (Range(i, const(1)), Range(const(0), const(64))))) == \
        "A[i, 0:64]"


def test_never_raises_on_odd_trees():
    a = decl_buffer((4,), "float32", "A")
    i = Var("i")
    odd = [
        For(i, const(0), const(4), ForKind.SERIAL, None),  # type: ignore[arg-type]
        BufferLoad(None, (i,)),  # type: ignore[arg-type]
        BufferStore(a, None, None),  # type: ignore[arg-type]
        Call("float32", "exp", None),  # type: ignore[arg-type]
        BlockRealize((i, i), const(True), Block((), (), (), "b", Evaluate(i))),
        BlockRealize((), None, None),  # type: ignore[arg-type]
        PrimFunc((None,), None, None),  # type: ignore[arg-type]
        IterVar(None, None),  # type: ignore[arg-type]
        Cast("float32", 3),  # type: ignore[arg-type]
        IRModule({"g": object()}),
    ]
    for n in odd:
        text = repr(n) if not isinstance(n, IRModule) else n.script()
        assert isinstance(text, str) and text
    assert repr(Cast("float32", 3)) == 'T.Cast("float32", 3)'  # type: ignore[arg-type]


def test_deep_expression_prints():
    e = Var("x")
    for j in range(3000):  # built directly: ``e + j`` would recurse through .dtype
        e = tir.Add(e, IntImm(j))
    text = repr(e)
    assert text.startswith("x + 0 + 1 + 2") and text.endswith("+ 2999")
