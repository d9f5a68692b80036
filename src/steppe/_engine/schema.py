"""The steppe database schema as an ordered list of migrations; ``PRAGMA user_version`` is the version reached.

Migration N takes a database from version N-1 to N. A new database runs them all; an engine opening an older
one runs the missing ones, all in one transaction, so a failure leaves the file at its old version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from steppe._engine.database import DatabaseError

__all__ = ["SCHEMA_VERSION", "check_version", "migrate"]

# Version 1 as first written. Releases that followed added tables and a column but still wrote version 1,
# so a "version 1" file may hold this alone or more of what migration 2 adds; migration 2 adds what is missing.
_VERSION_1 = """
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    function_id TEXT NOT NULL,
    event_ids TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    retry_at REAL,
    output TEXT,
    error TEXT,
    parent_run_id TEXT,
    parent_step TEXT,
    created_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX runs_unfinished ON runs (status) WHERE status = 'running';
CREATE TABLE steps (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL,
    ended_at REAL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE waits (
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    wake_at REAL,
    event_name TEXT,
    expression TEXT,
    child_run_id TEXT,
    PRIMARY KEY (run_id, step)
);
CREATE INDEX waits_by_event ON waits (event_name) WHERE event_name IS NOT NULL;
CREATE INDEX waits_by_child ON waits (child_run_id) WHERE child_run_id IS NOT NULL;
"""

# What releases after the first added while still writing version 1 (flow control, then held starts).
_LATER_VERSION_1 = """
CREATE INDEX IF NOT EXISTS runs_singleton ON runs (function_id, singleton_key)
    WHERE status = 'running' AND singleton_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS idempotency_keys (
    function_id TEXT NOT NULL,
    key TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (function_id, key)
);
CREATE TABLE IF NOT EXISTS rate_limit_starts (
    function_id TEXT NOT NULL,
    key TEXT NOT NULL,
    started_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_limit_window ON rate_limit_starts (function_id, key, started_at);
CREATE TABLE IF NOT EXISTS pending_starts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    function_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    event_ids TEXT NOT NULL,
    first_at REAL NOT NULL,
    due_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_by_group ON pending_starts (function_id, kind, key, seq);
CREATE TABLE IF NOT EXISTS throttle_starts (
    function_id TEXT NOT NULL,
    key TEXT NOT NULL,
    started_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS throttle_window ON throttle_starts (function_id, key, started_at);
"""

# Run history: every attempt of every step (its output stays in steps), step kinds and start times.
_RUN_HISTORY = """
ALTER TABLE runs ADD COLUMN started_at REAL;
ALTER TABLE steps ADD COLUMN kind TEXT;
ALTER TABLE steps ADD COLUMN started_at REAL;
ALTER TABLE waits ADD COLUMN created_at REAL;
CREATE TABLE step_attempts (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    user_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    error TEXT
);
CREATE INDEX step_attempts_by_run ON step_attempts (run_id, step, attempt);
CREATE INDEX runs_by_created ON runs (created_at, id);
CREATE INDEX runs_by_function ON runs (function_id, created_at, id);
"""


# Operations from other processes: commands an engine picks up by polling (events to accept, runs cancelled or
# created elsewhere to stop or start), each applied and deleted in one transaction; the functions an engine
# drives (their ids as declared, for listings); steps started inside ``step.parallel``.
_OPERATIONS = """
CREATE TABLE inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE functions (
    id TEXT PRIMARY KEY,
    local_id TEXT NOT NULL,
    app_id TEXT NOT NULL
);
ALTER TABLE steps ADD COLUMN parallel TEXT;
CREATE INDEX runs_by_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
"""


# Indexed event matching: a wait whose if_exp needs ``event.<path> == async.<path>`` stores the incoming event's path
# and the equality key of its own event's value there (``match_value`` NULL: it can never match; both NULL: not
# indexed, evaluated for every event of its name). A running run's cancel conditions of that shape have their keys
# in ``cancel_keys``; ``runs.cancel_keyed`` names the set of conditions they were made for (NULL: not made yet).
_EVENT_INDEX = """
ALTER TABLE waits ADD COLUMN match_path TEXT;
ALTER TABLE waits ADD COLUMN match_value TEXT;
DROP INDEX waits_by_event;
CREATE INDEX waits_by_match ON waits (event_name, match_path, match_value) WHERE event_name IS NOT NULL;
ALTER TABLE runs ADD COLUMN cancel_keyed TEXT;
CREATE INDEX runs_cancel_unkeyed ON runs (function_id) WHERE status = 'running' AND cancel_keyed IS NULL;
CREATE TABLE cancel_keys (
    function_id TEXT NOT NULL,
    condition TEXT NOT NULL,
    value TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (function_id, condition, value, run_id)
) WITHOUT ROWID;
CREATE INDEX cancel_keys_by_run ON cancel_keys (run_id);
"""


def _execute_script(script: str) -> Callable[[sqlite3.Connection], None]:
    def run(connection: sqlite3.Connection) -> None:
        # Statement by statement: executescript would commit the enclosing transaction.
        for statement in filter(str.strip, script.split(";")):
            connection.execute(statement)

    return run


def _complete_version_1(connection: sqlite3.Connection) -> None:
    columns = {row[1] for row in connection.execute("PRAGMA table_info(runs)")}
    if "singleton_key" not in columns:
        connection.execute("ALTER TABLE runs ADD COLUMN singleton_key TEXT")
    _execute_script(_LATER_VERSION_1)(connection)


def _version_2(connection: sqlite3.Connection) -> None:
    _complete_version_1(connection)
    _execute_script(_RUN_HISTORY)(connection)


# MIGRATIONS[n] takes a database from version n to n + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _execute_script(_VERSION_1),
    _version_2,
    _execute_script(_OPERATIONS),
    _execute_script(_EVENT_INDEX),
)
SCHEMA_VERSION = len(MIGRATIONS)


def check_version(version: int, path: str, *, migrating: bool) -> None:
    """Refuse a version this steppe cannot read (newer), or, without ``migrating``, one it must first upgrade."""
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"{path} was written by a newer steppe (schema version {version}; this steppe reads up to"
            f" {SCHEMA_VERSION}); it was left untouched"
        )
    if version < SCHEMA_VERSION and not migrating:
        raise DatabaseError(
            f"{path} was written by an older steppe (schema version {version}; this steppe reads"
            f" {SCHEMA_VERSION}): start an engine on it once to upgrade it"
        )


def migrate(connection: sqlite3.Connection, version: int, path: str) -> None:
    """Run the migrations after ``version``; call inside a write transaction (the caller rolls back on failure)."""
    for reached, migration in enumerate(MIGRATIONS[version:], start=version):
        try:
            migration(connection)
        except sqlite3.Error as error:
            raise DatabaseError(
                f"{path} could not be upgraded from schema version {reached} to {reached + 1} ({error});"
                f" it was left at version {version}"
            ) from error
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
