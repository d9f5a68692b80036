"""Run pyright or mypy once over a prepared case directory and time it."""

from __future__ import annotations

import json
import re
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

USER_MODULE = "user_module.py"

_PYRIGHT_CHECK_PHASE = re.compile(r"^Check:\s+([0-9.]+)sec", re.MULTILINE)
_PYRIGHT_SUMMARY = re.compile(r"^(\d+) errors?, ", re.MULTILINE)
_MYPY_FOUND = re.compile(r"^Found (\d+) errors? in", re.MULTILINE)


@dataclass(frozen=True)
class CheckRun:
    wall_seconds: float
    # user + system CPU of the checker and its children: steadier than wall time on a busy machine.
    cpu_seconds: float
    # pyright's own "Check:" phase; None for mypy, which reports no phase timings.
    check_phase_seconds: float | None
    errors: int


class CheckerFailed(RuntimeError):
    """A checker crashed or printed something this harness cannot read."""


def write_checker_configs(case_dir: Path) -> None:
    """Strict settings for both checkers, matching what steppe's users are promised."""
    pyright_config = {
        "include": [USER_MODULE],
        "typeCheckingMode": "strict",
        "pythonVersion": "3.11",
    }
    (case_dir / "pyrightconfig.json").write_text(json.dumps(pyright_config, indent=2) + "\n")
    (case_dir / "mypy.ini").write_text("[mypy]\nstrict = True\npython_version = 3.11\n")


@dataclass(frozen=True)
class _Timed:
    wall_seconds: float
    cpu_seconds: float
    completed: subprocess.CompletedProcess[str]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], cwd: Path) -> _Timed:
    cpu_before, started = _children_cpu(), time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    return _Timed(wall, _children_cpu() - cpu_before, completed)


def run_pyright(case_dir: Path, venv_bin: Path) -> CheckRun:
    case_dir = case_dir.resolve()
    command = [
        str(venv_bin / "pyright"),
        "--pythonpath",
        str(venv_bin / "python"),
        "--stats",
        "-p",
        str(case_dir / "pyrightconfig.json"),
    ]
    timed = _run(command, case_dir)
    completed = timed.completed
    phase = _PYRIGHT_CHECK_PHASE.search(completed.stdout)
    summary = _PYRIGHT_SUMMARY.search(completed.stdout)
    # Exit code 1 only means "errors found"; anything else is a crash or a usage error.
    if completed.returncode not in (0, 1) or phase is None or summary is None:
        raise CheckerFailed(
            f"pyright in {case_dir} exited {completed.returncode}:\n"
            f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
        )
    return CheckRun(timed.wall_seconds, timed.cpu_seconds, float(phase[1]), int(summary[1]))


def run_mypy(case_dir: Path, venv_bin: Path) -> CheckRun:
    case_dir = case_dir.resolve()
    command = [
        str(venv_bin / "python"),
        "-m",
        "mypy",
        "--config-file",
        "mypy.ini",
        "--no-incremental",
        "--cache-dir",
        "/dev/null",
        USER_MODULE,
    ]
    timed = _run(command, case_dir)
    completed = timed.completed
    found = _MYPY_FOUND.search(completed.stdout)
    if completed.returncode == 0:
        errors = 0
    elif completed.returncode == 1 and found is not None:
        errors = int(found[1])
    else:
        raise CheckerFailed(
            f"mypy in {case_dir} exited {completed.returncode}:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
        )
    return CheckRun(timed.wall_seconds, timed.cpu_seconds, None, errors)
