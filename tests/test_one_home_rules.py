"""Rules with one home in the core, shared by the embedded engine and the HTTP protocol, and the engine's layering."""

from __future__ import annotations

import ast
import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

import steppe
from steppe._core.events import event_list
from steppe._core.execute import Completed, Failed, run_attempt
from steppe._core.failures import classify_failure
from steppe._core.ids import StepId, hash_step_id
from steppe._core.outcomes import ErrorInfo, Memo, MemoData, MemoError
from steppe._core.requests import StepRequest
from steppe._core.serde import OutputValueError, UnsupportedTypeError

SRC = Path(steppe.__file__).resolve().parent
NOW = datetime(2024, 1, 1, tzinfo=UTC)


# -- failure classification ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        steppe.NonRetriableError("no"),
        steppe.NestedStepError("nested"),
        OutputValueError("does not fit"),
        UnsupportedTypeError("cannot store"),
    ],
)
def test_errors_that_another_attempt_cannot_fix_are_not_retriable(error: Exception) -> None:
    failed = classify_failure(error)
    assert (failed.retriable, failed.retry_after, failed.step_error) == (False, None, None)
    assert (failed.error.name, failed.error.message) == (type(error).__name__, str(error))


def test_a_step_error_is_not_retriable_and_carries_the_steps_original_error() -> None:
    failed = classify_failure(steppe.StepError("charge", "CardDeclined", "no funds", "trace"))
    assert not failed.retriable
    assert failed.error.name == "StepError"
    assert failed.step_error == ErrorInfo("CardDeclined", "no funds", "trace")


def test_retry_after_keeps_its_time_and_any_other_error_is_retried() -> None:
    later = classify_failure(steppe.RetryAfterError("slow down", timedelta(minutes=3)))
    assert (later.retriable, later.retry_after) == (True, timedelta(minutes=3))
    other = classify_failure(ConnectionError("reset"))
    assert (other.retriable, other.retry_after, other.error.name) == (True, None, "ConnectionError")


# -- one attempt, set up the same way for every host -----------------------------------------------


class StoredDriver:
    """Hands out stored results; a new step is a test failure."""

    def __init__(self, memos: dict[str, Memo]) -> None:
        self.memos = memos
        self.reached: set[str] = set()

    def memo(self, step_id: StepId) -> Memo | None:
        memo = self.memos.get(step_id.hashed)
        if memo is not None:
            self.reached.add(step_id.hashed)
        return memo

    def replaying(self) -> bool:
        return self.reached != set(self.memos)

    async def new_step(self, request: StepRequest) -> object:
        raise AssertionError(f"unexpected new step {request.id.user_id!r}")


class Signup(BaseModel):
    email: str


async def test_run_attempt_builds_the_context_from_the_raw_events() -> None:
    client = steppe.Client("attempt")
    seen: list[tuple[str, int, str, list[str]]] = []

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> str:
        seen.append((ctx.run_id, ctx.attempt, ctx.fn_id, [event.data["n"] for event in ctx.events]))
        return str(ctx.event.data["n"])

    raw = [{"name": "go", "data": {"n": "a"}}, {"name": "go", "data": {"n": "b"}}]
    outcome = await run_attempt(f, raw, run_id="r1", attempt=3, driver=StoredDriver({}))
    assert isinstance(outcome, Completed) and outcome.output == "a"
    assert seen == [("r1", 3, "attempt-f", ["a", "b"])]


async def test_run_attempt_fails_an_event_that_does_not_fit_the_trigger_for_good() -> None:
    client = steppe.Client("attempt-typed")
    signup = steppe.EventType("app/signup", Signup)
    ran: list[str] = []

    @client.create_function(fn_id="f", trigger=signup)
    async def f(ctx: steppe.Context[Signup], step: steppe.Step) -> None:
        ran.append(ctx.event.data.email)

    outcome = await run_attempt(
        f, [{"name": "app/signup", "data": {"email": 1}}], run_id="r", attempt=0, driver=StoredDriver({})
    )
    assert isinstance(outcome, Failed)
    assert (outcome.retriable, outcome.error.name) == (False, "ValidationError")
    assert ran == []


