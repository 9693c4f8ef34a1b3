"""Graph IR: construction with inferred types, printer, structural equality, passes."""

from __future__ import annotations

import numpy as np
import pytest

from onnxtune.frontend.ir import (
    BlockBuilder,
    Call,
    CallTIR,
    Constant,
    Function,
    IRModule,
    TensorType,
    Var,
    op_call,
    structural_equal,
)
from onnxtune.frontend.op import OpPattern
from onnxtune.frontend.transform import (
    dead_code_elimination,
    fold_batchnorm,
    fold_constant,
    fuse_ops,
    fuse_tir,
    legalize,
    optimize,
)
from onnxtune.tir.module_equality import find_anchor_block

RNG = np.random.default_rng(0)


def _conv_bn_relu(seed: int = 0) -> tuple[IRModule, dict]:
    rng = np.random.default_rng(seed)
    x = Var("x", TensorType((1, 3, 8, 8), "float32"))
    w = Constant(rng.standard_normal((4, 3, 3, 3)).astype("float32"), "w")
    g, b, m = (Constant(rng.standard_normal(4).astype("float32")) for _ in range(3))
    v = Constant(rng.uniform(0.5, 1.5, 4).astype("float32"))
    bb = BlockBuilder()
    c = bb.call("nn.conv2d", x, w, padding=(1, 1, 1, 1))
    n = bb.call("nn.batch_norm", c, g, b, m, v, epsilon=1e-5)
    r = bb.call("relu", n)
    s = bb.call("sum", r, axis=(2, 3), keepdims=False)
    func = Function((x,), tuple(bb.bindings), (r, s))
    data = {"w": w.data, "g": g.data, "b": b.data, "m": m.data, "v": v.data}
    return IRModule({"main": func}), data


def _reference(x: np.ndarray, d: dict) -> tuple[np.ndarray, np.ndarray]:
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    w = d["w"]
    out = np.zeros((1, 4, 8, 8), np.float64)
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + 8, j:j + 8], w[:, :, i, j])
    sh = (1, -1, 1, 1)
    y = (out - d["m"].reshape(sh)) / np.sqrt(d["v"].reshape(sh) + 1e-5)
    y = np.maximum(y * d["g"].reshape(sh) + d["b"].reshape(sh), 0)
    return y, y.sum(axis=(2, 3))


def test_types_are_inferred_from_the_op_compute():
    x = Var("x", TensorType((2, 3, 5), "float32"))
    call = op_call("transpose", [x], {"axes": (2, 0, 1)})
    assert call.type == TensorType((5, 2, 3), "float32")
    call = op_call("sum", [x], {"axis": 1, "keepdims": True})
    assert call.type == TensorType((2, 1, 5), "float32")
    call = op_call("argmax", [x], {"axis": 2})
    assert call.type.dtype == "int64"


def test_printer_shows_bindings_and_metadata():
    mod, _ = _conv_bn_relu()
    text = mod["main"].script()
    assert text.splitlines()[0] == "def main(x: Tensor((1, 3, 8, 8), 'float32')):"
    assert "R.nn.conv2d(x, metadata[0], padding=(1, 1, 1, 1))" in text
    assert "# metadata[0]: w Tensor((4, 3, 3, 3), 'float32')" in text
    assert "return (lv3, lv4)" not in text  # names are the binding names
    assert text.count("\n    lv") == 4


def test_structural_equality_ignores_names_but_not_values():
    a, _ = _conv_bn_relu(0)
    b, _ = _conv_bn_relu(0)
    c, _ = _conv_bn_relu(1)
    assert structural_equal(a, b)
    assert structural_equal(a["main"], b["main"])
    assert not structural_equal(a, c)  # constant values differ


def test_fold_batchnorm_into_conv_weights():
    mod, _ = _conv_bn_relu()
    out = fold_batchnorm(mod)["main"]
    ops = [b.value.op for b in out.bindings]
    assert ops == ["nn.conv2d", "add", "relu", "sum"]


def test_batchnorm_without_conv_becomes_scale_shift():
    x = Var("x", TensorType((1, 4, 3, 3), "float32"))
    p = [Constant(np.full(4, 1.5, "float32")) for _ in range(4)]
    bb = BlockBuilder()
    y = bb.call("nn.batch_norm", x, *p)
    mod = IRModule({"main": Function((x,), tuple(bb.bindings), (y,))})
    ops = [b.value.op for b in fold_batchnorm(mod)["main"].bindings]
    assert ops == ["multiply", "add"]


