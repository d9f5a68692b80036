"""Write the per-arity typing cases for `parallel`: one case per arity 0..N, and N+1, for Step and StepSync.

N is `MAX_ARITY` in tools/generate_overloads.py, the highest arity with its own `parallel` overload, so
the cases follow the overloads whenever N changes. Two files are written:

* typing_tests/check_parallel_arity.py: `assert_type` cases for pyright and mypy (and the matrix).
  Arities 0..N must infer the exact tuple. Arity N+1 lands on the `tuple[..., ...]` fallback: pyright
  unions the element types, mypy joins them (`tuple[object, ...]`, recorded with an ignore).
* typing_tests/mypy_cases/test_parallel_arity_gaps.yml: mypy's exact output for arity N+1.

Usage: python tools/generate_arity_cases.py [--check]
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OVERLOAD_GENERATOR = ROOT / "tools" / "generate_overloads.py"
CHECK_FILE = ROOT / "typing_tests" / "check_parallel_arity.py"
YAML_FILE = ROOT / "typing_tests" / "mypy_cases" / "test_parallel_arity_gaps.yml"


def max_arity() -> int:
    """`MAX_ARITY` read from the overload generator itself, so the two can never disagree."""
    spec = importlib.util.spec_from_file_location("generate_overloads", OVERLOAD_GENERATOR)
    if spec is None or spec.loader is None:
        raise SystemExit(f"generate_arity_cases: cannot load {OVERLOAD_GENERATOR}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in the module look themselves up here
    spec.loader.exec_module(module)
    value = getattr(module, "MAX_ARITY", None)
    if not isinstance(value, int) or value < 1:
        raise SystemExit(f"generate_arity_cases: {OVERLOAD_GENERATOR} has no positive int MAX_ARITY (got {value!r})")
    return value


def _classes(count: int) -> list[str]:
    # Distinct unrelated classes: any loss of precision shows (a union, or mypy's join to `object`).
    lines: list[str] = []
    for i in range(1, count + 1):
        lines += [f"class R{i}:", "    pass", "", ""]
    return lines


def _handlers(count: int) -> list[str]:
    lines: list[str] = []
    for i in range(1, count + 1):
        lines += [f"async def make_r{i}() -> R{i}:", f"    return R{i}()", "", ""]
        lines += [f"def load_r{i}() -> R{i}:", f"    return R{i}()", "", ""]
    return lines


def _elements(arity: int, sync: bool) -> list[str]:
    handler = "load_r" if sync else "make_r"
    return [f'lambda: step.run("r{i}", {handler}{i}),' for i in range(1, arity + 1)]


def _parallel_call(arity: int, sync: bool) -> list[str]:
    call = "step.parallel(" if sync else "await step.parallel("
    if arity == 0:
        return [f"    result = {call}())"]
    return [
        f"    result = {call}",
        "        (",
        *(f"            {e}" for e in _elements(arity, sync)),
        "        )",
        "    )",
    ]


def _exact(arity: int) -> str:
    return f"tuple[{', '.join(f'R{i}' for i in range(1, arity + 1)) or '()'}]"


def _case(arity: int, n: int, sync: bool) -> list[str]:
    kind = "StepSync" if sync else "Step"
    prefix = "def" if sync else "async def"
    lines = [f"{prefix} {kind.lower()}_arity_{arity}(step: {kind}) -> None:", *_parallel_call(arity, sync)]
    if arity <= n:
        lines += [f"    # case: {kind}.parallel arity {arity}", f"    assert_type(result, {_exact(arity)})"]
    else:
        union = " | ".join(f"R{i}" for i in range(1, arity + 1))
        lines += [
            "    # Past the last overload: pyright unions the elements, mypy joins them to `object`.",
            f"    # case: {kind}.parallel arity {arity} (N+1, heterogeneous)",
            f"    assert_type(result, tuple[{union}, ...])  # type: ignore[assert-type]",
        ]
    return [*lines, "", ""]


def _homogeneous_case(arity: int, sync: bool) -> list[str]:
    kind = "StepSync" if sync else "Step"
    prefix = "def" if sync else "async def"
    call = "step.parallel" if sync else "await step.parallel"
    handler = "load_r1" if sync else "make_r1"
    return [
        f"{prefix} {kind.lower()}_arity_{arity}_homogeneous(step: {kind}) -> None:",
        f"    result = {call}(",
        "        (",
        *(f'            lambda: step.run("same-{i}", {handler}),' for i in range(1, arity + 1)),
        "        )",
        "    )",
        f"    # case: {kind}.parallel arity {arity} (N+1, one element type)",
        "    assert_type(result, tuple[R1, ...])",
        "",
        "",
    ]


def _group_case(arity: int, sync: bool) -> list[str]:
    kind = "StepSync" if sync else "Step"
    prefix = "def" if sync else "async def"
    handler = "load_r" if sync else "make_r"
    adds = "".join(f"\n        .add({handler}{i})" for i in range(1, arity + 1))
    opener = "step.group()" if sync else "await (\n        step.group()"
    closer = "\n        .parallel()" if sync else "\n        .parallel()\n    )"
    if sync:
        body = f"    result = (\n        {opener}{adds}{closer}\n    )"
    else:
        body = f"    result = {opener}{adds}{closer}"
    return [
        f"{prefix} {kind.lower()}_group_arity_{arity}(step: {kind}) -> None:",
        *body.splitlines(),
        f"    # case: {kind}.group() with {arity} elements (N+1, no overload needed)",
        f"    assert_type(result, {_exact(arity)})",
        "",
        "",
    ]


def render_check_file(n: int) -> str:
    wide = n + 1
    lines = [
        f'"""`parallel` at every arity 0..{n} (its overloads) and {wide} (the fallback), for Step and StepSync.',
        "",
        f"Generated by tools/generate_arity_cases.py from MAX_ARITY = {n} in tools/generate_overloads.py: do not edit.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import assert_type",
        "",
        "from steppe import Step, StepSync",
        "",
        "",
        *_classes(wide),
        *_handlers(wide),
    ]
    for sync in (False, True):
        for arity in range(wide + 1):
            lines += _case(arity, n, sync)
        lines += _homogeneous_case(wide, sync)
        lines += _group_case(wide, sync)
    return "\n".join(lines).rstrip("\n") + "\n"


