"""``compile_model``, ``load`` and ``InferenceSession``: run ONNX models with our kernels.

``InferenceSession`` has onnxruntime's interface (``run(output_names, input_feed)``,
``get_inputs()``, ``get_outputs()``) so code written for onnxruntime runs unchanged. It
takes an Executable, the path of an exported artifact, or an ONNX model (compiled untuned,
or from a tuning database).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from onnxtune.tir.dtype import to_numpy as _np_dtype

_ONNX_TYPES = {
    "float32": "tensor(float)", "float16": "tensor(float16)", "float64": "tensor(double)",
    "int8": "tensor(int8)", "uint8": "tensor(uint8)", "int32": "tensor(int32)",
    "int64": "tensor(int64)", "bool": "tensor(bool)",
    # the narrow dtypes, spelled as onnxruntime does
    "float8_e4m3fn": "tensor(float8e4m3fn)", "float8_e4m3fnuz": "tensor(float8e4m3fnuz)",
    "float8_e5m2": "tensor(float8e5m2)", "float8_e5m2fnuz": "tensor(float8e5m2fnuz)",
    "float8_e8m0fnu": "tensor(float8e8m0)", "float4_e2m1fn": "tensor(float4e2m1)",
}


@dataclass(frozen=True)
class NodeArg:
    """An input or output of a session: ``name``, ``shape`` (list of ints), ``type``
    (onnxruntime's spelling, e.g. ``"tensor(float)"``)."""

    name: str
    shape: list[int]
    type: str
    dtype: str


def load_model(model_or_path: Any) -> Any:
    """An ``onnx.ModelProto`` from a ModelProto, a path, bytes, or a bundled model name."""
    import onnx

    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path
    if isinstance(model_or_path, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model_or_path))
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if os.path.exists(path):
            try:
                return onnx.load(path)
            except Exception as e:  # noqa: BLE001 - onnx raises several kinds
                raise ValueError(f"{path!r} is not a readable ONNX model: {e}") from None
        if path.endswith(".onnx") or os.sep in path:
            raise FileNotFoundError(f"no such model file: {path!r}")
        from onnxtune.models import get_model

        return get_model(path)
    raise TypeError(f"expected an onnx.ModelProto, a path or a bundled model name, got "
                    f"{type(model_or_path).__name__}")


def compile_model(model_or_path: Any, target: Any = "llvm", database: Any = None,
                  shape_dict: Mapping[str, Sequence[int]] | None = None,
                  stats: dict[str, int] | None = None) -> Any:
    """Compile an ONNX model into an Executable. Kernels with a record in ``database`` (a
    Database, or a work_dir holding a JSON database) use the tuned schedule (or their
    anchor's trace); the others use the default schedule. A work_dir's graph options (the
    layout its tasks were tuned in) apply, whatever the environment says."""
    from onnxtune.frontend import from_onnx
    from onnxtune.frontend.transform.pipeline import graph_options
    from onnxtune.tuner.relax_integration import compile_relax

    model = load_model(model_or_path)
    mod = from_onnx(model, shape_dict=dict(shape_dict) if shape_dict else None)
    db = _as_database(database)
    options = _graph_of(os.fspath(database)) if isinstance(database, (str, os.PathLike)) \
        else {}
    with graph_options(**options):
        return compile_relax(db, mod, target, stats=stats)


def _as_database(database: Any) -> Any:
    if database is None or not isinstance(database, (str, os.PathLike)):
        return database
    from onnxtune.tuner.database import JSONDatabase
    from onnxtune.tuner.database.json_database import RECORD_FILE, WORKLOAD_FILE

    work_dir = os.fspath(database)
    if not os.path.isdir(work_dir):
        raise FileNotFoundError(f"no tuning database folder {work_dir!r}")
    missing = [n for n in (WORKLOAD_FILE, RECORD_FILE)
               if not os.path.isfile(os.path.join(work_dir, n))]
    if missing:
        # reading must not create an empty database (a silent untuned build)
        hint = [d for d in sorted(os.listdir(work_dir))
                if os.path.isfile(os.path.join(work_dir, d, RECORD_FILE))]
        more = f"; did you mean {os.path.join(work_dir, hint[0])!r}?" if hint else ""
        raise FileNotFoundError(
            f"{work_dir!r} holds no tuning database (no {' or '.join(missing)}): pass the "
            f"work_dir tune_model wrote{more}")
    db = JSONDatabase(work_dir=work_dir, allow_missing=False,
                      module_equality=_equality_of(work_dir))
    if not db.get_all_tuning_records():
        warnings.warn(f"the tuning database in {work_dir!r} holds no records: every kernel "
                      "uses its default schedule", stacklevel=3)
    return db


