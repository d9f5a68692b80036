"""Prove that `steppe` imports from site-packages (the installed wheel, stubs included), not from src/.

The typing_dist and typing_matrix sessions run this before checking the typing tests, so a passing run means
the checkers saw what a user installs: py.typed, and every stub of stubs/steppe-stubs next to its module.

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

STUBS = Path(__file__).resolve().parent.parent / "stubs" / "steppe-stubs"


def required_stubs() -> list[str]:
    """The stubs the package must ship, relative to the package: every .pyi of the repository's stubs folder."""
    found = sorted(p.relative_to(STUBS).as_posix() for p in STUBS.rglob("*.pyi"))
    if not found:
        raise SystemExit(f"assert_installed: no .pyi files under {STUBS}")
    return found


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
    for stub in required_stubs():
        if not (location / stub).is_file():
            failures.append(f"{location / stub} is missing: the wheel does not ship its stubs")
        elif not (location / stub).with_suffix(".py").is_file():
            failures.append(f"{location / stub} has no .py beside it")
    return failures


def check_wheel(wheel: Path, package: str) -> list[str]:
    """The wheel must hold py.typed and every required stub, each beside its module's .py."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    failures: list[str] = []
    for stub in required_stubs():
        name = f"{package}/{stub}"
        if name not in names:
            failures.append(f"{wheel.name}: {name} is missing")
        elif name.removesuffix("i") not in names:
            failures.append(f"{wheel.name}: {name} has no {name.removesuffix('i')} beside it")
    if f"{package}/py.typed" not in names:
        failures.append(f"{wheel.name}: no {package}/py.typed")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Assert the package imports from site-packages with its stubs.")
    parser.add_argument("--package", default="steppe")
    parser.add_argument("--wheel", type=Path, help="also check this wheel: py.typed, and each stub beside its .py")
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
            print(
                f"assert_installed: {wheel.name} ships py.typed and {', '.join(required_stubs())} beside their modules"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
