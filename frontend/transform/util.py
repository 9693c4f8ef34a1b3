"""Small helpers shared by the graph passes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnxtune.tir import structural_equal, structural_hash
from onnxtune.tir.function import PrimFunc

from ..ir import Binding, Call, Expr, Function, Var, uses


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
    """New PrimFuncs for a module: unique names, equal functions shared.

    ``key`` (any hashable describing how the function was made) finds a function made the
    same way without building it again (:meth:`lookup`); functions with different keys are
    still shared when structurally equal (when ``dedup`` is on).
    """

    def __init__(self, used_names: Any, dedup: bool = True):
        self.used: set[str] = set(used_names)
        self.new: dict[str, PrimFunc] = {}
        self.dedup = dedup
        self._by_hash: dict[int, list[str]] = {}
        self._by_key: dict[Any, str] = {}

    def lookup(self, key: Any) -> str | None:
        return self._by_key.get(key) if key is not None else None

    def add(self, func: PrimFunc, hint: str, key: Any = None) -> str:
        if key is not None and key in self._by_key:
            return self._by_key[key]
        name = None
        h = structural_hash(func) if self.dedup else 0
        if self.dedup:
            for other in self._by_hash.get(h, []):
                if structural_equal(self.new[other], func):
                    name = other
                    break
        if name is None:
            name, k = hint, 0
            while name in self.used:
                k += 1
                name = f"{hint}{k}"
            self.used.add(name)
            self.new[name] = func
            if self.dedup:
                self._by_hash.setdefault(h, []).append(name)
        if key is not None:
            self._by_key[key] = name
        return name


def attrs_key(attrs: dict[str, Any]) -> Any:
    """A hashable form of op attributes (None when some value has no stable form)."""
    def conv(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return tuple(conv(x) for x in v)
        if isinstance(v, (int, float, str, bool)) or v is None:
            return (type(v).__name__, v)
        raise TypeError

    try:
        return tuple(sorted((k, conv(v)) for k, v in attrs.items()))
    except TypeError:
        return None


class AltForms:
    """The bindings of a pass that computes some values in another form (pixels flattened,
    channels blocked): :meth:`emit` binds a new value, :meth:`record` says that ``var``
    is now computed as ``alt``, and :meth:`original` binds ``var = back(alt, var)`` the
    first time the rest of the graph needs ``var`` itself (its uses, the outputs)."""

    def __init__(self, back: Callable[[Var, Var], Call]):
        self.bindings: list[Binding] = []
        self._alt: dict[int, tuple[Var, Var]] = {}  # id(var) -> (its alt var, var)
        self._shown: set[int] = set()  # vars whose binding back is emitted
        self._back = back

    def emit(self, name: str, value: Call) -> Var:
        v = Var(name, value.type)
        self.bindings.append(Binding(v, value))
        return v

    def record(self, var: Var, alt: Var) -> None:
        self._alt[id(var)] = (alt, var)

    def alt(self, a: Expr) -> Var | None:
        """``a``'s other form, None when it has none."""
        got = self._alt.get(id(a)) if isinstance(a, Var) else None
        return got[0] if got is not None else None

    def original(self, a: Expr) -> Expr:
        """``a`` as the rest of the graph sees it (binding it back from its other form,
        once)."""
        if isinstance(a, Var) and id(a) in self._alt and id(a) not in self._shown:
            alt, var = self._alt[id(a)]
            self._shown.add(id(a))
            self.bindings.append(Binding(var, self._back(alt, var)))
        return a

    def keep(self, b: Binding) -> None:
        """``b`` unchanged, its operands in their original form."""
        for a in uses(b.value):
            self.original(a)
        self.bindings.append(b)

    def finish(self, func: Function) -> Function:
        """``func`` with these bindings, its outputs in their original form."""
        for o in func.outputs:
            for a in uses(o):
                self.original(a)
        return func.with_bindings(self.bindings, func.outputs)
