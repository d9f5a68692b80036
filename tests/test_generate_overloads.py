"""tools/generate_overloads.py, driven through its command line as developers and CI use it, and the
`write_or_check` helper every generator shares (tools/_generated.py)."""

from __future__ import annotations

import ast
import runpy
import subprocess
import sys
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tools._generated import write_or_check

from steppe import Step, StepSync

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "tools" / "generate_overloads.py"
MOCK = REPO / "benchmarks" / "typecheck" / "mock_steppe.py"
STEP_STUB = REPO / "stubs" / "steppe-stubs" / "_core" / "step.pyi"


def _marker(edge: str, name: str, indent: str = "") -> str:
    return f"{indent}# {edge} GENERATED: {name} (tools/generate_overloads.py)"


TYPE_VARS = "parallel type variables"
STEP = "parallel overloads for Step"
STEP_SYNC = "parallel overloads for StepSync"

# A runnable module with empty blocks: everything the generated text names is defined here.
TEMPLATE = "\n".join(
    [
        "from __future__ import annotations",
        "from collections.abc import Awaitable, Callable",
        "from typing import Any, Literal, TypeVar, overload",
        'ParallelMode = Literal["wait", "race"]',
        '_T = TypeVar("_T")',
        _marker("BEGIN", TYPE_VARS),
        _marker("END", TYPE_VARS),
        "class StepCall(list[_T]): ...",
        "class Step:",
        _marker("BEGIN", STEP, "    "),
        _marker("END", STEP, "    "),
        "    def parallel(self, callables: Any, /, *, mode: Any = 'wait') -> Any:",
        "        return callables",
        "class StepSync:",
        _marker("BEGIN", STEP_SYNC, "    "),
        _marker("END", STEP_SYNC, "    "),
        "    def parallel(self, callables: Any, /, *, mode: Any = 'wait') -> Any:",
        "        return callables",
        "",
    ]
)


def generate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATOR), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def write_template(path: Path, text: str = TEMPLATE) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_generated_module_has_one_overload_per_arity_plus_the_fallback(tmp_path: Path) -> None:
    target = write_template(tmp_path / "steps.py")

    assert generate("--max-arity", "3", target).returncode == 0

    # A unique module name keeps typing's overload registry apart from other tests.
    namespace = runpy.run_path(str(target), run_name=f"generated_{tmp_path.name}")
    assert len(typing.get_overloads(namespace["Step"].parallel)) == 3 + 2
    assert len(typing.get_overloads(namespace["StepSync"].parallel)) == 3 + 2
    assert "_T3" in namespace
    assert "_T4" not in namespace


def test_overloads_spell_each_arity_and_the_fallback(tmp_path: Path) -> None:
    target = write_template(tmp_path / "steps.py")

    generate("--max-arity", "2", target)

    text = target.read_text()
    assert "callables: tuple[()]," in text
    assert "callables: tuple[Callable[[], Awaitable[_T1]]]," in text
    assert ") -> StepCall[tuple[_T1, _T2]]: ..." in text
    assert "callables: tuple[Callable[[], Awaitable[_T]], ...]," in text
    assert ") -> StepCall[tuple[_T, ...]]: ..." in text
    assert "callables: tuple[Callable[[], _T], ...]," in text
    assert ") -> tuple[_T1, _T2]: ..." in text


def test_py_and_pyi_targets_receive_the_same_text(tmp_path: Path) -> None:
    runtime = write_template(tmp_path / "steps.py")
    stub = write_template(tmp_path / "steps.pyi")

    assert generate("--max-arity", "4", runtime, stub).returncode == 0

    assert runtime.read_text() == stub.read_text()


def test_second_run_changes_nothing_and_check_passes(tmp_path: Path) -> None:
    target = write_template(tmp_path / "steps.pyi")
    generate("--max-arity", "5", target)
    first = target.read_text()

    rerun = generate("--max-arity", "5", target)
    check = generate("--check", "--max-arity", "5", target)

    assert target.read_text() == first
    assert rerun.stdout == ""
    assert (check.returncode, check.stdout) == (0, "")


