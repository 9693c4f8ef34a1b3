"""The build artifact: an object file plus a JSON sidecar naming its functions.

``<dir>/module.o`` holds the machine code (``llvm_engine.emit_object``) and
``<dir>/module.json`` says how to call it::

    {"format": "onnxtune-object", "version": 1, "object": "module.o",
     "target": {...Target.as_json()...}, "entry": "main",
     "functions": {"main": [[name, shape, dtype, is_output], ...]},
     "externals": ["GOMP_parallel", ...]}

``externals`` are the symbols the object imports from the process (the parallel runtime,
libc/libm); the loader checks them before handing the object to LLVM, which would abort
the process on an unresolved one. No pickle anywhere.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMAT = "onnxtune-object"
VERSION = 1
#: prefix of the temporary folders default_export creates (RemoveBuildArtifact removes them)
TEMP_PREFIX = "onnxtune-build-"

_DECLARE = re.compile(r'^declare[^@\n]*@"?([^"(\s]+)"?\(', re.M)
_EXTERN_GLOBAL = re.compile(r'^@"?([^"\s=]+)"?\s*=\s*external\b', re.M)


def llvm_externals(ir_text: str) -> list[str]:
    """The functions and globals LLVM IR text declares but does not define (no intrinsics)."""
    names = [n for n in _DECLARE.findall(ir_text) if not n.startswith("llvm.")]
    return list(dict.fromkeys(names + _EXTERN_GLOBAL.findall(ir_text)))


@dataclass
class BuiltModule:
    """What ``default_build`` returns: object code and how to call its functions.

    ``functions`` maps each exported name to its buffer parameters (``compile.module.Param``
    or anything ``as_param`` accepts); ``entry`` is the one a runner times.
    """

    object_code: bytes
    functions: Mapping[str, Sequence[Any]]
    target: Any
    externals: tuple[str, ...] = ()
    entry: str = field(default="")

    def __post_init__(self) -> None:
        if not self.functions:
            raise ValueError("BuiltModule: no functions")
        if not self.entry:
            self.entry = "main" if "main" in self.functions else next(iter(self.functions))
        if self.entry not in self.functions:
            raise ValueError(f"BuiltModule: entry {self.entry!r} is not one of "
                             f"{sorted(self.functions)}")


def _sidecar(path: str) -> str:
    root, _ = os.path.splitext(path)
    return root + ".json"


def write_artifact(built: BuiltModule, directory: str | None = None) -> str:
    """Write ``module.o`` and ``module.json`` into ``directory`` (default: a new temporary
    folder named ``onnxtune-build-*``); returns the object file's path."""
    from onnxtune.compile.module import as_param
    from onnxtune.compile.target import Target

    directory = directory or tempfile.mkdtemp(prefix=TEMP_PREFIX)
    obj_path = os.path.join(directory, "module.o")
    tgt = built.target if isinstance(built.target, Target) else Target(built.target)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "object": os.path.basename(obj_path),
        "target": tgt.as_json(),
        "entry": built.entry,
        "functions": {name: [as_param(p, i, name).as_json() for i, p in enumerate(params)]
                      for name, params in built.functions.items()},
        "externals": list(built.externals),
    }
    with open(obj_path, "wb") as f:
        f.write(built.object_code)
    with open(_sidecar(obj_path), "w") as f:
        json.dump(meta, f)
    return obj_path


def read_artifact_meta(path: str) -> dict[str, Any]:
    """The sidecar of the artifact at ``path`` (the object file), validated."""
    side = _sidecar(path)
    try:
        with open(side) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"build artifact {path!r} has no sidecar {side!r}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"build artifact sidecar {side!r} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{side!r} is not an {FORMAT} sidecar")
    if meta.get("version") != VERSION:
        raise ValueError(f"{side!r} has version {meta.get('version')!r}; this reads {VERSION}")
    for key in ("target", "entry", "functions", "externals"):
        if key not in meta:
            raise ValueError(f"{side!r} lacks the field {key!r}")
    return meta


def load_artifact(path: str):
    """Load the artifact at ``path`` into this process as a callable ``compile.Module``
    (its ``entry`` attribute names the function to time)."""
    from onnxtune.compile.llvm_engine import jit_object
    from onnxtune.compile.module import Module, Param

    meta = read_artifact_meta(path)
    with open(path, "rb") as f:
        obj = f.read()
    code = jit_object(obj, meta["target"], meta["externals"])
    sigs = {name: [Param.from_json(p) for p in params]
            for name, params in meta["functions"].items()}
    mod = Module(code, sigs)
    mod.entry = meta["entry"]
    return mod
