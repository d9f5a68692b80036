"""Operating runs: ``steppe.Runs`` on a database an engine drives, and the schema that carries its commands."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest

import steppe
from steppe._engine.schema import MIGRATIONS, SCHEMA_VERSION
from steppe._engine.store import Store
from tests import ops_app


async def _settle(engine: steppe.Engine, runs: steppe.Runs, run_id: str, status: str) -> steppe.RunDetail:
    """Apply the commands and let the engine work until the run has ``status`` (no timing is asserted)."""
    import asyncio

    for _ in range(500):
        engine.apply_commands()
        detail = runs.get(run_id)
        if detail.status == status:
            return detail
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} stayed {runs.get(run_id).status}, never {status}")


async def test_history_of_a_run_with_retries_parallel_steps_and_a_wait(make_engine: Any, tmp_path: Path) -> None:
    clock = steppe.ManualClock()
    client = steppe.Client("history")
    failures = ["first try fails"]

    def flaky() -> int:
        if failures:
            raise RuntimeError(failures.pop())
        return 7

    @client.create_function(fn_id="hist", trigger=steppe.TriggerEvent(event="go"), retries=2)
    async def hist(ctx: steppe.Context, step: steppe.Step) -> int:
        async def one() -> int:
            return 1

        async def two() -> int:
            return 2

        a, b = await step.parallel((lambda: step.run("a", one), lambda: step.run("b", two)))
        value = await step.run("flaky", flaky)
        await step.wait_for_event("ok", event="ok", timeout=timedelta(hours=1))
        return int(a + b + value)

    engine = await make_engine(client, clock=clock)
    [run_id] = await engine.send(steppe.Event(name="go", data={"n": 1}))
    database = tmp_path / "steppe.db"
    with steppe.Runs(database) as runs:
        for _ in range(50):
            await clock.advance(timedelta(minutes=1))
            if runs.get(run_id).waiting_on is not None:
                break
        waiting = runs.get(run_id)
        assert waiting.status == "running" and waiting.function == "hist"
        assert waiting.waiting_on is not None and waiting.waiting_on.startswith("event ok")
        assert [(s.id, s.kind, s.status, s.parallel) for s in waiting.steps] == [
            ("a", "run", "completed", True),
            ("b", "run", "completed", True),
            ("flaky", "run", "completed", False),
            ("ok", "wait", "waiting", False),
        ]
        flaky_step = waiting.steps[2]
        assert [a.attempt for a in flaky_step.attempts] == [0, 1] and flaky_step.output == 7
        failed_attempt = flaky_step.attempts[0].error
        assert failed_attempt is not None and failed_attempt.message == "first try fails"
        assert failed_attempt.stack is not None and "flaky" in failed_attempt.stack  # the user's own frame
        assert flaky_step.attempts[1].error is None
        await engine.send(steppe.Event(name="ok"))
        assert (await engine.wait(run_id, timeout=10)).output == 10
        done = runs.get(run_id)
        assert done.status == "completed" and done.output == 10 and done.waiting_on is None
        event: dict[str, Any] = json.loads(json.dumps(done.event))
        assert event == {"name": "go", "data": {"n": 1}, "id": event["id"], "ts": event["ts"]}
        assert [s.status for s in done.steps] == ["completed"] * 4
        shape: dict[str, Any] = json.loads(json.dumps(done.to_json()))
        assert (
            shape["status"] == "completed" and isinstance(shape["started_at"], str) and "+00:00" in shape["started_at"]
        )
        steps = shape["steps"]
        assert isinstance(steps, list) and isinstance(steps[2], dict)
        assert steps[2]["attempts"] == [
            {
                "attempt": 0,
                "started_at": steps[2]["attempts"][0]["started_at"],
                "ended_at": steps[2]["attempts"][0]["ended_at"],
                "error": {"name": "RuntimeError", "message": "first try fails", "stack": failed_attempt.stack},
            },
            {
                "attempt": 1,
                "started_at": steps[2]["attempts"][1]["started_at"],
                "ended_at": steps[2]["attempts"][1]["ended_at"],
                "error": None,
            },
        ]


async def test_list_filters_pages_and_counts(make_engine: Any, tmp_path: Path) -> None:
    client = steppe.Client("listing")

    @client.create_function(fn_id="ok", trigger=steppe.TriggerEvent(event="go"))
    async def ok(ctx: steppe.Context, step: steppe.Step) -> int:
        return 1

    @client.create_function(fn_id="bad", trigger=steppe.TriggerEvent(event="go"), retries=0)
    async def bad(ctx: steppe.Context, step: steppe.Step) -> int:
        raise steppe.NonRetriableError("no")

    engine = await make_engine(client)
    run_ids: list[str] = []
    for _ in range(3):
        run_ids += await engine.send(steppe.Event(name="go"))
    for run_id in run_ids:
        await engine.wait(run_id, timeout=10)
    with steppe.Runs(tmp_path / "steppe.db") as runs:
        listed = runs.list()
        assert sorted(r.run_id for r in listed) == sorted(run_ids) and len(listed) == 6
        assert [r.function for r in runs.list(function="bad")] == ["bad"] * 3
        assert {r.status for r in runs.list(function="ok")} == {"completed"}
        assert runs.count(status="failed") == 3 and runs.count(function="ok") == 3 and runs.count() == 6
        first, second = runs.list(limit=3), runs.list(limit=3, before=runs.list(limit=3)[-1].run_id)
        assert {r.run_id for r in first} | {r.run_id for r in second} == set(run_ids)
        assert runs.list(status="queued") == [] and runs.list(status="running") == []
        first_event: dict[str, Any] = json.loads(json.dumps(runs.get(run_ids[0]).events[0]))
        event_id = first_event["id"]
        assert {r.function for r in runs.runs_of_event(event_id)} == {"ok", "bad"}


async def test_unknown_run_ids_raise_run_not_found(make_engine: Any, tmp_path: Path) -> None:
    engine = await make_engine(ops_app.client)
    with pytest.raises(steppe.RunNotFoundError, match="no run with id 'nope'"):
        engine.result("nope")
    with pytest.raises(steppe.RunNotFoundError):
        await engine.wait("nope")
    with steppe.Runs(tmp_path / "steppe.db") as runs:
        for call in (runs.get, runs.cancel, runs.rerun):
            with pytest.raises(KeyError):  # a RunNotFoundError is a KeyError too
                call("nope")
    assert issubclass(steppe.RunNotFoundError, steppe.SteppeError)


async def test_sent_events_cancels_and_reruns_reach_the_engine(make_engine: Any, tmp_path: Path) -> None:
    engine = await make_engine(ops_app.client)
    database = tmp_path / "steppe.db"
    with steppe.Runs(database, app=ops_app.client) as runs:
        with pytest.raises(pydantic.ValidationError):
            runs.send(steppe.Event(name="shop/order.placed", data={"wrong": 1}))
        [event_id] = runs.send(steppe.Event(name="shop/order.placed", data={"order_id": "o1"}))
        assert engine.apply_commands() == 1
        [placed] = runs.runs_of_event(event_id)
        waiting = await _settle(engine, runs, placed.run_id, "running")
        while runs.get(placed.run_id).waiting_on is None:  # the run yields the loop between its steps
            await asyncio.sleep(0.01)
            await _settle(engine, runs, placed.run_id, "running")
            await asyncio.sleep(0.01)  # _settle returns at once on a running run: give the engine its turn
        runs.send(steppe.Event(name="shop/order.confirmed", data={"order_id": "o1"}))
        done = await _settle(engine, runs, placed.run_id, "completed")
        assert waiting.function == "confirm" and done.output == "confirmed o1"
        assert (await engine.wait(placed.run_id)).output == "confirmed o1"  # typed result kept

        again = runs.rerun(placed.run_id, from_step="confirmed")
        rerun = await _settle(engine, runs, again, "running")
        assert rerun.events == done.events
        assert [s.id for s in rerun.steps][:1] == ["record"] and rerun.steps[0].attempts == []  # reused, not run
        runs.cancel(again)
        assert runs.get(again).status == "cancelled"
        engine.apply_commands()
        assert (await engine.wait(again, timeout=10)).status == "cancelled"


async def test_cancelling_an_invoked_run_fails_its_parents_step(make_engine: Any, tmp_path: Path) -> None:
    engine = await make_engine(ops_app.client)
    [parent_id] = await engine.send(steppe.Event(name="ops/parent"))
    with steppe.Runs(tmp_path / "steppe.db") as runs:
        import asyncio

        while not runs.get(parent_id).child_run_ids:
            await asyncio.sleep(0.01)
        [child_id] = runs.get(parent_id).child_run_ids
        runs.cancel(child_id)
        engine.apply_commands()
        result = await engine.wait(parent_id, timeout=10)
        assert result.status == "completed" and "child failed" in result.output
        parent = runs.get(parent_id)
        assert parent.steps[0].kind == "invoke" and parent.steps[0].child_run_id == child_id
        assert runs.get(child_id).parent_run_id == parent_id


async def test_a_run_cancelled_from_another_process_while_it_finishes_stays_cancelled(
    make_engine: Any, tmp_path: Path
) -> None:
    """The run's last step cancels it through ``Runs`` (another connection, as the CLI would) before the engine
    stores its end: the cancellation stands, the output is not stored, and nothing of the run is lost."""
    database = tmp_path / "steppe.db"
    client = steppe.Client("ops-finish")

    @client.create_function(fn_id="cancelled-last", trigger=steppe.TriggerEvent(event="ops/finish"), retries=0)
    async def cancelled_last(ctx: steppe.Context, step: steppe.Step) -> str:
        async def cancel_myself() -> str:
            with steppe.Runs(database) as runs:
                runs.cancel(ctx.run_id)
            return "cancelled"

        return await step.run("cancel-myself", cancel_myself)

    engine = await make_engine(client, database=database)
    [run_id] = await engine.send(steppe.Event(name="ops/finish"))
    with steppe.Runs(database) as runs:
        # The step's result and the attempt to store the run's end are made in one turn of the loop (durability
        # "normal" commits at once), so once the step shows completed, the engine has tried to end the run.
        while [step.status for step in runs.get(run_id).steps] != ["completed"]:
            await asyncio.sleep(0.01)
        assert engine.result(run_id).status == "cancelled"
        engine.apply_commands()
        result = await engine.wait(run_id, timeout=10)
        assert (result.status, result.output) == ("cancelled", None)
        detail = runs.get(run_id)
        assert detail.status == "cancelled" and [s.status for s in detail.steps] == ["completed"]


def test_a_version_2_database_migrates_to_the_current_schema(tmp_path: Path) -> None:
    database = tmp_path / "v2.db"
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA application_id = 1398034512")
    for migration in MIGRATIONS[:2]:
        migration(connection)
    connection.execute("PRAGMA user_version = 2")
    connection.execute(
        "INSERT INTO runs (id, function_id, event_ids, status, created_at) VALUES ('r1', 'x-f', '[]', 'completed', 1)"
    )
    connection.close()
    Store.open(database).close()
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert connection.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0
        assert "parallel" in {row[1] for row in connection.execute("PRAGMA table_info(steps)")}
        assert connection.execute("SELECT id FROM runs").fetchall() == [("r1",)]
    finally:
        connection.close()
