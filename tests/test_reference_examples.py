"""The reference page's two examples, end to end on the embedded engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import steppe
from tests.conftest import Recorder, load_example


async def test_two_step_parallel_example(make_engine: Any, recorder: Recorder) -> None:
    example = load_example("parallel_steps")
    engine = await make_engine(example.client, listeners=[recorder])
    [run_id] = await engine.send(steppe.Event(name="my-event", data={"user_id": 42}))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "completed", result.error
    assert result.output == {"user": {"id": "42", "status": "updated"}, "email_sent": True}
    steps = {f.step_id: f for f in recorder.finished()}
    assert set(steps) == {"update-user", "send-email"}
    assert all(f.parallel == "wait" for f in steps.values())


async def test_loop_built_parallel_example(make_engine: Any) -> None:
    example = load_example("parallel_loop")
    engine = await make_engine(example.client)
    [run_id] = await engine.send(steppe.Event(name="my-event", data={"user_ids": [3, -1, 7]}))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "completed", result.error
    assert result.output == {"updated": [True, False, True], "checked": [True, False, True]}


async def test_parallel_results_keep_their_runtime_types(make_engine: Any) -> None:
    """After a restart the stored results are rebuilt into the declared types, not left as JSON."""
    example = load_example("parallel_steps")
    # A module loaded from its path is untyped to the checkers: its handlers' types as the example declares them.
    update_user: Callable[[int], Awaitable[dict[str, str]]] = example.update_user
    send_email: Callable[[int], Awaitable[bool]] = example.send_email
    client = steppe.Client("types")
    seen: list[tuple[type, type]] = []

    @client.create_function(fn_id="typed", trigger=steppe.TriggerEvent(event="go"))
    async def typed(ctx: steppe.Context, step: steppe.Step) -> None:
        user, sent = await step.parallel(
            (
                lambda: step.run("update-user", update_user, 1),
                lambda: step.run("send-email", send_email, 1),
            )
        )
        seen.append((type(user), type(sent)))

    engine = await make_engine(client)
    [run_id] = await engine.send(steppe.Event(name="go"))
    assert (await engine.wait(run_id, timeout=10)).status == "completed"
    assert seen == [(dict, bool)]
