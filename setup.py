"""Package discovery for onnxtune; all other metadata lives in pyproject.toml."""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import find_packages, setup

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 builds get tomli from [build-system] requires
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent


def discover_packages() -> list[str]:
    """Every package in pyproject's package-dir, plus each subfolder with an __init__.py.

    setuptools maps a subpackage to a folder through its longest mapped prefix
    (onnxtune.tir.schedule -> tir/schedule), but it has no way to *find* subpackages under
    a renamed folder; this walks each mapped folder and prefixes what it finds.
    """
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    packages: set[str] = set()
    for name, folder in package_dir.items():
        if not (ROOT / folder / "__init__.py").is_file():
            raise SystemExit(
                f"pyproject.toml maps package {name!r} to folder {folder!r}, "
                f"but {folder}/__init__.py does not exist"
            )
        packages.add(name)
        packages.update(f"{name}.{sub}" for sub in find_packages(where=str(ROOT / folder)))
    return sorted(packages)


setup(packages=discover_packages())
