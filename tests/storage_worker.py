"""Processes sharing one database, for tests/test_shared_database.py.

    python -m tests.storage_worker engine DB RUNS     an engine running RUNS runs of three steps, then exits
    python -m tests.storage_worker hold DB            an engine that opens DB, writes "ready" beside it, and waits
    python -m tests.storage_worker reader DB STOPFILE reads DB in a loop until STOPFILE exists; prints its reads
    python -m tests.storage_worker inserter DB EVENTS inserts EVENTS events through Store.open_shared

engine, reader and inserter first write "<command>-ready" beside DB, then wait for "start" there, so that
their work overlaps however long each takes to start.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import steppe
from steppe._engine.store import Store

client = steppe.Client("shared")


def double(value: int) -> int:
    return value * 2


@client.create_function(fn_id="steps", trigger=steppe.TriggerEvent(event="go"))
async def steps(ctx: steppe.Context, step: steppe.Step) -> int:
    total = 0
    for name in ("a", "b", "c"):
        total += await step.run(name, double, int(ctx.event.data["n"]))
    return total


async def engine(database: Path, runs: int) -> None:
    async with steppe.Engine(client, database=database) as running:
        run_ids: list[str] = []
        for n in range(runs):  # one send each: many short write transactions interleaved with the others'
            run_ids.extend(await running.send(steppe.Event(name="go", data={"n": n})))
        for n, run_id in enumerate(run_ids):
            result = await running.wait(run_id, timeout=60)
            assert result.output == 6 * n, result


async def hold(database: Path) -> None:
    async with steppe.Engine(client, database=database):
        database.with_name("ready").touch()
        await asyncio.sleep(3600)  # killed long before this


def reader(database: Path, stop: Path) -> None:
    """Count runs and events over and over; the counts may only grow."""
    reads: list[tuple[int, int]] = []
    while not stop.exists():
        store = Store.open_reader(database)
        try:
            runs = len(store.list_runs(limit=100_000))
            events = store.count_events()
        finally:
            store.close()
        if reads:
            assert runs >= reads[-1][0] and events >= reads[-1][1], (reads[-1], runs, events)
        reads.append((runs, events))
        time.sleep(0.002)
    print(json.dumps({"reads": len(reads), "last": reads[-1] if reads else None}))


def inserter(database: Path, events: int) -> None:
    store = Store.open_shared(database)
    try:
        for index in range(events):
            with store.transaction():
                store.insert_event(str(uuid.uuid4()), "noted", {"index": index}, datetime.now(UTC))
    finally:
        store.close()


def ready_set_go(database: Path, command: str) -> None:
    database.with_name(f"{command}-ready").touch()
    while not database.with_name("start").exists():
        time.sleep(0.005)


if __name__ == "__main__":
    command, path = sys.argv[1], Path(sys.argv[2])
    if command != "hold":
        ready_set_go(path, command)
    if command == "engine":
        asyncio.run(engine(path, int(sys.argv[3])))
    elif command == "hold":
        asyncio.run(hold(path))
    elif command == "reader":
        reader(path, Path(sys.argv[3]))
    elif command == "inserter":
        inserter(path, int(sys.argv[3]))
    else:
        raise SystemExit(f"storage_worker: unknown command {command!r}")
