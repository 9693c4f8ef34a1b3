"""Database: workloads, tuning records and the abstract interface every database follows."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from onnxtune.tir import IRModule, PrimFunc

from ..arg_info import ArgInfo

#: run_secs recorded for a candidate that failed to build or run (TVM's convention)
FAILED_RUN_SECS = 1e10

MODULE_EQUALITY = ("structural", "ignore-tensor", "anchor-block")


def check_module_equality(mode: str) -> str:
    if mode not in MODULE_EQUALITY:
        raise ValueError(f"module_equality must be one of {list(MODULE_EQUALITY)}, got {mode!r}")
    return mode


def as_module(mod: IRModule | PrimFunc) -> IRModule:
    if isinstance(mod, PrimFunc):
        return IRModule({"main": mod})
    if not isinstance(mod, IRModule):
        raise TypeError(f"expected an IRModule or a PrimFunc, got {type(mod).__name__}")
    return mod


def module_hash(mod: IRModule, mode: str = "structural") -> int:
    from onnxtune.tir.structural import module_hash as _hash

    return _hash(mod, mode) & (2**64 - 1)


def module_equal(a: IRModule, b: IRModule, mode: str = "structural") -> bool:
    from onnxtune.tir.structural import module_equal as _equal

    return _equal(a, b, mode)


class Workload:
    """An IRModule to tune, with its hash under the database's module-equality mode."""

    __slots__ = ("mod", "shash")

    def __init__(self, mod: IRModule | PrimFunc, shash: int | None = None,
                 module_equality: str = "structural"):
        self.mod = as_module(mod)
        self.shash = module_hash(self.mod, module_equality) if shash is None else int(shash)

    def as_json(self) -> Any:
        import json

        from onnxtune.tir.serialize import save_json

        return [format(self.shash, "016x"), json.loads(save_json(self.mod))]

    @staticmethod
    def from_json(json_obj: Any) -> Workload:
        import json

        from onnxtune.tir.serialize import load_json

        if not isinstance(json_obj, list) or len(json_obj) != 2:
            raise ValueError("Workload.from_json: expected [hash, module]")
        mod = load_json(json.dumps(json_obj[1]))
        return Workload(mod, int(json_obj[0], 16))

    def __repr__(self) -> str:
        return f"Workload(shash={self.shash:016x}, funcs={list(self.mod)})"


class TuningRecord:
    """One measured schedule: the trace that produced it, its workload and run times.

    ``verified``: the stamp of the verification session that measured it (see
    :mod:`onnxtune.tuner.verify`), None for a measurement made while tuning."""

    __slots__ = ("trace", "workload", "run_secs", "target", "args_info", "error_msg",
                 "verified")

    def __init__(self, trace: Any, workload: Workload, run_secs: list[float] | None = None,
                 target: Any = None, args_info: list[ArgInfo] | None = None,
                 error_msg: str | None = None, verified: int | None = None):
        self.trace = trace
        self.workload = workload
        self.run_secs = None if run_secs is None else [float(x) for x in run_secs]
        self.target = target
        self.args_info = args_info
        self.error_msg = error_msg
        self.verified = None if verified is None else int(verified)

    def is_valid(self) -> bool:
        """True when the record measured a real time (not a failure)."""
        if not self.run_secs:
            return False
        return all(math.isfinite(s) and 0 <= s < FAILED_RUN_SECS for s in self.run_secs)

    def mean_secs(self) -> float:
        return sum(self.run_secs) / len(self.run_secs) if self.is_valid() else math.inf

    def as_json(self) -> Any:
        """``[trace, run_secs, target, args_info]`` (TVM's layout), then the error message
        when there is one, or ``{"error_msg": ..., "verified": stamp}`` when verified."""
        out = [
            self.trace.as_json(),
            self.run_secs,
            None if self.target is None else self.target.as_json(),
            None if self.args_info is None else [a.as_json() for a in self.args_info],
        ]
        if self.verified is not None:
            out.append({"error_msg": self.error_msg, "verified": self.verified})
        elif self.error_msg:
            out.append(self.error_msg)
        return out

    @staticmethod
    def from_json(json_obj: Any, workload: Workload) -> TuningRecord:
        from onnxtune.compile.target import Target
        from onnxtune.tir.schedule import Trace

        if not isinstance(json_obj, list) or len(json_obj) not in (4, 5):
            raise ValueError("TuningRecord.from_json: expected [trace, run_secs, target, args]")
        trace = Trace.from_json(json_obj[0])
        target = None if json_obj[2] is None else Target.from_json(json_obj[2])
        args = None if json_obj[3] is None else [ArgInfo.from_json(a) for a in json_obj[3]]
        extra = json_obj[4] if len(json_obj) == 5 else None
        err, verified = extra, None
        if isinstance(extra, dict):
            err, verified = extra.get("error_msg"), extra.get("verified")
            if verified is not None and not isinstance(verified, int):
                raise ValueError(f"TuningRecord.from_json: 'verified' must be an integer "
                                 f"stamp, got {verified!r}")
        elif extra is not None and not isinstance(extra, str):
            raise ValueError(f"TuningRecord.from_json: the 5th element must be an error "
                             f"message or a dict, got {type(extra).__name__}")
        return TuningRecord(trace, workload, json_obj[1], target, args, err, verified)

    def as_measure_candidate(self) -> Any:
        """A MeasureCandidate: the workload scheduled by replaying this record's trace."""
        from ..search_strategy import MeasureCandidate

        sch = self.schedule()
        args = self.args_info or ArgInfo.from_entry_func(sch.mod)
        return MeasureCandidate(sch, args)

    def schedule(self, mod: IRModule | None = None, remove_postproc: bool = False) -> Any:
        """Replay the trace on ``mod`` (default: the workload's module)."""
        from onnxtune.tir.schedule import Schedule

        sch = Schedule(as_module(mod) if mod is not None else self.workload.mod)
        self.trace.apply_to_schedule(sch, remove_postproc=remove_postproc)
        return sch

    def __repr__(self) -> str:
        return f"TuningRecord(run_secs={self.run_secs}, error={self.error_msg!r})"


