"""Write docs/typing-matrix.md: every typing case under pyright, mypy, pyrefly and ty.

A case is the statement after a `# case: NAME` comment in typing_tests/check_*.py (`# case[reject]: NAME`
for code that must be refused). Every `assert_type` line and every line with an expected error belongs to
one. The checkers run on a copy of the suite with the `# type: ignore[...]` / `# pyright: ignore[...]`
comments removed, so each cell shows what the checker itself says:

* ok: no diagnostic; for an `assert_type` this means the inferred type is exactly the expected one;
* gap: the `assert_type` failed, with the type the checker inferred instead;
* error: another diagnostic on valid code;
* rejected / missed: for a `case[reject]`, whether the checker reported an error.

For pyright and mypy a gap or error is "recorded" when the suite's ignore comment for that checker
expects it (their sessions fail on any other). pyrefly and ty are not blocking: this table is their record.

The table depends only on the suite and the checker versions, so a fresh matrix regenerates byte for byte:
`--check` (run by the `generated` nox session) fails with a diff when the committed one is stale. Check times
vary from run to run; they are printed, and written to `--timings FILE` if given, never to the matrix.

Usage: python tools/typing_matrix.py [--check] [--output docs/typing-matrix.md] [--timings FILE]
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from _generated import write_or_check

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "typing_tests"
OUTPUT = ROOT / "docs" / "typing-matrix.md"
CONFIGS = ("pyrightconfig.json", "mypy.ini", "pyrefly.toml", "ty.toml")
CHECKERS = ("pyright", "mypy", "pyrefly", "ty")

_CASE = re.compile(r"^\s*# case(?P<reject>\[reject\])?: (?P<name>\S.*?)\s*$")
_IGNORE = re.compile(r"\s*# (?P<tool>type|pyright): ignore\[(?P<codes>[^\]]*)\]")
# How each checker names a failed assert_type, and how it spells the inferred type in the message.
_ASSERT_CODES = {
    "pyright": "reportAssertTypeFailure",
    "mypy": "assert-type",
    "pyrefly": "assert-type",
    "ty": "type-assertion-failure",
}

Status = Literal["ok", "gap", "error", "rejected", "missed"]


class MatrixError(Exception):
    """The suite's case comments are inconsistent, or a checker produced no usable output."""


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    reject: bool
    line: int  # first line of the statement
    end_line: int
    expected: str | None  # the assert_type's type, when the statement is one
    ignores: dict[str, frozenset[str]]  # checker -> codes its ignore comments expect


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int
    code: str
    message: str


@dataclass(frozen=True)
class Cell:
    status: Status
    detail: str
    recorded: bool


# -- the cases ------------------------------------------------------------------------------------


def _statement_end(tree: ast.Module, line: int) -> tuple[int, str | None]:
    """Last line of the statement (or decorator) starting at `line`, and its assert_type's type if any."""
    best: ast.stmt | ast.expr | None = None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.stmt)
            and node.lineno == line
            and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ):
            best = node
            break
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for decorator in node.decorator_list:
                if decorator.lineno == line:
                    best = decorator
    if best is None:
        raise MatrixError(f"line {line}: a case comment must precede a simple statement or a decorator")
    expected = None
    call = best.value if isinstance(best, ast.Expr) else None
    if isinstance(call, ast.Await):  # `await assert_type(step_call, ...)`: a step call left alone is an error
        call = call.value
    if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("assert_type") and len(call.args) == 2:
        expected = ast.unparse(call.args[1])
    return best.end_lineno or line, expected


