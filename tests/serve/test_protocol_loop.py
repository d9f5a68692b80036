"""Whole runs over the protocol: a minimal stand-in for the Inngest server drives calls until the run ends."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import steppe
from steppe.serve import ServeHandler
from tests.serve.helpers import call_body, call_request, dev_handler, event


async def drive(
    handler: ServeHandler, function: steppe.Function[Any, Any], trigger: dict[str, Any], limit: int = 50
) -> tuple[Any, int]:
    """Play the server: store each StepRun's data, call each planned step by its id, until a 200."""
    memos: dict[str, Any] = {}
    pending: list[str] = ["step"]
    disable_immediate = False
    for calls in range(1, limit + 1):
        step_id = pending.pop(0) if pending else "step"
        answer = await handler.handle(
            call_request(
                function, call_body(trigger, memos, disable_immediate_execution=disable_immediate), step_id=step_id
            )
        )
        body = json.loads(answer.body)
        if answer.status == 200:
            return body, calls
        assert answer.status == 206, (answer.status, body)
        for op in body:
            if op["op"] == "StepRun":
                memos[op["id"]] = {"data": op.get("data")}
            elif op["op"] == "StepPlanned":
                pending.append(op["id"])
            else:
                raise AssertionError(f"unexpected op {op}")
        disable_immediate = disable_immediate or len(body) > 1
    raise AssertionError("the run did not finish")


async def test_asyncio_gather_over_steps_completes_correctly_over_http() -> None:
    client = steppe.Client("gather-http", is_production=False)
    executed: Counter[str] = Counter()

    async def work(name: str) -> str:
        executed[name] += 1
        await asyncio.sleep(0)
        return name.upper()

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> list[str]:
        first = list(await asyncio.gather(step.run("a", work, "a"), step.run("b", work, "b")))
        second = await step.run("c", work, "c")
        return [*first, second]

    output, _ = await drive(dev_handler(client), f, event("go"))
    assert output == ["A", "B", "C"]
    assert executed == Counter({"a": 1, "b": 1, "c": 1})


async def test_parallel_group_over_http_plans_then_targets_each_step_once() -> None:
    client = steppe.Client("parallel-http", is_production=False)
    executed: Counter[str] = Counter()

    def work(name: str) -> int:
        executed[name] += 1
        return len(name)

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> tuple[int, ...]:
        return await step.parallel(tuple(step.defer(name, work, name) for name in ("x", "yy", "zzz")))

    output, calls = await drive(dev_handler(client), f, event("go"))
    assert output == [1, 2, 3]
    assert executed == Counter({"x": 1, "yy": 1, "zzz": 1})
    assert calls == 5  # discovery, three targeted runs, the final replay