def test_check_prints_a_diff_and_leaves_a_stale_file_alone(tmp_path: Path) -> None:
    target = write_template(tmp_path / "steps.pyi")
    generate("--max-arity", "3", target)
    before = target.read_text()

    check = generate("--check", "--max-arity", "4", target)

    assert check.returncode == 1
    assert f"--- {target} (on disk)" in check.stdout
    assert '+_T4 = TypeVar("_T4")' in check.stdout
    assert target.read_text() == before


def test_check_notices_a_hand_edit_inside_a_block(tmp_path: Path) -> None:
    target = write_template(tmp_path / "steps.py")
    generate("--max-arity", "3", target)
    edited = target.read_text().replace('_T2 = TypeVar("_T2")\n', "")
    target.write_text(edited)

    check = generate("--check", "--max-arity", "3", target)

    assert check.returncode == 1
    assert '+_T2 = TypeVar("_T2")' in check.stdout


def test_default_arity_is_the_scripts_constant(tmp_path: Path) -> None:
    constant = _max_arity()
    target = write_template(tmp_path / "steps.py")

    generate(target)

    text = target.read_text()
    assert f'_T{constant} = TypeVar("_T{constant}")' in text
    assert f"_T{constant + 1} " not in text


def test_checked_in_benchmark_mock_is_fresh() -> None:
    check = generate("--check", MOCK)

    assert (check.returncode, check.stdout) == (0, "")


def test_checked_in_step_stub_is_fresh() -> None:
    check = generate("--check", STEP_STUB)

    assert (check.returncode, check.stdout) == (0, "")


def test_without_files_the_generator_targets_the_stub_and_the_mock() -> None:
    before = {path: path.read_text() for path in (STEP_STUB, MOCK)}

    check = generate("--check", "--max-arity", "2")

    assert check.returncode == 1
    assert f"--- {STEP_STUB} (on disk)" in check.stdout
    assert f"--- {MOCK} (on disk)" in check.stdout
    assert {path: path.read_text() for path in before} == before


def test_the_ladder_lives_only_in_the_stub() -> None:
    # The runtime keeps one plain `parallel`; its overloads are in stubs/steppe-stubs/_core/step.pyi.
    assert typing.get_overloads(Step.parallel) == []
    assert typing.get_overloads(StepSync.parallel) == []
    runtime_source = (REPO / "src" / "steppe" / "_core" / "step.py").read_text()
    assert "GENERATED" not in runtime_source
    assert "@overload" not in runtime_source
    assert STEP_STUB.read_text().count("    def parallel(\n") == 2 * (_max_arity() + 2)


def _max_arity() -> int:
    return next(
        int(node.value.value)
        for node in ast.parse(GENERATOR.read_text()).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == "MAX_ARITY"
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, int)
    )


def test_write_or_check_writes_a_missing_file_and_its_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "deep" / "out.txt"

    assert write_or_check(target, "one\n", check=False)

    assert target.read_text() == "one\n"
    assert capsys.readouterr().out == f"wrote {target}\n"


def test_write_or_check_is_silent_on_a_fresh_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.txt"
    target.write_text("same\n")

    assert write_or_check(target, "same\n", check=True)
    assert write_or_check(target, "same\n", check=False)

    assert capsys.readouterr().out == ""


def test_write_or_check_reports_a_stale_file_with_a_diff_and_keeps_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n")

    assert not write_or_check(target, "new\n", check=True)

    out = capsys.readouterr().out
    assert f"--- {target} (on disk)" in out
    assert f"+++ {target} (generated)" in out
    assert "-old" in out
    assert "+new" in out
    assert target.read_text() == "old\n"


