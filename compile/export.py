"""Export an Executable to one file and load it back with only numpy and llvmlite.

The file (see :mod:`.artifact_format`) holds the module's machine code (object code for the
exporting machine's CPU), the exported functions' signatures, the slot table, the call list,
the memory plan and the constants as raw little-endian arrays. Loading JIT-links the object
code (no LLVM optimization, no TE or tuner) and rebuilds the Executable that
``VirtualMachine`` and ``InferenceSession`` run.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from onnxtune.tir.dtype import to_numpy as _np_dtype

from .artifact_format import ArtifactError, read_artifact, write_artifact

KIND = "onnxtune.executable"


def export_executable(ex: Any, path: str | os.PathLike) -> None:
    """Write ``ex`` to ``path`` (one file)."""
    from .executable import Alias

    if sys.byteorder != "little":
        raise NotImplementedError("exporting from a big-endian machine is not supported")
    module = ex.module
    code = module.code
    obj = module.get_object(pic=True)
    sigs = {name: [p.as_json() for p in module.signature(name)] for name in module.functions}
    calls = [["alias", c.src, c.dst, list(c.shape)] if isinstance(c, Alias)
             else ["call", c.kernel, list(c.args)] for c in ex.calls]
    manifest = {
        "kind": KIND,
        "target": str(code.target),
        "triple": code.target.triple,
        "externals": list(getattr(code, "externals", ()) or ()),
        "signatures": sigs,
        "slots": {s: [list(i.shape), i.dtype, i.root, i.kind] for s, i in ex.slots.items()},
        "calls": calls,
        "plan": {"offsets": ex.plan.offsets, "arena_bytes": ex.plan.arena_bytes,
                 "total_bytes": ex.plan.total_bytes, "alignment": ex.plan.alignment},
        "inputs": [[s, list(shape), dtype] for s, shape, dtype in ex.program.inputs],
        "outputs": [[n, s] for n, s in ex.program.outputs],
        "input_slots": list(ex.input_slots),
        "output_roots": list(ex.output_roots),
        "const_slots": list(ex.const_slots),
        "kernel_names": list(ex.kernel_names),
    }
    blobs = {"object": obj}
    for s, a in zip(ex.const_slots, ex.constants, strict=True):
        blobs[f"const:{s}"] = np.ascontiguousarray(a).tobytes()
    write_artifact(path, manifest, blobs)


def load_executable(path: str | os.PathLike) -> Any:
    """Read an exported Executable (raises ArtifactError for a damaged or foreign file)."""
    from .executable import Alias, Call, Executable, Program, SlotInfo
    from .llvm_engine import jit_object
    from .memory_plan import MemoryPlan
    from .module import Module
    from .target import Target

    manifest, blobs = read_artifact(path)
    if manifest.get("kind") != KIND:
        raise ArtifactError(f"{os.fspath(path)!r} holds a {manifest.get('kind')!r}, not an "
                            f"exported executable")
    target = Target(manifest["target"])
    host = Target("llvm")
    if target.triple != host.triple:
        raise ArtifactError(f"{os.fspath(path)!r} was exported for {target.triple}; this "
                            f"machine is {host.triple}")
    code = jit_object(blobs["object"], target, manifest["externals"])
    module = Module(code, manifest["signatures"])
    slots = {s: SlotInfo(s, tuple(v[0]), v[1], v[2], v[3])
             for s, v in manifest["slots"].items()}
    calls: list[Any] = [Alias(c[1], c[2], tuple(c[3])) if c[0] == "alias"
                        else Call(c[1], tuple(c[2])) for c in manifest["calls"]]
    p = manifest["plan"]
    plan = MemoryPlan({k: int(v) for k, v in p["offsets"].items()}, int(p["arena_bytes"]),
                      int(p["total_bytes"]), int(p["alignment"]))
    const_slots = list(manifest["const_slots"])
    constants = []
    for s in const_slots:
        info = slots[s]
        arr = np.frombuffer(blobs[f"const:{s}"], dtype=_np_dtype(info.dtype).newbyteorder("<"))
        constants.append(arr.astype(info.dtype, copy=False).reshape(info.shape))
    program = Program([(s, tuple(shape), dtype) for s, shape, dtype in manifest["inputs"]],
                      dict(zip(const_slots, constants, strict=True)), {}, calls,
                      [(n, s) for n, s in manifest["outputs"]])
    return Executable(program, module, slots, calls, plan, list(manifest["input_slots"]),
                      list(manifest["output_roots"]), const_slots, constants, 0.0,
                      list(manifest["kernel_names"]))
