"""`StepSync`: the same step API for plain `def` functions, each method returning its result directly."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, assert_type

import pydantic

import steppe
from steppe import StepSync


class Signup(pydantic.BaseModel):
    user_id: str


SignupEvent = steppe.EventType("user.signup", Signup)
client = steppe.Client(app_id="typing-tests-sync")


def user_name(user_id: int) -> str:
    return str(user_id)


def is_active(user_id: int) -> bool:
    return user_id > 0


def count_users() -> int:
    return 0


@client.create_function(fn_id="sync-child", trigger=SignupEvent)
def sync_child(ctx: steppe.Context[Signup], step: StepSync) -> float:
    return 1.0


def parallel(step: StepSync) -> None:
    # case: StepSync.parallel of lambdas
    assert_type(
        step.parallel((lambda: step.run("name", user_name, 1), lambda: step.run("active", is_active, 1))),
        tuple[str, bool],
    )
    # case: StepSync.parallel of a plain function and a functools.partial
    assert_type(step.parallel((count_users, functools.partial(user_name, 2))), tuple[int, str])
    # case: StepSync.parallel of step.defer elements
    assert_type(step.parallel((step.defer("a", user_name, 1), step.defer("b", count_users))), tuple[str, int])
    # case: StepSync.parallel of the empty tuple
    assert_type(step.parallel(()), tuple[()])
    # case: StepSync.parallel nested
    assert_type(
        step.parallel((lambda: step.parallel((count_users, count_users)), count_users)), tuple[tuple[int, int], int]
    )
    # case: StepSync.parallel mode="race"
    assert_type(step.parallel((count_users,), mode="race"), tuple[int])


def loops(step: StepSync, user_ids: list[int]) -> None:
    # case: StepSync.parallel of a loop of step.defer
    assert_type(step.parallel(tuple(step.defer(f"name-{uid}", user_name, uid) for uid in user_ids)), tuple[str, ...])


def methods(step: StepSync) -> None:
    # case: StepSync.defer type
    assert_type(step.defer("name", user_name, 1), Callable[[], str])
    # case: StepSync.run with a sync handler
    assert_type(step.run("name", user_name, 1), str)
    # case: StepSync.sleep
    assert_type(step.sleep("pause", timedelta(seconds=1)), None)
    # case: StepSync.sleep_until
    assert_type(step.sleep_until("pause-until", datetime(2030, 1, 1, tzinfo=UTC)), None)
    # case: StepSync.wait_for_event with an event name
    assert_type(
        step.wait_for_event("wait", event="user.confirmed", timeout=timedelta(hours=1)),
        steppe.Event[dict[str, Any]] | None,
    )
    # case: StepSync.wait_for_event with an EventType
    assert_type(
        step.wait_for_event("wait-typed", event=SignupEvent, timeout=timedelta(hours=1)), steppe.Event[Signup] | None
    )
    # case: StepSync.invoke returns the invoked function's output type
    assert_type(step.invoke("invoke", function=sync_child, data=Signup(user_id="u")), float)
    # case: StepSync.send_event returns the event ids
    assert_type(step.send_event("send", steppe.Event(name="user.signup")), list[str])
