"""JSON serialization of IR nodes, PrimFuncs and IRModules, sharing preserved (no pickle).

Format (version 1)::

    {"onnxtune_ir": 1, "root": VALUE, "nodes": [ENTRY, ...]}

Every IR node (Buffers included) and every IRModule is stored once in ``nodes``, children
before parents, as ``{"type": "For", "field": VALUE, ...}``; a field equal to its default
is left out. A VALUE refers to a node as ``{"r": index}``, so a Var or Buffer used in many
places is one object again after loading. Other VALUEs:

- an IntImm is written inline: ``{"i": 3}`` (int32) or ``{"i": 3, "t": "int64"}``;
- ``null``, ``true``/``false``, numbers and strings stand for themselves; the floats JSON
  cannot spell are ``{"f": "inf"}``, ``{"f": "-inf"}``, ``{"f": "nan"}``;
- an enum member is ``{"e": "ForKind", "v": "PARALLEL"}``;
- inside a node's field a JSON list is a tuple (node fields hold tuples); elsewhere (in
  annotation dicts) a list is a list and a tuple is ``{"tu": [...]}``; a list inside a
  field is ``{"li": [...]}``;
- a dict is ``{"d": {key: VALUE}}`` (string keys) or ``{"dk": [[KEY, VALUE], ...]}``;
- a numpy array is ``{"nd": {"dtype": "float32", "shape": [..], "data": base64}}``.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
import math
import sys
from typing import Any

import numpy as np

from .dtype import DTYPE_BITS
from .expr import IntImm, IterType, Node
from .function import IRModule
from .functor import node_fields
from .stmt import ForKind

#: The format version written by :func:`save_json` and accepted by :func:`load_json`.
FORMAT_VERSION = 1
_VERSION_KEY = "onnxtune_ir"

_ENUMS: dict[str, type[enum.Enum]] = {"ForKind": ForKind, "IterType": IterType}
_MISSING = dataclasses.MISSING


def _all_node_classes() -> dict[str, type]:
    """Every module-level dataclass Node subclass, by class name (and module:qualname)."""
    out: dict[str, type] = {}
    dup: set[str] = set()
    stack = list(Node.__subclasses__())
    seen: set[type] = set()
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        stack.extend(c.__subclasses__())
        # only the class a module exports (``dataclass(slots=True)`` leaves a stale twin)
        if not dataclasses.is_dataclass(c) or getattr(
                sys.modules.get(c.__module__), c.__name__, None) is not c:
            continue
        out[f"{c.__module__}:{c.__qualname__}"] = c
        if c.__name__ in out and out[c.__name__] is not c:
            dup.add(c.__name__)
        out[c.__name__] = c
    for name in dup:
        del out[name]
    return out


_REGISTRY: dict[str, type] = {}
_TYPE_NAMES: dict[type, str] = {}
_DEFAULTS: dict[type, dict[str, Any]] = {}


def _type_name(cls: type) -> str:
    name = _TYPE_NAMES.get(cls)
    if name is None:
        if _REGISTRY.get(cls.__name__) is not cls:
            _REGISTRY.clear()
            _REGISTRY.update(_all_node_classes())
        name = cls.__name__ if _REGISTRY.get(cls.__name__) is cls else \
            f"{cls.__module__}:{cls.__qualname__}"
        _TYPE_NAMES[cls] = name
    return name


def _class_of(name: str, where: str) -> type:
    cls = _REGISTRY.get(name)
    if cls is None:
        _REGISTRY.clear()
        _REGISTRY.update(_all_node_classes())
        cls = _REGISTRY.get(name)
        if cls is None:
            raise ValueError(f"load_json: {where} has unknown node type {name!r}")
    return cls


def _defaults(cls: type) -> dict[str, Any]:
    """Field defaults that let a field be left out: simple values and empty containers."""
    d = _DEFAULTS.get(cls)
    if d is None:
        d = {}
        for f in dataclasses.fields(cls):
            if f.default is not _MISSING:
                if f.default is None or type(f.default) in (bool, int, str, tuple) \
                        or isinstance(f.default, enum.Enum):
                    d[f.name] = f.default
            elif f.default_factory is not _MISSING:  # type: ignore[misc]
                d[f.name] = f.default_factory()  # type: ignore[misc]
        _DEFAULTS[cls] = d
    return d


# ----------------------------------------------------------------------------------------
# saving


def _collect(root: Any) -> list[Any]:
    """Every node and IRModule reachable from ``root``, children before parents."""
    index: set[int] = set()
    order: list[Any] = []
    stack: list[tuple[Any, bool]] = []
    _push_children(root, stack)
    while stack:
        n, done = stack.pop()
        if id(n) in index:
            continue
        if done:
            index.add(id(n))
            order.append(n)
            continue
        stack.append((n, True))
        kids: list[tuple[Any, bool]] = []
        if isinstance(n, IRModule):
            for f in n.functions.values():
                _push_children(f, kids)
        else:
            for name in node_fields(type(n)):
                _push_children(getattr(n, name), kids)
        stack.extend(reversed(kids))
    return order


def _push_children(v: Any, out: list) -> None:
    if type(v) is IntImm:  # written inline
        return
    if isinstance(v, (Node, IRModule)):
        out.append((v, False))
    elif isinstance(v, (tuple, list)):
        for x in v:
            _push_children(x, out)
    elif isinstance(v, dict):
        for k, x in v.items():
            _push_children(k, out)
            _push_children(x, out)


class _Encoder:
    def __init__(self) -> None:
        self.index: dict[int, int] = {}

    def value(self, v: Any, in_field: bool, where: str) -> Any:
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            return v
        if t is IntImm:
            if v.dtype == "int32":
                return {"i": int(v.value)}
            return {"i": int(v.value), "t": v.dtype}
        if isinstance(v, (Node, IRModule)):
            return {"r": self.index[id(v)]}
        if t is tuple:
            items = [self.value(x, in_field, where) for x in v]
            return items if in_field else {"tu": items}
        if t is float:
            return v if math.isfinite(v) else {"f": "nan" if math.isnan(v) else
                                               ("inf" if v > 0 else "-inf")}
        if t is list:
            items = [self.value(x, False, where) for x in v]
            return {"li": items} if in_field else items
        if t is dict:
            if all(type(k) is str for k in v):
                return {"d": {k: self.value(x, False, where) for k, x in v.items()}}
            return {"dk": [[self.value(k, False, where), self.value(x, False, where)]
                           for k, x in v.items()]}
        if isinstance(v, enum.Enum):
            name = type(v).__name__
            if _ENUMS.get(name) is not type(v):
                raise ValueError(f"save_json: {where}: enum type {name} is not serializable; "
                                 f"known enums: {', '.join(sorted(_ENUMS))}")
            return {"e": name, "v": v.name}
        if isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v)
            return {"nd": {"dtype": a.dtype.str, "shape": list(a.shape),
                           "data": base64.b64encode(a.tobytes()).decode("ascii")}}
        if isinstance(v, np.generic):
            return self.value(v.item(), in_field, where)
        if isinstance(v, int):  # int subclasses other than enums and bool
            return int(v)
        raise ValueError(f"save_json: {where}: cannot serialize a value of type {t.__name__} "
                         f"({v!r:.80}); accepted: IR nodes, IRModule, None, bool, int, float, "
                         f"str, tuple, list, dict, enum, numpy array")

    def entry(self, n: Any) -> dict[str, Any]:
        if isinstance(n, IRModule):
            return {"type": "IRModule",
                    "functions": self.value(dict(n.functions), True, "IRModule")}
        cls = type(n)
        out: dict[str, Any] = {"type": _type_name(cls)}
        defaults = _defaults(cls)
        for name in node_fields(cls):
            v = getattr(n, name)
            if name in defaults:
                d = defaults[name]
                if v is d or (type(v) is type(d) and not isinstance(v, Node) and v == d):
                    continue
            out[name] = self.value(v, True, f"{cls.__name__}.{name}")
        return out


def to_json_obj(value: Any) -> dict[str, Any]:
    """The JSON-able dict :func:`save_json` writes (for embedding in a larger document)."""
    enc = _Encoder()
    entries = []
    for i, n in enumerate(_collect(value)):
        entries.append(enc.entry(n))
        enc.index[id(n)] = i
    return {_VERSION_KEY: FORMAT_VERSION, "root": enc.value(value, False, "root"),
            "nodes": entries}


def save_json(value: Any) -> str:
    """Serialize an IR node, PrimFunc, IRModule (or a list/dict of them) to a JSON string."""
    return json.dumps(to_json_obj(value), separators=(",", ":"), allow_nan=False)


# ----------------------------------------------------------------------------------------
# loading


class _Decoder:
    def __init__(self, nodes: list[Any]):
        self.nodes = nodes

    def value(self, v: Any, in_field: bool, where: str) -> Any:
        t = type(v)
        if t is str or t is int or t is bool or t is float or v is None:
            return v
        if t is list:
            items = [self.value(x, in_field, where) for x in v]
            return tuple(items) if in_field else items
        if t is not dict or len(v) != (2 if ("e" in v or "t" in v) else 1):
            raise ValueError(f"load_json: {where}: malformed value {_short(v)}")
        (tag, x), *_ = v.items()
        if tag == "i":
            dtype = v.get("t", "int32")
            if type(x) is not int or dtype not in DTYPE_BITS:
                raise ValueError(f"load_json: {where}: malformed integer constant {_short(v)}")
            return IntImm(x, dtype)
        if tag == "r":
            if type(x) is not int or not 0 <= x < len(self.nodes):
                raise ValueError(f"load_json: {where}: reference {x!r} to a node not defined "
                                 f"before it (nodes must come children first)")
            return self.nodes[x]
        if tag == "d":
            if type(x) is not dict:
                raise ValueError(f"load_json: {where}: 'd' must hold an object")
            return {k: self.value(y, False, where) for k, y in x.items()}
        if tag == "tu":
            return tuple(self.value(y, False, where) for y in self._list(x, where))
        if tag == "li":
            return [self.value(y, False, where) for y in self._list(x, where)]
        if tag == "f":
            if x not in ("inf", "-inf", "nan"):
                raise ValueError(f"load_json: {where}: bad special float {x!r}")
            return float(x)
        if tag == "e":
            cls = _ENUMS.get(x)
            try:
                return cls[v["v"]]  # type: ignore[index]
            except (KeyError, TypeError):
                raise ValueError(f"load_json: {where}: unknown enum {x!r} member "
                                 f"{v.get('v')!r}") from None
        if tag == "dk":
            out = {}
            for pair in self._list(x, where):
                if type(pair) is not list or len(pair) != 2:
                    raise ValueError(f"load_json: {where}: 'dk' items must be [key, value]")
                out[self.value(pair[0], False, where)] = self.value(pair[1], False, where)
            return out
        if tag == "nd":
            try:
                a = np.frombuffer(base64.b64decode(x["data"]), dtype=np.dtype(x["dtype"]))
                return a.reshape(tuple(x["shape"])).copy()
            except (KeyError, TypeError, ValueError) as e:
                raise ValueError(f"load_json: {where}: malformed array: {e}") from None
        raise ValueError(f"load_json: {where}: unknown value tag {tag!r}")

    @staticmethod
    def _list(x: Any, where: str) -> list:
        if type(x) is not list:
            raise ValueError(f"load_json: {where}: expected a list, got {_short(x)}")
        return x

    def entry(self, i: int, e: Any) -> Any:
        if type(e) is not dict or type(e.get("type")) is not str:
            raise ValueError(f"load_json: node {i} must be an object with a 'type', got "
                             f"{_short(e)}")
        tname = e["type"]
        where = f"node {i} ({tname})"
        if tname == "IRModule":
            funcs = self.value(e.get("functions", {"d": {}}), True, where)
            if type(funcs) is not dict:
                raise ValueError(f"load_json: {where}: 'functions' must be a dict")
            return IRModule(funcs)
        cls = _class_of(tname, f"node {i}")
        names = node_fields(cls)
        kwargs = {}
        for k, v in e.items():
            if k == "type":
                continue
            if k not in names:
                raise ValueError(f"load_json: {where} has unknown field {k!r}; "
                                 f"{cls.__name__} has fields {', '.join(names)}")
            kwargs[k] = self.value(v, True, f"{where}.{k}")
        try:
            return cls(**kwargs)
        except TypeError as err:
            missing = [f.name for f in dataclasses.fields(cls) if f.name not in kwargs
                       and f.default is _MISSING and f.default_factory is _MISSING]
            detail = f"missing field(s) {', '.join(missing)}" if missing else str(err)
            raise ValueError(f"load_json: {where}: {detail}") from None


def _short(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def from_json_obj(obj: Any) -> Any:
    """Rebuild the value of a :func:`to_json_obj` dict."""
    if type(obj) is not dict or _VERSION_KEY not in obj:
        raise ValueError(f"load_json: not an onnxtune IR document (no {_VERSION_KEY!r} "
                         f"version key); got {_short(obj)}")
    ver = obj[_VERSION_KEY]
    if ver != FORMAT_VERSION:
        raise ValueError(f"load_json: unsupported format version {ver!r}; this build reads "
                         f"version {FORMAT_VERSION}")
    entries = obj.get("nodes")
    if type(entries) is not list or "root" not in obj:
        raise ValueError("load_json: the document needs a 'nodes' list and a 'root' value")
    dec = _Decoder([])
    for i, e in enumerate(entries):
        dec.nodes.append(dec.entry(i, e))
    return dec.value(obj["root"], False, "root")


def load_json(text: str | bytes) -> Any:
    """Rebuild what :func:`save_json` wrote; raises ValueError naming what is malformed."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as e:
        raise ValueError(f"load_json: invalid JSON: {e}") from None
    return from_json_obj(obj)