def collect_cases(path: Path) -> list[Case]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text, filename=str(path))
    cases: list[Case] = []
    covered: set[int] = set()
    for index, line in enumerate(lines):
        match = _CASE.match(line)
        if match is None:
            continue
        target = next(
            (i for i in range(index + 1, len(lines)) if lines[i].strip() and not lines[i].lstrip().startswith("#")),
            None,
        )
        if target is None:
            raise MatrixError(f"{path.name}:{index + 1}: case {match['name']!r} has no statement after it")
        try:
            end, expected = _statement_end(tree, target + 1)
        except MatrixError as error:
            raise MatrixError(f"{path.name}:{target + 1}: {error}") from None
        ignores: dict[str, set[str]] = {"mypy": set(), "pyright": set()}
        for number in range(target + 1, end + 1):
            for found in _IGNORE.finditer(lines[number - 1]):
                tool = "mypy" if found["tool"] == "type" else "pyright"
                ignores[tool] |= {code.strip() for code in found["codes"].split(",")}
            covered.add(number)
        cases.append(
            Case(
                path.name,
                match["name"],
                bool(match["reject"]),
                target + 1,
                end,
                expected,
                {k: frozenset(v) for k, v in ignores.items()},
            )
        )
    for number, line in enumerate(lines, start=1):
        if number not in covered and (
            ("assert_type(" in line and not line.lstrip().startswith(("from", "import"))) or _IGNORE.search(line)
        ):
            raise MatrixError(f"{path.name}:{number}: an assert_type or expected error outside any `# case:`")
    names = Counter(case.name for case in cases)
    duplicated = [name for name, count in names.items() if count > 1]
    if duplicated:
        raise MatrixError(f"{path.name}: case names used twice: {', '.join(duplicated)}")
    return cases


def suite_files() -> list[Path]:
    return sorted(SUITE.glob("check_*.py"))


# -- running the checkers -------------------------------------------------------------------------


def stripped_copy(target: Path) -> Path:
    """The suite without its ignore comments (same line numbers), plus the checker configs."""
    suite = target / "typing_tests"
    suite.mkdir()
    for path in suite_files():
        (suite / path.name).write_text(_IGNORE.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")
    for config in CONFIGS:
        shutil.copy(SUITE / config, suite / config)
    return suite


def _run(command: Sequence[str], cwd: Path) -> str:
    completed = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, check=False)
    if not completed.stdout.strip():
        raise MatrixError(
            f"{command[0]} printed nothing (exit {completed.returncode}): {completed.stderr.strip()[:2000]}"
        )
    return completed.stdout


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise MatrixError(f"{name} is not installed next to {sys.executable}")
    return found


def run_pyright(work: Path) -> list[Diagnostic]:
    out = _run(
        [
            sys.executable,
            "-m",
            "pyright",
            "-p",
            "typing_tests/pyrightconfig.json",
            "--pythonpath",
            sys.executable,
            "--outputjson",
        ],
        work,
    )
    report = cast(dict[str, Any], json.loads(out))
    return [
        Diagnostic(Path(d["file"]).name, d["range"]["start"]["line"] + 1, d.get("rule", ""), d["message"])
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]


def run_mypy(work: Path) -> list[Diagnostic]:
    cache = work / ".mypy_cache"
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        "typing_tests/mypy.ini",
        "--cache-dir",
        str(cache),
        "--output",
        "json",
        "typing_tests",
    ]
    completed = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    if completed.returncode not in (0, 1):
        raise MatrixError(f"mypy failed (exit {completed.returncode}): {completed.stderr.strip()[:2000]}")
    found: list[Diagnostic] = []
    for line in completed.stdout.splitlines():
        if line.startswith("{"):
            d = cast(dict[str, Any], json.loads(line))
            if d["severity"] == "error":
                found.append(Diagnostic(Path(d["file"]).name, d["line"], d.get("code") or "", d["message"]))
    return found


def run_pyrefly(work: Path) -> list[Diagnostic]:
    command = [
        _tool("pyrefly"), "check", "-c", "typing_tests/pyrefly.toml", "--python-interpreter-path", sys.executable, "--output-format", "json",
    ]  # fmt: skip
    report = cast(dict[str, Any], json.loads(_run(command, work)))
    return [
        Diagnostic(Path(d["path"]).name, d["line"], d["name"], d["concise_description"])
        for d in report["errors"]
        if d["severity"] in ("error", "warn")
    ]


