"""The reference page's second example: a parallel group built in a loop.

The reference builds each element with ``functools.partial(step.run, ...)``; that still works, but pyright
cannot type it (it infers ``partial[CoroutineType[Any, Any, Any]]``). ``step.defer`` binds the step the same
way and keeps its exact type in every checker.

    steppe run examples/parallel_loop.py:fn --event my-event --data '{"user_ids": [1, 2, 3]}'
"""

from __future__ import annotations

import functools
import typing

import steppe

client = steppe.Client(app_id="examples")


async def update_user(user_id: int) -> bool:
    return user_id > 0


@client.create_function(fn_id="my-function", trigger=steppe.TriggerEvent(event="my-event"))
async def fn(ctx: steppe.Context, step: steppe.Step) -> dict[str, object]:
    # As on the reference page.
    parallel_steps = tuple[typing.Callable[[], typing.Awaitable[bool]]]()
    for user_id in ctx.event.data["user_ids"]:
        parallel_steps += tuple(
            [
                functools.partial(
                    step.run,
                    f"get-user-{user_id}",
                    functools.partial(update_user, user_id),
                )
            ]
        )
    updated_users = await step.parallel(parallel_steps)

    # The steppe way: exact types, each loop value captured.
    checked = await step.parallel(
        tuple(step.defer(f"check-user-{uid}", update_user, uid) for uid in ctx.event.data["user_ids"])
    )
    return {"updated": list(updated_users), "checked": list(checked)}
