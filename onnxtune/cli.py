"""The `onnxtune` command line: `onnxtune <command> [options]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("onnxtune")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown (not installed)"


def _demo(args: argparse.Namespace) -> int:
    """Placeholder: will build the bundled matmul and print its GFLOPS."""
    print("onnxtune demo: not built yet (it will tune and build a bundled matmul)", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand sets `handler` to a function(args) -> exit code."""
    parser = argparse.ArgumentParser(
        prog="onnxtune",
        description="A MetaSchedule-style deep-learning compiler and auto-tuner for ONNX models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(title="commands", metavar="<command>")

    demo = commands.add_parser("demo", help="build a bundled matmul and print its GFLOPS")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (2 for a missing command)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: a command is required", file=sys.stderr)
        return 2
    return int(handler(args))
