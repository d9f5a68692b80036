"""Bad input gets a clear error naming the thing at fault, and nothing stored is lost."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

import steppe
from steppe._core.serde import UnsupportedTypeError
from steppe._engine.store import DatabaseError


def test_handler_with_wrong_signature_is_refused_at_definition() -> None:
    client = steppe.Client("bad")
    with pytest.raises(steppe.FunctionDefinitionError, match=r"'bad-f'.*must accept exactly \(ctx, step\)"):
        # The handler lacks `step` on purpose: the checkers refuse it too.
        @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType, reportUntypedFunctionDecorator]
        async def f(ctx: steppe.Context) -> None:
            return None


def test_async_handler_annotated_with_sync_steps_is_refused() -> None:
    client = steppe.Client("bad")
    with pytest.raises(steppe.FunctionDefinitionError, match=r"async def handler receives steppe.Step"):

        @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
        async def f(ctx: steppe.Context, step: steppe.StepSync) -> None:
            return None


def test_duplicate_fn_id_is_refused() -> None:
    client = steppe.Client("dup")

    @client.create_function(fn_id="same", trigger=steppe.TriggerEvent(event="a"))
    async def first(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    with pytest.raises(steppe.FunctionDefinitionError, match=r"already has a function with fn_id 'same'"):

        @client.create_function(fn_id="same", trigger=steppe.TriggerEvent(event="b"))
        async def second(ctx: steppe.Context, step: steppe.Step) -> None:
            return None


@pytest.mark.parametrize("name", ["", "   "])
def test_trigger_with_empty_event_name_is_refused(name: str) -> None:
    with pytest.raises(
        steppe.FunctionDefinitionError, match=r"TriggerEvent: the event name must be a non-empty string"
    ):
        steppe.TriggerEvent(event=name)


def test_invalid_cron_is_refused() -> None:
    with pytest.raises(steppe.FunctionDefinitionError, match=r"'every tuesday' is not a valid cron expression"):
        steppe.TriggerCron(cron="every tuesday")


async def test_unstorable_step_output_fails_that_step_only(make_engine: Any) -> None:
    client = steppe.Client("unstorable")

    def make_lock() -> object:
        return threading.Lock()

    @client.create_function(fn_id="bad", trigger=steppe.TriggerEvent(event="go"))
    async def bad(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.run("make-lock", make_lock)

    @client.create_function(fn_id="good", trigger=steppe.TriggerEvent(event="go"))
    async def good(ctx: steppe.Context, step: steppe.Step) -> int:
        return await step.run("one", lambda: 1)

    engine = await make_engine(client)
    run_ids = await engine.send(steppe.Event(name="go"))
    results = {r.function_id: r for r in [await engine.wait(run_id, timeout=10) for run_id in run_ids]}
    assert results["unstorable-good"].output == 1
    failed = results["unstorable-bad"]
    assert failed.status == "failed" and failed.error is not None
    assert "make-lock" in failed.error.message
    assert "lock" in failed.error.message


async def test_event_nobody_listens_to_starts_nothing(make_engine: Any) -> None:
    client = steppe.Client("quiet")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="something"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    engine = await make_engine(client)
    assert await engine.send(steppe.Event(name="something-else")) == []


async def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my precious notes\n" * 10)
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match=r"notes.txt is not a steppe database"):
        async with steppe.Engine(steppe.Client("x"), database=path):
            pass
    assert path.read_bytes() == before


async def test_a_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE customers (name TEXT)")
    connection.execute("INSERT INTO customers VALUES ('ann')")
    connection.commit()
    connection.close()
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match=r"other.db is not a steppe database \(another application.s SQLite file\)"):
        async with steppe.Engine(steppe.Client("x"), database=path):
            pass
    assert path.read_bytes() == before


async def test_a_database_held_by_another_engine_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with steppe.Engine(steppe.Client("first"), database=path):
        with pytest.raises(DatabaseError, match=r"in use by another steppe engine"):
            async with steppe.Engine(steppe.Client("second"), database=path):
                pass
    async with steppe.Engine(steppe.Client("third"), database=path):  # free again once the first has closed
        pass


async def test_a_step_declaring_an_unstorable_type_fails_at_once_naming_step_function_and_type(
    make_engine: Any,
) -> None:
    client = steppe.Client("unstorable-type")
    calls: list[int] = []

    def open_socket() -> socket.socket:
        calls.append(1)
        raise AssertionError("never executed: the declared type is refused before the step runs")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"), retries=3)
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.run("connect", open_socket)

    engine = await make_engine(client)
    [run_id] = await engine.send(steppe.Event(name="go"))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "failed" and result.error is not None
    assert result.error.name == "UnsupportedTypeError"
    assert "step 'connect' of function 'unstorable-type-f'" in result.error.message
    assert "socket" in result.error.message
    assert calls == []


def test_a_function_declaring_an_unstorable_output_is_refused_at_definition() -> None:
    client = steppe.Client("unstorable-output")
    with pytest.raises(UnsupportedTypeError, match=r"function 'unstorable-output-f'.*socket"):

        @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
        async def f(ctx: steppe.Context, step: steppe.Step) -> socket.socket:
            return socket.socket()
