"""Files an engine (or a reader) must refuse: each gets a DatabaseError naming the file and the cause in words,
and the file and everything beside it stay byte for byte as they were (no -wal, -shm or lock file appears)."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import steppe
from steppe._engine import database
from steppe._engine.store import Store

# Writes a row into another application's WAL database and dies without closing it: the -wal stays hot.
_HOT_WAL_WRITER = """
import os, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA journal_mode = WAL")
connection.execute("PRAGMA wal_autocheckpoint = 0")
connection.execute("CREATE TABLE customers (name TEXT)")
connection.execute("INSERT INTO customers VALUES ('ann')")
os._exit(0)
"""


def snapshot(directory: Path) -> dict[str, str]:
    """sha256 of every file in ``directory``: the database and any side file (-wal, -shm, -journal, .lock)."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in directory.iterdir() if path.is_file()}


async def open_engine(path: Path) -> None:
    async with steppe.Engine(steppe.Client("x"), database=path):
        pass


def steppe_database(path: Path, runs: int = 30) -> Path:
    """A real steppe database with some finished runs, closed cleanly (no side files)."""

    async def fill() -> None:
        client = steppe.Client("filler")

        @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
        async def f(ctx: steppe.Context, step: steppe.Step) -> str:
            return await step.run("pad", lambda: "x" * 2000)

        async with steppe.Engine(client, database=path) as engine:
            for run_id in await engine.send([steppe.Event(name="go") for _ in range(runs)]):
                await engine.wait(run_id, timeout=10)

    asyncio.run(fill())
    return path


def not_sqlite(directory: Path) -> Path:
    path = directory / "notes.txt"
    path.write_bytes(b"my precious notes\n" * 10)
    return path


def foreign_sqlite(directory: Path) -> Path:
    path = directory / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE customers (name TEXT)")
    connection.commit()
    connection.close()
    return path


def foreign_sqlite_with_hot_wal(directory: Path) -> Path:
    path = directory / "other-wal.db"
    subprocess.run([sys.executable, "-c", _HOT_WAL_WRITER, str(path)], check=True)
    assert path.with_name("other-wal.db-wal").stat().st_size > 0
    return path


def only_user_version_set(directory: Path) -> Path:
    path = directory / "versioned.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 7")
    connection.close()
    return path


def truncated_steppe_database(directory: Path) -> Path:
    path = steppe_database(directory / "truncated.db")
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2)
    return path


def steppe_database_cut_inside_its_header(directory: Path) -> Path:
    path = steppe_database(directory / "stub.db")
    with path.open("r+b") as handle:
        handle.truncate(60)
    return path


def steppe_database_with_overwritten_pages(directory: Path) -> Path:
    path = steppe_database(directory / "overwritten.db")
    page_size = int.from_bytes(path.read_bytes()[16:18], "big")
    pages = path.stat().st_size // page_size
    with path.open("r+b") as handle:
        for page in (pages // 4, pages // 2, 3 * pages // 4):  # three pages inside the tables, header intact
            handle.seek(page * page_size)
            handle.write(bytes((page + i * 7) % 256 for i in range(page_size)))
    return path


def read_only_steppe_database(directory: Path) -> Path:
    path = steppe_database(directory / "readonly.db")
    path.chmod(0o444)
    return path


def a_directory(directory: Path) -> Path:
    path = directory / "folder.db"
    path.mkdir()
    return path


def missing_parent(directory: Path) -> Path:
    return directory / "no-such-directory" / "app.db"


Maker = Callable[[Path], Path]

REFUSED_BY_ENGINE: list[tuple[Maker, str]] = [
    (not_sqlite, r"notes.txt is not a steppe database \(not an SQLite file\)"),
    (foreign_sqlite, r"other.db is not a steppe database \(another application's SQLite file\)"),
    (foreign_sqlite_with_hot_wal, r"other-wal.db is not a steppe database \(another application's SQLite file\)"),
    (only_user_version_set, r"versioned.db is not a steppe database \(another application's SQLite file\)"),
    (truncated_steppe_database, r"truncated.db is damaged \(truncated: \d+ bytes, but its header records \d+ pages"),
    (steppe_database_cut_inside_its_header, r"stub.db is damaged \(truncated to 60 bytes"),
    (steppe_database_with_overwritten_pages, r"overwritten.db is damaged \("),
    (read_only_steppe_database, r"readonly.db is read-only"),
    (a_directory, r"folder.db is a directory"),
    (missing_parent, r"app.db: its directory does not exist"),
]


@pytest.mark.parametrize(("make", "message"), REFUSED_BY_ENGINE, ids=[make.__name__ for make, _ in REFUSED_BY_ENGINE])
def test_an_engine_refuses_the_file_and_leaves_it_untouched(tmp_path: Path, make: Maker, message: str) -> None:
    path = make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(steppe.DatabaseError) as refused:
        asyncio.run(open_engine(path))
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "no-such-directory").exists()
    assert refused.match(message)


