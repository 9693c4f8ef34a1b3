"""Structural hash: a deterministic 64-bit hash consistent with structural equality.

The hash walks a tree in the same order as the equality check, emitting integer tokens:
class codes, dtypes, constants, and for variables and buffers the number of the order in
which they were first met (definitions always get a fresh number). Equal trees therefore
emit equal token streams whatever their names. Strings are coded with blake2b, never with
Python's salted ``hash``, so the result is the same in every process.
"""

from __future__ import annotations

import enum
import hashlib
import math
import struct
from array import array
from typing import Any

import numpy as np

from .buffer import Buffer
from .expr import Var
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
    dict_keys_sorted,
    filter_attrs,
    schema_of,
)

_MASK62 = (1 << 62) - 1
_STR_CODES: dict[str, int] = {}


def _code(s: str) -> int:
    """A stable 62-bit code of a string (cached)."""
    c = _STR_CODES.get(s)
    if c is None:
        c = int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")
        c &= _MASK62
        if len(_STR_CODES) < 100_000:
            _STR_CODES[s] = c
    return c


_T_NONE, _T_INT, _T_NEG, _T_BIG, _T_FLOAT, _T_STR, _T_VAR, _T_FREE, _T_BUF, _T_NEWBUF = (
    _code("<none>"), _code("<int>"), _code("<neg>"), _code("<big>"), _code("<float>"),
    _code("<str>"), _code("<var>"), _code("<free>"), _code("<buf>"), _code("<newbuf>"),
)
_T_SEQ, _T_DICT, _T_BOOL, _T_ARRAY, _T_MODULE, _T_NAN = (
    _code("<seq>"), _code("<dict>"), _code("<bool>"), _code("<array>"), _code("<module>"),
    _code("<nan>"),
)
_CLASS_CODES: dict[type, int] = {}


def _int_tokens(v: int, out: list) -> None:
    if 0 <= v <= _MASK62:
        out.append(v)
    elif -_MASK62 <= v < 0:
        out.append(_T_NEG)
        out.append(-v)
    else:
        out.append(_T_BIG)
        out.append(_code(str(v)))


def _float_tokens(v: float, out: list) -> None:
    out.append(_T_FLOAT)
    if math.isnan(v):
        out.append(_T_NAN)
    else:
        out.append(struct.unpack("<q", struct.pack("<d", v + 0.0))[0])  # -0.0 -> 0.0


def _value_tokens(v: Any, out: list) -> None:
    """Tokens of a plain value (int, str, bool, None, enum member, numpy scalar)."""
    t = type(v)
    if t is int:
        out.append(_T_INT)
        _int_tokens(v, out)
    elif t is str:
        out.append(_T_STR)
        out.append(_code(v))
    elif t is bool:
        out.append(_T_BOOL)
        out.append(int(v))
    elif v is None:
        out.append(_T_NONE)
    elif isinstance(v, enum.Enum):
        out.append(_code(t.__name__))
        out.append(_code(v.name))
    elif t is float:
        _float_tokens(v, out)
    elif isinstance(v, np.generic):
        out.append(_code(t.__name__))
        _value_tokens(v.item(), out)
    else:
        out.append(_code(t.__name__))


class _HashState:
    __slots__ = ("ids", "ignore_tensor", "keep", "map_free")

    def __init__(self, map_free: bool, ignore_tensor: bool = False):
        self.ids: dict[Any, int] = {}
        self.map_free = map_free
        self.ignore_tensor = ignore_tensor
        self.keep: list[Any] = []

    def define(self, x: Any) -> int:
        i = len(self.ids) if x not in self.ids else self._fresh()
        self.ids[x] = i
        return i

    def _fresh(self) -> int:
        # a redefinition takes a number no earlier definition could have had
        self.ids[object()] = -1
        return len(self.ids) - 1


def _buf_struct_tokens(st: _HashState, b: Buffer, out: list, kids: list) -> None:
    out.append(_code(b.dtype))
    out.append(_code(b.scope))
    _int_tokens(b.align, out)
    for ax in b.storage_align:
        for v in ax:
            _int_tokens(v, out)
    out.append(len(b.shape))
    kids.extend(b.shape)


