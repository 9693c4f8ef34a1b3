"""MemoryDatabase: workloads and records kept in memory, indexed by module hash.

How :meth:`MemoryDatabase.get_top_k` ranks a workload's records:

* a schedule measured again (a later record with the same trace and decisions) is ranked
  by its latest measurement;
* the schedules measured by the workload's latest verification session (records with the
  highest ``verified`` stamp, see :mod:`onnxtune.tuner.verify`) come first, by mean time,
  then all others, by mean time. Times measured side by side in one session are
  comparable; a single measurement made while tuning, perhaps on a quieter or busier
  machine, is not comparable with them, and a lucky one must not win.

Every record is kept. :meth:`MemoryDatabase.top_measured` ranks by time alone.
"""

from __future__ import annotations

import json

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
        self._keys: dict[int, str] = {}  # id(record) -> its trace as compact JSON

    def trace_key(self, record: TuningRecord) -> str:
        """The identity of a record's schedule: its trace with decisions (cached; records
        are kept alive by ``self.records`` and not changed after commit)."""
        key = self._keys.get(id(record))
        if key is None:
            key = self._keys[id(record)] = schedule_key(record.trace)
        return key

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
        valid = self._latest_valid(workload)
        session = max((r.verified for r in valid if r.verified is not None), default=None)
        valid.sort(key=lambda r: (r.verified is None or r.verified != session,
                                  r.mean_secs()))
        return valid[:top_k]

    def top_measured(self, workload: Workload, top_k: int) -> list[TuningRecord]:
        """The ``top_k`` valid schedules of ``workload`` with the lowest latest mean time,
        verified or not."""
        valid = self._latest_valid(workload)
        valid.sort(key=TuningRecord.mean_secs)
        return valid[:top_k]

    def _latest_valid(self, workload: Workload) -> list[TuningRecord]:
        """Each schedule's latest record, if valid."""
        wl = self._lookup(workload.mod, workload.shash) if id(workload) not in self._records_of \
            else workload
        if wl is None:
            return []
        latest: dict[str, TuningRecord] = {}
        for r in self._records_of[id(wl)]:
            latest[self.trace_key(r)] = r  # a later measurement of the same schedule wins
        return [r for r in latest.values() if r.is_valid()]

    def get_all_tuning_records(self) -> list[TuningRecord]:
        return list(self.records)

    def records_of(self, workload: Workload) -> list[TuningRecord]:
        """Every record (failed ones too) of ``workload``, in commit order."""
        return list(self._records_of.get(id(self._own(workload)), ()))

    def trials_of(self, workload: Workload) -> int:
        """How many distinct schedules of ``workload`` were measured (a schedule measured
        again, e.g. by verification, is one trial)."""
        return len({self.trace_key(r) for r in self._records_of.get(id(self._own(workload)),
                                                                     ())})

    def __len__(self) -> int:
        return len(self.records)


def schedule_key(trace) -> str:
    """A schedule's identity: its trace with decisions, as compact JSON."""
    return json.dumps(trace.as_json(), separators=(",", ":"))
