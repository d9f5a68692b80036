"""Prove that `steppe` imports from site-packages (the installed wheel, stubs included), not from src/.

The typing_dist session runs this next to the copied typing tests before checking them, so a passing run
means the checkers saw what a user installs.

Usage: python tools/assert_installed.py [--package steppe] [--wheel dist/steppe-X-py3-none-any.whl]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import sysconfig
import zipfile
from collections.abc import Sequence
from pathlib import Path

# Modules whose stub must ship next to the module in the wheel: the API the typing tests exercise.
REQUIRED_STUBS = (
    "__init__.pyi",
    "core/step.pyi",
    "core/calls.pyi",
    "events.pyi",
    "function.pyi",
    "context.pyi",
    "client.pyi",
)


def check(package: str) -> list[str]:
    """Every way the import falls short of an installed, typed package; empty when it is one."""
    module = importlib.import_module(package)
    location = Path(module.__file__ or "").resolve().parent
    site_packages = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    failures: list[str] = []
    if location.parent not in site_packages:
        failures.append(
            f"{package} imports from {location}, not from site-packages ({', '.join(map(str, sorted(site_packages)))})"
        )
    if "src" in location.parts:
        failures.append(f"{package} imports from a source tree: {location}")
    if not (location / "py.typed").is_file():
        failures.append(f"{location} has no py.typed")
    for stub in REQUIRED_STUBS:
        if not (location / stub).is_file():
            failures.append(f"{location / stub} is missing: the wheel does not ship its stubs")
        elif not (location / stub).with_suffix(".py").is_file():
            failures.append(f"{location / stub} has no .py beside it")
    return failures


def check_wheel(wheel: Path, package: str) -> list[str]:
    """Every module of `package` in the wheel must have its .pyi beside it, and py.typed must be there."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    modules = sorted(n for n in names if n.startswith(f"{package}/") and n.endswith(".py"))
    failures = [f"{wheel.name}: {m} has no {m}i beside it" for m in modules if f"{m}i" not in names]
    if not modules:
        failures.append(f"{wheel.name}: no {package}/*.py modules")
    if f"{package}/py.typed" not in names:
        failures.append(f"{wheel.name}: no {package}/py.typed")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Assert the package imports from site-packages with its stubs.")
    parser.add_argument("--package", default="steppe")
    parser.add_argument("--wheel", type=Path, help="also check this wheel: a .pyi beside every .py, and py.typed")
    args = parser.parse_args(argv)
    package: str = args.package
    wheel: Path | None = args.wheel
    failures = check(package) + (check_wheel(wheel, package) if wheel is not None else [])
    for failure in failures:
        print(f"assert_installed: {failure}", file=sys.stderr)
    if not failures:
        location = Path(importlib.import_module(package).__file__ or "").parent
        stubs = sorted(p.relative_to(location).as_posix() for p in location.rglob("*.pyi"))
        print(f"assert_installed: {package} from {location} with py.typed and {len(stubs)} stub files")
        if wheel is not None:
            print(f"assert_installed: {wheel.name} ships a .pyi beside every {package} module")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
