"""The durability option: the SQLite setting it stands for is applied to the engine's own connection.

SQLite's ``PRAGMA synchronous`` is per connection, so each check reads it on the connection the engine writes
through: 1 is NORMAL (the write-ahead log synced at checkpoints only), 2 is FULL (synced at every commit).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

import steppe
from steppe._engine.engine import Engine
from steppe._operate import worker as worker_module
from steppe.cli import main

APP = str(Path(__file__).resolve().parent / "ops_app.py")
SYNCHRONOUS = {"normal": 1, "full": 2}

client = steppe.Client(app_id="durability")


@client.create_function(fn_id="one-step", trigger=steppe.TriggerEvent(event="durability/go"))
async def one_step(ctx: steppe.Context, step: steppe.Step) -> int:
    return await step.run("add", lambda: 1 + 1)


def connection_settings(engine: Engine) -> tuple[int, str]:
    """(PRAGMA synchronous, PRAGMA journal_mode) on the connection ``engine`` writes through."""
    connection = engine._store._db  # pyright: ignore[reportPrivateUsage]
    [synchronous] = connection.execute("PRAGMA synchronous").fetchone()
    [journal] = connection.execute("PRAGMA journal_mode").fetchone()
    return synchronous, journal


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_the_engine_applies_its_durability_to_its_connection(
    tmp_path: Path, durability: steppe.Durability
) -> None:
    async with steppe.Engine(client, database=tmp_path / "app.db", durability=durability) as engine:
        assert connection_settings(engine) == (SYNCHRONOUS[durability], "wal")
        [run_id] = await engine.send(steppe.Event(name="durability/go"))
        assert (await engine.wait(run_id, timeout=30)).output == 2


async def test_the_default_durability_is_normal(tmp_path: Path) -> None:
    async with steppe.Engine(client, database=tmp_path / "app.db") as engine:
        assert connection_settings(engine) == (SYNCHRONOUS["normal"], "wal")


async def test_reopening_with_another_durability_takes_the_new_one(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    async with steppe.Engine(client, database=database, durability="full") as engine:
        assert connection_settings(engine)[0] == SYNCHRONOUS["full"]
    async with steppe.Engine(client, database=database) as engine:
        assert connection_settings(engine)[0] == SYNCHRONOUS["normal"]


def settings_of_writes(statements: list[str]) -> dict[str, set[str]]:
    """For each kind of write in a statement trace: the synchronous settings it ran under."""
    current, seen = "FULL", dict[str, set[str]]()
    for statement in statements:
        words = statement.split()
        if words[:3] == ["PRAGMA", "synchronous", "="]:
            current = words[3]
        elif words[:1] == ["COMMIT"] or words[:3] == ["INSERT", "INTO", "step_attempts"]:
            seen.setdefault(" ".join(words[:3]), set()).add(current)
    return seen


async def test_under_full_a_step_waits_for_the_disk_once_for_its_result_not_for_its_history(tmp_path: Path) -> None:
    # The handler is a plain function, so it runs in a worker thread and the loop turns meanwhile: the run's and the
    # attempt's start records commit at that turn, unsynced; the result's commit syncs the whole log, them with it.
    async with steppe.Engine(client, database=tmp_path / "app.db", durability="full") as engine:
        statements: list[str] = []
        engine._store._db.set_trace_callback(statements.append)  # pyright: ignore[reportPrivateUsage]
        [run_id] = await engine.send(steppe.Event(name="durability/go"))
        assert (await engine.wait(run_id, timeout=30)).output == 2
        engine._store._db.set_trace_callback(None)  # pyright: ignore[reportPrivateUsage]
        assert connection_settings(engine)[0] == SYNCHRONOUS["full"]
        history = steppe.Runs(tmp_path / "app.db").get(run_id).steps
    assert settings_of_writes(statements) == {"INSERT INTO step_attempts": {"NORMAL"}, "COMMIT": {"NORMAL", "FULL"}}
    [add] = history
    assert add.id == "add" and len(add.attempts) == 1 and add.attempts[0].ended_at is not None


async def test_under_normal_no_write_changes_the_setting(tmp_path: Path) -> None:
    async with steppe.Engine(client, database=tmp_path / "app.db") as engine:
        statements: list[str] = []
        engine._store._db.set_trace_callback(statements.append)  # pyright: ignore[reportPrivateUsage]
        [run_id] = await engine.send(steppe.Event(name="durability/go"))
        assert (await engine.wait(run_id, timeout=30)).output == 2
        engine._store._db.set_trace_callback(None)  # pyright: ignore[reportPrivateUsage]
    assert not [statement for statement in statements if "synchronous" in statement]
    assert "INSERT INTO step_attempts" in settings_of_writes(statements)


@pytest.mark.parametrize("bad", ["FULL", "off", "", None, 2])
def test_a_bad_durability_is_refused_naming_the_option(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"^Engine: durability must be 'normal' or 'full', got ") as raised:
        steppe.Engine(client, durability=bad)
    assert repr(bad) in str(raised.value)


class RecordingEngine(Engine):
    """The real engine, noting the synchronous setting of its connection once open, then stopping the worker."""

    seen: ClassVar[list[int]] = []
    stop: ClassVar[asyncio.Event | None] = None

    async def __aenter__(self) -> RecordingEngine:
        await super().__aenter__()
        RecordingEngine.seen.append(connection_settings(self)[0])
        assert RecordingEngine.stop is not None
        RecordingEngine.stop.set()
        return self


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_the_worker_opens_its_engine_with_the_durability_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: steppe.Durability
) -> None:
    monkeypatch.setattr(worker_module, "Engine", RecordingEngine)
    monkeypatch.setattr(RecordingEngine, "seen", [])
    monkeypatch.setattr(RecordingEngine, "stop", asyncio.Event())
    assert RecordingEngine.stop is not None
    await worker_module.run_worker(client, tmp_path / "app.db", stop=RecordingEngine.stop, durability=durability)
    assert RecordingEngine.seen == [SYNCHRONOUS[durability]]


@pytest.mark.parametrize(("arguments", "expected"), [([], "normal"), (["--durability", "full"], "full")])
def test_steppe_worker_passes_durability_to_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], expected: str
) -> None:
    given: list[object] = []

    async def run_worker(app: object, database: object, **options: Any) -> None:
        given.append(options["durability"])

    monkeypatch.setattr(worker_module, "run_worker", run_worker)
    result = CliRunner().invoke(main, ["worker", APP, "--db", str(tmp_path / "app.db"), *arguments])
    assert result.exit_code == 0, result.output
    assert given == [expected]


def test_steppe_worker_refuses_a_bad_durability(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["worker", APP, "--db", str(tmp_path / "app.db"), "--durability", "off"])
    assert result.exit_code == 2
    assert "Invalid value for '--durability'" in result.output
    assert "'off' is not one of 'normal', 'full'" in result.output
    assert not (tmp_path / "app.db").exists()
