"""Random variables, instruction kinds and instructions: the vocabulary of a Trace.

An :class:`Instruction` records one call of a schedule primitive: its kind, its inputs
(random variables, constants, None, or tuples of them), its attributes (constants) and
the random variables it produced. Each :class:`InstructionKind` knows how to re-run itself
on a Schedule and how to print itself as the Python call that made it (TVM's names and
formats, e.g. ``l1, l2 = sch.split(loop=l0, factors=[None, 4], preserve_unit_iters=True)``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class _RV:
    """A random variable: a handle whose value lives in a Schedule's symbol table."""

    __slots__ = ()
    prefix = "?"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(0x{id(self):x})"


class BlockRV(_RV):
    """A random variable that evaluates to a block (TVM's BlockRV / SBlockRV)."""

    __slots__ = ()
    prefix = "b"


class LoopRV(_RV):
    """A random variable that evaluates to a loop (or the special "root"/"inline" marks
    that sample_compute_location may produce)."""

    __slots__ = ()
    prefix = "l"


class ExprRV(_RV):
    """A random variable that evaluates to an integer (a sampled tile size or candidate)."""

    __slots__ = ()
    prefix = "v"


SBlockRV = BlockRV
RV_TYPES = (BlockRV, LoopRV, ExprRV)
_RV_BY_PREFIX = {"b": BlockRV, "l": LoopRV, "v": ExprRV}


# ----------------------------------------------------------------------------------------
# instruction kinds


