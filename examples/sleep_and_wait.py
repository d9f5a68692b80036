"""Sleep and wait for an event: a signup that waits up to a day for the email to be confirmed.

    steppe run examples/sleep_and_wait.py:onboard --event app/user.signup --data '{"user_id": "u1"}'

(With nothing sending ``app/email.confirmed`` the wait times out after its timeout; see the tests for the
matched case, driven with a ManualClock.)
"""

from __future__ import annotations

from datetime import timedelta

import steppe

client = steppe.Client(app_id="examples")


def send_welcome(user_id: str) -> str:
    return f"welcome sent to {user_id}"


@client.create_function(fn_id="onboard", trigger=steppe.TriggerEvent(event="app/user.signup"))
async def onboard(ctx: steppe.Context, step: steppe.Step) -> dict[str, object]:
    user_id: str = ctx.event.data["user_id"]
    welcome = await step.run("send-welcome", send_welcome, user_id)
    await step.sleep("pause", timedelta(seconds=1))
    confirmed = await step.wait_for_event(
        "wait-for-confirmation",
        event="app/email.confirmed",
        if_exp="async.data.user_id == event.data.user_id",
        timeout=timedelta(seconds=2),
    )
    return {"welcome": welcome, "confirmed": confirmed is not None}
