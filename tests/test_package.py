"""The installed distribution: one `onnxtune` namespace mapping the repository's folders."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]

# The script runs in a fresh interpreter with -I (no cwd, no PYTHONPATH on sys.path) from a
# temporary folder, so it sees the installed distribution and never the checkout.
_PROBE = """
import importlib, importlib.util, json, sys
if importlib.util.find_spec("onnxtune") is None:
    print(json.dumps(None)); raise SystemExit
names = sys.argv[1:]
print(json.dumps({
    "files": {name: importlib.import_module(name).__file__ for name in names},
    "leaked": [top for top in ("tir", "compile", "frontend", "tuner", "models")
               if importlib.util.find_spec(top) is not None],
}))
"""


def _package_dir() -> dict[str, str]:
    """pyproject's [tool.setuptools.package-dir]: package name -> repository folder."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    config = tomllib.loads((CHECKOUT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["setuptools"]["package-dir"]


def _checkout_packages() -> dict[str, Path]:
    """Every package the checkout holds (folders with __init__.py) -> its __init__.py."""
    packages = {}
    for name, folder in _package_dir().items():
        root = CHECKOUT / folder
        for init in sorted(root.rglob("__init__.py")):
            rel = init.parent.relative_to(root).parts
            if all((root.joinpath(*rel[:i]) / "__init__.py").is_file() for i in range(len(rel))):
                packages[".".join((name, *rel))] = init
    return packages


def _probe_installed(names: list[str], tmp_path: Path) -> dict:
    """Import `names` from the installed distribution in a clean interpreter."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", _PROBE, *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"importing the installed package failed:\n{done.stderr}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result is None:
        if os.environ.get("CI"):
            pytest.fail("onnxtune is not installed in this environment (CI installs it)")
        pytest.skip("onnxtune is not installed here (pip install . or pip install -e .)")
    return result


def test_top_level_folders_are_onnxtune_subpackages():
    for name, folder in _package_dir().items():
        module = importlib.import_module(name)
        init = Path(module.__file__).resolve()
        installed = Path(importlib.import_module("onnxtune").__file__).resolve().parent
        rel = name.split(".")[1:]
        assert init in {CHECKOUT / folder / "__init__.py", installed.joinpath(*rel, "__init__.py")}


def test_installed_distribution_holds_every_subpackage(tmp_path):
    expected = _checkout_packages()
    assert "onnxtune.tir" in expected and "onnxtune.tuner.database" in expected
    result = _probe_installed(["onnxtune", *expected], tmp_path)
    installed = Path(result["files"]["onnxtune"]).resolve().parent
    for name, source_init in expected.items():
        resolved = Path(result["files"][name]).resolve()
        copied = installed.joinpath(*name.split(".")[1:], "__init__.py")
        # a regular install copies the folder into site-packages/onnxtune; an editable one
        # points at the checkout
        assert resolved in {source_init, copied}, f"{name} resolved to {resolved}"
    assert result["leaked"] == [], "only `onnxtune` may be importable from the installation"


def test_python_m_onnxtune_help():
    done = subprocess.run(
        [sys.executable, "-m", "onnxtune", "--help"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: onnxtune" in done.stdout


def test_console_script_help(tmp_path):
    _probe_installed([], tmp_path)
    script = Path(sys.executable).parent / ("onnxtune.exe" if os.name == "nt" else "onnxtune")
    assert script.is_file(), f"console script missing at {script}"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: onnxtune" in done.stdout


def test_missing_command_exits_2(capsys):
    from onnxtune.cli import main

    assert main([]) == 2
    assert "a command is required" in capsys.readouterr().err
