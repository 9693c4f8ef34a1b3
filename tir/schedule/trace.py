"""Trace: the instructions a schedule ran plus the decisions of its sampling instructions.

A trace can be replayed on a fresh Schedule of the same function (with its decisions, or
re-sampling), changed (``with_decision``), pruned of dead pure instructions
(``simplified``), printed as the Python that rebuilds it, and stored as JSON::

    [[[kind, inputs, attrs, outputs], ...], [[instruction index, decision], ...]]

where RVs are named ``b0`` / ``l1`` / ``v2`` (block / loop / expression), string inputs
are quoted (``"\\"global\\""``) to tell them from RV names, as in TVM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .instruction import (
    ENTER_POSTPROC,
    RV_TYPES,
    Instruction,
    assign_name,
    from_json_value,
    get_kind,
    json_value,
    rv_from_name,
    translate_names,
)

#: ``decision_provider(inst, inputs, attrs, decision) -> decision`` used during replay
DecisionProvider = Callable[[Instruction, list, tuple, Any], Any]


class Trace:
    """An ordered list of instructions and the decisions taken by the sampling ones."""

    __slots__ = ("_decisions", "_insts")

    def __init__(self, insts: list[Instruction] | None = None,
                 decisions: dict[Instruction, Any] | None = None):
        self._insts: list[Instruction] = list(insts or ())
        self._decisions: dict[Instruction, Any] = dict(decisions or {})

    # -- access ---------------------------------------------------------------------------
    @property
    def insts(self) -> list[Instruction]:
        """The instructions, in order (a copy)."""
        return list(self._insts)

    @property
    def decisions(self) -> dict[Instruction, Any]:
        """Decision of each sampling instruction (a copy)."""
        return dict(self._decisions)

    def __len__(self) -> int:
        return len(self._insts)

    def get_decision(self, inst: Instruction) -> Any:
        """The decision recorded for ``inst`` (None if it has none)."""
        return self._decisions.get(inst)

    def append(self, inst: Instruction, decision: Any = None) -> None:
        """Add an instruction (with its decision, for sampling instructions)."""
        self._insts.append(inst)
        if decision is not None:
            self._decisions[inst] = decision

    def pop(self) -> Instruction | None:
        """Remove and return the last instruction (None if the trace is empty)."""
        if not self._insts:
            return None
        inst = self._insts.pop()
        self._decisions.pop(inst, None)
        return inst

    def copy(self) -> Trace:
        t = Trace.__new__(Trace)
        t._insts = list(self._insts)
        t._decisions = dict(self._decisions)
        return t

    def _n_keep(self, remove_postproc: bool) -> int:
        if remove_postproc:
            for i, inst in enumerate(self._insts):
                if inst.kind is ENTER_POSTPROC:
                    return i
        return len(self._insts)

    # -- replay ---------------------------------------------------------------------------
    def apply_to_schedule(self, sch: Any, remove_postproc: bool = False,
                          decision_provider: DecisionProvider | None = None) -> None:
        """Re-run every instruction on ``sch`` (RVs are mapped to the new ones as they
        are created). ``decision_provider`` may replace each recorded decision (returning
        None makes a sampling instruction sample afresh)."""
        rv_map: dict[Any, Any] = {}
        for inst in self._insts[: self._n_keep(remove_postproc)]:
            inputs = [_map_rvs(x, rv_map) for x in inst.inputs]
            decision = self._decisions.get(inst)
            if decision_provider is not None:
                decision = decision_provider(inst, inputs, inst.attrs, decision)
            outputs = inst.kind.apply_to_schedule(sch, inputs, inst.attrs, decision)
            if len(outputs) != len(inst.outputs):
                raise ValueError(
                    f"replaying {inst.kind.name}: it produced {len(outputs)} outputs where the "
                    f"trace recorded {len(inst.outputs)}"
                )
            for old, new in zip(inst.outputs, outputs, strict=True):
                rv_map[old] = new

    # -- derived traces -------------------------------------------------------------------
    def with_decision(self, inst: Instruction, decision: Any, remove_postproc: bool) -> Trace:
        """A new trace with ``inst``'s decision replaced."""
        t = Trace(self._insts[: self._n_keep(remove_postproc)], self._decisions)
        t._decisions[inst] = decision
        return t

    def simplified(self, remove_postproc: bool) -> Trace:
        """A new trace without the pure instructions (queries, sampling) whose outputs
        nothing uses (TVM's dead-code elimination)."""
        used: set[int] = set()
        keep: list[Instruction] = []
        for inst in reversed(self._insts[: self._n_keep(remove_postproc)]):
            if inst.kind.is_pure and not any(id(o) in used for o in inst.outputs):
                continue
            keep.append(inst)
            for x in inst.inputs:
                _mark_used(x, used)
        keep.reverse()
        kept = set(keep)
        return Trace(keep, {i: d for i, d in self._decisions.items() if i in kept})

    # -- printing -------------------------------------------------------------------------
    def as_python(self, remove_postproc: bool = False) -> list[str]:
        """Each instruction as the Python line that makes it (``sch.split(...)`` ...)."""
        names: dict[Any, str] = {}
        out = []
        for inst in self._insts[: self._n_keep(remove_postproc)]:
            inputs = translate_names(inst.inputs, names)
            outs = [assign_name(o, names) for o in inst.outputs]
            out.append(inst.kind.as_python(inputs, inst.attrs, self._decisions.get(inst), outs))
        return out

    def __str__(self) -> str:
        return "\n".join(self.as_python())

    def __repr__(self) -> str:
        lines = self.as_python()
        body = "\n".join("  " + x for x in lines) if lines else "  pass"
        return f"# from onnxtune import tir\ndef apply_trace(sch: tir.Schedule) -> None:\n{body}"

    def show(self) -> None:
        print(repr(self))

    # -- JSON -----------------------------------------------------------------------------
    def as_json(self, remove_postproc: bool = False) -> list:
        """The JSON-able form (see the module docstring)."""
        names: dict[Any, str] = {}
        insts, decisions = [], []
        for i, inst in enumerate(self._insts[: self._n_keep(remove_postproc)]):
            inputs = [_input_json(x, names, inst) for x in inst.inputs]
            outs = [assign_name(o, names) for o in inst.outputs]
            insts.append([inst.kind.name, inputs, inst.kind.encode_attrs(inst.attrs), outs])
            d = self._decisions.get(inst)
            if d is not None:
                decisions.append([i, json_value(d)])
        return [insts, decisions]

    @staticmethod
    def from_json(obj: Any) -> Trace:
        """A trace from :meth:`as_json`'s form (fresh RVs)."""
        if not (isinstance(obj, (list, tuple)) and len(obj) == 2):
            raise ValueError("Trace.from_json: expected [instructions, decisions]")
        rvs: dict[str, Any] = {}
        insts: list[Instruction] = []
        for k, item in enumerate(obj[0]):
            if not (isinstance(item, (list, tuple)) and len(item) == 4):
                raise ValueError(
                    f"Trace.from_json: instruction {k} is not [kind, inputs, attrs, outputs]"
                )
            name, inputs, attrs, outputs = item
            kind = get_kind(name)
            ins = tuple(_input_from_json(x, rvs, k) for x in inputs)
            outs = []
            for o in outputs:
                rv = rv_from_name(o)
                rvs[o] = rv
                outs.append(rv)
            insts.append(Instruction(kind, ins, kind.decode_attrs(list(attrs)), outs))
        decisions: dict[Instruction, Any] = {}
        for pair in obj[1]:
            i, d = pair
            if not 0 <= i < len(insts):
                raise ValueError(f"Trace.from_json: decision for missing instruction {i}")
            decisions[insts[i]] = _decision_from_json(d)
        return Trace(insts, decisions)

    @staticmethod
    def apply_json_to_schedule(obj: Any, sch: Any) -> None:
        """Replay a JSON trace on ``sch``."""
        Trace.from_json(obj).apply_to_schedule(sch, remove_postproc=False)