def _config_of(work_dir: str) -> dict | None:
    """A work_dir's ``onnxtune_config.json`` (what tune_model wrote down), None when there
    is none or it does not parse."""
    import json

    try:
        with open(os.path.join(work_dir, "onnxtune_config.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _graph_of(work_dir: str) -> dict[str, bool]:
    """The graph options a work_dir was tuned with (tune_model writes them down; one
    tuned before that ran with :data:`~onnxtune.frontend.transform.pipeline.
    LEGACY_OPTIONS`; no config at all: none, the current ones apply)."""
    from onnxtune.frontend.transform.pipeline import recorded_graph_options

    config = _config_of(work_dir)
    return {} if config is None else recorded_graph_options(config)


def _equality_of(work_dir: str) -> str:
    """The module_equality a work_dir was tuned with (tune_model writes it down)."""
    return str((_config_of(work_dir) or {}).get("module_equality", "structural"))


def load(path: str | os.PathLike) -> Any:
    """Load an exported artifact (``Executable.export_library``) as an Executable."""
    from onnxtune.compile.export import load_executable

    return load_executable(path)


class InferenceSession:
    """onnxruntime's session interface over our compiled executable.

    ``InferenceSession(x)`` where ``x`` is an Executable, an exported artifact path, or an
    ONNX model / ``.onnx`` path (compiled here; ``database=`` applies tuning records).
    """

    def __init__(self, executable_or_path: Any, database: Any = None, target: Any = "llvm"):
        from onnxtune.compile.artifact_format import is_artifact
        from onnxtune.compile.executable import Executable

        ex = executable_or_path
        if not isinstance(ex, Executable):
            if isinstance(ex, (str, os.PathLike)) and is_artifact(ex):
                ex = load(ex)
            else:
                ex = compile_model(ex, target=target, database=database)
        from onnxtune.compile.executable import VirtualMachine

        self.executable = ex
        self._vm = VirtualMachine(ex)
        self._inputs = [NodeArg(n, list(s), _ONNX_TYPES.get(d, f"tensor({d})"), d)
                        for n, s, d in ex.get_inputs()]
        self._outputs = [NodeArg(n, list(s), _ONNX_TYPES.get(d, f"tensor({d})"), d)
                         for n, s, d in ex.get_outputs()]

    def get_inputs(self) -> list[NodeArg]:
        return list(self._inputs)

    def get_outputs(self) -> list[NodeArg]:
        return list(self._outputs)

    def run(self, output_names: Sequence[str] | None,
            input_feed: Mapping[str, Any]) -> list[np.ndarray]:
        """Outputs (all, or those named) for inputs given by name. Wrong names, shapes or
        dtypes raise ValueError naming them."""
        if not isinstance(input_feed, Mapping):
            raise TypeError(f"run: input_feed must be a dict of name -> array, got "
                            f"{type(input_feed).__name__}")
        known = {i.name: i for i in self._inputs}
        unknown = sorted(set(input_feed) - set(known))
        missing = [n for n in known if n not in input_feed]
        if unknown or missing:
            parts = []
            if unknown:
                parts.append(f"unknown input name(s) {unknown}")
            if missing:
                parts.append(f"missing input(s) {missing}")
            raise ValueError(f"run: {'; '.join(parts)}; the model's inputs are "
                             f"{[i.name for i in self._inputs]}")
        arrays = []
        for i in self._inputs:
            a = input_feed[i.name]
            if not isinstance(a, np.ndarray):
                a = np.asarray(a)
            if list(a.shape) != i.shape:
                raise ValueError(f"run: input {i.name!r} has shape {list(a.shape)}; the model "
                                 f"expects {i.shape}")
            if a.dtype != _np_dtype(i.dtype):
                raise ValueError(f"run: input {i.name!r} has dtype {a.dtype}; the model "
                                 f"expects {i.dtype} ({i.type})")
            arrays.append(np.ascontiguousarray(a))
        res = self._vm.run(dict(zip([i.name for i in self._inputs], arrays, strict=True)))
        if output_names is None:
            return [res[o.name] for o in self._outputs]
        bad = [n for n in output_names if n not in res]
        if bad:
            raise ValueError(f"run: unknown output name(s) {bad}; the model's outputs are "
                             f"{[o.name for o in self._outputs]}")
        return [res[n] for n in output_names]
