"""Write the per-arity `parallel` overloads of `Step` and `StepSync` into marked blocks.

Each target file (`.py` or `.pyi`) holds one or more blocks delimited by marker comments:

    # BEGIN GENERATED: parallel type variables (tools/generate_overloads.py)
    # END GENERATED: parallel type variables (tools/generate_overloads.py)

and likewise `parallel overloads for Step` / `parallel overloads for StepSync` inside the class
bodies. The text between the markers is replaced; the indentation of the BEGIN marker is the
indentation of the block. The generated text names, but does not define: `overload`, `TypeVar`,
`Callable`, `Awaitable`, `StepCall`, `ParallelMode` and the fallback type variable `_T`. The
target module imports or defines those itself.

The blocks live in the stub stubs/steppe-stubs/_core/step.pyi (the runtime module has one plain
`parallel`) and in benchmarks/typecheck/mock_steppe.py; those two are the default FILEs.

Usage: python tools/generate_overloads.py [--check] [--max-arity N] [FILE...]
(--max-arity overrides MAX_ARITY below; it exists for benchmarks/typecheck.)
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from _generated import write_or_check

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGETS = (
    ROOT / "stubs" / "steppe-stubs" / "_core" / "step.pyi",
    ROOT / "benchmarks" / "typecheck" / "mock_steppe.py",
)

# N: the highest tuple arity with its own overload; wider tuples use the `tuple[..., ...]` fallback.
# Chosen from measured type-check cost and inference quality: see docs/overload-cost.md.
MAX_ARITY = 12
# The order of the per-arity overloads (see overload_order): checkers try overloads in order, and each failed
# one re-checks every element, so the common fan-outs come first. `ascending` exists for benchmarks/typecheck.
ORDERS = ("ascending", "common-first")
ORDER = "common-first"

MARKER_SOURCE = "(tools/generate_overloads.py)"
TYPE_VARIABLES_BLOCK = "parallel type variables"
STEP_BLOCK = "parallel overloads for Step"
STEP_SYNC_BLOCK = "parallel overloads for StepSync"
KNOWN_BLOCKS = (TYPE_VARIABLES_BLOCK, STEP_BLOCK, STEP_SYNC_BLOCK)

_MARKER_LINE = re.compile(
    r"^(?P<indent>[ \t]*)# (?P<edge>BEGIN|END) GENERATED: (?P<name>.+?) " + re.escape(MARKER_SOURCE) + r"\s*$"
)


class GeneratedBlockError(ValueError):
    """A target file's marker comments are missing, unknown, unbalanced or misindented."""


@dataclass(frozen=True)
class ParallelFlavour:
    """How one class spells a tuple element and the call's result for a type variable."""

    element: Callable[[str], str]
    result: Callable[[str], str]


ASYNC_FLAVOUR = ParallelFlavour(
    element=lambda t: f"Callable[[], Awaitable[{t}]]",
    result=lambda t: f"StepCall[{t}]",
)
SYNC_FLAVOUR = ParallelFlavour(
    element=lambda t: f"Callable[[], {t}]",
    result=lambda t: t,
)


def render_type_variables(max_arity: int) -> list[str]:
    return [f'_T{i} = TypeVar("_T{i}")' for i in range(1, max_arity + 1)]


def _callables_annotation(elements: Sequence[str]) -> list[str]:
    """The `callables: tuple[...]` parameter, one element per line from two elements on."""
    if not elements:
        return ["    callables: tuple[()],"]
    if len(elements) == 1:
        return [f"    callables: tuple[{elements[0]}],"]
    return ["    callables: tuple[", *(f"        {e}," for e in elements), "    ],"]


def _overload(callables: list[str], result: str) -> list[str]:
    return [
        "@overload",
        "def parallel(",
        "    self,",
        *callables,
        "    /,",
        "    *,",
        '    mode: ParallelMode = "wait",',
        f") -> {result}: ...",
    ]


def overload_order(max_arity: int, order: str) -> list[int]:
    """The arities in the order their overloads are written (checkers try overloads in order)."""
    if order == "ascending":
        return list(range(max_arity + 1))
    return [*range(2, max_arity + 1), *range(min(max_arity, 1), -1, -1)]


def render_parallel_overloads(flavour: ParallelFlavour, max_arity: int, order: str = ORDER) -> list[str]:
    lines: list[str] = []
    for arity in overload_order(max_arity, order):
        type_vars = [f"_T{i}" for i in range(1, arity + 1)]
        tuple_type = f"tuple[{', '.join(type_vars) or '()'}]"
        elements = [flavour.element(t) for t in type_vars]
        lines += _overload(_callables_annotation(elements), flavour.result(tuple_type))
    # Dynamic fan-out (loops, tuples wider than max_arity) lands here.
    fallback = [f"    callables: tuple[{flavour.element('_T')}, ...],"]
    lines += _overload(fallback, flavour.result("tuple[_T, ...]"))
    return lines


