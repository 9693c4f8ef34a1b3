"""JSONDatabase: a MemoryDatabase mirrored to two JSON-lines files, appended per commit.

``database_workload.json`` holds one ``[hash, module]`` line per workload and
``database_tuning_record.json`` one ``[workload_index, record]`` line per record. Every
commit is appended and flushed at once, so a killed tuning run loses nothing it had
measured, and a re-run on the same files resumes. A malformed line (typically the last
one, cut short by a kill) is skipped with a warning, never a crash.
"""

from __future__ import annotations

import json
import os
import warnings

from onnxtune.tir import IRModule

from .database import TuningRecord, Workload, as_module
from .memory_database import MemoryDatabase

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"


class JSONDatabase(MemoryDatabase):
    """Database backed by JSON-lines files (TVM's JSONDatabase, same file names)."""

    def __init__(self, path_workload: str | None = None, path_tuning_record: str | None = None,
                 *, work_dir: str | None = None, allow_missing: bool = True,
                 module_equality: str = "structural"):
        super().__init__(module_equality)
        if work_dir is not None:
            path_workload = path_workload or os.path.join(work_dir, WORKLOAD_FILE)
            path_tuning_record = path_tuning_record or os.path.join(work_dir, RECORD_FILE)
        if path_workload is None or path_tuning_record is None:
            raise ValueError("JSONDatabase needs work_dir or both path_workload and "
                             "path_tuning_record")
        self.path_workload = path_workload
        self.path_tuning_record = path_tuning_record
        self._index: dict[int, int] = {}  # id(workload) -> line index in the workload file
        for path in (path_workload, path_tuning_record):
            if not os.path.exists(path):
                if not allow_missing:
                    raise FileNotFoundError(f"JSONDatabase: {path} does not exist "
                                            "(allow_missing=False)")
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                open(path, "a").close()
        self._load()

    # -- loading -------------------------------------------------------------------------
    def _lines(self, path: str):
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as e:
                    warnings.warn(f"{path}:{lineno}: skipping a malformed line ({e.msg}); "
                                  "it was probably cut short when a run was killed",
                                  stacklevel=3)

    def _load(self) -> None:
        by_line: list[Workload | None] = []
        for lineno, obj in self._lines(self.path_workload):
            try:
                wl = Workload.from_json(obj)
            except Exception as e:  # noqa: BLE001 - a bad line must not lose the rest
                warnings.warn(f"{self.path_workload}:{lineno}: skipping a workload that "
                              f"cannot be read: {e}", stacklevel=2)
                by_line.append(None)
                continue
            existing = self._lookup(wl.mod, wl.shash)
            if existing is None:
                self._add_workload(wl)
                self._index[id(wl)] = len(by_line)
                existing = wl
            by_line.append(existing)
        self._n_workload_lines = len(by_line)
        for lineno, obj in self._lines(self.path_tuning_record):
            try:
                idx = obj[0]
                wl = by_line[idx] if isinstance(idx, int) and 0 <= idx < len(by_line) else None
                if wl is None:
                    raise ValueError(f"workload index {idx!r} is not in {self.path_workload}")
                rec = TuningRecord.from_json(obj[1], wl)
            except Exception as e:  # noqa: BLE001 - a bad line must not lose the rest
                warnings.warn(f"{self.path_tuning_record}:{lineno}: skipping a record that "
                              f"cannot be read: {e}", stacklevel=2)
                continue
            MemoryDatabase.commit_tuning_record(self, rec)

    # -- appending -----------------------------------------------------------------------
    @staticmethod
    def _append(path: str, obj: object) -> None:
        text = json.dumps(obj, separators=(",", ":")) + "\n"
        with open(path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:  # a previous run killed mid-line left no newline: end that line
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
            f.write(text.encode("utf-8"))
            f.flush()

    def commit_workload(self, mod: IRModule) -> Workload:
        mod = as_module(mod)
        n_before = len(self.workloads)
        wl = super().commit_workload(mod)
        if len(self.workloads) > n_before:
            self._append(self.path_workload, wl.as_json())
            self._index[id(wl)] = self._n_workload_lines
            self._n_workload_lines += 1
        return wl

    def commit_tuning_record(self, record: TuningRecord) -> None:
        super().commit_tuning_record(record)
        self._append(self.path_tuning_record, [self._index[id(record.workload)],
                                               record.as_json()])
