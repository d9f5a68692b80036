"""Opening a database again in the process that drives it must not drop the driving connection's locks.

On POSIX, closing any descriptor of a file releases every lock the process holds on it, SQLite's included. A
second ``Store`` in the engine's process (``steppe dev``'s UI, a ``Runs`` handle) must therefore not open and close
the database file to inspect it, or another process could write beside the engine and corrupt the file.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from steppe._engine.store import Store

OPEN_AND_CLOSE = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1])
connection.execute("SELECT count(*) FROM events").fetchone()
connection.close()
"""


def another_process_opens_and_closes(database: Path) -> None:
    subprocess.run([sys.executable, "-c", OPEN_AND_CLOSE, str(database)], check=True, timeout=60)


def test_a_second_store_in_the_same_process_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    wal = tmp_path / "app.db-wal"
    engine_store = Store.open(database)
    try:
        engine_store.insert_event("e1", "e", {"name": "e", "data": {}}, datetime.now(UTC))
        another_process_opens_and_closes(database)
        # The engine's connection holds a shared lock on the file, so a process closing its own connection knows
        # it is not the last one and leaves the write-ahead log in place.
        assert wal.exists()
        Store.open_reader(database).close()
        Store.open_shared(database).close()
        another_process_opens_and_closes(database)
        assert wal.exists(), "the engine's lock on the database was dropped: another process took it for unused"
        assert engine_store.count_events() == 1
    finally:
        engine_store.close()
