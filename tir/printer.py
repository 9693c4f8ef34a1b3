"""TVMScript-like text of IR nodes: ``astext`` for expressions, statements, functions, modules.

The text is meant for people (debugging, error messages, golden tests) and is stable:
one loop per line with its kind, blocks with their axes, reads/writes and init,
constants with their dtype unless int32, minimal parentheses (Python precedence).
Two different variables (or buffers) with the same name print as ``x``, ``x_1``, ...
``astext`` never raises: a node it cannot print shows in a generic ``Class(field=...)``
form.
"""

from __future__ import annotations

import enum
import json
import keyword
import math
import re
import sys
from dataclasses import fields, is_dataclass
from typing import Any

from .buffer import Buffer, BufferRegion
from .expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    And,
    Broadcast,
    BufferLoad,
    Call,
    Cast,
    Div,
    FloatImm,
    FloorDiv,
    FloorMod,
    IntImm,
    IterType,
    IterVar,
    Let,
    Max,
    Min,
    Mod,
    Mul,
    Node,
    Not,
    Or,
    Ramp,
    Range,
    Reduce,
    Select,
    StringImm,
    Sub,
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
    ForKind,
    IfThenElse,
    LetStmt,
    SeqStmt,
    Stmt,
)

# precedence levels, lowest first (Python's)
_OR, _AND, _NOT, _CMP, _ADD, _MUL, _UNARY, _ATOM = range(1, 9)

_BINOPS: dict[type, tuple[str, int]] = {
    Add: ("+", _ADD),
    Sub: ("-", _ADD),
    Mul: ("*", _MUL),
    FloorDiv: ("//", _MUL),
    FloorMod: ("%", _MUL),
    EQ: ("==", _CMP),
    NE: ("!=", _CMP),
    LT: ("<", _CMP),
    LE: ("<=", _CMP),
    GT: (">", _CMP),
    GE: (">=", _CMP),
    And: ("and", _AND),
    Or: ("or", _OR),
}
_FUNCOPS: dict[type, str] = {Min: "T.min", Max: "T.max", Mod: "T.truncmod"}