_RV_SET = frozenset(RV_TYPES)


def _map_rvs(x: Any, rv_map: dict) -> Any:
    if type(x) in _RV_SET or isinstance(x, RV_TYPES):
        y = rv_map.get(x)
        if y is None:
            raise ValueError("replaying a trace: an input RV was not produced by an earlier "
                             "instruction of the trace")
        return y
    if isinstance(x, tuple):
        return tuple(_map_rvs(v, rv_map) for v in x)
    return x


def _mark_used(x: Any, used: set[int]) -> None:
    if isinstance(x, RV_TYPES):
        used.add(id(x))
    elif isinstance(x, tuple):
        for v in x:
            _mark_used(v, used)


def _input_json(x: Any, names: dict, inst: Instruction) -> Any:
    if isinstance(x, RV_TYPES):
        n = names.get(x)
        if n is None:
            raise ValueError(
                f"Trace.as_json: an input of {inst.kind.name} is an RV no earlier instruction "
                "defined"
            )
        return n
    if isinstance(x, str):
        return '"' + x + '"'
    if isinstance(x, tuple):
        return [_input_json(v, names, inst) for v in x]
    return json_value(x)


def _input_from_json(x: Any, rvs: dict[str, Any], k: int) -> Any:
    if isinstance(x, str):
        if len(x) >= 2 and x[0] == '"' and x[-1] == '"':
            return x[1:-1]
        rv = rvs.get(x)
        if rv is None:
            raise ValueError(f"Trace.from_json: instruction {k} uses the undefined RV {x!r}")
        return rv
    if isinstance(x, list):
        return tuple(_input_from_json(v, rvs, k) for v in x)
    if isinstance(x, dict):
        return from_json_value(x)
    return x


def _decision_from_json(d: Any) -> Any:
    if isinstance(d, list):
        return [_decision_from_json(x) for x in d]
    return d
