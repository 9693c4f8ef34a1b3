"""UnionDatabase and OrderedUnionDatabase: read-only views over several databases."""

from __future__ import annotations

from typing import Any

from onnxtune.tir import IRModule

from .database import Database, TuningRecord, Workload


class _ReadOnlyUnion(Database):
    def __init__(self, *databases: Database):
        if not databases:
            raise ValueError(f"{type(self).__name__} needs at least one database")
        self.databases = list(databases)

    def _refuse(self, what: str) -> Any:
        raise NotImplementedError(f"{type(self).__name__} is read-only: {what} is not supported; "
                                  "commit to one of its member databases")

    def has_workload(self, mod: IRModule) -> bool:
        return any(db.has_workload(mod) for db in self.databases)

    def commit_workload(self, mod: IRModule) -> Workload:
        return self._refuse("commit_workload")

    def commit_tuning_record(self, record: TuningRecord) -> None:
        self._refuse("commit_tuning_record")

    def get_top_k(self, workload: Workload, top_k: int) -> list[TuningRecord]:
        return self._refuse("get_top_k")

    def get_all_tuning_records(self) -> list[TuningRecord]:
        return [r for db in self.databases for r in db.get_all_tuning_records()]


class UnionDatabase(_ReadOnlyUnion):
    """Answers each query with the best record among all member databases."""

    def query_tuning_record(self, mod: Any, target: Any = None,
                            workload_name: str | None = "main") -> TuningRecord | None:
        best = None
        for db in self.databases:
            rec = db.query_tuning_record(mod, target, workload_name)
            if rec is not None and (best is None or rec.mean_secs() < best.mean_secs()):
                best = rec
        return best


class OrderedUnionDatabase(_ReadOnlyUnion):
    """Answers each query from the first member database that has a record."""

    def query_tuning_record(self, mod: Any, target: Any = None,
                            workload_name: str | None = "main") -> TuningRecord | None:
        for db in self.databases:
            rec = db.query_tuning_record(mod, target, workload_name)
            if rec is not None:
                return rec
        return None
