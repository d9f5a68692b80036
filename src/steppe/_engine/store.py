"""The embedded engine's durable state: one SQLite file, held by one engine at a time.

Every change that must happen together (a step's result and the removal of what it waited on, events and
the runs they start) is one transaction, so a crash at any point leaves either all of it or none.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Generator, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from steppe._core.errors import SteppeError
from steppe._core.outcomes import ErrorInfo, Memo, MemoData, MemoError, MemoJson

__all__ = ["DatabaseError", "PendingStart", "RunRecord", "RunStatus", "StepAttempts", "Store", "WaitRecord"]

# "STPP": marks a SQLite file as a steppe database, so we never write into someone else's.
APPLICATION_ID = 0x53545050
SCHEMA_VERSION = 1
SQLITE_HEADER = b"SQLite format 3\x00"

RunStatus = Literal["running", "completed", "failed", "cancelled"]
WaitKind = Literal["sleep", "event", "invoke"]

_SCHEMA = """
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
    singleton_key TEXT,
    created_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX runs_unfinished ON runs (status) WHERE status = 'running';
CREATE INDEX runs_singleton ON runs (function_id, singleton_key) WHERE status = 'running' AND singleton_key IS NOT NULL;
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
CREATE TABLE idempotency_keys (
    function_id TEXT NOT NULL,
    key TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (function_id, key)
);
CREATE TABLE rate_limit_starts (
    function_id TEXT NOT NULL,
    key TEXT NOT NULL,
    started_at REAL NOT NULL
);
CREATE INDEX rate_limit_window ON rate_limit_starts (function_id, key, started_at);

CREATE TABLE pending_starts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    function_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    event_ids TEXT NOT NULL,
    first_at REAL NOT NULL,
    due_at REAL NOT NULL
);
CREATE INDEX pending_by_group ON pending_starts (function_id, kind, key, seq);
CREATE TABLE throttle_starts (
    function_id TEXT NOT NULL,
    key TEXT NOT NULL,
    started_at REAL NOT NULL
);
CREATE INDEX throttle_window ON throttle_starts (function_id, key, started_at);
"""


class DatabaseError(SteppeError):
    """The database file cannot be used by this engine (not a steppe database, newer schema, locked)."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    function_id: str
    event_ids: tuple[str, ...]
    status: RunStatus
    attempt: int
    retry_at: datetime | None
    output: Any
    error: ErrorInfo | None
    parent_run_id: str | None
    parent_step: str | None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StepAttempts:
    """A step that has failed before and will be tried again."""

    attempts: int
    retry_at: datetime | None


@dataclass(frozen=True, slots=True)
class WaitRecord:
    kind: WaitKind
    wake_at: datetime | None
    event_name: str | None
    expression: str | None
    child_run_id: str | None


@dataclass(frozen=True, slots=True)
class PendingStart:
    """A run start held back by batching, debouncing or throttling: the events it will start with, and when."""

    seq: int
    event_ids: tuple[str, ...]
    first_at: datetime
    due_at: datetime


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _error_json(error: ErrorInfo) -> str:
    return json.dumps({"name": error.name, "message": error.message, "stack": error.stack})


def _error_from(text: str | None) -> ErrorInfo | None:
    if text is None:
        return None
    raw = json.loads(text)
    return ErrorInfo(name=raw["name"], message=raw["message"], stack=raw.get("stack"))


def _memo_from(status: str, data: str | None, error: str | None) -> Memo:
    if status == "completed":
        assert data is not None
        return MemoJson(data)
    info = _error_from(error)
    assert info is not None
    return MemoError(info)


