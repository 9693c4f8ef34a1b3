"""Structural equality of IR trees, with variables and buffers matched up to renaming.

Two trees are structurally equal when they have the same shape, the same constants
(value and dtype), the same loop kinds, annotations, buffer shapes and dtypes, and their
variables and buffers correspond one to one. The correspondence is a bijection built in
traversal order: a variable or buffer is bound to its counterpart where it is first met
(its definition — loop var, block iter var, Let var, PrimFunc parameter, alloc_buffer,
Allocate — or, with ``map_free_vars=True``, its first use); every later occurrence must
agree with the binding. Names (of variables, buffers and blocks) are ignored, and so is
the ``global_symbol`` function attribute (it is a name too).

The hash is computed by the same traversal, numbering variables and buffers in the order
they are first met, so structurally equal trees always hash alike, whatever the names.
It is deterministic across processes (no use of Python's salted ``str`` hash) and
returned as an unsigned 64-bit integer.

Both work on any IR node, PrimFunc, IRModule, and Python lists / tuples / dicts of them
(lists and tuples are interchangeable). Traversal is iterative: depth is unlimited.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import numpy as np

from .buffer import Buffer
from .expr import Var
from .function import IRModule, PrimFunc
from .stmt import Block, BlockRealize, For, SeqStmt
from .structural_hash import structural_hash
from .structural_schema import (
    _ATTRS,
    _DEFBUF,
    _DEFBUFS,
    _DEFVAR,
    _FLOAT,
    _INT,
    _NODE,
    _NODES,
    _PARAMS,
    _SCHEMAS,
    _SELF_ARRAY,
    _SELF_BUF,
    _SELF_DICT,
    _SELF_ENUM,
    _SELF_FLOAT,
    _SELF_MODULE,
    _SELF_PRIM,
    _SELF_SEQ,
    _SELF_VAR,
    _USEBUF,
    _VAL,
    IGNORED_FUNC_ATTRS,
    dict_keys_sorted,
    filter_attrs,
    schema_of,
)

__all__ = [
    "IGNORED_FUNC_ATTRS",
    "assert_structural_equal",
    "module_equal",
    "module_hash",
    "structural_equal",
    "structural_hash",
]


class _EqState:
    __slots__ = ("ignore_tensor", "keep", "lmap", "map_free", "rmap", "why")

    def __init__(self, map_free: bool, ignore_tensor: bool = False):
        self.lmap: dict[Any, Any] = {}
        self.rmap: dict[Any, Any] = {}
        self.map_free = map_free
        self.ignore_tensor = ignore_tensor
        self.why = ""
        self.keep: list[Any] = []  # temporaries made during the comparison stay alive

    def bind(self, x: Any, y: Any) -> None:
        old = self.lmap.get(x)
        if old is not None:
            del self.rmap[old]
        old = self.rmap.get(y)
        if old is not None:
            del self.lmap[old]
        self.lmap[x] = y
        self.rmap[y] = x

    def use(self, x: Any, y: Any, what: str) -> bool:
        """Check (or, for a free one, make) the binding of a variable or buffer use."""
        m = self.lmap.get(x)
        if m is not None:
            if m is y:
                return True
            self.why = f"{what} is bound to a different counterpart earlier"
            return False
        if y in self.rmap:
            self.why = f"the right-hand {what} is already bound to another one"
            return False
        if self.map_free or x is y:
            self.bind(x, y)
            return True
        self.why = f"free {what}s differ (map_free_vars=False)"
        return False


def _buf_struct_eq(st: _EqState, x: Buffer, y: Buffer, kids: list, where: str) -> bool:
    if x.dtype != y.dtype:
        st.why = f"buffer dtypes differ: {x.dtype} vs {y.dtype}"
        return False
    if x.scope != y.scope:
        st.why = f"buffer scopes differ: {x.scope} vs {y.scope}"
        return False
    if x.align != y.align or tuple(x.storage_align) != tuple(y.storage_align):
        st.why = "buffer alignments differ"
        return False
    if len(x.shape) != len(y.shape):
        st.why = f"buffer ranks differ: {len(x.shape)} vs {len(y.shape)}"
        return False
    for i, (a, b) in enumerate(zip(x.shape, y.shape, strict=True)):
        kids.append(((where + "shape", i), a, b, x, y))
    return True


def _show(v: Any) -> str:
    if isinstance(v, enum.Enum):
        return f"{type(v).__name__}.{v.name}"
    return repr(v)


def _float_eq(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _eq_run(st: _EqState, lhs: Any, rhs: Any) -> tuple | None:
    """Compare; None when equal, else ``(path, x, y, parent_x, parent_y)`` of the mismatch."""
    stack: list[tuple] = [(lhs, rhs, None, None, None)]
    pop, push = stack.pop, stack.append
    seq_types = (list, tuple)
    while stack:
        item = pop()
        x, y, path = item[0], item[1], item[2]
        t = type(x)
        if t is not type(y) and not (t in seq_types and type(y) in seq_types):
            st.why = f"node types differ: {t.__name__} vs {type(y).__name__}"
            return item
        sch = _SCHEMAS.get(t)
        if sch is None:
            sch = schema_of(t)
        kids: list[tuple] = []
        for name, kind in sch:
            if kind == _NODE:
                kids.append((name, getattr(x, name), getattr(y, name), x, y))
            elif kind == _VAL:
                a, b = getattr(x, name), getattr(y, name)
                if a != b or type(a) is not type(b):
                    st.why = f"{t.__name__}.{name} differs: {_show(a)} vs {_show(b)}"
                    return item
            elif kind == _NODES:
                a, b = getattr(x, name), getattr(y, name)
                if len(a) != len(b):
                    st.why = f"{t.__name__}.{name} lengths differ: {len(a)} vs {len(b)}"
                    return item
                for i in range(len(a)):
                    kids.append(((name, i), a[i], b[i], x, y))
            elif kind == _SELF_VAR:
                if x.dtype != y.dtype:
                    st.why = f"variable dtypes differ: {x.dtype} vs {y.dtype}"
                    return item
                if not st.use(x, y, "variable"):
                    return item
            elif kind == _USEBUF:
                a, b = getattr(x, name), getattr(y, name)
                m = st.lmap.get(a)
                if m is not b:
                    if m is None and b not in st.rmap and (st.map_free or a is b):
                        if not _buf_struct_eq(st, a, b, kids, name + "."):
                            return (a, b, (path, name, x, y), x, y)
                        st.bind(a, b)
                    else:
                        st.use(a, b, "buffer")
                        return (a, b, (path, name, x, y), x, y)
            elif kind == _INT:
                a, b = getattr(x, name), getattr(y, name)
                if int(a) != int(b):
                    st.why = f"{t.__name__}.{name} differs: {a!r} vs {b!r}"
                    return item
            elif kind == _DEFVAR:
                a, b = getattr(x, name), getattr(y, name)
                if type(a) is not type(b) or a.dtype != b.dtype:
                    st.why = f"{t.__name__}.{name}: defined variables differ in dtype"
                    return item
                st.bind(a, b)
            elif kind == _FLOAT:
                a, b = getattr(x, name), getattr(y, name)
                if not _float_eq(a, b):
                    st.why = f"{t.__name__}.{name} differs: {a!r} vs {b!r}"
                    return item
            elif kind == _SELF_PRIM:
                if x != y:
                    st.why = f"values differ: {x!r} vs {y!r}"
                    return item
            elif kind == _SELF_SEQ:
                if len(x) != len(y):
                    st.why = f"sequence lengths differ: {len(x)} vs {len(y)}"
                    return item
                for i in range(len(x)):
                    kids.append((("", i), x[i], y[i], x, y))
            elif kind == _SELF_DICT:
                if x.keys() != y.keys():
                    st.why = f"dict keys differ: {sorted(map(str, x))} vs {sorted(map(str, y))}"
                    return item
                for k in dict_keys_sorted(x) if len(x) > 1 else x:
                    kids.append((("", k), x[k], y[k], x, y))
            elif kind == _DEFBUFS or kind == _DEFBUF:
                a, b = getattr(x, name), getattr(y, name)
                if kind == _DEFBUF:
                    a, b = (a,), (b,)
                elif len(a) != len(b):
                    st.why = f"{t.__name__}.{name} lengths differ: {len(a)} vs {len(b)}"
                    return item
                for i in range(len(a)):
                    if not isinstance(a[i], Buffer) or not isinstance(b[i], Buffer):
                        st.why = f"{t.__name__}.{name} holds a non-buffer"
                        return item
                    where = f"{name}[{i}]." if kind == _DEFBUFS else name + "."
                    if not _buf_struct_eq(st, a[i], b[i], kids, where):
                        return (a[i], b[i], (path, (name, i), x, y), x, y)
                    st.bind(a[i], b[i])
            elif kind == _SELF_BUF:
                m = st.lmap.get(x)
                if m is not y:
                    if m is None and y not in st.rmap and (st.map_free or x is y):
                        if not _buf_struct_eq(st, x, y, kids, ""):
                            return item
                        st.bind(x, y)
                    else:
                        st.use(x, y, "buffer")
                        return item
            elif kind == _PARAMS:
                a, b = x.params, y.params
                if len(a) != len(b):
                    st.why = f"parameter counts differ: {len(a)} vs {len(b)}"
                    return item
                for i in range(len(a)):
                    pa, pb = a[i], b[i]
                    if not isinstance(pa, Buffer) or not isinstance(pb, Buffer):
                        st.why = f"parameter {i} is not a Buffer"
                        return item
                    if len(pa.shape) == len(pb.shape):  # shape variables are defined here
                        for da, db in zip(pa.shape, pb.shape, strict=True):
                            if (type(da) is Var and type(db) is Var and da not in st.lmap
                                    and db not in st.rmap and da.dtype == db.dtype):
                                st.bind(da, db)
                    if not _buf_struct_eq(st, pa, pb, kids, f"params[{i}]."):
                        return (pa, pb, (path, ("params", i), x, y), x, y)
                    st.bind(pa, pb)
            elif kind == _ATTRS:
                kids.append((
                    name,
                    filter_attrs(x.attrs, st.ignore_tensor, st.keep),
                    filter_attrs(y.attrs, st.ignore_tensor, st.keep),
                    x, y,
                ))
            elif kind == _SELF_FLOAT:
                if not _float_eq(x, y):
                    st.why = f"values differ: {x!r} vs {y!r}"
                    return item
            elif kind == _SELF_ENUM:
                if x is not y:
                    st.why = f"values differ: {_show(x)} vs {_show(y)}"
                    return item
            elif kind == _SELF_MODULE:
                if x.keys() != y.keys():
                    st.why = f"module functions differ: {sorted(x)} vs {sorted(y)}"
                    return item
                for k in sorted(x):
                    kids.append((("", k), x[k], y[k], x, y))
            elif kind == _SELF_ARRAY:
                if x.shape != y.shape or x.dtype != y.dtype:
                    st.why = f"arrays differ in shape or dtype: {x.shape} {x.dtype} vs " \
                             f"{y.shape} {y.dtype}"
                    return item
                if not st.ignore_tensor and not np.array_equal(
                    x, y, equal_nan=x.dtype.kind in "fc"
                ):
                    st.why = "array values differ"
                    return item
            else:  # _SELF_OPAQUE
                if x is not y:
                    try:
                        same = bool(x == y)
                    except Exception:  # noqa: BLE001 - any failure means "not equal"
                        same = False
                    if not same:
                        st.why = f"opaque {t.__name__} objects differ"
                        return item
        for i in range(len(kids) - 1, -1, -1):
            label, a, b, px, py = kids[i]
            push((a, b, (path, label, px, py), px, py))
    return None


def _path_text(path: tuple | None) -> str:
    parts: list[str] = []
    while path is not None:
        path, label = path[0], path[1]
        if isinstance(label, tuple):
            name, i = label
            parts.append(f"{'.' + name if name else ''}[{i!r}]")
        else:
            parts.append("." + label)
    return "<root>" + "".join(reversed(parts))


def structural_equal(lhs: Any, rhs: Any, map_free_vars: bool = True) -> bool:
    """True if ``lhs`` and ``rhs`` have the same structure, up to renaming.

    Works on IR nodes, PrimFuncs, IRModules and lists/tuples/dicts of them. With
    ``map_free_vars=False`` variables not defined inside the compared trees must be the
    very same objects on both sides.
    """
    return _eq_run(_EqState(map_free_vars), lhs, rhs) is None


def assert_structural_equal(lhs: Any, rhs: Any, map_free_vars: bool = True) -> None:
    """Raise ValueError, naming the path to the first mismatch and printing both sides."""
    st = _EqState(map_free_vars)
    bad = _eq_run(st, lhs, rhs)
    if bad is None:
        return
    x, y, path, px, py = bad
    from .printer import astext

    msg = [f"structural mismatch at {_path_text(path)}: {st.why}",
           f"  lhs: {_excerpt(astext(x))}", f"  rhs: {_excerpt(astext(y))}"]
    if px is not None and _is_small(x) and _is_small(px):
        msg += [f"  in lhs: {_excerpt(astext(px))}", f"  in rhs: {_excerpt(astext(py))}"]
    raise ValueError("\n".join(msg))


def _is_small(x: Any) -> bool:
    return not isinstance(x, (PrimFunc, Block, BlockRealize, For, SeqStmt, IRModule, list,
                              tuple, dict))


def _excerpt(text: str, max_lines: int = 24) -> str:
    lines = text.splitlines() or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
    return "\n       ".join(lines)


# ----------------------------------------------------------------------------------------
# module equality (implemented in module_equality.py; re-exported here for the tuner)


def module_equal(lhs: Any, rhs: Any, mode: str = "structural") -> bool:
    """Compare two IRModules (or PrimFuncs) under ``mode``; see :mod:`.module_equality`."""
    from .module_equality import module_equal as _impl

    return _impl(lhs, rhs, mode)


def module_hash(mod: Any, mode: str = "structural") -> int:
    """Hash an IRModule (or PrimFunc) consistently with :func:`module_equal` for ``mode``."""
    from .module_equality import module_hash as _impl

    return _impl(mod, mode)

