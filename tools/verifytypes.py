"""Fail unless pyright rates steppe's public API 100% type-complete, as installed (stubs included).

Runs ``pyright --verifytypes steppe --ignoreexternal --outputjson`` against the installed package of the
interpreter running this script (the nox session's venv, where the wheel is installed), from a scratch
directory so no local source tree can shadow it. Prints every exported symbol whose type is not fully
known, with pyright's reason.

Usage: python tools/verifytypes.py [--package steppe]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast


def run_verifytypes(package: str) -> dict[str, Any]:
    """pyright's JSON report. pyright takes the environment from PATH/VIRTUAL_ENV (not --pythonpath) here."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = sys.prefix
    with tempfile.TemporaryDirectory() as scratch:
        completed = subprocess.run(
            [sys.executable, "-m", "pyright", "--verifytypes", package, "--ignoreexternal", "--outputjson"],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        return cast(dict[str, Any], json.loads(completed.stdout))
    except json.JSONDecodeError as error:
        raise SystemExit(
            f"verifytypes: pyright printed no JSON ({error}):\n{completed.stdout}\n{completed.stderr}"
        ) from error


def problems(report: dict[str, Any]) -> list[str]:
    """One line per reason the package is not fully typed: general errors, then each unknown symbol."""
    found = [f"pyright: {d['message']}" for d in report.get("generalDiagnostics", []) if d.get("severity") == "error"]
    for symbol in report["typeCompleteness"]["symbols"]:
        if symbol["isExported"] and not symbol["isTypeKnown"]:
            reasons = "; ".join(d["message"].replace("\n", " ") for d in symbol["diagnostics"]) or "type not known"
            found.append(f"{symbol['name']}: {reasons}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Require a 100% pyright type-completeness score.")
    parser.add_argument("--package", default="steppe")
    args = parser.parse_args(argv)
    package: str = args.package
    report = run_verifytypes(package)
    completeness = report["typeCompleteness"]
    score = float(completeness["completenessScore"])
    counts = completeness["exportedSymbolCounts"]
    print(
        f"verifytypes: {package} from {completeness['packageRootDirectory'] or '?'}: {score:.2%} "
        f"({counts['withKnownType']} known, {counts['withAmbiguousType']} ambiguous, {counts['withUnknownType']} unknown)"
    )
    offending = problems(report)
    for line in offending:
        print(f"  {line}")
    if score < 1.0 or offending:
        print(f"verifytypes: {package} must be 100% type-complete", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
