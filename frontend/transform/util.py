"""Small helpers shared by the graph passes."""

from __future__ import annotations

from typing import Any

from onnxtune.tir import structural_equal, structural_hash
from onnxtune.tir.function import PrimFunc

from ..ir import Function, Var, uses


def use_counts(func: Function) -> dict[int, int]:
    """id(var) → number of uses (as an argument or a function output)."""
    counts: dict[int, int] = {}
    for b in func.bindings:
        for a in uses(b.value):
            if isinstance(a, Var):
                counts[id(a)] = counts.get(id(a), 0) + 1
    for o in func.outputs:
        for a in uses(o):
            if isinstance(a, Var):
                counts[id(a)] = counts.get(id(a), 0) + 1
    return counts


class FuncTable:
    """New PrimFuncs for a module: unique names, structurally equal functions shared."""

    def __init__(self, mod: Any):
        self.used: set[str] = set(mod)
        self.new: dict[str, PrimFunc] = {}
        self._by_hash: dict[int, list[str]] = {}

    def add(self, func: PrimFunc, hint: str) -> str:
        h = structural_hash(func)
        for name in self._by_hash.get(h, []):
            if structural_equal(self.new[name], func):
                return name
        name, k = hint, 0
        while name in self.used:
            k += 1
            name = f"{hint}{k}"
        self.used.add(name)
        self.new[name] = func
        self._by_hash.setdefault(h, []).append(name)
        return name