# A reader may read a read-only file (see below); everything else the engine refuses, it refuses the same way.
REFUSED_BY_READER = [case for case in REFUSED_BY_ENGINE if case[0] is not read_only_steppe_database]


@pytest.mark.parametrize(("make", "message"), REFUSED_BY_READER, ids=[make.__name__ for make, _ in REFUSED_BY_READER])
def test_a_reader_refuses_the_file_and_leaves_it_untouched(tmp_path: Path, make: Maker, message: str) -> None:
    path = make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(steppe.DatabaseError) as refused:
        Store.open_reader(path)
    assert snapshot(tmp_path) == before
    assert refused.match(message)


def test_a_reader_refuses_a_missing_or_empty_file_without_creating_anything(tmp_path: Path) -> None:
    with pytest.raises(steppe.DatabaseError, match=r"absent.db does not exist"):
        Store.open_reader(tmp_path / "absent.db")
    (tmp_path / "empty.db").touch()
    with pytest.raises(steppe.DatabaseError, match=r"empty.db holds no steppe database yet \(the file is empty\)"):
        Store.open_reader(tmp_path / "empty.db")
    assert snapshot(tmp_path) == {"empty.db": hashlib.sha256(b"").hexdigest()}


def test_a_reader_reads_a_read_only_database_without_side_files(tmp_path: Path) -> None:
    path = read_only_steppe_database(tmp_path)
    before = snapshot(tmp_path)
    reader = Store.open_reader(path)
    try:
        assert [run.status for run in reader.list_runs()] == ["completed"] * 30
    finally:
        reader.close()
    assert snapshot(tmp_path) == before


def test_an_empty_file_becomes_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    path.touch()
    asyncio.run(open_engine(path))
    reader = Store.open_reader(path)
    try:
        assert reader.list_runs() == []
    finally:
        reader.close()
    assert sorted(snapshot(tmp_path)) == ["fresh.db"]  # closed cleanly: no -wal, -shm or lock file left


def test_a_live_database_caught_mid_checkpoint_is_not_called_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process's checkpoint may have written the header (more pages) but not yet extended the file. Shown
    # here by a cut file with a -wal beside it that regains its length while the check waits to look again.
    path = steppe_database(tmp_path / "live.db")
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    (tmp_path / "live.db-wal").write_bytes(b"")
    waits: list[float] = []

    def checkpoint_ends(seconds: float) -> None:
        waits.append(seconds)
        path.write_bytes(whole)

    monkeypatch.setattr(time, "sleep", checkpoint_ends)
    assert database.check_file(path, access="read") == "steppe"
    assert len(waits) == 1


def test_a_cut_file_with_a_wal_beside_it_is_still_damaged_after_looking_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = truncated_steppe_database(tmp_path)
    (tmp_path / "truncated.db-wal").write_bytes(b"")
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    with pytest.raises(steppe.DatabaseError, match=r"truncated.db is damaged \(truncated: \d+ bytes"):
        database.check_file(path, access="read")
    assert len(waits) == 2
