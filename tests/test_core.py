"""The function-side core, driven by a scripted driver (no engine)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import steppe
from steppe._core.execute import Completed, Failed, Suspended, execute
from steppe._core.ids import StepId, StepIdAllocator, hash_step_id
from steppe._core.outcomes import ErrorInfo, Interrupt, Memo, MemoData, MemoError
from steppe._core.requests import StepRequest
from steppe._core.runtime import StepRuntime


class ScriptedDriver:
    """Memos given up front; every new step is recorded and suspends the run (as the HTTP protocol does)."""

    def __init__(self, memos: dict[str, Memo] | None = None) -> None:
        self.memos = memos or {}
        self.new: list[StepRequest] = []
        self.visited: set[str] = set()

    def memo(self, step_id: StepId) -> Memo | None:
        memo = self.memos.get(step_id.hashed)
        if memo is not None:
            self.visited.add(step_id.hashed)
        return memo

    def replaying(self) -> bool:
        return len(self.visited) < len(self.memos)

    async def new_step(self, request: StepRequest) -> object:
        self.new.append(request)
        raise Interrupt


def context(client: steppe.Client) -> steppe.Context:
    return steppe.Context(
        event=steppe.Event(name="go"),
        events=(steppe.Event(name="go"),),
        run_id="r",
        attempt=0,
        fn_id="f",
        logger=client.logger,
    )


def test_hashed_ids_match_the_protocol() -> None:
    assert hash_step_id("my-step-id") == "e7d8a2f140845095749d60246ff1110c9d01d76a"
    ids = StepIdAllocator()
    first, second, third = ids.allocate("x"), ids.allocate("x"), ids.allocate("x")
    assert (first.index, second.index, third.index) == (None, 1, 2)
    assert second.hashed == hashlib.sha1(b"x:1").hexdigest()
    assert third.deduplicated == "x:2"


@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=30))
def test_deduplication_counts_each_id_separately(user_ids: list[str]) -> None:
    ids = StepIdAllocator()
    allocated = [ids.allocate(u) for u in user_ids]
    assert len({a.hashed for a in allocated}) == len(allocated)
    for position, step in enumerate(allocated):
        assert step.index == (user_ids[:position].count(step.user_id) or None)


async def test_interrupts_pass_through_a_users_except_exception() -> None:
    client = steppe.Client("core")
    swallowed: list[BaseException] = []

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        try:
            return await step.run("a", lambda: "a")
        except Exception as error:  # noqa: BLE001 - a user's broad handler must not see the engine's control flow
            swallowed.append(error)
            return "swallowed"

    driver = ScriptedDriver()
    outcome = await execute(f, context(client), driver)
    assert isinstance(outcome, Suspended)
    assert swallowed == []
    assert [r.id.user_id for r in driver.new] == ["a"]


async def test_parallel_reports_every_new_step_of_every_branch() -> None:
    client = steppe.Client("core")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> tuple[int, int, int]:
        return await step.parallel(
            (lambda: step.run("a", lambda: 1), lambda: step.run("b", lambda: 2), lambda: step.run("c", lambda: 3))
        )

    driver = ScriptedDriver({hash_step_id("b"): MemoData(2)})
    assert isinstance(await execute(f, context(client), driver), Suspended)
    assert [(r.id.user_id, r.parallel) for r in driver.new] == [("a", "wait"), ("c", "wait")]

    done = ScriptedDriver({hash_step_id(k): MemoData(v) for k, v in {"a": 1, "b": 2, "c": 3}.items()})
    outcome = await execute(f, context(client), done)
    assert isinstance(outcome, Completed) and outcome.value == (1, 2, 3)


async def test_memoized_failure_raises_step_error_in_the_function() -> None:
    client = steppe.Client("core")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        try:
            await step.run("a", lambda: "a")
        except steppe.StepError as error:
            return f"{error.step_id}: {error.name}: {error.message}"
        return "no error"

    driver = ScriptedDriver({hash_step_id("a"): MemoError(ErrorInfo("KeyError", "'missing'"))})
    outcome = await execute(f, context(client), driver)
    assert isinstance(outcome, Completed) and outcome.value == "a: KeyError: 'missing'"


async def test_sync_parallel_branches_take_ids_in_callable_order() -> None:
    """Sync branches run in threads; the same id in two branches still gets the same suffix on every replay."""
    client = steppe.Client("core")

    def branch(n: int, step: steppe.StepSync) -> int:
        time.sleep((6 - n) * 0.005)  # later branches reach their step first
        return step.run("same", lambda: n)

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    def f(ctx: steppe.Context, step: steppe.StepSync) -> tuple[Any, ...]:
        return step.parallel(tuple(functools.partial(branch, n, step) for n in range(6)))

    memos = {hash_step_id("same" if n == 0 else f"same:{n}"): MemoData(n) for n in range(6)}
    for _ in range(3):
        outcome = await execute(f, context(client), ScriptedDriver(dict(memos)))
        assert isinstance(outcome, Completed) and outcome.value == (0, 1, 2, 3, 4, 5)


async def test_parallel_rejects_a_list_and_non_callables() -> None:
    client = steppe.Client("core")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> object:
        return await step.parallel([lambda: step.run("a", lambda: 1)])  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType, reportUnknownVariableType]

    outcome = await execute(f, context(client), ScriptedDriver())
    assert isinstance(outcome, Failed) and not outcome.retriable  # a misuse: failed at once, never retried
    assert (
        outcome.error.name == "StepUsageError"
        and "takes a tuple" in outcome.error.message
        and "wrap it in tuple(...)" in outcome.error.message
    )

    @client.create_function(fn_id="g", trigger=steppe.TriggerEvent(event="go"))
    async def g(ctx: steppe.Context, step: steppe.Step) -> object:
        return await step.parallel((lambda: step.run("a", lambda: 1), 42))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType, reportCallIssue, reportUnknownVariableType]

    outcome = await execute(g, context(client), ScriptedDriver())
    assert isinstance(outcome, Failed) and "element 1 is not callable (got int)" in outcome.error.message


async def test_step_methods_validate_their_arguments() -> None:
    step = steppe.Step(StepRuntime(driver=ScriptedDriver(), function_id="app-f", loop=asyncio.get_running_loop()))
    with pytest.raises(TypeError, match="a step id must be a non-empty string"):
        _ = step.run("", lambda: 1)
    with pytest.raises(ValueError, match="'nap': duration must not be negative"):
        _ = step.sleep("nap", -timedelta(seconds=1))
    with pytest.raises(ValueError, match="must be a timezone-aware datetime"):
        _ = step.sleep_until("nap", datetime(2030, 1, 1))