def test_fold_constant_and_dce():
    x = Var("x", TensorType((2, 3), "float32"))
    c = Constant(np.arange(6, dtype="float32").reshape(3, 2))
    bb = BlockBuilder()
    t = bb.call("transpose", c, axes=(1, 0))  # constant: folds
    e = bb.call("exp", t)  # constant: folds (numpy)
    bb.call("relu", x)  # dead
    y = bb.call("add", x, e)
    mod = IRModule({"main": Function((x,), tuple(bb.bindings), (y,))})
    out = dead_code_elimination(fold_constant(mod))["main"]
    assert len(out.bindings) == 1
    add = out.bindings[0].value
    assert isinstance(add, Call) and isinstance(add.args[1], Constant)
    np.testing.assert_allclose(add.args[1].data, np.exp(np.arange(6.0).reshape(3, 2).T),
                               rtol=1e-6)


def test_fold_constant_through_tir_for_ops_without_numpy_rule():
    c = Constant(RNG.standard_normal((2, 5)).astype("float32"))
    x = Var("x", TensorType((2, 5), "float32"))
    bb = BlockBuilder()
    s = bb.call("nn.softmax", c, axis=-1)
    y = bb.call("add", x, s)
    mod = IRModule({"main": Function((x,), tuple(bb.bindings), (y,))})
    out = fold_constant(mod)["main"]
    folded = out.bindings[0].value.args[1]
    e = np.exp(c.data - c.data.max(-1, keepdims=True))
    np.testing.assert_allclose(folded.data, e / e.sum(-1, keepdims=True), rtol=1e-5)


def test_legalize_fuse_and_anchor_block():
    mod, _ = _conv_bn_relu()
    leg = legalize(fold_constant(fold_batchnorm(mod)))
    main = leg["main"]
    assert all(isinstance(b.value, CallTIR) for b in main.bindings)
    pats = [leg[b.value.func].attrs["op_pattern"] for b in main.bindings]
    assert pats == [OpPattern.OUT_EWISE_FUSABLE, OpPattern.BROADCAST, OpPattern.ELEMWISE,
                    OpPattern.COMM_REDUCE]
    fused = fuse_ops(leg)
    # relu has two consumers (output and sum): conv+add+relu is one group, sum another
    names = [b.value.func for b in fused["main"].bindings]
    assert names[0].startswith("fused_conv2d_add_relu") and len(names) == 2
    final = fuse_tir(fused)
    assert sorted(k for k in final if k != "main") == sorted(
        b.value.func for b in final["main"].bindings)
    pf = final[final["main"].bindings[0].value.func]
    anchor = find_anchor_block(pf)
    assert anchor is not None and "conv" in anchor.name_hint
    assert len(pf.params) == 4  # x, weight, bias, out


def test_fused_module_computes_the_reference():
    from onnxtune.compile import build

    mod, data = _conv_bn_relu()
    final = optimize(mod)
    x = RNG.standard_normal((1, 3, 8, 8)).astype("float32")
    env = {id(final["main"].params[0]): x}
    for b in final["main"].bindings:
        v = b.value
        out = np.empty(v.type.shape, v.type.dtype)
        args = [a.data if isinstance(a, Constant) else env[id(a)] for a in v.args]
        build(final[v.func])["main"](*args, out)
        env[id(b.var)] = out
    ref_r, ref_s = _reference(x, data)
    got_r, got_s = (env[id(o)] for o in final["main"].outputs)
    np.testing.assert_allclose(got_r, ref_r, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_s, ref_s, rtol=1e-4, atol=1e-3)


def test_injective_chain_fuses_into_reduction():
    x = Var("x", TensorType((4, 6), "float32"))
    bb = BlockBuilder()
    a = bb.call("exp", x)
    t = bb.call("transpose", a, axes=(1, 0))
    s = bb.call("sum", t, axis=1)
    m = bb.call("multiply", s, s)  # elementwise after a reduction: its own group
    mod = IRModule({"main": Function((x,), tuple(bb.bindings), (m,))})
    out = fuse_tir(fuse_ops(legalize(mod)))
    ops = [out[b.value.func].attrs["op_name"] for b in out["main"].bindings]
    assert ops == ["exp+transpose+sum", "multiply"]


def test_opaque_is_not_fused():
    x = Var("x", TensorType((4, 6), "float32"))
    bb = BlockBuilder()
    a = bb.call("exp", x)
    s = bb.call("nn.softmax", a)
    r = bb.call("relu", s)
    mod = IRModule({"main": Function((x,), tuple(bb.bindings), (r,))})
    out = fuse_tir(fuse_ops(legalize(mod)))
    assert len(out["main"].bindings) == 3