@dataclass(frozen=True, slots=True, eq=False)
class InstructionKind:
    """How one kind of instruction is applied and printed.

    ``inputs`` names the inputs in order: ``"*loops"`` is a variadic input passed
    positionally, ``"factors[]"`` a list input passed by keyword, anything else one value
    passed by keyword. ``attrs`` are keyword constants. ``outputs`` is "one", "list" or
    "none". Sampling kinds take and record a ``decision``.
    """

    name: str
    method: str
    inputs: tuple[str, ...] = ()
    attrs: tuple[str, ...] = ()
    outputs: str = "none"
    is_pure: bool = False
    has_decision: bool = False
    #: attrs -> JSON-able list, and back (default: the attrs as they are)
    attrs_as_json: Callable[[tuple], list] | None = field(default=None)
    attrs_from_json: Callable[[list], tuple] | None = field(default=None)

    def __repr__(self) -> str:
        return f"InstructionKind({self.name})"

    # -- applying -------------------------------------------------------------------------
    def apply_to_schedule(
        self, sch: Any, inputs: Sequence[Any], attrs: Sequence[Any], decision: Any
    ) -> list[Any]:
        """Run the primitive on ``sch`` with (already translated) inputs; the outputs."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        specs = _SPECS.get(self.name)
        if specs is None or specs[0] is not self.inputs:
            specs = _SPECS[self.name] = (self.inputs, _parse_specs(self.inputs))
        for (mode, name), val in zip(specs[1], inputs, strict=True):
            if mode == 0:
                kwargs[name] = val
            elif mode == 1:
                args.extend(val)
            else:
                kwargs[name] = None if val is None else list(val)
        for name, val in zip(self.attrs, attrs, strict=True):
            kwargs[name] = val
        if self.has_decision:
            kwargs["decision"] = decision
        out = getattr(sch, self.method)(*args, **kwargs)
        if self.outputs == "one":
            return [out]
        if self.outputs == "list":
            return list(out)
        return []

    # -- printing -------------------------------------------------------------------------
    def as_python(
        self, inputs: Sequence[Any], attrs: Sequence[Any], decision: Any, outputs: Sequence[str]
    ) -> str:
        """The Python call; ``inputs`` hold RV names (str wrapped by :class:`_Name`)."""
        parts: list[str] = []
        for spec, val in zip(self.inputs, inputs, strict=True):
            if spec.startswith("*"):
                parts.extend(py_literal(v) for v in val)
            else:
                parts.append(f"{spec.rstrip('[]')}={py_literal(val)}")
        for name, val in zip(self.attrs, attrs, strict=True):
            parts.append(f"{name}={py_literal(val)}")
        if self.has_decision:
            parts.append(f"decision={py_literal(decision)}")
        call = f"sch.{self.method}({', '.join(parts)})"
        if self.outputs == "one":
            return f"{outputs[0]} = {call}"
        if self.outputs == "list" and outputs:
            lhs = outputs[0] + "," if len(outputs) == 1 else ", ".join(outputs)
            return f"{lhs} = {call}"
        return call

    # -- JSON -----------------------------------------------------------------------------
    def encode_attrs(self, attrs: tuple) -> list:
        if self.attrs_as_json is not None:
            return self.attrs_as_json(attrs)
        return [json_value(a) for a in attrs]

    def decode_attrs(self, obj: list) -> tuple:
        if self.attrs_from_json is not None:
            return self.attrs_from_json(obj)
        return tuple(from_json_value(a) for a in obj)


class _Name(str):
    """An RV name inside printed inputs (printed bare, not quoted)."""


def py_literal(v: Any) -> str:
    """Python source for an instruction input, attribute or decision."""
    if isinstance(v, _Name):
        return str(v)
    if v is None or isinstance(v, (bool, int)):
        return repr(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(py_literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(x)}" for k, x in v.items()) + "}"
    if type(v).__name__ == "IndexMap":
        return index_map_python(v)
    return repr(v)


_PY_OPS = {"Add": ("+", 1), "Sub": ("-", 1), "Mul": ("*", 2), "FloorDiv": ("//", 2),
           "FloorMod": ("%", 2)}


def _expr_py(e: Any, names: dict[Any, str]) -> tuple[str, int]:
    """Python source of an index expression and its precedence (3 = atom)."""
    from ..expr import IntImm, Max, Min, Var

    if isinstance(e, Var):
        return names.get(e, e.name), 3
    if isinstance(e, IntImm):
        return str(e.value), 3 if e.value >= 0 else 0
    op = _PY_OPS.get(type(e).__name__)
    if op is not None:
        sym, prec = op
        a, pa = _expr_py(e.a, names)
        b, pb = _expr_py(e.b, names)
        if pa < prec:
            a = f"({a})"
        if pb <= prec:
            b = f"({b})"
        return f"{a} {sym} {b}", prec
    if isinstance(e, (Min, Max)):
        fn = "min" if isinstance(e, Min) else "max"
        return f"T.{fn}({_expr_py(e.a, names)[0]}, {_expr_py(e.b, names)[0]})", 3
    from ..arith.utils import expr_text

    return f"({expr_text(e)})", 3


def index_map_python(m: Any) -> str:
    """``lambda i, j: (j // 4, i, j % 4)`` for an IndexMap."""
    names: dict[Any, str] = {}
    used: set[str] = set()
    for v in m.initial_indices:
        n = v.name if v.name.isidentifier() and v.name not in used else f"i{len(used)}"
        used.add(n)
        names[v] = n
    outs = [_expr_py(e, names)[0] for e in m.final_indices]
    body = outs[0] + "," if len(outs) == 1 else ", ".join(outs)
    return f"lambda {', '.join(names.values())}: ({body})"


def json_value(v: Any) -> Any:
    """A JSON-able form of a constant (tuples become lists; IndexMaps tagged objects)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {"__dict__": [[json_value(k), json_value(x)] for k, x in v.items()]}
    if hasattr(v, "as_json") and type(v).__name__ == "IndexMap":
        return {"__index_map__": v.as_json()}
    raise TypeError(
        f"cannot serialize the instruction value {v!r} ({type(v).__name__}) to JSON; "
        "accepted: None, bool, int, float, str, lists, dicts and IndexMaps"
    )


def from_json_value(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(from_json_value(x) for x in v)
    if isinstance(v, dict):
        if "__index_map__" in v:
            from .index_map import IndexMap

            return IndexMap.from_json(v["__index_map__"])
        if "__dict__" in v:
            return {_hashable(from_json_value(k)): from_json_value(x) for k, x in v["__dict__"]}
        raise ValueError(f"unknown tagged JSON value with keys {sorted(v)}")
    return v


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


# ----------------------------------------------------------------------------------------
# the registry

KINDS: dict[str, InstructionKind] = {}


def _kind(name: str, method: str, inputs=(), attrs=(), outputs="none", pure=False,
          decision=False) -> InstructionKind:
    k = InstructionKind(name, method, tuple(inputs), tuple(attrs), outputs, pure, decision)
    KINDS[name] = k
    return k


def get_kind(name: str) -> InstructionKind:
    """The registered kind called ``name`` (ValueError listing the known ones otherwise)."""
    k = KINDS.get(name)
    if k is None:
        raise ValueError(f"unknown instruction kind {name!r}; known kinds: {sorted(KINDS)}")
    return k


GET_BLOCK = _kind("GetBlock", "get_block", (), ("name", "func_name"), "one", pure=True)
GET_LOOPS = _kind("GetLoops", "get_loops", ("block",), (), "list", pure=True)
GET_CHILD_BLOCKS = _kind("GetChildBlocks", "get_child_blocks", ("block_or_loop",), (),
                         "list", pure=True)
GET_PRODUCERS = _kind("GetProducers", "get_producers", ("block",), (), "list", pure=True)
GET_CONSUMERS = _kind("GetConsumers", "get_consumers", ("block",), (), "list", pure=True)
SPLIT = _kind("Split", "split", ("loop", "factors[]"),
              ("preserve_unit_iters", "disable_predication"), "list")
FUSE = _kind("Fuse", "fuse", ("*loops",), ("preserve_unit_iters",), "one")
REORDER = _kind("Reorder", "reorder", ("*ordered_loops",))
PARALLEL = _kind("Parallel", "parallel", ("loop",))
VECTORIZE = _kind("Vectorize", "vectorize", ("loop",))
UNROLL = _kind("Unroll", "unroll", ("loop",))
BIND = _kind("Bind", "bind", ("loop",), ("thread_axis",))
ANNOTATE = _kind("Annotate", "annotate", ("block_or_loop", "ann_val"), ("ann_key",))
UNANNOTATE = _kind("Unannotate", "unannotate", ("block_or_loop",), ("ann_key",))
COMPUTE_AT = _kind("ComputeAt", "compute_at", ("block", "loop"),
                   ("preserve_unit_loops", "index"))
REVERSE_COMPUTE_AT = _kind("ReverseComputeAt", "reverse_compute_at", ("block", "loop"),
                           ("preserve_unit_loops", "index"))
COMPUTE_INLINE = _kind("ComputeInline", "compute_inline", ("block",))
REVERSE_COMPUTE_INLINE = _kind("ReverseComputeInline", "reverse_compute_inline", ("block",))
CACHE_READ = _kind("CacheRead", "cache_read", ("block", "consumer_blocks[]"),
                   ("read_buffer_index", "storage_scope"), "one")
CACHE_WRITE = _kind("CacheWrite", "cache_write", ("block", "consumer_blocks[]"),
                    ("write_buffer_index", "storage_scope"), "one")
SET_SCOPE = _kind("SetScope", "set_scope", ("block",), ("buffer_index", "storage_scope"))
DECOMPOSE_REDUCTION = _kind("DecomposeReduction", "decompose_reduction", ("block", "loop"),
                            (), "one")
RFACTOR = _kind("RFactor", "rfactor", ("loop",), ("factor_axis",), "one")
TRANSFORM_LAYOUT = _kind("TransformLayout", "transform_layout", ("block",),
                         ("buffer", "index_map", "pad_value"))
STORAGE_ALIGN = _kind("StorageAlign", "storage_align", ("block",),
                      ("buffer_index", "axis", "factor", "offset"))
SAMPLE_PERFECT_TILE = _kind("SamplePerfectTile", "sample_perfect_tile", ("loop",),
                            ("n", "max_innermost_factor"), "list", pure=True, decision=True)
SAMPLE_CATEGORICAL = _kind("SampleCategorical", "sample_categorical", (),
                           ("candidates", "probs"), "one", pure=True, decision=True)
SAMPLE_COMPUTE_LOCATION = _kind("SampleComputeLocation", "sample_compute_location", ("block",),
                                (), "one", pure=True, decision=True)
ENTER_POSTPROC = _kind("EnterPostproc", "enter_postproc")


#: kind name -> (its input specs, parsed: (0 keyword | 1 variadic | 2 list keyword, name))
_SPECS: dict[str, tuple[tuple[str, ...], tuple[tuple[int, str], ...]]] = {}


def _parse_specs(inputs: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    return tuple((1, s[1:]) if s.startswith("*") else (2, s[:-2]) if s.endswith("[]")
                 else (0, s) for s in inputs)


# ----------------------------------------------------------------------------------------
# instructions


class Instruction:
    """One recorded primitive call. Compared (and hashed) by identity, like TVM's."""

    __slots__ = ("attrs", "inputs", "kind", "outputs")

    def __init__(self, kind: InstructionKind | str, inputs: Sequence[Any] = (),
                 attrs: Sequence[Any] = (), outputs: Sequence[_RV] = ()):
        self.kind = get_kind(kind) if isinstance(kind, str) else kind
        self.inputs = tuple(inputs)
        self.attrs = tuple(attrs)
        self.outputs = tuple(outputs)
        if len(self.inputs) != len(self.kind.inputs):
            raise ValueError(
                f"instruction {self.kind.name} takes {len(self.kind.inputs)} inputs "
                f"{list(self.kind.inputs)}, got {len(self.inputs)}"
            )
        if len(self.attrs) != len(self.kind.attrs):
            raise ValueError(
                f"instruction {self.kind.name} takes {len(self.kind.attrs)} attrs "
                f"{list(self.kind.attrs)}, got {len(self.attrs)}"
            )

    def __repr__(self) -> str:
        names: dict[_RV, str] = {}
        outs = [assign_name(o, names) for o in self.outputs]
        return self.kind.as_python(translate_names(self.inputs, names), self.attrs, None, outs)


def assign_name(rv: _RV, names: dict[_RV, str]) -> str:
    """Give ``rv`` the next name (``b0``, ``l1``, ``v2``, ...) in ``names``."""
    n = f"{rv.prefix}{len(names)}"
    names[rv] = n
    return n


def translate_names(value: Any, names: dict[_RV, str]) -> Any:
    """Inputs with every RV replaced by its name (a :class:`_Name`)."""
    if isinstance(value, _RV):
        n = names.get(value)
        if n is None:  # an RV this trace did not define (e.g. printing one instruction)
            n = assign_name(value, names)
        return _Name(n)
    if isinstance(value, tuple):
        return tuple(translate_names(v, names) for v in value)
    if isinstance(value, list):
        return [translate_names(v, names) for v in value]
    return value


def rv_from_name(name: str) -> _RV:
    """A fresh RV of the type a name's prefix says (``b`` block, ``l`` loop, ``v`` expr)."""
    cls = _RV_BY_PREFIX.get(name[:1])
    if cls is None or not name[1:].isdigit():
        raise ValueError(f"{name!r} is not a random-variable name (b<N>, l<N> or v<N>)")
    return cls()
