"""How each IR node class takes part in structural equality and hashing (shared schemas)."""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from .buffer import Buffer, BufferRegion
from .expr import (
    And,
    BinaryOp,
    Broadcast,
    BufferLoad,
    Call,
    Cast,
    CmpOp,
    FloatImm,
    IntImm,
    IterVar,
    Let,
    Not,
    Or,
    Ramp,
    Range,
    Reduce,
    Select,
    StringImm,
    Var,
)
from .function import IRModule, PrimFunc
from .stmt import (
    Allocate,
    Block,
    BlockRealize,
    BufferStore,
    Evaluate,
    For,
    IfThenElse,
    LetStmt,
    SeqStmt,
)

#: PrimFunc attributes that never take part in comparison or hashing (they are names).
IGNORED_FUNC_ATTRS = frozenset({"global_symbol"})

# ----------------------------------------------------------------------------------------
# schemas: how each node class is compared, as an ordered list of (field, kind).
# Equality and hashing both walk fields in exactly this order, which is what makes the
# hash consistent with equality.

(
    _NODE,  # a child node (or None, or a plain value): compared recursively
    _NODES,  # a tuple of children
    _INT,  # an int (IntImm.value): compared as int, bool and numpy ints included
    _VAL,  # a plain value (str, int, enum): compared with == and exact type
    _FLOAT,  # a float; nan equals nan
    _DEFVAR,  # a Var being defined: (re)bound to its counterpart here
    _USEBUF,  # a Buffer referenced
    _DEFBUF,  # a Buffer being defined
    _DEFBUFS,  # a tuple of Buffers being defined
    _PARAMS,  # PrimFunc parameters: shape variables, then the buffers, are defined
    _ATTRS,  # PrimFunc attrs: a dict minus IGNORED_FUNC_ATTRS (and tensors in ignore mode)
    _SELF_VAR,  # the node itself is a Var (a use)
    _SELF_BUF,  # the node itself is a Buffer (a use)
    _SELF_DICT,
    _SELF_SEQ,
    _SELF_PRIM,  # int, str, bool, None: compared with ==
    _SELF_FLOAT,
    _SELF_ENUM,
    _SELF_ARRAY,  # numpy array
    _SELF_MODULE,
    _SELF_OPAQUE,  # an object the IR does not know: equal if identical or ==
) = range(21)

_BIN = (("a", _NODE), ("b", _NODE))

_SCHEMAS: dict[type, tuple[tuple[str, int], ...]] = {
    Var: (("", _SELF_VAR),),
    Buffer: (("", _SELF_BUF),),
    IntImm: (("dtype", _VAL), ("value", _INT)),
    FloatImm: (("dtype", _VAL), ("value", _FLOAT)),
    StringImm: (("dtype", _VAL), ("value", _VAL)),
    And: _BIN,
    Or: _BIN,
    Not: (("a", _NODE),),
    Cast: (("dtype", _VAL), ("value", _NODE)),
    Select: (("condition", _NODE), ("true_value", _NODE), ("false_value", _NODE)),
    BufferLoad: (("buffer", _USEBUF), ("indices", _NODES)),
    Call: (("dtype", _VAL), ("op", _VAL), ("args", _NODES)),
    Ramp: (("lanes", _VAL), ("base", _NODE), ("stride", _NODE)),
    Broadcast: (("lanes", _VAL), ("value", _NODE)),
    Let: (("var", _DEFVAR), ("value", _NODE), ("body", _NODE)),
    Range: (("min", _NODE), ("extent", _NODE)),
    IterVar: (("iter_type", _VAL), ("thread_tag", _VAL), ("var", _DEFVAR), ("dom", _NODE)),
    Reduce: (
        ("combiner", _VAL), ("axis", _NODES), ("source", _NODE), ("condition", _NODE),
        ("init", _NODE),
    ),
    BufferRegion: (("buffer", _USEBUF), ("region", _NODES)),
    For: (
        ("loop_var", _DEFVAR), ("kind", _VAL), ("thread_binding", _VAL), ("min", _NODE),
        ("extent", _NODE), ("annotations", _NODE), ("body", _NODE),
    ),
    BufferStore: (("buffer", _USEBUF), ("indices", _NODES), ("value", _NODE)),
    Evaluate: (("value", _NODE),),
    SeqStmt: (("seq", _NODES),),
    IfThenElse: (("condition", _NODE), ("then_case", _NODE), ("else_case", _NODE)),
    LetStmt: (("var", _DEFVAR), ("value", _NODE), ("body", _NODE)),
    Allocate: (("buffer", _DEFBUF), ("body", _NODE)),
    # name_hint is ignored, as in TVM
    Block: (
        ("iter_vars", _NODES), ("alloc_buffers", _DEFBUFS), ("reads", _NODES),
        ("writes", _NODES), ("init", _NODE), ("body", _NODE), ("annotations", _NODE),
    ),
    BlockRealize: (("iter_values", _NODES), ("predicate", _NODE), ("block", _NODE)),
    PrimFunc: (("params", _PARAMS), ("body", _NODE), ("attrs", _ATTRS)),
    dict: (("", _SELF_DICT),),
    list: (("", _SELF_SEQ),),
    tuple: (("", _SELF_SEQ),),
    int: (("", _SELF_PRIM),),
    bool: (("", _SELF_PRIM),),
    str: (("", _SELF_PRIM),),
    type(None): (("", _SELF_PRIM),),
    float: (("", _SELF_FLOAT),),
    np.ndarray: (("", _SELF_ARRAY),),
    IRModule: (("", _SELF_MODULE),),
}


def schema_of(cls: type) -> tuple[tuple[str, int], ...]:
    """The schema of ``cls``: a registered one, a base class's, or one from its fields."""
    s = _SCHEMAS.get(cls)
    if s is not None:
        return s
    if issubclass(cls, (BinaryOp, CmpOp)):
        s = _BIN
    elif issubclass(cls, enum.Enum):
        s = (("", _SELF_ENUM),)
    elif issubclass(cls, np.generic):
        s = (("", _SELF_PRIM),)
    elif issubclass(cls, Var):
        s = _SCHEMAS[Var]
    elif issubclass(cls, Buffer):
        s = _SCHEMAS[Buffer]
    elif dataclasses.is_dataclass(cls):  # a node class defined elsewhere: every field
        s = tuple(
            (f.name, _NODES if _is_tuple_field(f) else _NODE) for f in dataclasses.fields(cls)
        )
    else:
        s = (("", _SELF_OPAQUE),)
    _SCHEMAS[cls] = s
    return s


def _is_tuple_field(f: dataclasses.Field) -> bool:
    return isinstance(f.type, str) and f.type.startswith("tuple")


def dict_keys_sorted(d: dict) -> list:
    try:
        return sorted(d)
    except TypeError:
        return sorted(d, key=lambda k: (type(k).__name__, repr(k)))


def filter_attrs(attrs: dict, ignore_tensor: bool, keep: list) -> dict:
    """PrimFunc attrs as compared: ignored keys dropped, tensor-ish values blanked."""
    if not attrs:
        return attrs
    if not ignore_tensor:
        if not any(k in IGNORED_FUNC_ATTRS for k in attrs):
            return attrs
        return {k: v for k, v in attrs.items() if k not in IGNORED_FUNC_ATTRS}
    from .module_equality import IGNORED_TENSOR_ATTRS, blank_numbers

    out = {
        k: blank_numbers(v)
        for k, v in attrs.items()
        if k not in IGNORED_FUNC_ATTRS and k not in IGNORED_TENSOR_ATTRS
    }
    keep.append(out)
    return out
