"""ArgInfo: the shape and dtype of each argument a tuned kernel takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onnxtune.tir import PrimFunc
from onnxtune.tir import dtype as dt


class ArgInfo:
    """Argument information (TVM's ArgInfo). The one concrete kind is :class:`TensorInfo`."""

    def as_json(self) -> Any:
        raise NotImplementedError

    @staticmethod
    def from_json(json_obj: Any) -> ArgInfo:
        """Parse ``["TENSOR", dtype, [shape...]]``."""
        if (
            not isinstance(json_obj, (list, tuple))
            or len(json_obj) != 3
            or json_obj[0] != "TENSOR"
            or not isinstance(json_obj[2], (list, tuple))
        ):
            raise ValueError(
                f"ArgInfo.from_json: expected ['TENSOR', dtype, shape], got {json_obj!r}"
            )
        return TensorInfo(dt.check_dtype(json_obj[1]), tuple(int(s) for s in json_obj[2]))

    @staticmethod
    def from_prim_func(func: PrimFunc) -> list[ArgInfo]:
        """One TensorInfo per buffer parameter of ``func``, in order."""
        return [TensorInfo(p.dtype, p.static_shape()) for p in func.params]

    @staticmethod
    def from_entry_func(mod: Any, remove_preproc: bool = True) -> list[ArgInfo]:
        """The arguments of the module's "main" PrimFunc (or its only function).

        ``remove_preproc``: as the builder compiles it, without its weight layout-rewrite
        blocks (a rewritten weight is then passed in its new layout)."""
        funcs = [f for f in mod.functions.values() if isinstance(f, PrimFunc)]
        func = mod["main"] if "main" in mod else (funcs[0] if len(funcs) == 1 else None)
        if func is None:
            raise ValueError(f"ArgInfo.from_entry_func: no main function in {list(mod)}")
        if remove_preproc:
            from onnxtune.tir.transform.layout_rewrite import remove_weight_layout_rewrite_block

            func = remove_weight_layout_rewrite_block(func)
        return ArgInfo.from_prim_func(func)


@dataclass(frozen=True)
class TensorInfo(ArgInfo):
    """A dense tensor argument."""

    dtype: str
    shape: tuple[int, ...]

    def as_json(self) -> Any:
        return ["TENSOR", self.dtype, list(self.shape)]

    def __str__(self) -> str:
        return f'TensorInfo("{self.dtype}", {list(self.shape)})'
