"""The worker process behind WorkerPool: reads JSON task lines, writes JSON result lines.

Run as ``python -m onnxtune.tuner.worker``. The protocol uses a private copy of the
original stdout; fd 1 is pointed at stderr so prints from tasks or native code cannot
corrupt it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

_FUNCS: dict[str, Callable[..., Any]] = {}


def _resolve(name: str) -> Callable[..., Any]:
    fn = _FUNCS.get(name)
    if fn is None:
        module, _, attr = name.partition(":")
        if not attr:
            raise ValueError(f"task function must be 'module:function', got {name!r}")
        fn = getattr(importlib.import_module(module), attr)
        _FUNCS[name] = fn
    return fn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="onnxtune.tuner.worker")
    parser.add_argument("--initializer", default=None)
    ns = parser.parse_args(argv)
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import faulthandler

    faulthandler.enable()  # a segfault leaves a Python traceback in the worker's log
    if ns.initializer:
        _resolve(ns.initializer)()
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        try:
            value = _resolve(msg["fn"])(*msg["args"])
            reply = {"id": msg["id"], "ok": value}
        except BaseException as e:  # noqa: BLE001 - every failure goes back as a message
            tb = traceback.format_exc(limit=8)
            reply = {"id": msg["id"], "error": f"{type(e).__name__}: {e}\n{tb}"}
        proto.write(json.dumps(reply) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
