"""Run pyright, mypy, pyrefly and ty on one file and read back revealed types and errors."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NotRequired, TypedDict, cast

Kind = Literal["revealed", "error"]


@dataclass(frozen=True)
class Diagnostic:
    line: int  # 1-based
    kind: Kind
    text: str  # the revealed type, or "message [code]"


class CheckerOutputError(RuntimeError):
    """A checker crashed or printed something this harness cannot read."""


def write_configs(probe_dir: Path, file_name: str, venv_bin: Path) -> None:
    """Strict settings for every checker; pyrefly needs a config to leave its lax preset."""
    pyright = {"include": [file_name], "typeCheckingMode": "strict", "pythonVersion": "3.11"}
    (probe_dir / "pyrightconfig.json").write_text(json.dumps(pyright, indent=2) + "\n")
    (probe_dir / "mypy.ini").write_text("[mypy]\nstrict = True\npython_version = 3.11\n")
    (probe_dir / "pyrefly.toml").write_text(
        f'project-includes = ["{file_name}"]\npython-interpreter-path = "{venv_bin / "python"}"\n'
    )


def _run(command: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0, 1)) -> str:
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if completed.returncode not in ok_codes:
        raise CheckerOutputError(
            f"{command[0]} exited {completed.returncode} in {cwd}:\n"
            f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
        )
    return completed.stdout


class _PyrightStart(TypedDict):
    line: int


class _PyrightRange(TypedDict):
    start: _PyrightStart


class _PyrightDiagnostic(TypedDict):
    severity: str
    message: str
    range: _PyrightRange
    rule: NotRequired[str]


_PYRIGHT_REVEAL = re.compile(r'^Type of ".*" is "(?P<type>.*)"$', re.DOTALL)


def pyright(probe_dir: Path, file_name: str, venv_bin: Path) -> list[Diagnostic]:
    out = _run(
        [str(venv_bin / "pyright"), "--outputjson", "--pythonpath", str(venv_bin / "python")],
        probe_dir,
    )
    raw = cast(list[_PyrightDiagnostic], json.loads(out)["generalDiagnostics"])
    found: list[Diagnostic] = []
    for item in raw:
        line = item["range"]["start"]["line"] + 1
        message = item["message"]
        reveal = _PYRIGHT_REVEAL.match(message)
        if item["severity"] == "information" and reveal is not None:
            found.append(Diagnostic(line, "revealed", reveal["type"]))
        elif item["severity"] == "error":
            first_line = message.splitlines()[0]
            found.append(Diagnostic(line, "error", f"{first_line} [{item.get('rule', '?')}]"))
    return found


_MYPY_LINE = re.compile(r"^[^:]+:(?P<line>\d+): (?P<severity>\w+): (?P<message>.*)$")
_MYPY_REVEAL = re.compile(r'^Revealed type is "(?P<type>.*)"$')


def mypy(probe_dir: Path, file_name: str, venv_bin: Path) -> list[Diagnostic]:
    out = _run(
        [
            str(venv_bin / "python"),
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--no-incremental",
            "--cache-dir",
            "/dev/null",
            "--no-error-summary",
            file_name,
        ],
        probe_dir,
    )
    found: list[Diagnostic] = []
    for text_line in out.splitlines():
        match = _MYPY_LINE.match(text_line)
        if match is None:
            continue
        line, message = int(match["line"]), match["message"]
        reveal = _MYPY_REVEAL.match(message)
        if match["severity"] == "note" and reveal is not None:
            found.append(Diagnostic(line, "revealed", reveal["type"]))
        elif match["severity"] == "error":
            found.append(Diagnostic(line, "error", message))
    return found


class _PyreflyError(TypedDict):
    line: int
    name: str
    description: str
    severity: str


def pyrefly(probe_dir: Path, file_name: str, venv_bin: Path) -> list[Diagnostic]:
    out = _run([str(venv_bin / "pyrefly"), "check", "--output-format", "json"], probe_dir)
    raw = cast(list[_PyreflyError], json.loads(out)["errors"])
    found: list[Diagnostic] = []
    for item in raw:
        description = " ".join(item["description"].split())  # overloads print over lines
        if item["name"] == "reveal-type":
            found.append(Diagnostic(item["line"], "revealed", description.removeprefix("revealed type: ")))
        elif item["severity"] == "error":
            found.append(Diagnostic(item["line"], "error", f"{description} [{item['name']}]"))
    return found


_TY_LINE = re.compile(r"^[^:]+:(?P<line>\d+):\d+: (?P<severity>\w+)\[(?P<code>[\w-]+)\] (?P<message>.*)$")


def ty(probe_dir: Path, file_name: str, venv_bin: Path) -> list[Diagnostic]:
    out = _run(
        [
            str(venv_bin / "ty"),
            "check",
            "--output-format",
            "concise",
            "--python",
            str(venv_bin.parent),
            file_name,
        ],
        probe_dir,
    )
    found: list[Diagnostic] = []
    for text_line in out.splitlines():
        match = _TY_LINE.match(text_line)
        if match is None:
            continue
        line, message = int(match["line"]), match["message"]
        if match["code"] == "revealed-type":
            found.append(Diagnostic(line, "revealed", message.removeprefix("Revealed type: ").strip("`")))
        elif match["severity"] == "error":
            found.append(Diagnostic(line, "error", f"{message} [{match['code']}]"))
    return found


Checker = Callable[[Path, str, Path], list[Diagnostic]]
CHECKERS: dict[str, Checker] = {"pyright": pyright, "mypy": mypy, "pyrefly": pyrefly, "ty": ty}
