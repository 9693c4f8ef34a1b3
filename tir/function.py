"""PrimFunc (a kernel over buffer parameters) and IRModule (named functions)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .buffer import Buffer
from .expr import Node
from .stmt import Stmt


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PrimFunc(Node):
    """A kernel: ``params`` are the buffers passed in (outputs included), ``body`` the code.

    The body of a function built from TE or a schedule is a ``BlockRealize`` of the root
    block, which holds every other block; after lowering it is plain loops.
    """

    params: tuple[Buffer, ...]
    body: Stmt
    attrs: dict[str, Any] = field(default_factory=dict)

    def with_body(self, body: Stmt) -> PrimFunc:
        return PrimFunc(self.params, body, self.attrs)

    def with_attr(self, key: str, value: Any) -> PrimFunc:
        attrs = dict(self.attrs)
        attrs[key] = value
        return PrimFunc(self.params, self.body, attrs)

    def param(self, name: str) -> Buffer:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"no parameter named {name!r}; have {[p.name for p in self.params]}")

    def script(self) -> str:
        from .printer import astext

        return astext(self)

    def show(self) -> None:
        print(self.script())


class IRModule(Mapping):
    """An immutable mapping from global names to functions (PrimFuncs, graph functions)."""

    __slots__ = ("_funcs",)

    def __init__(self, functions: Mapping[str, Any] | None = None):
        funcs = dict(functions or {})
        for k in funcs:
            if not isinstance(k, str):
                raise TypeError(f"IRModule keys must be function names (str), got {k!r}")
        self._funcs = funcs

    @staticmethod
    def from_expr(func: Any, name: str = "main") -> IRModule:
        return IRModule({name: func})

    def __getitem__(self, name: str) -> Any:
        try:
            return self._funcs[name]
        except KeyError:
            raise KeyError(
                f"IRModule has no function {name!r}; it has {sorted(self._funcs)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._funcs)

    def __len__(self) -> int:
        return len(self._funcs)

    @property
    def functions(self) -> dict[str, Any]:
        return dict(self._funcs)

    def with_function(self, name: str, func: Any) -> IRModule:
        funcs = dict(self._funcs)
        funcs[name] = func
        return IRModule(funcs)

    def get_global_vars(self) -> list[str]:
        return list(self._funcs)

    def script(self) -> str:
        from .printer import astext

        return astext(self)

    def show(self) -> None:
        print(self.script())

    def __repr__(self) -> str:
        return self.script()

    # IRModules compare by identity like every node; use structural_equal for structure
    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other