def render_block(name: str, max_arity: int, order: str = ORDER) -> list[str]:
    """Unindented body of the named block, wrapped so code formatters leave it alone."""
    if name == TYPE_VARIABLES_BLOCK:
        body = render_type_variables(max_arity)
    elif name == STEP_BLOCK:
        body = render_parallel_overloads(ASYNC_FLAVOUR, max_arity, order)
    elif name == STEP_SYNC_BLOCK:
        body = render_parallel_overloads(SYNC_FLAVOUR, max_arity, order)
    else:
        raise GeneratedBlockError(_unknown_block_message(name))
    return ["# fmt: off", *body, "# fmt: on"]


def _unknown_block_message(name: str) -> str:
    known = ", ".join(repr(n) for n in KNOWN_BLOCKS)
    return f"unknown generated block {name!r}; known blocks: {known}"


def _indent(lines: list[str], indent: str) -> list[str]:
    return [f"{indent}{line}" if line else line for line in lines]


def regenerate(text: str, max_arity: int, source_name: str = "<text>", order: str = ORDER) -> str:
    """Return `text` with the body of every marked block replaced by freshly rendered code."""
    out: list[str] = []
    lines = text.splitlines()
    open_block: tuple[str, str, int] | None = None  # (name, indent, line number of BEGIN)
    blocks_seen = 0
    for number, line in enumerate(lines, start=1):
        marker = _MARKER_LINE.match(line)
        where = f"{source_name}:{number}"
        if marker is None:
            if open_block is None:
                out.append(line)
            continue
        indent, edge, name = marker["indent"], marker["edge"], marker["name"]
        if edge == "BEGIN":
            if name not in KNOWN_BLOCKS:
                raise GeneratedBlockError(f"{where}: {_unknown_block_message(name)}")
            if open_block is not None:
                raise GeneratedBlockError(
                    f"{where}: BEGIN marker for {name!r} inside the still-open block "
                    f"{open_block[0]!r} begun on line {open_block[2]}"
                )
            out.append(line)
            out += _indent(render_block(name, max_arity, order), indent)
            open_block = (name, indent, number)
            continue
        if open_block is None:
            raise GeneratedBlockError(f"{where}: END marker for {name!r} without a BEGIN marker")
        if (name, indent) != open_block[:2]:
            raise GeneratedBlockError(
                f"{where}: END marker {name!r} does not match the BEGIN marker "
                f"{open_block[0]!r} on line {open_block[2]} (names and indentation must agree)"
            )
        out.append(line)
        open_block = None
        blocks_seen += 1
    if open_block is not None:
        raise GeneratedBlockError(f"{source_name}:{open_block[2]}: block {open_block[0]!r} has no END marker")
    if blocks_seen == 0:
        raise GeneratedBlockError(f"{source_name}: no '# BEGIN GENERATED: ... {MARKER_SOURCE}' markers found")
    return "\n".join(out) + "\n"


def _arity(value: str) -> int:
    arity = int(value)
    # 0 leaves only the empty-tuple overload and the fallback: a reference point for benchmarks.
    if arity < 0:
        raise argparse.ArgumentTypeError(f"--max-arity must be 0 or more, got {arity}")
    return arity


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the marked `parallel` overload blocks in FILE...")
    parser.add_argument(
        "files", nargs="*", type=Path, metavar="FILE", help="default: the step stub and the benchmark mock"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; print a unified diff and exit 1 if any block is stale",
    )
    parser.add_argument(
        "--max-arity",
        type=_arity,
        default=MAX_ARITY,
        help=f"highest arity with its own overload (default {MAX_ARITY}; other values are for benchmarks/typecheck)",
    )
    parser.add_argument(
        "--order",
        choices=ORDERS,
        default=ORDER,
        help=f"order of the per-arity overloads (default {ORDER}; the other is for benchmarks/typecheck)",
    )
    args = parser.parse_args(argv)
    files: list[Path] = args.files or list(DEFAULT_TARGETS)
    max_arity: int = args.max_arity
    order: str = args.order
    check: bool = args.check

    fresh = True
    for path in files:
        try:
            new = regenerate(path.read_text(encoding="utf-8"), max_arity, str(path), order)
        except (OSError, GeneratedBlockError) as error:
            print(f"generate_overloads: {error}", file=sys.stderr)
            return 2
        fresh = write_or_check(path, new, check) and fresh
    return 0 if fresh else 1


if __name__ == "__main__":
    sys.exit(main())
