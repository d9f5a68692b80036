"""`step.run` with zero to three arguments, sync and async handlers, and `output_type=`."""

from __future__ import annotations

from typing import Any, assert_type

from steppe import Step, StepSync


async def async_zero() -> int:
    return 0


async def async_one(a: int) -> str:
    return str(a)


async def async_two(a: int, b: str) -> bytes:
    return b"" * a + b.encode()


async def async_three(a: int, b: str, c: float) -> list[float]:
    return [a, c]


def sync_zero() -> int:
    return 0


def sync_one(a: int) -> str:
    return str(a)


def sync_two(a: int, b: str) -> bytes:
    return b.encode() * a


def sync_three(a: int, b: str, c: float) -> dict[str, float]:
    return {b: a * c}


def returns_none(a: int) -> None:
    return None


def untyped_result() -> Any:
    return {}


async def async_handlers(step: Step) -> None:
    # case: run async handler, 0 args
    assert_type(await step.run("a0", async_zero), int)
    # case: run async handler, 1 arg
    assert_type(await step.run("a1", async_one, 1), str)
    # case: run async handler, 2 args
    assert_type(await step.run("a2", async_two, 1, "b"), bytes)
    # case: run async handler, 3 args
    assert_type(await step.run("a3", async_three, 1, "b", 2.0), list[float])


async def sync_handlers(step: Step) -> None:
    # case: run sync handler, 0 args
    assert_type(await step.run("s0", sync_zero), int)
    # case: run sync handler, 1 arg
    assert_type(await step.run("s1", sync_one, 1), str)
    # case: run sync handler, 2 args
    assert_type(await step.run("s2", sync_two, 1, "b"), bytes)
    # case: run sync handler, 3 args
    assert_type(await step.run("s3", sync_three, 1, "b", 2.0), dict[str, float])
    # case: run handler returning None
    assert_type(await step.run("none", returns_none, 1), None)
    # case: run a lambda handler
    assert_type(await step.run("lambda", lambda: [1, 2]), list[int])


async def output_types(step: Step) -> None:
    # case: run with output_type= naming the handler's type
    assert_type(await step.run("typed", sync_one, 1, output_type=str), str)
    # case: run an Any handler with output_type=
    assert_type(await step.run("declared", untyped_result, output_type=dict), dict[Any, Any])  # pyright: ignore[reportAssertTypeFailure]
    # case: run a lambda with output_type=
    assert_type(await step.run("lambda-typed", lambda: {"a": 1}, output_type=dict[str, int]), dict[str, int])


def sync_step(step: StepSync) -> None:
    # case: StepSync.run, 0 args
    assert_type(step.run("s0", sync_zero), int)
    # case: StepSync.run, 1 arg
    assert_type(step.run("s1", sync_one, 1), str)
    # case: StepSync.run, 2 args
    assert_type(step.run("s2", sync_two, 1, "b"), bytes)
    # case: StepSync.run, 3 args
    assert_type(step.run("s3", sync_three, 1, "b", 2.0), dict[str, float])
    # case: StepSync.run with output_type=
    assert_type(step.run("typed", sync_one, 1, output_type=str), str)