@pytest.mark.parametrize("bad", ["nope"])
def test_unknown_op_is_a_clear_error(bad):
    x = Var("x", TensorType((4,), "float32"))
    with pytest.raises(KeyError, match="unknown op 'nope'"):
        op_call(bad, [x])


def test_printer_golden_text():
    x = Var("x", TensorType((2, 3), "float32"))
    bb = BlockBuilder()
    t = bb.call("transpose", x, axes=(1, 0))
    s = bb.call("sum", t, axis=1, keepdims=True)
    y = bb.call("add", s, Constant(np.float32(1.5).reshape(()), "one"))
    text = Function((x,), tuple(bb.bindings), (y,)).script()
    assert text == (
        "def main(x: Tensor((2, 3), 'float32')):\n"
        "    lv0: Tensor((3, 2), 'float32') = R.transpose(x, axes=(1, 0))\n"
        "    lv1: Tensor((3, 1), 'float32') = R.sum(lv0, axis=1, keepdims=True)\n"
        "    lv2: Tensor((3, 1), 'float32') = R.add(lv1, R.const(1.5, 'float32'))\n"
        "    return (lv2,)"
    )


def test_verify_catches_broken_modules():
    from onnxtune.frontend.ir import Binding
    from onnxtune.frontend.transform import GraphVerifyError, verify

    mod, _ = _conv_bn_relu()
    leg = legalize(mod)
    verify(leg)
    main = leg["main"]
    # use before definition
    swapped = main.with_bindings([main.bindings[1], main.bindings[0], *main.bindings[2:]],
                                 main.outputs)
    with pytest.raises(GraphVerifyError, match="before it is defined"):
        verify(IRModule({**leg.functions, "main": swapped}))
    # call_tir with the wrong argument shape
    b0 = main.bindings[0]
    y = Var("y", TensorType((1, 3, 9, 9), "float32"))
    bad = Binding(b0.var, CallTIR(b0.value.func, (y, *b0.value.args[1:]), b0.value.type))
    broken = Function((y,), (bad, *main.bindings[1:]), main.outputs)
    with pytest.raises(GraphVerifyError, match="parameter p0 is float32"):
        verify(IRModule({**leg.functions, "main": broken}))


def test_diamonds_fuse_when_every_consumer_joins_one_group():
    from onnxtune.compile import build

    x = Var("x", TensorType((1, 3, 6, 6), "float32"))
    w = Constant(RNG.standard_normal((4, 3, 3, 3)).astype("float32"))
    bb = BlockBuilder()
    c = bb.call("nn.conv2d", x, w, padding=(1, 1, 1, 1))
    s = bb.call("sigmoid", c)
    z = bb.call("multiply", c, s)  # swish: conv output read twice
    e = bb.call("exp", z)
    r = bb.call("relu", e)
    y = bb.call("add", e, r)  # elementwise diamond after it
    mod = IRModule({"main": Function((x,), tuple(bb.bindings), (y,))})
    out = fuse_tir(fuse_ops(legalize(mod)))
    ops = [out[b.value.func].attrs["op_name"] for b in out["main"].bindings]
    assert ops == ["nn.conv2d+sigmoid+multiply+exp+relu+add"]
    xv = RNG.standard_normal((1, 3, 6, 6)).astype("float32")
    got = np.empty((1, 4, 6, 6), "float32")
    build(out[out["main"].bindings[0].value.func])["main"](xv, w.data, got)
    ref = np.zeros((1, 4, 6, 6))
    xp = np.pad(xv, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for i in range(3):
        for j in range(3):
            ref += np.einsum("nchw,oc->nohw", xp[:, :, i:i + 6, j:j + 6], w.data[:, :, i, j])
    zz = ref / (1 + np.exp(-ref))
    ee = np.exp(zz)
    np.testing.assert_allclose(got, ee + np.maximum(ee, 0), rtol=1e-4)


def test_value_used_outside_its_consumer_group_is_not_merged():
    x = Var("x", TensorType((4,), "float32"))
    bb = BlockBuilder()
    e = bb.call("exp", x)
    r = bb.call("relu", e)
    s = bb.call("sum", e, axis=0)  # e feeds two different groups (relu's and sum's)
    mod = IRModule({"main": Function((x,), tuple(bb.bindings), (r, s))})
    out = fuse_tir(fuse_ops(legalize(mod)))
    assert len(out["main"].bindings) == 3
