"""The reference page's first example: two steps in parallel, their results as a typed tuple.

Run it on the embedded engine:

    steppe run examples/parallel_steps.py:fn --event my-event --data '{"user_id": 42}'
"""

from __future__ import annotations

import asyncio

import steppe

client = steppe.Client(app_id="examples")


async def update_user(user_id: int) -> dict[str, str]:
    await asyncio.sleep(0.05)  # stands in for a database write
    return {"id": str(user_id), "status": "updated"}


async def send_email(user_id: int) -> bool:
    await asyncio.sleep(0.05)  # stands in for an email API call
    return True


@client.create_function(fn_id="my-function", trigger=steppe.TriggerEvent(event="my-event"))
async def fn(ctx: steppe.Context, step: steppe.Step) -> dict[str, object]:
    user_id: int = ctx.event.data["user_id"]

    (updated_user, sent_email) = await step.parallel(
        (
            lambda: step.run("update-user", update_user, user_id),
            lambda: step.run("send-email", send_email, user_id),
        )
    )
    # Checkers infer updated_user: dict[str, str] and sent_email: bool.
    return {"user": updated_user, "email_sent": sent_email}
