"""JSON serialization: round trips, shared identity, special values, clear load errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from ir_samples import constants, elementwise, lowered, matmul, two_stage

from onnxtune import tir
from onnxtune.tir import (
    BufferRegion,
    FloatImm,
    ForKind,
    IntImm,
    IRModule,
    IterType,
    IterVar,
    Range,
    Reduce,
    Var,
    const,
    decl_buffer,
)
from onnxtune.tir.functor import post_order_visit
from onnxtune.tir.serialize import from_json_obj, load_json, save_json, to_json_obj
from onnxtune.tir.structural import assert_structural_equal, structural_hash

SAMPLES = {
    "matmul with init": matmul,
    "parallel/vectorized/unroll with annotations": two_stage,
    "Allocate/IfThenElse/LetStmt": lowered,
    "float16/int8/bool/inf/nan constants": constants,
    "elementwise": elementwise,
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_is_structurally_equal(name):
    f = SAMPLES[name]()
    text = save_json(f)
    g = load_json(text)
    assert type(g) is type(f)
    assert_structural_equal(f, g, map_free_vars=False)
    assert structural_hash(f) == structural_hash(g)
    assert g.script() == f.script()  # names survive too
    assert save_json(g) == text  # and the format is canonical
    json.loads(text)  # plain JSON: no NaN/Infinity literals
    assert "NaN" not in text and "Infinity" not in text


def test_shared_objects_stay_shared():
    f = matmul()
    g = load_json(save_json(f))
    vars_, bufs = {}, {}

    def collect(n):
        if isinstance(n, Var):
            vars_.setdefault(n.name, set()).add(id(n))

    post_order_visit(g.body, collect)
    assert all(len(ids) == 1 for ids in vars_.values()) and "vk" in vars_
    blk = g.body.block.body.body.body.body.block
    stores = [blk.body, blk.init]
    for s in stores:
        bufs.setdefault("C", set()).add(id(s.buffer))
    assert bufs["C"] == {id(g.params[2])}
    assert blk.reads[0].buffer is g.params[0]
    loop_i = g.body.block.body
    assert g.body.block.body.body.body.body.iter_values[0] is loop_i.loop_var


def test_enums_dtypes_and_special_floats():
    f = two_stage()
    g = load_json(save_json(f))
    assert g.body.block.body.seq[0].kind is ForKind.PARALLEL
    assert g.body.block.body.seq[0].body.kind is ForKind.VECTORIZED
    assert g.body.block.alloc_buffers[0].scope == "global"
    c = load_json(save_json(constants()))
    vals = [s.value for s in c.body.seq]
    assert vals[0].dtype == "float16" and vals[0].value == 1.5
    assert vals[1].dtype == "int8" and vals[1].value == -7
    assert vals[2].dtype == "bool" and vals[2].value == 1
    assert vals[3].value == math.inf and vals[4].value == -math.inf and math.isnan(vals[5].value)
    assert c.attrs == {"global_symbol": "consts", "tir.noalias": True}
    x = load_json(save_json(IntImm(2**40, "int64")))
    assert x.value == 2**40 and x.dtype == "int64"


def test_reduce_and_standalone_nodes():
    a = decl_buffer((8, 8), "float32", "A")
    i = Var("i")
    k = IterVar(Range(const(0), const(8)), Var("k"), IterType.COMM_REDUCE)
    red = Reduce("sum", a[i, k.var] * 2.0, (k,), k.var < 5, FloatImm(0.0))
    back = load_json(save_json(red))
    assert_structural_equal(red, back)
    assert back.axis[0].var is back.source.a.indices[1]
    assert back.combiner == "sum" and back.axis[0].iter_type is IterType.COMM_REDUCE
    for node in (i, a, Range(i, const(4)), BufferRegion(a, (Range(i, const(1)),) * 2),
                 tir.exp(a[i, i]), tir.if_then_else(i < 3, a[i, 0], const(0.0)),
                 tir.Ramp(i, const(1), 4), tir.Broadcast(const(1.0), 8),
                 tir.Let(i, const(1), i + 1), tir.StringImm("s")):
        assert_structural_equal(node, load_json(save_json(node)))


def test_annotation_values_and_containers():
    i = Var("i")
    ann = {"list": [1, 2.5, "s", None, True], "tuple": (1, (2, 3)), "nested": {"a": [{"b": i}]},
           "nan": float("nan"), "int_keys": {1: "one", 2: "two"}, "node": i * 2,
           "array": np.arange(6, dtype="int16").reshape(2, 3), "empty": {}}
    f = matmul().with_attr("meta", ann)
    g = load_json(save_json(f))
    got = g.attrs["meta"]
    assert got["list"] == [1, 2.5, "s", None, True] and type(got["list"]) is list
    assert got["tuple"] == (1, (2, 3)) and type(got["tuple"][1]) is tuple
    assert got["int_keys"] == {1: "one", 2: "two"}
    assert math.isnan(got["nan"]) and got["empty"] == {}
    assert got["array"].dtype == np.int16 and got["array"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert got["nested"]["a"][0]["b"] is got["node"].a  # one Var object, shared
    assert_structural_equal(f, g)
    both = load_json(save_json([f, {"again": f}]))
    assert both[1]["again"] is both[0]


def test_irmodule_round_trip():
    mod = IRModule({"mm": matmul(4, 5, 6), "ew": elementwise(), "low": lowered()})
    back = load_json(save_json(mod))
    assert isinstance(back, IRModule) and list(back) == ["mm", "ew", "low"]
    assert_structural_equal(mod, back)
    assert back.script() == mod.script()
    obj = to_json_obj(mod)
    assert obj["onnxtune_ir"] == 1
    assert_structural_equal(from_json_obj(json.loads(json.dumps(obj))), mod)


def _doc(nodes, root):
    return json.dumps({"onnxtune_ir": 1, "root": root, "nodes": nodes})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"root": 1, "nodes": []}', "no 'onnxtune_ir' version key"),
        ('{"onnxtune_ir": 2, "root": 1, "nodes": []}', "unsupported format version 2"),
        ('{"onnxtune_ir": 1, "root": 1}', "'nodes' list"),
        (_doc([{"type": "Bogus"}], {"r": 0}), "node 0 has unknown node type 'Bogus'"),
        (_doc([{"name": "x"}], {"r": 0}), "node 0 must be an object with a 'type'"),
        (_doc([{"type": "Var", "name": "x", "colour": 1}], {"r": 0}),
         "node 0 \\(Var\\) has unknown field 'colour'"),
        (_doc([{"type": "Add", "a": {"r": 1}, "b": {"r": 1}}, {"type": "Var", "name": "x"}],
              {"r": 0}), "node 0 \\(Add\\).a: reference 1 to a node not defined before it"),
        (_doc([{"type": "For", "loop_var": {"i": 0}}], {"r": 0}),
         "node 0 \\(For\\): missing field\\(s\\) min, extent, kind, body"),
        (_doc([{"type": "Var", "name": {"zz": 1}}], {"r": 0}), "unknown value tag 'zz'"),
        (_doc([{"type": "FloatImm", "value": {"f": "huge"}}], {"r": 0}), "bad special float"),
        (_doc([{"type": "For", "kind": {"e": "ForKind", "v": "SIDEWAYS"}}], {"r": 0}),
         "unknown enum 'ForKind' member 'SIDEWAYS'"),
        (_doc([], {"i": "7"}), "malformed integer constant"),
        (_doc([], {"i": 7, "t": "int3"}), "malformed integer constant"),
    ],
)
def test_load_errors_are_clear(text, message):
    with pytest.raises(ValueError, match=message):
        load_json(text)


def test_save_rejects_unknown_values():
    f = matmul().with_attr("callback", object())
    with pytest.raises(ValueError, match="PrimFunc.attrs: cannot serialize a value of type object"):
        save_json(f)