async def test_run_attempts_logger_tags_the_run_and_is_quiet_while_replaying(caplog: pytest.LogCaptureFixture) -> None:
    client = steppe.Client("attempt-log", logger=logging.getLogger("test.attempt-log"))

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> int:
        ctx.logger.info("before the stored step")
        value = await step.run("one", lambda: 1)
        ctx.logger.info("after the stored step")
        return value

    driver = StoredDriver({hash_step_id("one"): MemoData(1)})
    with caplog.at_level(logging.INFO, logger="test.attempt-log"):
        outcome = await run_attempt(f, [{"name": "go"}], run_id="r7", attempt=0, driver=driver)
    assert isinstance(outcome, Completed) and outcome.output == 1
    assert [(r.getMessage(), getattr(r, "run_id", None)) for r in caplog.records] == [("after the stored step", "r7")]


async def test_a_step_error_that_ends_the_function_is_carried_on_the_outcome() -> None:
    client = steppe.Client("attempt-step-error")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("charge", lambda: 1)

    failure = ErrorInfo("CardDeclined", "no funds", "stored trace")
    outcome = await run_attempt(
        f, [{"name": "go"}], run_id="r", attempt=0, driver=StoredDriver({hash_step_id("charge"): MemoError(failure)})
    )
    assert isinstance(outcome, Failed)
    assert (outcome.error.name, outcome.retriable, outcome.step_error) == ("StepError", False, failure)


# -- the Event check -------------------------------------------------------------------------------


def test_event_list_takes_one_event_or_several() -> None:
    one, two = steppe.Event(name="a"), steppe.Event(name="b")
    assert event_list(one, what="x") == [one]
    assert event_list((one, two), what="x") == [one, two]


def test_event_list_names_the_caller_and_the_index_of_what_is_not_an_event() -> None:
    with pytest.raises(TypeError, match=r"^Engine.send: events\[1\] is a dict, not a steppe.Event$"):
        event_list([steppe.Event(name="a"), {"name": "b"}], what="Engine.send")  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]


async def test_engine_send_refuses_what_is_not_an_event(make_engine: Any) -> None:
    client = steppe.Client("send-check")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    engine = await make_engine(client)
    with pytest.raises(TypeError, match=r"Engine.send: events\[0\] is a str, not a steppe.Event"):
        await engine.send(["go"])


# -- retry policy ----------------------------------------------------------------------------------


@given(
    failures=st.integers(min_value=1, max_value=80),
    base=st.integers(min_value=1, max_value=10_000),
    cap=st.integers(min_value=1, max_value=10_000_000),
)
def test_backoff_waits_between_half_the_ceiling_and_the_ceiling(failures: int, base: int, cap: int) -> None:
    policy = steppe.RetryPolicy(base=timedelta(milliseconds=base), cap=timedelta(milliseconds=cap))
    ceiling = min(timedelta(milliseconds=base) * 2 ** min(failures - 1, 40), timedelta(milliseconds=cap))
    delay = policy.delay(failures, now=NOW)
    assert ceiling / 2 <= delay <= ceiling


def test_backoff_draws_the_other_half_at_random() -> None:
    policy = steppe.RetryPolicy(base=timedelta(seconds=8))
    state = random.getstate()
    try:
        random.seed(1234)
        delays = [policy.delay(1, now=NOW) for _ in range(200)]
    finally:
        random.setstate(state)
    assert min(delays) < timedelta(seconds=4.5) and max(delays) > timedelta(seconds=7.5)


def test_a_retry_after_time_replaces_the_backoff() -> None:
    policy = steppe.RetryPolicy()
    assert policy.delay(3, now=NOW, retry_after=timedelta(minutes=2)) == timedelta(minutes=2)
    assert policy.delay(3, now=NOW, retry_after=NOW + timedelta(hours=1)) == timedelta(hours=1)
    assert policy.delay(3, now=NOW, retry_after=NOW - timedelta(hours=1)) == timedelta(0)


# -- the engine's layering and surface -------------------------------------------------------------


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_the_embedded_driver_depends_on_the_run_host_not_on_the_engine() -> None:
    imported = imported_modules(SRC / "_engine" / "embedded_driver.py")
    assert "steppe._engine.host" in imported
    assert "steppe._engine.engine" not in imported
    assert "steppe._engine.engine" not in imported_modules(SRC / "_engine" / "host.py")


def test_the_engines_public_members_are_what_users_call() -> None:
    public = {name for name in vars(steppe.Engine) if not name.startswith("_")}
    assert public == {"send", "wait", "result", "apply_commands"}
    engine = steppe.Engine(steppe.Client("surface"))
    assert {name for name in vars(engine) if not name.startswith("_")} == set()
