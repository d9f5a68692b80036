"""`Engine`: sending events and waiting for runs."""

from __future__ import annotations

from typing import Any, Literal, assert_type

import steppe
from steppe import ErrorInfo, RunResult

client = steppe.Client(app_id="typing-tests-engine")


async def engine() -> None:
    async with steppe.Engine(
        client, database=":memory:", clock=steppe.ManualClock(), retry_policy=steppe.RetryPolicy()
    ) as engine:
        # case: async with Engine(...) gives the Engine
        assert_type(engine, steppe.Engine)
        # case: Engine.send of one event returns run ids
        assert_type(await engine.send(steppe.Event(name="user.signup", data={"user_id": "u"})), list[str])
        # case: Engine.send of a list of events
        assert_type(await engine.send([steppe.Event(name="a"), steppe.Event(name="b")]), list[str])
        result = await engine.wait("run-id", timeout=5.0)
        # case: Engine.wait returns a RunResult (untyped output)
        assert_type(result, RunResult[Any])
        # case: RunResult.output
        assert_type(result.output, Any | None)
        # case: RunResult.status
        assert_type(result.status, Literal["running", "completed", "failed", "cancelled"])
        # case: RunResult.error
        assert_type(result.error, ErrorInfo | None)
        # case: RunResult.run_id
        assert_type(result.run_id, str)
        # case: Engine.result (no waiting)
        assert_type(engine.result("run-id"), RunResult[Any])
