"""What do pyright, mypy, pyrefly and ty infer for the `parallel` call patterns users write?

Writes one probe module with a `reveal_type` per case, runs the four checkers (strict
settings), and prints a markdown table of revealed types, plus the errors each checker
reports inside each case.

    .venv/bin/python benchmarks/typecheck/inference_probe.py                 # the mock, N from the generator
    .venv/bin/python benchmarks/typecheck/inference_probe.py --arity 8       # the mock at another N
    .venv/bin/python benchmarks/typecheck/inference_probe.py --steppe-module steppe
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from checker_diagnostics import CHECKERS, Diagnostic, write_configs

HERE = Path(__file__).resolve().parent
GENERATOR = HERE.parents[1] / "tools" / "generate_overloads.py"
MOCK_MODULE = "mock_steppe"
PROBE_FILE = "probe_cases.py"

PROLOGUE = """\
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, reveal_type

from {module} import Step, StepSync


class User: ...


async def load_user(user_id: int) -> User:
    return User()


async def count_orders(user_id: int) -> int:
    return user_id


async def update_user(user_id: int) -> bool:
    return True


async def load_untyped(user_id: int) -> Any:
    return user_id


async def fetch_config() -> str:
    return "config"


def score(user_id: int, weight: float) -> float:
    return weight


def tags_of(user_id: int) -> list[str]:
    return []