_AXIS_KIND = {
    IterType.DATA_PAR: "spatial",
    IterType.COMM_REDUCE: "reduce",
    IterType.ORDERED: "scan",
    IterType.OPAQUE: "opaque",
    IterType.THREAD_INDEX: "thread",
}
_LOOP_KIND = {
    ForKind.SERIAL: "T.serial",
    ForKind.PARALLEL: "T.parallel",
    ForKind.VECTORIZED: "T.vectorized",
    ForKind.UNROLLED: "T.unroll",
    ForKind.THREAD_BINDING: "T.thread_binding",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESERVED = frozenset(keyword.kwlist) | {"T", "I", "range"}
_INDENT = "    "
_RECURSION_LIMIT = 20_000


def _float_text(v: float) -> str:
    if math.isnan(v):
        return '"nan"'
    if math.isinf(v):
        return '"inf"' if v > 0 else '"-inf"'
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(float(v))


class _Printer:
    """Holds the name table of one printing call (names are unique within it)."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.keep: list[Any] = []  # objects named, kept alive so ids stay unique
        self.used: set[str] = set(_RESERVED)

    # -- names --------------------------------------------------------------------------
    def name(self, obj: Any, hint: Any) -> str:
        n = self.names.get(id(obj))
        if n is not None:
            return n
        base = hint if isinstance(hint, str) and _IDENT.match(hint) else _sanitize(hint)
        n = base
        k = 0
        while n in self.used:
            k += 1
            n = f"{base}_{k}"
        self.used.add(n)
        self.names[id(obj)] = n
        self.keep.append(obj)
        return n

    # -- expressions ---------------------------------------------------------------------
    def expr(self, e: Any, need: int = 0) -> str:
        """Text of ``e``, parenthesized when its precedence is below ``need``."""
        try:
            text, prec = self._expr(e)
        except Exception:  # noqa: BLE001 - the printer must never raise
            text, prec = self.generic(e), _ATOM
        return f"({text})" if prec < need else text

    def _expr(self, e: Any) -> tuple[str, int]:
        t = type(e)
        if t in (int, float, bool, str) or e is None:  # a plain value where a node belongs
            return self.value(e), (_UNARY if t in (int, float) and e < 0 else _ATOM)
        op = _BINOPS.get(t)
        if op is not None:
            sym, p = op
            if p == _CMP:  # comparisons do not chain: both sides bind tighter
                return f"{self.expr(e.a, p + 1)} {sym} {self.expr(e.b, p + 1)}", p
            return f"{self.expr(e.a, p)} {sym} {self.expr(e.b, p + 1)}", p
        if t is Var:
            return self.name(e, e.name), _ATOM
        if t is IntImm:
            return self.int_text(e)
        if t is FloatImm:
            return f"T.{e.dtype}({_float_text(e.value)})", _ATOM
        if t is BufferLoad:
            return self.load_text(e.buffer, e.indices), _ATOM
        fn = _FUNCOPS.get(t)
        if fn is not None:
            return f"{fn}({self.expr(e.a)}, {self.expr(e.b)})", _ATOM
        if t is Div:
            if e.dtype.startswith("float"):
                return f"{self.expr(e.a, _MUL)} / {self.expr(e.b, _MUL + 1)}", _MUL
            return f"T.truncdiv({self.expr(e.a)}, {self.expr(e.b)})", _ATOM
        if t is Not:
            return f"not {self.expr(e.a, _NOT)}", _NOT
        if t is Call:
            return f"T.{e.op}({self.args(e.args)})", _ATOM
        if t is Cast:
            return f'T.Cast("{e.dtype}", {self.expr(e.value)})', _ATOM
        if t is Select:
            return (f"T.Select({self.expr(e.condition)}, {self.expr(e.true_value)}, "
                    f"{self.expr(e.false_value)})"), _ATOM
        if t is StringImm:
            return json.dumps(e.value), _ATOM
        if t is Ramp:
            return f"T.Ramp({self.expr(e.base)}, {self.expr(e.stride)}, {e.lanes})", _ATOM
        if t is Broadcast:
            return f"T.Broadcast({self.expr(e.value)}, {e.lanes})", _ATOM
        if t is Let:
            v = self.name(e.var, e.var.name)
            return f"T.Let({v}, {self.expr(e.value)}, {self.expr(e.body)})", _ATOM
        if t is Reduce:
            return self.reduce_text(e), _ATOM
        if isinstance(e, Var):
            return self.name(e, e.name), _ATOM
        for cls, (sym, p) in _BINOPS.items():  # subclasses of the known operators
            if isinstance(e, cls):
                return f"{self.expr(e.a, p)} {sym} {self.expr(e.b, p + 1)}", p
        return self.generic(e), _ATOM

    def int_text(self, e: IntImm) -> tuple[str, int]:
        v = int(e.value)
        if e.dtype == "int32":
            return str(v), (_UNARY if v < 0 else _ATOM)
        if e.dtype == "bool":
            return f"T.bool({bool(v)})", _ATOM
        return f"T.{e.dtype}({v})", _ATOM

    def args(self, items: Any) -> str:
        return ", ".join([self.expr(x) for x in items])

    def load_text(self, buf: Any, indices: Any) -> str:
        name = self.buffer_name(buf)
        if not indices:
            return f"{name}[()]"
        return f"{name}[{self.args(indices)}]"

    def buffer_name(self, buf: Any) -> str:
        if isinstance(buf, Buffer):
            return self.name(buf, buf.name)
        return self.generic(buf)

    def range_args(self, lo: Any, extent: Any) -> str:
        """``extent`` or ``lo, end`` as ``range`` takes them."""
        if isinstance(lo, IntImm) and lo.value == 0 and lo.dtype == extent.dtype:
            return self.expr(extent)
        return f"{self.expr(lo)}, {self.end_text(lo, extent)}"

    def end_text(self, lo: Any, extent: Any) -> str:
        if isinstance(lo, IntImm) and isinstance(extent, IntImm) and lo.dtype == extent.dtype:
            return self.expr(IntImm(lo.value + extent.value, lo.dtype))
        if isinstance(lo, IntImm) and lo.value == 0:
            return self.expr(extent)
        return f"{self.expr(lo, _ADD)} + {self.expr(extent, _ADD + 1)}"

    def region_text(self, r: Any) -> str:
        if not isinstance(r, BufferRegion):
            return self.generic(r)
        parts = []
        for rg in r.region:
            if isinstance(rg.extent, IntImm) and rg.extent.value == 1:
                parts.append(self.expr(rg.min))
            else:
                parts.append(f"{self.expr(rg.min)}:{self.end_text(rg.min, rg.extent)}")
        name = self.buffer_name(r.buffer)
        return f"{name}[{', '.join(parts)}]" if parts else f"{name}[()]"

    def reduce_text(self, e: Reduce) -> str:
        axes = ", ".join(
            f"{self.name(iv.var, iv.var.name)}: range({self.range_args(iv.dom.min, iv.dom.extent)})"
            for iv in e.axis
        )
        out = f'T.reduce("{e.combiner}", {self.expr(e.source)}, axis={{{axes}}}'
        if e.condition is not None:
            out += f", where={self.expr(e.condition)}"
        if e.init is not None:
            out += f", init={self.expr(e.init)}"
        return out + ")"

    def value(self, v: Any) -> str:
        """Text of an annotation/attribute value (Python literal syntax)."""
        if isinstance(v, bool) or v is None:
            return repr(v)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            t = _float_text(v)
            return f"float({t})" if t.startswith('"') else repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, enum.Enum):
            return f"{type(v).__name__}.{v.name}"
        if isinstance(v, list):
            return "[" + ", ".join(self.value(x) for x in v) + "]"
        if isinstance(v, tuple):
            inner = ", ".join(self.value(x) for x in v)
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{self.value(k)}: {self.value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, Buffer):
            return self.buffer_name(v)
        if isinstance(v, Node) and not isinstance(v, (Stmt, PrimFunc)):
            return self.node_inline(v)
        if isinstance(v, Node):
            return "<" + type(v).__name__ + ">"
        return repr(v)

    def node_inline(self, n: Any) -> str:
        """One-line text of a non-statement node."""
        if isinstance(n, BufferRegion):
            return self.region_text(n)
        if isinstance(n, Range):
            return f"range({self.range_args(n.min, n.extent)})"
        if isinstance(n, IterVar):
            v = self.name(n.var, n.var.name)
            kind = _AXIS_KIND.get(n.iter_type, str(n.iter_type))
            tag = f", {json.dumps(n.thread_tag)}" if n.thread_tag else ""
            return (f"T.iter_var({v}, range({self.range_args(n.dom.min, n.dom.extent)}), "
                    f'"{kind}"{tag})')
        if isinstance(n, Buffer):
            return f"{self.buffer_name(n)}: {self.buffer_decl('T.Buffer', n)}"
        return self.expr(n)

    def buffer_decl(self, ctor: str, b: Buffer, scope_always: bool = False) -> str:
        shape = ", ".join(self.expr(s) for s in b.shape)
        shape = f"({shape},)" if len(b.shape) == 1 else f"({shape})"
        out = f'{ctor}({shape}, "{b.dtype}"'
        if scope_always:
            out += f', "{b.scope}"'
        elif b.scope != "global":
            out += f', scope="{b.scope}"'
        if b.align:
            out += f", align={b.align}"
        if b.storage_align:
            out += f", storage_align={self.value(tuple(b.storage_align))}"
        return out + ")"

    def generic(self, n: Any) -> str:
        """``Class(field=value, ...)`` for anything the printer has no rule for."""
        try:
            if not is_dataclass(n):
                return f"<{type(n).__name__}>"
            parts = []
            for f in fields(n):
                v = getattr(n, f.name, None)
                if isinstance(v, tuple):
                    text = "(" + ", ".join(self.generic_field(x) for x in v) + ")"
                else:
                    text = self.generic_field(v)
                parts.append(f"{f.name}={text}")
            return f"{type(n).__name__}({', '.join(parts)})"
        except Exception:  # noqa: BLE001 - the printer must never raise
            return f"<{type(n).__name__}>"

    def generic_field(self, v: Any) -> str:
        if isinstance(v, Stmt):
            return "<" + type(v).__name__ + ">"
        if isinstance(v, Node):
            try:
                return self.node_inline(v)
            except Exception:  # noqa: BLE001 - the printer must never raise
                return "<" + type(v).__name__ + ">"
        try:
            return self.value(v)
        except Exception:  # noqa: BLE001 - the printer must never raise
            return "<" + type(v).__name__ + ">"

    # -- statements ----------------------------------------------------------------------
    def stmt(self, s: Any, ind: int, out: list[str]) -> None:
        n0 = len(out)
        try:
            self._stmt(s, ind, out)
        except Exception:  # noqa: BLE001 - the printer must never raise
            del out[n0:]
            out.append(_INDENT * ind + self.generic(s))

    def body(self, s: Any, ind: int, out: list[str]) -> None:
        """A nested body: ``pass`` when it prints nothing."""
        n0 = len(out)
        self.stmt(s, ind, out)
        if len(out) == n0:
            out.append(_INDENT * ind + "pass")

    def _stmt(self, s: Any, ind: int, out: list[str]) -> None:
        pad = _INDENT * ind
        t = type(s)
        if t is SeqStmt:
            for x in s.seq:
                self.stmt(x, ind, out)
        elif t is For:
            self.for_text(s, ind, out)
        elif t is BufferStore:
            out.append(f"{pad}{self.load_text(s.buffer, s.indices)} = {self.expr(s.value)}")
        elif t is BlockRealize:
            self.block_text(s.block, s, ind, out)
        elif t is Block:
            self.block_text(s, None, ind, out)
        elif t is IfThenElse:
            out.append(f"{pad}if {self.expr(s.condition)}:")
            self.body(s.then_case, ind + 1, out)
            e = s.else_case
            while isinstance(e, IfThenElse):
                out.append(f"{pad}elif {self.expr(e.condition)}:")
                self.body(e.then_case, ind + 1, out)
                e = e.else_case
            if e is not None:
                out.append(f"{pad}else:")
                self.body(e, ind + 1, out)
        elif t is LetStmt:
            v = self.name(s.var, s.var.name)
            out.append(f"{pad}{v}: T.{s.var.dtype} = {self.expr(s.value)}")
            self.stmt(s.body, ind, out)
        elif t is Allocate:
            b = s.buffer
            out.append(f"{pad}{self.buffer_name(b)} = {self.buffer_decl('T.allocate', b, True)}")
            self.stmt(s.body, ind, out)
        elif t is Evaluate:
            out.append(f"{pad}T.evaluate({self.expr(s.value)})")
        elif s is None:
            return
        elif isinstance(s, Stmt) or not isinstance(s, (Node, Buffer)):
            out.append(pad + self.generic(s))
        else:
            out.append(pad + self.node_inline(s))

    def for_text(self, s: For, ind: int, out: list[str]) -> None:
        v = self.name(s.loop_var, s.loop_var.name)
        rng = self.range_args(s.min, s.extent)
        extra = ""
        if s.kind == ForKind.THREAD_BINDING or s.thread_binding:
            extra += f", thread={json.dumps(s.thread_binding)}"
        if s.annotations:
            extra += f", annotations={self.value(s.annotations)}"
        if s.kind == ForKind.SERIAL and not extra:
            head = f"range({rng})"
        else:
            head = f"{_LOOP_KIND.get(s.kind, 'T.serial')}({rng}{extra})"
        out.append(f"{_INDENT * ind}for {v} in {head}:")
        self.body(s.body, ind + 1, out)

    def block_text(self, b: Block, realize: BlockRealize | None, ind: int,
                   out: list[str]) -> None:
        pad = _INDENT * ind
        inner = pad + _INDENT
        extra = "" if realize is not None else ", no_realize=True"
        out.append(f"{pad}with T.block({json.dumps(b.name_hint)}{extra}):")
        values = realize.iter_values if realize is not None else ()
        for k, iv in enumerate(b.iter_vars):
            v = self.name(iv.var, iv.var.name)
            kind = _AXIS_KIND.get(iv.iter_type, str(iv.iter_type))
            lo, ext = iv.dom.min, iv.dom.extent
            if isinstance(lo, IntImm) and lo.value == 0:
                dom = self.expr(ext)
            else:
                dom = f"({self.expr(lo)}, {self.end_text(lo, ext)})"
            bound = f", {self.expr(values[k])}" if k < len(values) else ""
            out.append(f"{inner}{v} = T.axis.{kind}({dom}{bound})")
        for extra_v in values[len(b.iter_vars):]:
            out.append(f"{inner}# extra iter value: {self.expr(extra_v)}")
        if realize is not None and not _is_true(realize.predicate):
            out.append(f"{inner}T.where({self.expr(realize.predicate)})")
        out.append(f"{inner}T.reads({', '.join(self.region_text(r) for r in b.reads)})")
        out.append(f"{inner}T.writes({', '.join(self.region_text(r) for r in b.writes)})")
        if b.annotations:
            out.append(f"{inner}T.block_attr({self.value(b.annotations)})")
        self.alloc_lines(b.alloc_buffers, ind + 1, out)
        if b.init is not None:
            out.append(f"{inner}with T.init():")
            self.body(b.init, ind + 2, out)
        self.body(b.body, ind + 1, out)

    def alloc_lines(self, bufs: Any, ind: int, out: list[str]) -> None:
        for buf in bufs:
            if isinstance(buf, Buffer):
                name = self.buffer_name(buf)
                out.append(f"{_INDENT * ind}{name} = {self.buffer_decl('T.alloc_buffer', buf)}")
            else:
                out.append(f"{_INDENT * ind}{self.generic(buf)}")

    # -- functions -----------------------------------------------------------------------
    def func(self, f: PrimFunc, name: str | None, ind: int, out: list[str]) -> None:
        pad = _INDENT * ind
        if name is None:
            sym = f.attrs.get("global_symbol") if isinstance(f.attrs, dict) else None
            name = sym if isinstance(sym, str) and _IDENT.match(sym) else "main"
        params = []
        for p in f.params:
            if isinstance(p, Buffer):
                params.append(f"{self.buffer_name(p)}: {self.buffer_decl('T.Buffer', p)}")
            else:
                params.append(self.generic(p))
        out.append(f"{pad}@T.prim_func")
        out.append(f"{pad}def {name}({', '.join(params)}):")
        inner = ind + 1
        if f.attrs:
            out.append(f"{_INDENT * inner}T.func_attr({self.value(f.attrs)})")
        body = f.body
        if isinstance(body, BlockRealize) and _is_implicit_root(body):
            self.alloc_lines(body.block.alloc_buffers, inner, out)
            body = body.block.body
        self.body(body, inner, out)


def _is_true(e: Any) -> bool:
    return isinstance(e, IntImm) and e.dtype == "bool" and e.value == 1


def _is_implicit_root(r: BlockRealize) -> bool:
    """The root block prints as the function body itself (TVMScript does the same)."""
    b = r.block
    return (
        b.name_hint == "root" and not r.iter_values and not b.iter_vars and not b.reads
        and not b.writes and b.init is None and not b.annotations and _is_true(r.predicate)
    )


def _sanitize(hint: Any) -> str:
    s = re.sub(r"\W", "_", hint if isinstance(hint, str) else "v")
    if not s or s[0].isdigit():
        s = "v" + s
    return s


def _module_text(p: _Printer, mod: IRModule) -> str:
    out = ["@I.ir_module", "class Module:"]
    for name, f in mod.functions.items():
        if isinstance(f, PrimFunc):
            fn_name = name if _IDENT.match(name) else _sanitize(name)
            _Printer().func(f, fn_name, 1, out)
        else:
            try:
                text = f.script() if hasattr(f, "script") else repr(f)
            except Exception:  # noqa: BLE001 - the printer must never raise
                text = f"<{type(f).__name__}>"
            out.append(f"{_INDENT}# {name}")
            out.extend(_INDENT + line for line in str(text).splitlines())
        out.append("")
    if out[-1] == "":
        out.pop()
    if len(out) == 2:
        out.append(_INDENT + "pass")
    return "\n".join(out)


def astext(node: Any) -> str:
    """TVMScript-like text of any IR node, PrimFunc or IRModule (never raises)."""
    p = _Printer()
    old_limit = sys.getrecursionlimit()
    if old_limit < _RECURSION_LIMIT:  # deep expressions recurse; pure-Python frames only
        sys.setrecursionlimit(_RECURSION_LIMIT)
    try:
        if isinstance(node, PrimFunc):
            out: list[str] = []
            p.func(node, None, 0, out)
            return "\n".join(out)
        if isinstance(node, IRModule):
            return _module_text(p, node)
        if isinstance(node, Stmt):
            out = []
            p.stmt(node, 0, out)
            return "\n".join(out)
        if isinstance(node, (list, tuple)):
            return "[" + ", ".join(astext(x) for x in node) + "]"
        if isinstance(node, (Node, Buffer)):
            return p.node_inline(node)
        return p.value(node)
    except RecursionError:
        return f"<{type(node).__name__}: too deep to print>"
    except Exception:  # noqa: BLE001 - the printer must never raise
        return f"<{type(node).__name__}>"
    finally:
        if old_limit < _RECURSION_LIMIT:
            sys.setrecursionlimit(old_limit)