def _yaml_main(arity: int, sync: bool) -> list[str]:
    kind = "StepSync" if sync else "Step"
    prefix = "def" if sync else "async def"
    handler_prefix = "def" if sync else "async def"
    handler = "load_r" if sync else "make_r"
    call = "step.parallel" if sync else "await step.parallel"
    lines = [f"from steppe import {kind}", ""]
    for i in range(1, arity + 1):
        lines += [f"class R{i}:", "    pass", f"{handler_prefix} {handler}{i}() -> R{i}:", f"    return R{i}()"]
    lines += ["", f"{prefix} check(step: {kind}) -> None:", f"    result = {call}(("]
    lines += [f'        lambda: step.run("r{i}", {handler}{i}),' for i in range(1, arity + 1)]
    lines += ["    ))", "    reveal_type(result)"]
    return lines


def render_yaml_file(n: int) -> str:
    wide = n + 1
    out = [
        f"# Generated by tools/generate_arity_cases.py from MAX_ARITY = {n}: do not edit.",
        f"# mypy 2.4.1 past the last `parallel` overload (arity {wide}): the element types are joined, not unioned.",
        "# A mypy release that changes this output fails the case: re-record it deliberately.",
    ]
    for sync in (False, True):
        kind = "StepSync" if sync else "Step"
        line = len(_yaml_main(wide, sync))
        out += [
            f"- case: {kind.lower()}_parallel_arity_{wide}_joins_to_object",
            "  main: |",
            *(f"    {text}" if text else "" for text in _yaml_main(wide, sync)),
            "  out: |",
            f'    main:{line}: note: Revealed type is "tuple[object, ...]"',
        ]
    return "\n".join(out) + "\n"


def _compare(path: Path, new: str) -> bool:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old == new:
        return True
    diff = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"{path} (on disk)", f"{path} (generated)"
    )
    sys.stdout.write("".join(diff))
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; print a diff and exit 1 if a file is stale"
    )
    args = parser.parse_args(argv)
    check: bool = args.check
    n = max_arity()
    outputs = {CHECK_FILE: render_check_file(n), YAML_FILE: render_yaml_file(n)}
    if check:
        fresh = [_compare(path, text) for path, text in outputs.items()]
        return 0 if all(fresh) else 1
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)} (MAX_ARITY = {n})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
