"""Group commit under durability "full": the changes that are ready at the same turn of the event loop (results of
parallel branches, of concurrent runs, events sent together) share one synced transaction; each still reaches the
disk before its caller goes on, and a change that fails is undone alone.

The commits are counted in a trace of the engine's SQLite statements: a synced commit is a COMMIT, or a write
outside a transaction, while the connection's ``synchronous`` setting is FULL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import pytest

import steppe
from steppe._engine.engine import Engine

client = steppe.Client(app_id="group-commit")


class Order(pydantic.BaseModel):
    sku: str


OrderEvent = steppe.EventType("group/order", Order)


async def add_one(value: int) -> int:
    return value + 1


@client.create_function(fn_id="three-steps", trigger=steppe.TriggerEvent(event="group/three"))
async def three_steps(ctx: steppe.Context, step: steppe.Step) -> int:
    value = 0
    for index in range(3):
        value = await step.run(f"s{index}", add_one, value)
    return value


@client.create_function(fn_id="three-sync-steps", trigger=steppe.TriggerEvent(event="group/three-sync"))
def three_sync_steps(ctx: steppe.Context, step: steppe.StepSync) -> int:
    value = 0
    for index in range(3):
        value = step.run(f"s{index}", lambda v: v + 1, value)
    return value


@client.create_function(fn_id="fan-out", trigger=steppe.TriggerEvent(event="group/fan-out"))
async def fan_out(ctx: steppe.Context, step: steppe.Step) -> int:
    return sum(await step.parallel((step.defer("a", add_one, 1), step.defer("b", add_one, 2))))


@client.create_function(fn_id="one-step", trigger=steppe.TriggerEvent(event="group/one"))
async def one_step(ctx: steppe.Context, step: steppe.Step) -> int:
    return await step.run("only", add_one, 0)


@client.create_function(fn_id="order", trigger=OrderEvent)
async def order(ctx: steppe.Context[Order], step: steppe.Step) -> str:
    return ctx.event.data.sku


@dataclass
class Trace:
    """The statements the engine ran, split into what each synced commit wrote."""

    statements: list[str] = field(default_factory=list[str])

    def synced_commits(self) -> list[list[str]]:
        """For each synced commit, in order: the writes it made durable (first words of each statement)."""
        synced, commits, pending, inside = True, list[list[str]](), list[str](), False
        for statement in self.statements:
            words = statement.split()
            head = " ".join(words[:3])
            if words[:3] == ["PRAGMA", "synchronous", "="]:
                synced = words[3] == "FULL"
            elif words[:1] == ["BEGIN"]:
                inside = True
            elif words[:1] == ["COMMIT"]:
                inside = False
                if synced:  # an unsynced commit's writes ride along with the next synced one
                    commits.append(pending)
                    pending = []
            elif words[:1] == ["ROLLBACK"] and len(words) == 1:
                inside, pending = False, []
            elif words[:1] in (["INSERT"], ["UPDATE"], ["DELETE"]):
                pending.append(head)
                if not inside:
                    if synced:
                        commits.append(pending)
                    pending = [] if synced else pending  # an unsynced write rides along with the next synced one
        return commits


@asynccontextmanager
async def traced(database: Path) -> AsyncGenerator[tuple[Engine, Trace]]:
    async with steppe.Engine(client, database=database, durability="full") as engine:
        trace = Trace()
        connection = engine._store._db  # pyright: ignore[reportPrivateUsage]
        connection.set_trace_callback(trace.statements.append)
        try:
            yield engine, trace
        finally:
            connection.set_trace_callback(None)


async def completed(engine: Engine, run_id: str) -> Any:
    result = await engine.wait(run_id, timeout=30)
    assert result.status == "completed", result.error
    return result.output


@pytest.mark.parametrize("name", ["group/three", "group/three-sync"], ids=["async def", "def + StepSync"])
async def test_a_run_of_three_steps_makes_five_synced_commits(tmp_path: Path, name: str) -> None:
    # The event with the run it creates, each step's result, the run's end; the run's start time and each
    # attempt's start record ride along with the next of them (before: the start time was a sixth).
    async with traced(tmp_path / "app.db") as (engine, trace):
        [run_id] = await engine.send(steppe.Event(name=name))
        assert await completed(engine, run_id) == 3
    commits = trace.synced_commits()
    assert len(commits) == 5, commits
    event, *steps, end = commits
    assert event == ["INSERT INTO events", "INSERT INTO runs"]
    assert steps[0] == ["UPDATE runs SET", "INSERT INTO step_attempts", "INSERT INTO steps", "UPDATE step_attempts SET"]
    assert steps[1] == steps[2] == ["INSERT INTO step_attempts", "INSERT INTO steps", "UPDATE step_attempts SET"]
    assert end == ["UPDATE runs SET", "DELETE FROM cancel_keys"]


async def test_two_parallel_branches_finishing_together_share_one_synced_commit(tmp_path: Path) -> None:
    async with traced(tmp_path / "app.db") as (engine, trace):
        [run_id] = await engine.send(steppe.Event(name="group/fan-out"))
        assert await completed(engine, run_id) == 5
        steps = steppe.Runs(tmp_path / "app.db").get(run_id).steps
    event, branches, end = trace.synced_commits()
    assert branches.count("INSERT INTO steps") == 2 and branches.count("UPDATE step_attempts SET") == 2
    assert "INSERT INTO events" in event and "UPDATE runs SET" in end
    assert sorted(step.id for step in steps) == ["a", "b"]
    assert all(step.status == "completed" and step.attempts[0].ended_at is not None for step in steps)


async def test_concurrent_runs_share_their_synced_commits(tmp_path: Path) -> None:
    # Two events sent at once: one commit for both (with their runs), one for both runs' steps, one for both ends.
    async with traced(tmp_path / "app.db") as (engine, trace):
        sent = await asyncio.gather(*(engine.send(steppe.Event(name="group/one")) for _ in range(2)))
        assert [await completed(engine, run_id) for [run_id] in sent] == [1, 1]
    commits = trace.synced_commits()
    assert [commit.count("INSERT INTO events") for commit in commits] == [2, 0, 0], commits
    assert [commit.count("INSERT INTO steps") for commit in commits] == [0, 2, 0]
    assert [commit.count("DELETE FROM cancel_keys") for commit in commits] == [0, 0, 2]


async def test_a_change_that_fails_is_undone_alone_and_the_others_of_its_commit_are_stored(tmp_path: Path) -> None:
    async with traced(tmp_path / "app.db") as (engine, trace):
        bad = [steppe.Event(name="group/one"), steppe.Event(name="group/order", data={"sku": 1})]
        good = OrderEvent.create(Order(sku="A-1"))
        refused, accepted = await asyncio.gather(engine.send(bad), engine.send(good), return_exceptions=True)
        assert isinstance(refused, pydantic.ValidationError)
        assert isinstance(accepted, list)
        [run_id] = accepted
        assert await completed(engine, run_id) == "A-1"
        stored = engine._store.count_events()  # pyright: ignore[reportPrivateUsage]
    # Both sends were one transaction: the refused one's first event was written, then undone at its savepoint.
    first = trace.synced_commits()[0]
    assert first.count("INSERT INTO events") == 2
    assert any(statement.startswith("ROLLBACK TO") for statement in trace.statements)
    assert stored == 1


@pytest.mark.parametrize("body", ["async", "def"])
@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_a_step_result_is_stored_before_the_next_step_starts(tmp_path: Path, durability: str, body: str) -> None:
    # What the step's caller sees as done is committed (and, under "full", synced) before the function goes on;
    # for a def body too, whose thread runs its steps' handlers itself.
    seen: list[int] = []
    run_ids: list[str] = []
    database = tmp_path / "app.db"
    app = steppe.Client("group-commit-order")

    def stored_steps() -> int:
        return sum(step.status == "completed" for step in steppe.Runs(database).get(run_ids[0]).steps)

    trigger = steppe.TriggerEvent(event="count")
    if body == "async":

        @app.create_function(fn_id="count", trigger=trigger)
        async def count(ctx: steppe.Context, step: steppe.Step) -> None:
            for index in range(3):
                await step.run(f"c{index}", lambda: seen.append(stored_steps()))

    else:

        @app.create_function(fn_id="count", trigger=trigger)
        def count_sync(ctx: steppe.Context, step: steppe.StepSync) -> None:
            for index in range(3):
                step.run(f"c{index}", lambda: seen.append(stored_steps()))

    durable: Any = durability
    async with steppe.Engine(app, database=database, durability=durable) as engine:
        run_ids.extend(await engine.send(steppe.Event(name="count")))
        assert (await engine.wait(run_ids[0], timeout=30)).status == "completed"
    assert seen == [0, 1, 2]  # another connection saw every earlier step stored when the next one ran
