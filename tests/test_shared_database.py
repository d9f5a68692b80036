"""One engine drives a database; other processes read it, and add to it, while it runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

import steppe
from steppe._engine.store import Store

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}


def worker(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.storage_worker", *arguments],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


async def test_another_process_reads_the_database_while_an_engine_runs(tmp_path: Path) -> None:
    client = steppe.Client("visible")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.sleep("nap", timedelta(hours=1))

    database = tmp_path / "app.db"
    async with steppe.Engine(client, database=database, clock=steppe.ManualClock()) as engine:
        [run_id] = await engine.send(steppe.Event(name="go"))
        query = f"import sqlite3; print(sqlite3.connect('file:{database}?mode=ro', uri=True).execute('SELECT status FROM runs').fetchall())"
        seen = subprocess.run([sys.executable, "-c", query], capture_output=True, text=True, check=True).stdout
        assert seen.strip() == "[('running',)]"
        reader = Store.open_reader(database)
        try:
            [listed] = reader.list_runs()
            assert (listed.id, listed.status) == (run_id, "running")
            with pytest.raises(sqlite3.OperationalError, match="readonly"):  # the reader's connection refuses writes
                reader._db.execute("DELETE FROM runs")  # pyright: ignore[reportPrivateUsage]
        finally:
            reader.close()


async def test_a_second_engine_is_refused_naming_the_holder(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    async with steppe.Engine(steppe.Client("first"), database=database):
        with pytest.raises(steppe.DatabaseError) as refused:
            Store.open(database)
        message = str(refused.value)
        assert message.startswith(f"{database} is in use by another steppe engine (pid {os.getpid()} on host ")
        assert socket.gethostname() in message
        assert "since 20" in message and "one engine drives a database at a time" in message
    Store.open(database).close()  # free again once the first has closed


def test_a_link_to_a_driven_database_is_refused_too(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    (tmp_path / "alias.db").symlink_to(database)
    first = Store.open(database)
    try:
        with pytest.raises(steppe.DatabaseError, match=r"alias.db is in use by another steppe engine"):
            Store.open(tmp_path / "alias.db")
    finally:
        first.close()


def test_an_engine_in_another_process_is_named_and_a_killed_one_does_not_block(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    holder = worker("hold", str(database))
    try:
        wait_for(tmp_path / "ready", holder)
        with pytest.raises(steppe.DatabaseError, match=rf"in use by another steppe engine \(pid {holder.pid} on host"):
            Store.open(database)
        reader = Store.open_reader(database)  # readers are never blocked by the engine
        reader.close()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    assert holder.returncode == -signal.SIGKILL
    Store.open(database).close()  # the kernel dropped the killed engine's lock


def test_an_engine_a_reader_and_an_event_writer_in_three_processes_lose_nothing(tmp_path: Path) -> None:
    database = tmp_path / "busy.db"
    Store.open(database).close()
    stop = tmp_path / "stop"
    runs, events = 60, 120
    reader = worker("reader", str(database), str(stop))
    engine = worker("engine", str(database), str(runs))
    inserter = worker("inserter", str(database), str(events))
    for name, process in (("reader", reader), ("engine", engine), ("inserter", inserter)):
        wait_for(tmp_path / f"{name}-ready", process)
    (tmp_path / "start").touch()
    try:
        finish(engine)
        finish(inserter)
    finally:
        stop.touch()
    report = json.loads(finish(reader))
    assert report["reads"] > 0, report

    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall() == [
            ("completed", runs)
        ]
        assert connection.execute("SELECT name, count(*) FROM events GROUP BY name ORDER BY name").fetchall() == [
            ("go", runs),
            ("noted", events),
        ]
        assert connection.execute("SELECT count(*) FROM steps WHERE status = 'completed'").fetchone() == (3 * runs,)
    finally:
        connection.close()