class Store:
    """SQLite access for the engine; used from the engine's event-loop thread only."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self._db = connection
        self.path = path

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> Store:
        """Open (or create) a steppe database and take it for this engine alone.

        A file that is not a steppe database, or that another engine holds, is refused before anything is
        written to it.
        """
        location = str(path)
        if location != ":memory:":
            file = Path(location)
            if file.exists() and file.stat().st_size > 0:
                with file.open("rb") as handle:
                    if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                        raise DatabaseError(
                            f"{location} is not a steppe database (not an SQLite file); it was left untouched"
                        )
        try:
            connection = sqlite3.connect(location, timeout=0, isolation_level=None, check_same_thread=True)
        except sqlite3.Error as error:
            raise DatabaseError(f"cannot open {location}: {error}") from error
        try:
            # Held for the connection's lifetime: a second engine on the same file is refused, not interleaved.
            connection.execute("PRAGMA locking_mode = EXCLUSIVE")
            connection.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as error:
            connection.close()
            if "locked" in str(error) or "busy" in str(error):
                raise DatabaseError(f"{location} is in use by another steppe engine (database is locked)") from error
            raise DatabaseError(f"cannot open {location}: {error}") from error
        try:
            cls._check_or_create_schema(connection, location)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            connection.close()
            raise
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {synchronous}")
        connection.execute("PRAGMA foreign_keys = ON")
        return cls(connection, location)

    @staticmethod
    def _check_or_create_schema(connection: sqlite3.Connection, location: str) -> None:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if application_id == 0 and tables == 0:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                connection.execute(statement)
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        if application_id != APPLICATION_ID:
            raise DatabaseError(f"{location} is an SQLite database but not a steppe database; it was left untouched")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise DatabaseError(
                f"{location} has steppe schema version {version}; this steppe reads version {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Generator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- events and runs -------------------------------------------------------------------------

    def insert_event(self, event_id: str, name: str, payload: dict[str, Any], received_at: datetime) -> None:
        self._db.execute(
            "INSERT INTO events (id, name, payload, received_at) VALUES (?, ?, ?, ?)",
            (event_id, name, json.dumps(payload), received_at.timestamp()),
        )

    def load_events(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        payloads: list[dict[str, Any]] = []
        for event_id in event_ids:
            row = self._db.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                raise DatabaseError(f"{self.path}: event {event_id!r} of a run is missing")
            payloads.append(json.loads(row[0]))
        return payloads

    def create_run(
        self,
        run_id: str,
        function_id: str,
        event_ids: Sequence[str],
        now: datetime,
        *,
        parent_run_id: str | None = None,
        parent_step: str | None = None,
        singleton_key: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO runs (id, function_id, event_ids, status, created_at, parent_run_id, parent_step, singleton_key)"
            " VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
            (
                run_id,
                function_id,
                json.dumps(list(event_ids)),
                now.timestamp(),
                parent_run_id,
                parent_step,
                singleton_key,
            ),
        )

    def load_run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute(
            "SELECT id, function_id, event_ids, status, attempt, retry_at, output, error, parent_run_id, parent_step,"
            " created_at FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        return RunRecord(
            id=row[0],
            function_id=row[1],
            event_ids=tuple(json.loads(row[2])),
            status=row[3],
            attempt=row[4],
            retry_at=_dt(row[5]),
            output=None if row[6] is None else json.loads(row[6]),
            error=_error_from(row[7]),
            parent_run_id=row[8],
            parent_step=row[9],
            created_at=_dt(row[10]),
        )

    def unfinished_runs(self) -> list[tuple[str, str]]:
        """(run id, function id) of every run not finished yet, oldest first."""
        return list(self._db.execute("SELECT id, function_id FROM runs WHERE status = 'running' ORDER BY created_at"))

    def schedule_run_retry(self, run_id: str, attempt: int, retry_at: datetime) -> None:
        self._db.execute(
            "UPDATE runs SET attempt = ?, retry_at = ? WHERE id = ?", (attempt, retry_at.timestamp(), run_id)
        )

    def finish_run(
        self, run_id: str, status: RunStatus, now: datetime, *, output: Any = None, error: ErrorInfo | None = None
    ) -> None:
        self._db.execute(
            "UPDATE runs SET status = ?, output = ?, error = ?, ended_at = ?, retry_at = NULL WHERE id = ?",
            (status, json.dumps(output), None if error is None else _error_json(error), now.timestamp(), run_id),
        )

    def cancel_run(self, run_id: str, now: datetime, error: ErrorInfo) -> bool:
        """Mark a running run cancelled and drop what it waits on; False if it had already finished."""
        row = self._db.execute(
            "UPDATE runs SET status = 'cancelled', error = ?, ended_at = ?, retry_at = NULL WHERE id = ? AND status = 'running'"
            " RETURNING id",
            (_error_json(error), now.timestamp(), run_id),
        ).fetchone()
        if row is not None:
            self._db.execute("DELETE FROM waits WHERE run_id = ?", (run_id,))
        return row is not None

    def running_runs(self, function_ids: Iterable[str]) -> list[tuple[str, str, str, datetime]]:
        """(run id, function id, first event id, created at) of the running runs of these functions."""
        wanted = list(function_ids)
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        rows = self._db.execute(
            f"SELECT id, function_id, event_ids, created_at FROM runs WHERE status = 'running' AND function_id IN ({marks})"
            " ORDER BY created_at",
            wanted,
        )
        return [
            (run_id, function_id, json.loads(event_ids)[0], datetime.fromtimestamp(created_at, UTC))
            for run_id, function_id, event_ids, created_at in rows
        ]

    # -- flow control ----------------------------------------------------------------------------

    def singleton_running(self, function_id: str, key: str) -> bool:
        """Whether a run of ``function_id`` holding singleton ``key`` is still running."""
        row = self._db.execute(
            "SELECT 1 FROM runs WHERE function_id = ? AND singleton_key = ? AND status = 'running' LIMIT 1",
            (function_id, key),
        ).fetchone()
        return row is not None

    def idempotency_key_held(self, function_id: str, key: str, now: datetime) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM idempotency_keys WHERE function_id = ? AND key = ? AND expires_at > ?",
            (function_id, key, now.timestamp()),
        ).fetchone()
        return row is not None

    def hold_idempotency_key(self, function_id: str, key: str, expires_at: datetime) -> None:
        self._db.execute(
            "INSERT INTO idempotency_keys (function_id, key, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (function_id, key) DO UPDATE SET expires_at = excluded.expires_at",
            (function_id, key, expires_at.timestamp()),
        )

    def rate_limited_starts(self, function_id: str, key: str, since: datetime) -> int:
        """How many runs were started for ``key`` after ``since``; older records are dropped on the way."""
        self._db.execute(
            "DELETE FROM rate_limit_starts WHERE function_id = ? AND key = ? AND started_at <= ?",
            (function_id, key, since.timestamp()),
        )
        row = self._db.execute(
            "SELECT count(*) FROM rate_limit_starts WHERE function_id = ? AND key = ?", (function_id, key)
        ).fetchone()
        return int(row[0])

    def record_rate_limited_start(self, function_id: str, key: str, now: datetime) -> None:
        self._db.execute(
            "INSERT INTO rate_limit_starts (function_id, key, started_at) VALUES (?, ?, ?)",
            (function_id, key, now.timestamp()),
        )

    # -- held run starts (batch_events, debounce, throttle) ---------------------------------------
    # A group is (function id, kind, key value); its entries are kept in arrival order (seq).

    def pending(self, function_id: str, kind: str, key: str) -> list[PendingStart]:
        rows = self._db.execute(
            "SELECT seq, event_ids, first_at, due_at FROM pending_starts WHERE function_id = ? AND kind = ? AND key = ?"
            " ORDER BY seq",
            (function_id, kind, key),
        )
        return [
            PendingStart(
                seq, tuple(json.loads(ids)), datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(due, UTC)
            )
            for seq, ids, first, due in rows
        ]

    def add_pending(
        self, function_id: str, kind: str, key: str, event_ids: Sequence[str], first_at: datetime, due_at: datetime
    ) -> None:
        self._db.execute(
            "INSERT INTO pending_starts (function_id, kind, key, event_ids, first_at, due_at) VALUES (?, ?, ?, ?, ?, ?)",
            (function_id, kind, key, json.dumps(list(event_ids)), first_at.timestamp(), due_at.timestamp()),
        )

    def update_pending(self, seq: int, event_ids: Sequence[str], due_at: datetime) -> None:
        self._db.execute(
            "UPDATE pending_starts SET event_ids = ?, due_at = ? WHERE seq = ?",
            (json.dumps(list(event_ids)), due_at.timestamp(), seq),
        )

    def delete_pending(self, seq: int) -> None:
        self._db.execute("DELETE FROM pending_starts WHERE seq = ?", (seq,))

    def pending_due(self, function_id: str, kind: str, key: str) -> datetime | None:
        """When the group's earliest held start is due (None: nothing held)."""
        row = self._db.execute(
            "SELECT min(due_at) FROM pending_starts WHERE function_id = ? AND kind = ? AND key = ?",
            (function_id, kind, key),
        ).fetchone()
        return _dt(row[0])

    def pending_groups(self) -> list[tuple[str, str, str]]:
        """Every (function id, kind, key) with a held start, for an engine resuming on this file."""
        return list(
            self._db.execute(
                "SELECT DISTINCT function_id, kind, key FROM pending_starts ORDER BY function_id, kind, key"
            )
        )

    def throttle_starts(self, function_id: str, key: str, since: datetime) -> list[datetime]:
        """When the throttled runs started after ``since`` did, oldest first; older records are dropped."""
        self._db.execute(
            "DELETE FROM throttle_starts WHERE function_id = ? AND key = ? AND started_at <= ?",
            (function_id, key, since.timestamp()),
        )
        rows = self._db.execute(
            "SELECT started_at FROM throttle_starts WHERE function_id = ? AND key = ? ORDER BY started_at",
            (function_id, key),
        )
        return [datetime.fromtimestamp(row[0], UTC) for row in rows]

    def record_throttle_start(self, function_id: str, key: str, now: datetime) -> None:
        self._db.execute(
            "INSERT INTO throttle_starts (function_id, key, started_at) VALUES (?, ?, ?)",
            (function_id, key, now.timestamp()),
        )

    # -- steps -----------------------------------------------------------------------------------

    def load_steps(self, run_id: str) -> tuple[dict[str, Memo], dict[str, StepAttempts]]:
        """The run's stored step results, and the steps that failed before and will be tried again."""
        memos: dict[str, Memo] = {}
        retrying: dict[str, StepAttempts] = {}
        for step, status, data, error, attempts, retry_at in self._db.execute(
            "SELECT step, status, data, error, attempts, retry_at FROM steps WHERE run_id = ?", (run_id,)
        ):
            if status == "retrying":
                retrying[step] = StepAttempts(attempts, _dt(retry_at))
            else:
                memos[step] = _memo_from(status, data, error)
        return memos, retrying

    def load_memo(self, run_id: str, step: str) -> Memo | None:
        row = self._db.execute(
            "SELECT status, data, error FROM steps WHERE run_id = ? AND step = ? AND status != 'retrying'",
            (run_id, step),
        ).fetchone()
        return None if row is None else _memo_from(*row)

    def save_memo(self, run_id: str, step: str, user_id: str, memo: Memo, now: datetime) -> None:
        status, data, error = "completed", None, None
        match memo:
            case MemoJson(text=text):
                data = text if isinstance(text, str) else text.decode()
            case MemoData(value=value):
                data = json.dumps(value)
            case MemoError(error=failure):
                status, error = "failed", _error_json(failure)
        self._db.execute(
            "INSERT INTO steps (run_id, step, user_id, status, data, error, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status, data = excluded.data,"
            " error = excluded.error, ended_at = excluded.ended_at, retry_at = NULL",
            (run_id, step, user_id, status, data, error, now.timestamp()),
        )

    def record_step_retry(
        self, run_id: str, step: str, user_id: str, attempts: int, retry_at: datetime, error: ErrorInfo
    ) -> None:
        self._db.execute(
            "INSERT INTO steps (run_id, step, user_id, status, error, attempts, retry_at) VALUES (?, ?, ?, 'retrying', ?, ?, ?)"
            " ON CONFLICT (run_id, step) DO UPDATE SET attempts = excluded.attempts, retry_at = excluded.retry_at,"
            " error = excluded.error",
            (run_id, step, user_id, _error_json(error), attempts, retry_at.timestamp()),
        )

    # -- waits: sleeps, wait_for_event, invoke ----------------------------------------------------

    def load_wait(self, run_id: str, step: str) -> WaitRecord | None:
        row = self._db.execute(
            "SELECT kind, wake_at, event_name, expression, child_run_id FROM waits WHERE run_id = ? AND step = ?",
            (run_id, step),
        ).fetchone()
        if row is None:
            return None
        return WaitRecord(kind=row[0], wake_at=_dt(row[1]), event_name=row[2], expression=row[3], child_run_id=row[4])

    def insert_wait(self, run_id: str, step: str, user_id: str, wait: WaitRecord) -> None:
        self._db.execute(
            "INSERT INTO waits (run_id, step, user_id, kind, wake_at, event_name, expression, child_run_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, step, user_id, wait.kind, _ts(wait.wake_at), wait.event_name, wait.expression, wait.child_run_id),
        )

    def resolve_wait(self, run_id: str, step: str, memo: Memo, now: datetime) -> bool:
        """Replace a wait by its step's result, atomically; False if something else resolved it first."""
        with self.transaction():
            row = self._db.execute(
                "DELETE FROM waits WHERE run_id = ? AND step = ? RETURNING user_id", (run_id, step)
            ).fetchone()
            if row is not None:
                self.save_memo(run_id, step, row[0], memo, now)
        return row is not None

    def event_waits(self, event_name: str) -> list[tuple[str, str, str | None]]:
        """(run_id, step, expression) of each run waiting for ``event_name``."""
        return list(
            self._db.execute(
                "SELECT run_id, step, expression FROM waits WHERE kind = 'event' AND event_name = ? ORDER BY rowid",
                (event_name,),
            )
        )

    def invoke_wait(self, child_run_id: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT run_id, step FROM waits WHERE kind = 'invoke' AND child_run_id = ?", (child_run_id,)
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def step_user_ids(self, run_id: str, steps: Iterable[str]) -> list[str]:
        wanted = set(steps)
        rows = self._db.execute("SELECT step, user_id FROM steps WHERE run_id = ?", (run_id,))
        return [user_id for step, user_id in rows if step in wanted]