class Database:
    """The abstract database interface (TVM's Database)."""

    _current: list[Database] = []

    # -- the abstract part ---------------------------------------------------------------
    def has_workload(self, mod: IRModule) -> bool:
        raise NotImplementedError

    def commit_workload(self, mod: IRModule) -> Workload:
        raise NotImplementedError

    def commit_tuning_record(self, record: TuningRecord) -> None:
        raise NotImplementedError

    def get_top_k(self, workload: Workload, top_k: int) -> list[TuningRecord]:
        raise NotImplementedError

    def get_all_tuning_records(self) -> list[TuningRecord]:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.get_all_tuning_records())

    # -- queries built on the abstract part ----------------------------------------------
    module_equality: str = "structural"

    def query_tuning_record(self, mod: IRModule | PrimFunc, target: Any = None,
                            workload_name: str | None = "main") -> TuningRecord | None:
        """The best valid record of the workload ``mod``, or None."""
        mod = as_module(mod)
        if not self.has_workload(mod):
            return None
        top = self.get_top_k(self.commit_workload(mod), 1)
        return top[0] if top else None

    def query_schedule(self, mod: IRModule | PrimFunc, target: Any = None,
                       workload_name: str | None = "main") -> Any:
        """The best schedule of ``mod``: its best record's trace replayed on ``mod``."""
        mod = as_module(mod)
        rec = self.query_tuning_record(mod, target, workload_name)
        if rec is None:
            return None
        return rec.schedule(mod)

    def query_ir_module(self, mod: IRModule | PrimFunc, target: Any = None,
                        workload_name: str | None = "main") -> IRModule | None:
        sch = self.query_schedule(mod, target, workload_name)
        return None if sch is None else sch.mod

    def query(self, mod: IRModule | PrimFunc, target: Any = None, *, workload_name: str = "main",
              kind: Literal["schedule", "record", "ir_module"] = "schedule") -> Any:
        if kind == "schedule":
            return self.query_schedule(mod, target, workload_name)
        if kind == "record":
            return self.query_tuning_record(mod, target, workload_name)
        if kind == "ir_module":
            return self.query_ir_module(mod, target, workload_name)
        raise ValueError(f"query: kind must be 'schedule', 'record' or 'ir_module', got {kind!r}")

    def dump_pruned(self, destination: Database) -> None:
        """Copy the best valid record of every workload (its :meth:`get_top_k` first) into
        ``destination``."""
        workloads: dict[int, Workload] = {}
        for rec in self.get_all_tuning_records():
            workloads.setdefault(id(rec.workload), rec.workload)
        for w in workloads.values():
            top = self.get_top_k(w, 1)
            if not top:
                continue
            rec = top[0]
            wl = destination.commit_workload(rec.workload.mod)
            destination.commit_tuning_record(
                TuningRecord(rec.trace, wl, rec.run_secs, rec.target, rec.args_info,
                             verified=rec.verified)
            )

    # -- scoping -------------------------------------------------------------------------
    def __enter__(self) -> Database:
        Database._current.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        Database._current.pop()

    @staticmethod
    def current() -> Database | None:
        return Database._current[-1] if Database._current else None

    @staticmethod
    def create(kind: str | Callable[[Any], bool] = "json", *args: Any, **kwargs: Any) -> Database:
        """Create a database: "json", "memory", "union", "ordered_union" or a schedule fn."""
        if callable(kind):
            from .schedule_fn_database import ScheduleFnDatabase

            return ScheduleFnDatabase(kind, *args, **kwargs)
        if kind == "json":
            from .json_database import JSONDatabase

            return JSONDatabase(*args, **kwargs)
        if kind == "memory":
            from .memory_database import MemoryDatabase

            return MemoryDatabase(*args, **kwargs)
        if kind == "union":
            from .union_database import UnionDatabase

            return UnionDatabase(*args, **kwargs)
        if kind == "ordered_union":
            from .union_database import OrderedUnionDatabase

            return OrderedUnionDatabase(*args, **kwargs)
        raise ValueError(
            f"unknown Database kind {kind!r}; expected 'json', 'memory', 'union', "
            "'ordered_union' or a schedule function"
        )


#: TVM's name for a Python-side database: subclassing Database directly works the same.
PyDatabase = Database


def create(kind: str | Callable[[Any], bool] = "json", *args: Any, **kwargs: Any) -> Database:
    return Database.create(kind, *args, **kwargs)