def run_ty(work: Path) -> list[Diagnostic]:
    command = [
        _tool("ty"), "check", "--python", sys.prefix, "--config-file", "typing_tests/ty.toml", "--output-format", "gitlab", "typing_tests",
    ]  # fmt: skip
    report = cast(list[dict[str, Any]], json.loads(_run(command, work)))
    return [
        Diagnostic(
            Path(d["location"]["path"]).name,
            d["location"]["positions"]["begin"]["line"],
            d["check_name"],
            d["description"].removeprefix(f"{d['check_name']}: "),
        )
        for d in report
        if d["severity"] in ("major", "critical", "blocker", "minor")
    ]


RUNNERS: dict[str, Callable[[Path], list[Diagnostic]]] = {
    "pyright": run_pyright,
    "mypy": run_mypy,
    "pyrefly": run_pyrefly,
    "ty": run_ty,
}
PACKAGES = {"pyright": "pyright", "mypy": "mypy", "pyrefly": "pyrefly", "ty": "ty"}


# -- reading the verdicts -------------------------------------------------------------------------


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def inferred_type(checker: str, message: str) -> str:
    """The type a failed assert_type found, as the checker spells it."""
    patterns = {
        "pyright": r'received "(?P<t>.*)"',
        "mypy": r'^Expression is of type "(?P<t>.*)", not ',
        "ty": r"^Type `(?P<t>.*)` does not match asserted type",
    }
    if checker == "pyrefly":
        inner = re.match(r"^assert_type\((?P<args>.*)\) failed", message)
        if inner is not None:
            parts = _split_top_level(inner["args"])
            return ", ".join(parts[:-1]) if len(parts) > 1 else inner["args"]
        return message
    found = re.search(patterns[checker], message.splitlines()[0] if checker != "pyright" else message, re.DOTALL)
    return found["t"] if found else message


def _covers(case: Case, diagnostic: Diagnostic) -> bool:
    return diagnostic.file == case.file and case.line <= diagnostic.line <= case.end_line


def classify(case: Case, checker: str, diagnostics: list[Diagnostic]) -> Cell:
    mine = [d for d in diagnostics if _covers(case, d)]
    codes = sorted({d.code for d in mine})
    expected_codes = case.ignores.get(checker)
    recorded = expected_codes is not None and bool(mine) and set(codes) <= expected_codes
    if case.reject:
        if mine:
            return Cell("rejected", ", ".join(codes), recorded)
        return Cell("missed", "", False)
    if not mine:
        return Cell("ok", "", False)
    asserts = [d for d in mine if d.code == _ASSERT_CODES[checker]]
    if asserts and len(asserts) == len(mine):
        return Cell("gap", inferred_type(checker, asserts[0].message), recorded)
    first = next(d for d in mine if d.code != _ASSERT_CODES[checker])
    return Cell("error", f"[{', '.join(codes)}] {first.message.splitlines()[0]}", recorded)


# -- the document ---------------------------------------------------------------------------------


def _code(text: str) -> str:
    """`text` as inline code inside a table cell (one line, no bare pipes or backticks)."""
    flat = " ".join(text.split())
    return "`" + flat.replace("`", "'").replace("|", "\\|") + "`"


def render_cell(cell: Cell, case: Case) -> str:
    note = " (recorded)" if cell.recorded else ""
    if cell.status == "ok":
        return "✅ exact" if case.expected is not None else "✅ ok"
    if cell.status == "gap":
        return f"⚠️ gap{note}: {_code(cell.detail)}"
    if cell.status == "error":
        return f"❌ error{note}: {_code(cell.detail[:160])}"
    if cell.status == "rejected":
        return f"✅ rejected{note} {_code(cell.detail)}"
    return "❌ missed (accepted)"


