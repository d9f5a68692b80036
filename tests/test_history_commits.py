"""Run history (when a run or an attempt began) costs no commit of its own: it goes with the next one.

A step whose handler finishes within the loop turn it began in stores its start with its result; one that goes on
longer has its start stored at the next turn, so a reader sees it running.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

import steppe
from steppe._engine.engine import Engine
from steppe._engine.store import StorageError, Store
from tests.test_group_commit import Trace

client = steppe.Client(app_id="history-commits")
gates: dict[str, asyncio.Event] = {}  # made by each test, on its own loop


async def add_one(x: int) -> int:
    return x + 1


@client.create_function(fn_id="three", trigger=steppe.TriggerEvent(event="history/three"))
async def three(ctx: steppe.Context, step: steppe.Step) -> int:
    x = 0
    for name in ("a", "b", "c"):
        x = await step.run(name, add_one, x)
    return x


async def held() -> str:
    await gates["held"].wait()
    return "released"


@client.create_function(fn_id="held", trigger=steppe.TriggerEvent(event="history/held"))
async def held_run(ctx: steppe.Context, step: steppe.Step) -> str:
    return await step.run("held", held)


def traced(engine: Engine) -> Trace:
    trace = Trace()
    engine._store._db.set_trace_callback(trace.statements.append)  # pyright: ignore[reportPrivateUsage]
    return trace


async def test_steps_that_end_in_the_turn_they_began_store_their_start_with_their_result(tmp_path: Path) -> None:
    async with steppe.Engine(client, database=tmp_path / "app.db") as engine:
        trace = traced(engine)
        [run_id] = await engine.send(steppe.Event(name="history/three"))
        assert (await engine.wait(run_id, timeout=30)).output == 3
        engine._store._db.set_trace_callback(None)  # pyright: ignore[reportPrivateUsage]
        history = steppe.Runs(tmp_path / "app.db").get(run_id)
    event, *steps, end = trace.synced_commits()  # at "normal" every commit counts: none is made unsynced
    assert event == ["INSERT INTO events", "INSERT INTO runs"]
    # before: each attempt's start was a commit of its own, and the run's start another (9 commits, not 5)
    assert steps[0] == ["UPDATE runs SET", "INSERT INTO step_attempts", "INSERT INTO steps", "UPDATE step_attempts SET"]
    assert steps[1] == steps[2] == ["INSERT INTO step_attempts", "INSERT INTO steps", "UPDATE step_attempts SET"]
    assert end == ["UPDATE runs SET", "DELETE FROM cancel_keys"]
    assert history.started_at is not None
    assert [(s.id, len(s.attempts), s.attempts[0].ended_at is not None) for s in history.steps] == [
        ("a", 1, True),
        ("b", 1, True),
        ("c", 1, True),
    ]


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_a_step_still_running_is_seen_running_by_a_reader(tmp_path: Path, durability: steppe.Durability) -> None:
    release = gates["held"] = asyncio.Event()
    async with steppe.Engine(client, database=tmp_path / "app.db", durability=durability) as engine:
        [run_id] = await engine.send(steppe.Event(name="history/held"))
        reader = steppe.Runs(tmp_path / "app.db")  # another connection: it sees only what is committed
        steps = reader.get(run_id).steps
        for _ in range(200):
            if steps:
                break
            await asyncio.sleep(0.005)
            steps = reader.get(run_id).steps
        [step] = steps
        assert (step.id, step.status, len(step.attempts), step.attempts[0].ended_at) == ("held", "running", 1, None)
        assert reader.get(run_id).started_at is not None
        release.set()
        assert (await engine.wait(run_id, timeout=30)).output == "released"


async def test_history_whose_own_commit_fails_goes_with_the_next_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    release = gates["held"] = asyncio.Event()
    real = Store._write_history  # pyright: ignore[reportPrivateUsage]
    failures: list[int] = []

    def failing_once(self: Store) -> None:
        if not failures:
            failures.append(1)
            raise StorageError(f"{self.path}: the disk is full")
        real(self)

    async with steppe.Engine(client, database=tmp_path / "app.db") as engine:
        monkeypatch.setattr(Store, "_write_history", failing_once)
        with caplog.at_level(logging.WARNING, logger="steppe.engine"):
            [run_id] = await engine.send(steppe.Event(name="history/held"))
            for _ in range(200):
                if failures:
                    break
                await asyncio.sleep(0.005)
            release.set()
            result: Any = await engine.wait(run_id, timeout=30)
        assert result.output == "released"
        [step] = steppe.Runs(tmp_path / "app.db").get(run_id).steps
    assert failures == [1]
    assert (len(step.attempts), step.attempts[0].ended_at is not None) == (1, True)  # stored with the result
    warning = "steppe: run history could not be stored yet; it goes with the next commit"
    assert [r.getMessage() for r in caplog.records if "history" in r.getMessage()] == [
        f"{warning} ({tmp_path / 'app.db'}: the disk is full)"
    ]


async def test_history_that_cannot_be_stored_at_close_still_lets_the_engine_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "app.db"
    async with steppe.Engine(client, database=database) as engine:
        engine._store._history.append(("UPDATE runs SET started_at = 1 WHERE id = ?", ("none",)))  # pyright: ignore[reportPrivateUsage]

        def full_disk(self: Store) -> None:
            raise StorageError(f"{self.path}: the disk is full")

        monkeypatch.setattr(Store, "_write_history", full_disk)
        caplog.set_level(logging.WARNING, logger="steppe.engine")
    monkeypatch.undo()
    assert [r.getMessage() for r in caplog.records if "history" in r.getMessage()] == [
        f"steppe: run history could not be stored before closing; it is lost ({database}: the disk is full)"
    ]
    async with steppe.Engine(client, database=database) as engine:  # the file and its lock were released
        [run_id] = await engine.send(steppe.Event(name="history/three"))
        assert (await engine.wait(run_id, timeout=30)).output == 3
