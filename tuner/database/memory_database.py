"""MemoryDatabase: workloads and records kept in memory, indexed by module hash."""

from __future__ import annotations

from onnxtune.tir import IRModule

from .database import (
    Database,
    TuningRecord,
    Workload,
    as_module,
    check_module_equality,
    module_equal,
    module_hash,
)


class MemoryDatabase(Database):
    """An in-memory database (also the index behind :class:`JSONDatabase`)."""

    def __init__(self, module_equality: str = "structural"):
        self.module_equality = check_module_equality(module_equality)
        self.workloads: list[Workload] = []
        self.records: list[TuningRecord] = []
        self._by_hash: dict[int, list[Workload]] = {}
        self._records_of: dict[int, list[TuningRecord]] = {}  # id(workload) -> records

    def _lookup(self, mod: IRModule, shash: int) -> Workload | None:
        for wl in self._by_hash.get(shash, ()):
            if wl.mod is mod or module_equal(wl.mod, mod, self.module_equality):
                return wl
        return None

    def has_workload(self, mod: IRModule) -> bool:
        mod = as_module(mod)
        return self._lookup(mod, module_hash(mod, self.module_equality)) is not None

    def commit_workload(self, mod: IRModule) -> Workload:
        mod = as_module(mod)
        shash = module_hash(mod, self.module_equality)
        wl = self._lookup(mod, shash)
        if wl is None:
            wl = Workload(mod, shash)
            self._add_workload(wl)
        return wl

    def _add_workload(self, wl: Workload) -> None:
        self.workloads.append(wl)
        self._by_hash.setdefault(wl.shash, []).append(wl)
        self._records_of[id(wl)] = []

    def _own(self, wl: Workload) -> Workload:
        """The database's own Workload object equal to ``wl`` (committed if new)."""
        if id(wl) in self._records_of:
            return wl
        return self.commit_workload(wl.mod)

    def commit_tuning_record(self, record: TuningRecord) -> None:
        record.workload = self._own(record.workload)
        self.records.append(record)
        self._records_of[id(record.workload)].append(record)

    def get_top_k(self, workload: Workload, top_k: int) -> list[TuningRecord]:
        if top_k < 0:
            raise ValueError(f"get_top_k: top_k must be >= 0, got {top_k}")
        wl = self._lookup(workload.mod, workload.shash) if id(workload) not in self._records_of \
            else workload
        if wl is None:
            return []
        valid = [r for r in self._records_of[id(wl)] if r.is_valid()]
        valid.sort(key=TuningRecord.mean_secs)
        return valid[:top_k]

    def get_all_tuning_records(self) -> list[TuningRecord]:
        return list(self.records)

    def records_of(self, workload: Workload) -> list[TuningRecord]:
        """Every record (failed ones too) of ``workload``, in commit order."""
        return list(self._records_of.get(id(self._own(workload)), ()))

    def __len__(self) -> int:
        return len(self.records)
