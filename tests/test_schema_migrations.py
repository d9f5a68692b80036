"""Databases written by every earlier release open with the current engine, which upgrades them and finishes
their runs; a database from a newer steppe is refused by name."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

import steppe
from steppe._engine.schema import SCHEMA_VERSION
from steppe._engine.store import Store
from tests.fixtures.databases import legacy_app

FIXTURES = Path(__file__).parent / "fixtures" / "databases"
RELEASED = sorted(FIXTURES.glob("*.sqlite"))


def schema_of(path: Path) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
    """(columns, indexes) of every table, order-free: a migrated file must end up shaped like a new one."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        columns: set[tuple[object, ...]] = {
            (table, *column[1:]) for table in tables for column in connection.execute(f"PRAGMA table_info({table})")
        }
        indexes: set[tuple[object, ...]] = {
            (name, table, None if sql is None else " ".join(sql.split()))
            for name, table, sql in connection.execute(
                "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'"
            )
        }
        return columns, indexes
    finally:
        connection.close()


def user_version(path: Path) -> int:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])
    finally:
        connection.close()


def test_every_released_schema_has_a_fixture() -> None:
    assert [path.name for path in RELEASED] == [
        "schema1-125940a-idempotency-rate-limit.sqlite",
        "schema1-2d03218-before-flow-control.sqlite",
        "schema1-e839211-release-0.1.0.sqlite",
        "schema3-39c2e31-before-event-index.sqlite",
    ]
    assert [user_version(path) for path in RELEASED] == [1, 1, 1, 3]


@pytest.mark.parametrize("fixture", RELEASED, ids=[path.stem for path in RELEASED])
async def test_an_engine_upgrades_a_released_database_and_finishes_its_runs(fixture: Path, tmp_path: Path) -> None:
    database = tmp_path / fixture.name
    shutil.copyfile(fixture, database)
    clock = steppe.ManualClock(legacy_app.START)
    matching = user_version(database) >= 3  # fixtures from then on also hold the runs of event matching
    async with steppe.Engine(legacy_app.client, database=database, clock=clock) as engine:
        assert user_version(database) == SCHEMA_VERSION
        runs = {run.function_id: run.id for run in Store.open_reader(database).list_runs()}
        later = ["legacy-cancellable", "legacy-waits-for-reply"] if matching else []
        assert sorted(runs) == sorted(["legacy-completes", "legacy-retries", "legacy-sleeps", "legacy-waits", *later])
        if matching:  # stored before matching was indexed: still found, by evaluating them
            await engine.send([steppe.Event(name="reply", data={"to": 8}), steppe.Event(name="abort", data={"job": 4})])
            await engine.send([steppe.Event(name="reply", data={"to": 7}), steppe.Event(name="abort", data={"job": 3})])
            assert (await engine.wait(runs["legacy-waits-for-reply"], timeout=10)).output == {"to": 7}
            assert (await engine.wait(runs["legacy-cancellable"], timeout=10)).status == "cancelled"
        assert engine.result(runs["legacy-completes"]).output == 3  # stored by the old release, read back
        await engine.send(steppe.Event(name="approved", data={"by": "ann"}))
        await clock.advance(timedelta(hours=2))  # past the sleep and the pending retry
        assert (await engine.wait(runs["legacy-waits"], timeout=10)).output == {"by": "ann"}
        assert (await engine.wait(runs["legacy-sleeps"], timeout=10)).output == "woke after 4"
        assert (await engine.wait(runs["legacy-retries"], timeout=10)).output == "recovered"


@pytest.mark.parametrize("fixture", RELEASED, ids=[path.stem for path in RELEASED])
async def test_a_migrated_database_has_the_schema_of_a_new_one(fixture: Path, tmp_path: Path) -> None:
    migrated = tmp_path / fixture.name
    shutil.copyfile(fixture, migrated)
    Store.open(migrated).close()
    new = tmp_path / "new.db"
    Store.open(new).close()
    assert schema_of(migrated) == schema_of(new)


def test_a_database_from_a_newer_steppe_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store.open(path).close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 5")
    connection.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    message = rf"future.db was written by a newer steppe \(schema version 5; this steppe reads up to {SCHEMA_VERSION}\)"
    with pytest.raises(steppe.DatabaseError, match=message):
        Store.open(path)
    with pytest.raises(steppe.DatabaseError, match=message):
        Store.open_reader(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["future.db"]


def test_a_reader_does_not_upgrade_an_older_database(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    shutil.copyfile(RELEASED[0], path)
    with pytest.raises(steppe.DatabaseError, match=r"old.sqlite was written by an older steppe \(schema version 1"):
        Store.open_reader(path)
    assert path.read_bytes() == RELEASED[0].read_bytes()


def test_a_failed_upgrade_leaves_the_database_at_its_old_version(tmp_path: Path) -> None:
    path = tmp_path / "blocked.sqlite"
    shutil.copyfile(RELEASED[0], path)
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE step_attempts (x)")  # migration 2 creates this table: it will fail there
    connection.commit()
    connection.close()
    before = schema_of(path)
    with pytest.raises(
        steppe.DatabaseError,
        match=r"blocked.sqlite could not be upgraded from schema version 1 to 2 \(table step_attempts already exists\)",
    ):
        Store.open(path)
    assert user_version(path) == 1
    assert schema_of(path) == before  # the columns and tables migration 2 added before failing were rolled back
