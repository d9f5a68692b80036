"""A step call that is not awaited is an error (pyright strict here; check_unawaited_standard.py: its default mode).

Step methods return ``StepCall[T]``, exactly ``Coroutine[None, None, T]``: pyright reports an unused one
(``reportUnusedCoroutine``, on in every mode) and so does mypy (``unused-coroutine``, on by default). A call
kept in a variable and never awaited is not visible to either; the run then fails naming the step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pydantic

import steppe
from steppe import Step, StepSync


class Signup(pydantic.BaseModel):
    user_id: str


SignupEvent = steppe.EventType("user.signup", Signup)
client = steppe.Client(app_id="typing-tests-unawaited")


async def get_user(user_id: int) -> str:
    return str(user_id)


def user_name(user_id: int) -> str:
    return str(user_id)


@client.create_function(fn_id="child", trigger=SignupEvent)
async def child(ctx: steppe.Context[Signup], step: Step) -> int:
    return 1


async def unawaited(step: Step) -> None:
    # case[reject]: step.run not awaited
    step.run("x", get_user, 1)  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: step.run of a sync handler not awaited
    step.run("x-sync", user_name, 1)  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: step.sleep not awaited
    step.sleep("pause", timedelta(seconds=1))  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: step.sleep_until not awaited
    step.sleep_until("until", datetime(2030, 1, 1, tzinfo=UTC))  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: step.wait_for_event not awaited
    step.wait_for_event("wait", event=SignupEvent, timeout=timedelta(hours=1))  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: step.invoke not awaited
    step.invoke("invoke", function=child, data=Signup(user_id="u"))  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: step.send_event not awaited
    step.send_event("send", steppe.Event(name="user.signup"))  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: step.parallel not awaited
    step.parallel((lambda: step.run("a", get_user, 1), step.defer("b", user_name, 2)))  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: step.parallel past the last overload not awaited
    step.parallel(tuple(step.defer(f"get-{i}", get_user, i) for i in range(20)))  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: a group's parallel not awaited
    step.group().add(lambda: step.run("g", get_user, 1)).parallel()  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]
    # case[reject]: a deferred step started and not awaited
    step.defer("d", get_user, 1)()  # type: ignore[unused-coroutine]  # pyright: ignore[reportUnusedCoroutine]


async def awaited(step: Step) -> str:
    # case: an awaited step.run is fine
    await step.run("y", get_user, 1)
    # case: a step call kept in a variable is not reported (awaited later here; the run fails if it never is)
    later = step.run("later", get_user, 2)
    return await later


def blocking(step: StepSync) -> None:
    # case: StepSync.run as a statement returns its result: nothing to await
    step.run("x", user_name, 1)
    # case: StepSync.parallel as a statement returns its results: nothing to await
    step.parallel((lambda: step.run("a", user_name, 1),))