"""


@dataclass
class ProbeCase:
    label: str
    # Lines inside `async def case_k(step, step_sync, uid, user_ids)`; the reveal_type call
    # stands on a line of its own, where every checker reports it.
    body: list[str]


def _heterogeneous(arity: int) -> ProbeCase:
    elements = [f'lambda: step.run("r{i}", get_r{i}, uid),' for i in range(1, arity + 1)]
    return ProbeCase(
        f"{arity} lambdas around run, distinct result types",
        ["result = await step.parallel((", *(f"    {e}" for e in elements), "))", "reveal_type(result)"],
    )


def _cases(arity: int) -> list[ProbeCase]:
    return [
        ProbeCase(
            "2 lambdas around run: async + plain handler",
            [
                "result = await step.parallel((",
                '    lambda: step.run("a", load_user, uid),',
                '    lambda: step.run("b", score, uid, 0.5),',
                "))",
                "reveal_type(result)",
            ],
        ),
        ProbeCase(
            "StepSync, 2 lambdas around run",
            [
                "result = step_sync.parallel((",
                '    lambda: step_sync.run("a", score, uid, 0.5),',
                '    lambda: step_sync.run("b", tags_of, uid),',
                "))",
                "reveal_type(result)",
            ],
        ),
        ProbeCase(
            "coroutine function + nested parallel",
            [
                "result = await step.parallel((",
                "    fetch_config,",
                "    lambda: step.parallel((",
                '        lambda: step.run("a", load_user, uid),',
                '        lambda: step.run("b", score, uid, 0.5),',
                "    )),",
                "))",
                "reveal_type(result)",
            ],
        ),
        _heterogeneous(arity),
        _heterogeneous(arity + 1),
        ProbeCase(
            "the partial object: functools.partial(step.run, id, handler, arg)",
            ['reveal_type(functools.partial(step.run, "u-1", update_user, uid))'],
        ),
        ProbeCase(
            "calling it: partial(step.run, id, handler, arg)()",
            ['reveal_type(functools.partial(step.run, "u-1", update_user, uid)())'],
        ),
        ProbeCase(
            "reference loop: partial(step.run, id, handler, arg) into a tuple, then parallel",
            [
                "parallel_steps: tuple[Callable[[], Awaitable[bool]], ...] = ()",
                "for user_id in user_ids:",
                "    parallel_steps += (",
                '        functools.partial(step.run, f"get-user-{user_id}", update_user, user_id),',
                "    )",
                "reveal_type(await step.parallel(parallel_steps))",
            ],
        ),
        ProbeCase(
            "reference loop, verbatim handler: partial(step.run, id, partial(handler, arg))",
            [
                "steps: tuple[Callable[[], Awaitable[bool]], ...] = ()",
                "for user_id in user_ids:",
                "    steps += (",
                '        functools.partial(step.run, f"u-{user_id}", functools.partial(update_user, user_id)),',
                "    )",
                "reveal_type(await step.parallel(steps))",
            ],
        ),
        ProbeCase(
            "loop with `lambda i=i:` capture",
            [
                'calls = tuple(lambda i=i: step.run(f"u-{i}", load_user, i) for i in user_ids)',
                "reveal_type(await step.parallel(calls))",
            ],
        ),
        ProbeCase(
            "loop with `lambda i=i:` appended to a declared tuple",
            [
                "acc: tuple[Callable[[], Awaitable[User]], ...] = ()",
                "for i in user_ids:",
                '    acc += (lambda i=i: step.run(f"u-{i}", load_user, i),)',
                "reveal_type(await step.parallel(acc))",
            ],
        ),
        ProbeCase(
            "one element returns Any",
            [
                "result = await step.parallel((",
                '    lambda: step.run("a", load_untyped, uid),',
                '    lambda: step.run("b", count_orders, uid),',
                "))",
                "reveal_type(result)",
            ],
        ),
    ]


@dataclass
class LaidOutCase:
    label: str
    first_line: int
    last_line: int
    reveal_line: int


@dataclass
class ProbeModule:
    text: str
    cases: list[LaidOutCase] = field(default_factory=list[LaidOutCase])


def render_probe(module: str, arity: int) -> ProbeModule:
    lines = PROLOGUE.format(module=module).splitlines()
    for i in range(1, arity + 2):
        lines += ["", "", f"class R{i}: ...", "", "", f"async def get_r{i}(user_id: int) -> R{i}:"]
        lines += [f"    return R{i}()"]
    laid_out: list[LaidOutCase] = []
    for number, case in enumerate(_cases(arity)):
        lines += ["", ""]
        lines.append(
            f"async def case_{number}(step: Step, step_sync: StepSync, uid: int, user_ids: list[int]) -> None:"
        )
        first = len(lines) + 1
        lines += [f"    {line}" for line in case.body]
        reveal = next(first + i for i, line in enumerate(case.body) if line.startswith("reveal_type("))
        laid_out.append(LaidOutCase(case.label, first, len(lines), reveal))
    return ProbeModule("\n".join(lines) + "\n", laid_out)


_CONSECUTIVE = re.compile(r"R(\d+)((?:(?:, | \| )R\d+){3,})")


def abbreviate(type_text: str) -> str:
    """`R1, R2, R3, R4, R5` -> `R1, …, R5`, so wide tuples fit in a table cell."""

    def shorten(match: re.Match[str]) -> str:
        numbers = [int(match[1]), *map(int, re.findall(r"R(\d+)", match[2]))]
        if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
            return match[0]
        separator = match[2][: match[2].index("R")]
        return f"R{numbers[0]}{separator}…{separator}R{numbers[-1]}"

    # mypy qualifies classes (`steppe._core.calls.StepCall`); keep the class name only.
    without_modules = re.sub(r"\b(?:[a-z_]\w*\.)+(?=[A-Z])|\bbuiltins\.", "", type_text)
    return _CONSECUTIVE.sub(shorten, without_modules)


def summarize(case: LaidOutCase, diagnostics: Sequence[Diagnostic]) -> str:
    revealed = [d.text for d in diagnostics if d.kind == "revealed" and d.line == case.reveal_line]
    errors = [d.text for d in diagnostics if d.kind == "error" and case.first_line <= d.line <= case.last_line]
    cell = f"`{abbreviate(revealed[0])}`" if revealed else "(no reveal)"
    if errors:
        cell += f"; {len(errors)} error(s), first: {errors[0][:140]}"
    return cell.replace("|", "\\|")


def generator_arity() -> int:
    """MAX_ARITY of tools/generate_overloads.py: the N of the regenerated mock and of steppe's step stub.

    Read from the source: steppe's overloads live only in its .pyi, so the runtime has none to count.
    """
    for node in ast.parse(GENERATOR.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and [ast.unparse(target) for target in node.targets] == ["MAX_ARITY"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, int)
        ):
            return node.value.value
    raise SystemExit(f"{GENERATOR} has no `MAX_ARITY = <int>`")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show what four type checkers infer.")
    parser.add_argument("--steppe-module", default=MOCK_MODULE)
    parser.add_argument("--arity", type=int, help="N of the module; for the mock, regenerate at N")
    args = parser.parse_args(argv)
    module: str = args.steppe_module
    requested_arity: int | None = args.arity

    venv_bin = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="steppe-probe-") as scratch:
        probe_dir = Path(scratch)
        if module == MOCK_MODULE:
            shutil.copyfile(HERE / f"{MOCK_MODULE}.py", probe_dir / f"{MOCK_MODULE}.py")
            arity_flag = [] if requested_arity is None else ["--max-arity", str(requested_arity)]
            subprocess.run(
                [sys.executable, str(GENERATOR), *arity_flag, str(probe_dir / f"{MOCK_MODULE}.py")],
                check=True,
                capture_output=True,
            )
        arity = requested_arity or generator_arity()
        probe = render_probe(module, arity)
        (probe_dir / PROBE_FILE).write_text(probe.text)
        write_configs(probe_dir, PROBE_FILE, venv_bin)
        results = {name: run(probe_dir, PROBE_FILE, venv_bin) for name, run in CHECKERS.items()}

    print(f"module {module}, N = {arity}\n")
    print("| case | " + " | ".join(CHECKERS) + " |")
    print("|---|" + "---|" * len(CHECKERS))
    for case in probe.cases:
        cells = [summarize(case, results[name]) for name in CHECKERS]
        print(f"| {case.label} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
