"""The worker process behind WorkerPool: reads JSON task lines, writes JSON result lines.

Run as ``python -m onnxtune.tuner.worker``. The protocol uses a private copy of the
original stdout; fd 1 is pointed at stderr so prints from tasks or native code cannot
corrupt it. Once the initializer has run and the ``--preload`` functions are imported (and their
``warmup`` attribute, if any, called),
the worker writes ``{"ready": true}``: the pool starts a task's clock only then, so the
cost of starting Python and importing the package never counts against a task's timeout.

Task functions are named ``"package.module:function"`` or ``"/path/to/file.py:function"``
(a script's functions, for callables defined in ``__main__``); :func:`function_name`
turns a module-level callable into such a name.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

_FUNCS: dict[str, Callable[..., Any]] = {}
_SCRIPT_MODULE = "__onnxtune_main__"


def _import_script(path: str) -> Any:
    """Import a script by path under a private name (its ``if __name__ == "__main__"``
    block does not run), once."""
    mod = sys.modules.get(_SCRIPT_MODULE)
    if mod is not None and getattr(mod, "__file__", None) == path:
        return mod
    spec = importlib.util.spec_from_file_location(_SCRIPT_MODULE, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the script {path!r}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[_SCRIPT_MODULE] = mod
    spec.loader.exec_module(mod)
    return mod


def resolve_function(name: str) -> Callable[..., Any]:
    """The function named ``"module:qualname"`` or ``"/path/file.py:qualname"`` (cached)."""
    fn = _FUNCS.get(name)
    if fn is None:
        module, _, attr = name.rpartition(":")
        if not module or not attr:
            raise ValueError(f"task function must be 'module:function', got {name!r}")
        if module.endswith(".py"):
            obj: Any = _import_script(module)
        else:
            obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        if not callable(obj):
            raise TypeError(f"{name!r} names a {type(obj).__name__}, not a function")
        fn = obj
        _FUNCS[name] = fn
    return fn


def function_name(fn: Callable[..., Any] | str, what: str = "function") -> str:
    """``"module:qualname"`` for a module-level function or class, so that a worker process
    can import it; a string is returned as is. Lambdas and nested functions (closures)
    cannot be sent to another process and raise ValueError."""
    if isinstance(fn, str):
        if ":" not in fn:
            raise ValueError(f"{what} must be 'module:function' or a callable, got {fn!r}")
        return fn
    if not callable(fn):
        raise TypeError(f"{what} must be a callable or a 'module:function' string, got "
                        f"{type(fn).__name__}")
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    bound = getattr(fn, "__self__", None)
    if not module or not qualname or not (bound is None or isinstance(bound, ModuleType)):
        raise ValueError(
            f"{what} {fn!r} is not a module-level function (a bound method or a callable "
            f"object cannot be sent to a worker process); pass 'module:function'"
        )
    if "<" in qualname:
        raise ValueError(
            f"{what} {fn!r} is a lambda or a nested function: worker processes cannot "
            f"receive closures; define it at module level or pass 'module:function'"
        )
    if module == "__main__":
        path = getattr(sys.modules["__main__"], "__file__", None)
        if not path:
            raise ValueError(f"{what} {qualname!r} is defined in an interactive __main__; "
                             f"worker processes can only import functions from files")
        module = os.path.abspath(path)
    return f"{module}:{qualname}"


def _exit_with_parent(interval: float = 0.5) -> None:
    """Exit when the parent process dies, even while a task spins in native code (which
    runs without the GIL): otherwise a hung candidate would outlive a killed tuner."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="onnxtune-parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="onnxtune.tuner.worker")
    parser.add_argument("--initializer", default=None)
    parser.add_argument("--preload", action="append", default=[])
    ns = parser.parse_args(argv)
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import faulthandler

    faulthandler.enable()  # a segfault leaves a Python traceback in the worker's log
    _exit_with_parent()
    if ns.initializer:
        resolve_function(ns.initializer)()
    for name in ns.preload:
        try:
            fn = resolve_function(name)
            warmup = getattr(fn, "warmup", None)
            if callable(warmup):  # heavy imports / native set-up, before "ready"
                warmup()
        except Exception:  # noqa: BLE001 - the task itself will report the failure
            pass
    proto.write(json.dumps({"ready": True}) + "\n")
    proto.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        try:
            value = resolve_function(msg["fn"])(*msg["args"])
            reply = {"id": msg["id"], "ok": value}
        except BaseException as e:  # noqa: BLE001 - every failure goes back as a message
            tb = traceback.format_exc(limit=8)
            reply = {"id": msg["id"], "error": f"{type(e).__name__}: {e}\n{tb}"}
        proto.write(json.dumps(reply) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
