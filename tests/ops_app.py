"""An app for the operating tests: a worker process drives it while the tests send, list, cancel and rerun."""

from __future__ import annotations

from datetime import timedelta

import pydantic

import steppe

client = steppe.Client(app_id="ops")


class Order(pydantic.BaseModel):
    order_id: str


ORDER = steppe.EventType("shop/order.placed", Order)


@client.create_function(fn_id="confirm", trigger=ORDER)
async def confirm(ctx: steppe.Context[Order], step: steppe.Step) -> str:
    """Records the order, then waits (a day at most) for its confirmation."""
    await step.run("record", lambda: ctx.event.data.order_id)
    confirmed = await step.wait_for_event(
        "confirmed",
        event="shop/order.confirmed",
        if_exp="async.data.order_id == event.data.order_id",
        timeout=timedelta(days=1),
    )
    return "timed out" if confirmed is None else f"confirmed {ctx.event.data.order_id}"


@client.create_function(fn_id="child", trigger=steppe.TriggerEvent(event="never"))
async def child(ctx: steppe.Context, step: steppe.Step) -> int:
    await step.sleep("nap", timedelta(days=1))
    return 1


@client.create_function(fn_id="parent", trigger=steppe.TriggerEvent(event="ops/parent"))
async def parent(ctx: steppe.Context, step: steppe.Step) -> str:
    try:
        await step.invoke("call-child", function=child, data={})
    except steppe.StepError as error:
        return f"child failed: {error}"
    return "child finished"