def _hash_run(st: _HashState, root: Any) -> int:
    out: list[int] = []
    stack: list[Any] = [root]
    pop, push, emit = stack.pop, stack.append, out.append
    ids = st.ids
    while stack:
        x = pop()
        t = type(x)
        sch = _SCHEMAS.get(t)
        if sch is None:
            sch = schema_of(t)
        cc = _CLASS_CODES.get(t)
        if cc is None:
            cc = _CLASS_CODES[t] = _code("list" if t is tuple else t.__name__)
        emit(cc)
        kids: list[Any] = []
        for name, kind in sch:
            if kind == _NODE:
                kids.append(getattr(x, name))
            elif kind == _VAL:
                _value_tokens(getattr(x, name), out)
            elif kind == _NODES:
                a = getattr(x, name)
                emit(len(a))
                kids.extend(a)
            elif kind == _SELF_VAR:
                i = ids.get(x)
                if i is None:
                    if st.map_free:
                        i = st.define(x)
                    else:
                        emit(_T_FREE)
                        emit(id(x))
                        continue
                emit(_T_VAR)
                emit(i)
                emit(_code(x.dtype))
            elif kind == _USEBUF:
                a = getattr(x, name)
                i = ids.get(a)
                if i is None:
                    if st.map_free:
                        emit(_T_NEWBUF)
                        _buf_struct_tokens(st, a, out, kids)
                        i = st.define(a)
                    else:
                        emit(_T_FREE)
                        emit(id(a))
                        continue
                emit(_T_BUF)
                emit(i)
            elif kind == _INT:
                _int_tokens(int(getattr(x, name)), out)
            elif kind == _DEFVAR:
                a = getattr(x, name)
                emit(_T_VAR)
                emit(st.define(a))
                emit(_code(a.dtype))
            elif kind == _FLOAT:
                _float_tokens(getattr(x, name), out)
            elif kind == _SELF_PRIM:
                _value_tokens(x, out)
            elif kind == _SELF_SEQ:
                emit(len(x))
                kids.extend(x)
            elif kind == _SELF_DICT:
                emit(len(x))
                for k in dict_keys_sorted(x) if len(x) > 1 else x:
                    _value_tokens(k, out)
                    kids.append(x[k])
            elif kind == _DEFBUFS or kind == _DEFBUF:
                a = getattr(x, name)
                if kind == _DEFBUF:
                    a = (a,)
                emit(len(a))
                for b in a:
                    if isinstance(b, Buffer):
                        _buf_struct_tokens(st, b, out, kids)
                        emit(st.define(b))
            elif kind == _SELF_BUF:
                i = ids.get(x)
                if i is None:
                    if st.map_free:
                        emit(_T_NEWBUF)
                        _buf_struct_tokens(st, x, out, kids)
                        i = st.define(x)
                    else:
                        emit(_T_FREE)
                        emit(id(x))
                        continue
                emit(_T_BUF)
                emit(i)
            elif kind == _PARAMS:
                emit(len(x.params))
                for p in x.params:
                    if not isinstance(p, Buffer):
                        continue
                    for d in p.shape:
                        if type(d) is Var and d not in ids:
                            st.define(d)
                    _buf_struct_tokens(st, p, out, kids)
                    emit(st.define(p))
            elif kind == _ATTRS:
                kids.append(filter_attrs(x.attrs, st.ignore_tensor, st.keep))
            elif kind == _SELF_FLOAT:
                _float_tokens(x, out)
            elif kind == _SELF_ENUM:
                _value_tokens(x, out)
            elif kind == _SELF_MODULE:
                emit(len(x))
                for k in sorted(x):
                    emit(_code(k))
                    kids.append(x[k])
            elif kind == _SELF_ARRAY:
                emit(_T_ARRAY)
                emit(_code(x.dtype.str))
                for d in x.shape:
                    emit(d)
                if not st.ignore_tensor:
                    data = np.ascontiguousarray(x).tobytes()
                    emit(int.from_bytes(hashlib.blake2b(data, digest_size=7).digest(), "little"))
            # _SELF_OPAQUE: the class code alone (equal opaque objects share a class)
        for i in range(len(kids) - 1, -1, -1):
            push(kids[i])
    data = array("q", out).tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def structural_hash(node: Any, map_free_vars: bool = True) -> int:
    """A 64-bit hash (non-negative int) consistent with :func:`structural_equal`.

    Stable across processes and robust to renaming. With ``map_free_vars=False`` free
    variables hash by identity, so that hash is only meaningful inside one process.
    """
    return _hash_run(_HashState(map_free_vars), node)
