"""The reference page's two `step.parallel` examples, verbatim (with `inngest.` spelled `steppe.`).

The first infers exactly everywhere. The second, built in a loop from `functools.partial(step.run, ...)`,
is where checkers part ways; each line records what each checker says today.
"""

from __future__ import annotations

import functools
import typing
from typing import assert_type

import steppe

client = steppe.Client(app_id="typing-tests")
inngest_client = client


async def update_user(user_id: int) -> dict[str, str]:
    return {"id": str(user_id)}


async def send_email(user_id: int) -> bool:
    return user_id > 0


@inngest_client.create_function(
    fn_id="my-function",
    trigger=steppe.TriggerEvent(event="my-event"),
)
async def fn(
    ctx: steppe.Context,
    step: steppe.Step,
) -> None:
    user_id = ctx.event.data["user_id"]

    (updated_user, sent_email) = await step.parallel(
        (
            lambda: step.run("update-user", update_user, user_id),
            lambda: step.run("send-email", send_email, user_id),
        )
    )
    # case: reference-1 updated_user
    assert_type(updated_user, dict[str, str])
    # case: reference-1 sent_email
    assert_type(sent_email, bool)


async def update_user_flag(user_id: int) -> bool:
    return user_id > 0


@client.create_function(
    fn_id="my-function-loop",
    trigger=steppe.TriggerEvent(event="my-event"),
)
async def fn_loop(
    ctx: steppe.Context,
    step: steppe.Step,
) -> None:
    # case: reference-2 tuple[...]() builds the empty tuple
    parallel_steps = tuple[typing.Callable[[], typing.Awaitable[bool]]]()
    for user_id in ctx.event.data["user_ids"]:
        parallel_steps += tuple(
            [
                functools.partial(
                    step.run,
                    f"get-user-{user_id}",
                    functools.partial(update_user_flag, user_id),
                )
            ]
        )

    updated_users = await step.parallel(parallel_steps)
    # case: reference-2 updated_users
    assert_type(updated_users, tuple[bool, ...])