def test_write_or_check_reports_a_missing_file_without_creating_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "absent.txt"

    assert not write_or_check(target, "text\n", check=True)

    assert f"--- {target} (missing)" in capsys.readouterr().out
    assert not target.exists()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("x = 1\n", "no '# BEGIN GENERATED"),
        (_marker("BEGIN", TYPE_VARS) + "\n", "has no END marker"),
        (_marker("END", TYPE_VARS) + "\n", "without a BEGIN marker"),
        (
            _marker("BEGIN", TYPE_VARS) + "\n" + _marker("END", STEP) + "\n",
            "does not match the BEGIN marker",
        ),
        (
            _marker("BEGIN", STEP, "    ") + "\n" + _marker("END", STEP) + "\n",
            "does not match the BEGIN marker",
        ),
        (
            _marker("BEGIN", "parallel overloads for Stepp") + "\n",
            "unknown generated block 'parallel overloads for Stepp'",
        ),
    ],
)
def test_bad_markers_fail_naming_the_file(tmp_path: Path, text: str, complaint: str) -> None:
    target = write_template(tmp_path / "broken.py", text)

    result = generate(target)

    assert result.returncode == 2
    assert str(target) in result.stderr
    assert complaint in result.stderr
    assert target.read_text() == text


def test_arity_zero_leaves_the_empty_tuple_and_the_fallback(tmp_path: Path) -> None:
    target = write_template(tmp_path / "steps.py")

    assert generate("--max-arity", "0", target).returncode == 0

    namespace = runpy.run_path(str(target), run_name=f"generated_{tmp_path.name}")
    assert len(typing.get_overloads(namespace["Step"].parallel)) == 2
    assert "_T1" not in namespace


def test_negative_arity_is_refused(tmp_path: Path) -> None:
    target = write_template(tmp_path / "steps.py")

    result = generate("--max-arity", "-1", target)

    assert result.returncode == 2
    assert "--max-arity must be 0 or more, got -1" in result.stderr
    assert target.read_text() == TEMPLATE


# Lines that can never be mistaken for a marker.
_plain_lines = st.lists(st.text(alphabet="abcxyz =_()#:.\t ", max_size=30), max_size=5)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=_plain_lines, stale_body=_plain_lines, after=_plain_lines, arity=st.integers(1, 20))
def test_only_block_bodies_change(
    tmp_path: Path, before: list[str], stale_body: list[str], after: list[str], arity: int
) -> None:
    target = tmp_path / "steps.py"
    begin, end = _marker("BEGIN", TYPE_VARS), _marker("END", TYPE_VARS)
    target.write_text("\n".join([*before, begin, *stale_body, end, *after]) + "\n")

    generate("--max-arity", str(arity), target)

    lines = target.read_text().splitlines()
    start, stop = lines.index(begin), lines.index(end)
    assert lines[:start] == before
    assert lines[stop + 1 :] == after
    expected = [f'_T{i} = TypeVar("_T{i}")' for i in range(1, arity + 1)]
    assert lines[start + 1 : stop] == ["# fmt: off", *expected, "# fmt: on"]
    assert generate("--check", "--max-arity", str(arity), target).returncode == 0


def test_overloads_come_in_the_order_checkers_should_try_them(tmp_path: Path) -> None:
    # Checkers try overloads in order and re-check every element against each one that fails, so the usual
    # fan-outs (2, 3, ...) come first; the fallback, which every tuple fits, stays last.
    common = write_template(tmp_path / "common.py")
    ascending = write_template(tmp_path / "ascending.py")
    generate("--max-arity", "3", common)
    generate("--max-arity", "3", "--order", "ascending", ascending)

    def arities(path: Path) -> list[str]:
        return [
            line.split("->")[1].strip().removesuffix(": ...")
            for line in path.read_text().splitlines()
            if line.startswith("    ) -> StepCall[")
        ]

    assert arities(common) == [
        "StepCall[tuple[_T1, _T2]]",
        "StepCall[tuple[_T1, _T2, _T3]]",
        "StepCall[tuple[_T1]]",
        "StepCall[tuple[()]]",
        "StepCall[tuple[_T, ...]]",
    ]
    assert arities(ascending) == [
        "StepCall[tuple[()]]",
        "StepCall[tuple[_T1]]",
        "StepCall[tuple[_T1, _T2]]",
        "StepCall[tuple[_T1, _T2, _T3]]",
        "StepCall[tuple[_T, ...]]",
    ]