def render(
    cases: list[Case],
    cells: dict[tuple[str, str, str], Cell],
    stray: list[tuple[str, Diagnostic]],
    versions: dict[str, str],
) -> str:
    lines = [
        "# Typing matrix",
        "",
        "Generated by `tools/typing_matrix.py` (nox session `typing_matrix`) from `typing_tests/check_*.py`: do not edit.",
        "Each row is one `# case:` of the suite; each cell is what that checker says about it, with the suite's",
        "ignore comments removed. **exact**: the inferred type is the expected one. **gap**: the `assert_type` failed;",
        "the cell shows the type the checker inferred instead. **error**: another diagnostic on valid code. For",
        "`reject` rows (code that must be refused): **rejected** (with the checker's error codes) or **missed**.",
        "**(recorded)**: the suite's ignore comment for that checker expects exactly this, so its session passes;",
        "pyright and mypy block CI, pyrefly and ty do not (this table is their record).",
        "",
        "| checker | version |",
        "|---|---|",
        *(f"| {c} | {versions[c]} |" for c in CHECKERS),
        "",
        "## Summary",
        "",
        "| checker | exact / ok | gap | error | rejected | missed |",
        "|---|---|---|---|---|---|",
    ]
    for checker in CHECKERS:
        counts = Counter(cells[(case.file, case.name, checker)].status for case in cases)
        lines.append(
            f"| {checker} | {counts['ok']} | {counts['gap']} | {counts['error']} | {counts['rejected']} | {counts['missed']} |"
        )
    lines += [
        "",
        f"{len(cases)} cases ({sum(c.reject for c in cases)} of them `reject`) in {len({c.file for c in cases})} files.",
        "",
    ]
    if stray:
        lines += ["## Diagnostics outside any case", "", "| checker | where | code | message |", "|---|---|---|---|"]
        lines += [
            f"| {c} | {d.file}:{d.line} | {d.code} | {_code(d.message.splitlines()[0][:160])} |" for c, d in stray
        ]
        lines.append("")
    for file in sorted({case.file for case in cases}):
        lines += [
            f"## {file}",
            "",
            "| case | expected | " + " | ".join(CHECKERS) + " |",
            "|---|---|" + "---|" * len(CHECKERS),
        ]
        for case in (c for c in cases if c.file == file):
            expected = "error" if case.reject else (_code(case.expected) if case.expected else "no error")
            row = [
                f"{case.name} (line {case.line})",
                expected,
                *(render_cell(cells[(case.file, case.name, c)], case) for c in CHECKERS),
            ]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the typing matrix (pyright, mypy, pyrefly, ty).")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; print a diff and exit 1 if the matrix is stale"
    )
    parser.add_argument("--timings", type=Path, help="also write each checker's check time here (not tracked)")
    args = parser.parse_args(argv)
    output: Path = args.output
    check: bool = args.check
    timings_file: Path | None = args.timings
    try:
        cases = [case for path in suite_files() for case in collect_cases(path)]
        versions = {c: importlib.metadata.version(PACKAGES[c]) for c in CHECKERS}
        timings: dict[str, float] = {}
        diagnostics: dict[str, list[Diagnostic]] = {}
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            stripped_copy(work)
            for checker in CHECKERS:
                started = time.perf_counter()
                diagnostics[checker] = RUNNERS[checker](work)
                timings[checker] = time.perf_counter() - started
                print(
                    f"typing_matrix: {checker} {versions[checker]}: {len(diagnostics[checker])} diagnostics in {timings[checker]:.1f} s"
                )
    except MatrixError as error:
        print(f"typing_matrix: {error}", file=sys.stderr)
        return 2
    if timings_file is not None:
        timings_file.parent.mkdir(parents=True, exist_ok=True)
        timings_file.write_text(json.dumps({c: round(timings[c], 2) for c in CHECKERS}, indent=2) + "\n")
    cells = {(case.file, case.name, c): classify(case, c, diagnostics[c]) for case in cases for c in CHECKERS}
    stray = [(c, d) for c in CHECKERS for d in diagnostics[c] if not any(_covers(case, d) for case in cases)]
    text = render(cases, cells, stray, versions)
    if not write_or_check(output, text, check):
        print(f"typing_matrix: {output} is stale: run `nox -s typing_matrix` and commit it", file=sys.stderr)
        return 1
    print(f"typing_matrix: {output} {'is fresh' if check else 'written'} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
