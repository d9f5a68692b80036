"""The embedded engine's durable state: one SQLite file, driven by one engine at a time, readable by others.

Every change that must happen together (a step's result and the removal of what it waited on, events and
the runs they start) is one transaction, so a crash at any point leaves either all of it or none. Which
files are refused, and the one-engine lock, live in ``database``; the schema and its migrations in ``schema``.
Every SQLite failure that lies in the file or its disk leaves this module as a ``StorageError`` naming the
file and the cause (``StorageErrors``, the one place that translates them).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from steppe._core.outcomes import ErrorInfo, Memo, MemoData, MemoError, MemoJson
from steppe._engine.database import (
    APPLICATION_ID,
    BUSY_TIMEOUT_SECONDS,
    DatabaseError,
    Durability,
    StorageError,
    WriterLock,
    check_file,
    check_integrity,
    note_connected,
    note_disconnected,
    sqlite_cause,
    synchronous_setting,
    writable,
)
from steppe._engine.matching import ALWAYS_CANDIDATE, waiting_key
from steppe._engine.schema import SCHEMA_VERSION, check_version, migrate

__all__ = [
    "AttemptRecord",
    "DatabaseError",
    "InboxCommand",
    "InboxKind",
    "PendingStart",
    "RunDetail",
    "RunRecord",
    "RunStatus",
    "RunSummary",
    "StepAttempts",
    "StepKind",
    "StepRecord",
    "StorageError",
    "StorageErrors",
    "Store",
    "WaitDetail",
    "WaitRecord",
]

RunStatus = Literal["running", "completed", "failed", "cancelled"]
WaitKind = Literal["sleep", "event", "invoke"]
StepKind = Literal["run", "sleep", "wait", "invoke", "send"]
StepStatus = Literal["completed", "failed", "retrying"]

_T = TypeVar("_T")

logger = logging.getLogger("steppe.engine")

# The step kind a wait's result is stored under.
_WAIT_STEP_KIND: dict[str, StepKind] = {"sleep": "sleep", "event": "wait", "invoke": "invoke"}


class StorageErrors:
    """Context manager: an SQLite failure of the file or its disk becomes a StorageError naming file and cause.

    Other SQLite errors (a constraint, a malformed statement) are steppe's own faults and pass unchanged.
    """

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, sqlite3.Error):
            cause = sqlite_cause(exc)
            if cause is not None:
                raise StorageError(f"{self.path}: {cause} ({exc})") from exc


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
    started_at: datetime | None = None
    ended_at: datetime | None = None


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
class RunSummary:
    """One line of a run listing."""

    id: str
    function_id: str
    status: RunStatus
    attempt: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class StepRecord:
    """A step of a run as stored: its outcome, or the retry it waits for. ``kind`` and ``started_at`` are None
    for steps stored before schema version 2 (or by an engine that does not record them)."""

    step: str
    user_id: str
    kind: StepKind | None
    status: StepStatus
    attempts: int
    started_at: datetime | None
    ended_at: datetime | None
    retry_at: datetime | None
    error: ErrorInfo | None
    output: str | None = None  # the stored JSON text of a completed step's result
    parallel: str | None = None  # the ``step.parallel`` mode it was started in, if it was


@dataclass(frozen=True, slots=True)
class WaitDetail:
    """What a run waits on at one step (a sleep, an event, a child run), and since when."""

    step: str
    user_id: str
    wait: WaitRecord
    since: datetime | None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a step: ``ended_at`` None while it runs (or if its engine stopped during it)."""

    step: str
    user_id: str
    attempt: int
    started_at: datetime
    ended_at: datetime | None
    error: ErrorInfo | None


@dataclass(frozen=True, slots=True)
class RunDetail:
    run: RunRecord
    steps: tuple[StepRecord, ...]
    waits: tuple[WaitDetail, ...]


@dataclass(frozen=True, slots=True)
class PendingStart:
    """A run start held back by batching, debouncing or throttling: the events it will start with, and when."""

    seq: int
    event_ids: tuple[str, ...]
    first_at: datetime
    due_at: datetime


def _connect(location: str, *, uri: bool = False) -> sqlite3.Connection:
    try:
        return sqlite3.connect(
            location, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=True, uri=uri
        )
    except sqlite3.Error as error:
        raise DatabaseError(f"cannot open {location}: {sqlite_cause(error) or error}") from error


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
    """SQLite access for the engine; used from one thread only (the engine's event loop, or a reader's)."""

    def __init__(
        self, connection: sqlite3.Connection, path: str, *, lock: WriterLock | None = None, synced: bool = False
    ) -> None:
        self._db = connection
        self.path = path
        self._lock = lock
        self._synced = synced  # every commit is synced to disk (durability "full")
        self._queued: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []  # see commit
        self._history: list[tuple[str, tuple[object, ...]]] = []  # see _note_history
        self._history_flush_due = False
        self._guard = StorageErrors(path)
        self._file = None if path == ":memory:" else Path(path)
        if self._file is not None:
            note_connected(self._file)

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, durability: Durability = "normal") -> Store:
        """Open (or create) a steppe database for the one engine that drives it, upgrading an older schema.

        ``durability`` sets what its commits survive (``database.Durability``; no effect on ``:memory:``).

        A file that is not a steppe database, is damaged or read-only, was written by a newer steppe, or is
        driven by another engine is refused with a DatabaseError before anything is written to it.
        """
        location = str(path)
        if location == ":memory:":
            connection = _connect(location)
            cls._prepare(connection, location, new=True)
            return cls(connection, location)
        file = Path(location)
        check_file(file, access="create")  # refuses someone else's file before the lock file appears beside it
        lock = WriterLock.acquire(file)
        try:
            state = check_file(file, access="create")  # again: it may have changed before the lock was ours
            connection = _connect(location)
            try:
                if state == "steppe":
                    check_integrity(connection, location)
                cls._prepare(connection, location, new=state == "new")
                with StorageErrors(location):
                    connection.execute("PRAGMA journal_mode = WAL")
                    connection.execute(f"PRAGMA synchronous = {synchronous_setting(durability)}")
            except BaseException:
                connection.close()
                raise
        except BaseException:
            lock.release()
            raise
        return cls(connection, location, lock=lock, synced=durability == "full")

    @classmethod
    def open_reader(cls, path: str | Path) -> Store:
        """A read-only view of an existing steppe database, with or without an engine driving it.

        Never creates, migrates or writes anything (a database of an older schema is refused: an engine
        upgrades it), and refuses the files ``open`` refuses, in the same words.
        """
        file = Path(path)
        check_file(file, access="read")
        if writable(file):
            # Not mode=ro: a read-only connection leaves -wal and -shm behind; this one removes them when it
            # closes last, and query_only refuses every write.
            connection = _connect(f"{file.resolve().as_uri()}?mode=rw", uri=True)
            connection.execute("PRAGMA query_only = ON")
        else:  # no one can write it, so SQLite may read it without locks or side files
            connection = _connect(f"{file.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        return cls._existing(connection, file)

    @classmethod
    def open_shared(cls, path: str | Path) -> Store:
        """A writing connection to an existing, current steppe database for a process that is not its engine.

        For tools that add to a database an engine drives (events, for one): it takes no engine lock and
        never creates or migrates anything; concurrent writes wait for each other up to the busy timeout.
        """
        file = Path(path)
        check_file(file, access="write")
        connection = _connect(f"{file.resolve().as_uri()}?mode=rw", uri=True)
        return cls._existing(connection, file)

    @classmethod
    def _existing(cls, connection: sqlite3.Connection, file: Path) -> Store:
        """A store over ``connection`` to an existing database that must be sound and current (else closed)."""
        try:
            cls._check_existing(connection, str(file), migrating=False)
        except BaseException:
            connection.close()
            raise
        return cls(connection, str(file))

    @staticmethod
    def _check_existing(connection: sqlite3.Connection, location: str, *, migrating: bool) -> None:
        check_integrity(connection, location)
        with StorageErrors(location):
            version = connection.execute("PRAGMA user_version").fetchone()[0]
        check_version(version, location, migrating=migrating)

    @staticmethod
    def _prepare(connection: sqlite3.Connection, location: str, *, new: bool) -> None:
        """Create the schema in a new database, or bring an older one up to date; one transaction."""
        with StorageErrors(location):
            connection.execute("BEGIN IMMEDIATE")
            try:
                application_id = connection.execute("PRAGMA application_id").fetchone()[0]
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if new:
                    if (application_id, version, tables) != (0, 0, 0):
                        raise DatabaseError(f"{location} changed while it was being opened; it was left untouched")
                    # Before WAL mode: the application id lands in the file itself, where check_file reads it.
                    connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                elif application_id != APPLICATION_ID or version == 0:
                    raise DatabaseError(f"{location} is damaged (steppe's header, but no steppe schema inside)")
                check_version(version, location, migrating=True)
                if version < SCHEMA_VERSION:
                    migrate(connection, version, location)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def close(self) -> None:
        if self._queued:  # changes of runs stopped while they waited for their commit: stored, as before a stop
            self._commit_queued()
        try:
            self._write_history()
        except StorageError as error:  # the file is still closed and released: only these records are lost
            logger.warning("steppe: run history could not be stored before closing; it is lost (%s)", error)
        self._db.close()
        if self._file is not None:
            note_disconnected(self._file)
            self._file = None
        if self._lock is not None:  # after the connection: the last one out removes -wal and -shm
            self._lock.release()
            self._lock = None

    @contextmanager
    def transaction(self) -> Generator[None]:
        """One atomic change; it also stores the run history queued until now (``_note_history``)."""
        with self._guard:
            self._db.execute("BEGIN IMMEDIATE")
        try:
            history = len(self._history)
            if history:
                with self._guard:
                    for sql, parameters in self._history:
                        self._db.execute(sql, parameters)
            yield
            with self._guard:
                self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                with self._guard:
                    self._db.execute("ROLLBACK")
            raise
        del self._history[:history]

    @property
    def commits_at_once(self) -> bool:
        """Whether ``commit`` stores a change at once, as a transaction of its own: under every durability but
        "full" (where a change waits for its group's commit)."""
        return not self._synced

    def commit_at_once(self, change: Callable[[], _T]) -> _T:
        """``commit`` when ``commits_at_once``: ``change`` as a transaction of its own, now, for a caller that
        cannot await (which checks ``commits_at_once`` first)."""
        with self.transaction():
            return change()

    async def commit(self, change: Callable[[], _T]) -> _T:
        """Make ``change`` (a function running this store's statements) one atomic change; returns its result once
        it is committed, and so, under durability "full", on disk.

        Under "full" this is group commit: the changes waiting at the same turn of the event loop run together at
        the next turn, each in its own savepoint, in one transaction that syncs once. A change that raises is
        undone alone and raises to its caller; if the transaction cannot commit, none of them is stored and each
        caller gets the StorageError. Otherwise (and on ``:memory:``) it is a transaction of its own, at once.
        """
        if not self._synced:
            return self.commit_at_once(change)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[_T] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._commit_queued)
        self._queued.append((change, done))
        return await done

    def _commit_queued(self) -> None:
        """Run the queued changes in one transaction and commit it (see ``commit``); settles each caller's future.

        A caller cancelled meanwhile (its run stopped) still has its change stored: the work it records was done.
        """
        queued, self._queued = self._queued, []
        outcomes: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []
        if len(queued) == 1:  # alone: its own transaction, undone whole if it fails
            [(change, done)] = queued
            try:
                with self.transaction():
                    value = change()
            except Exception as error:  # noqa: BLE001 - handed to its caller
                _settle(done, error, None)
            except BaseException:
                done.cancel()
                raise
            else:
                _settle(done, None, value)
            return
        try:
            with self.transaction():
                for change, done in queued:
                    self._execute("SAVEPOINT queued_change")
                    try:
                        value = change()
                    except Exception as error:  # this change's failure, handed to its caller
                        if not self._db.in_transaction:  # SQLite undid the whole transaction (a full disk, say)
                            raise
                        self._execute("ROLLBACK TO queued_change")
                        outcomes.append((done, error, None))
                    else:
                        outcomes.append((done, None, value))
                    self._execute("RELEASE queued_change")
        except Exception as error:  # noqa: BLE001 - the transaction failed: nothing of it is stored; every caller is told
            for _, done in queued:
                _settle(done, _shared_failure(error), None)
            return
        except BaseException:
            for _, done in queued:
                done.cancel()
            raise
        for done, failure, value in outcomes:
            _settle(done, failure, value)

    # -- statements: every one runs inside the guard ----------------------------------------------

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        with self._guard:
            self._db.execute(sql, parameters)

    def _note_history(self, sql: str, parameters: tuple[object, ...]) -> None:
        """Queue a record of run history (when a run or an attempt began) for the next commit.

        History is not state: nothing is decided from it, so it need not cost a commit of its own. A step that
        ends within the loop turn it began in stores its start with its result, one commit where it took two;
        one that goes on longer (it awaits, or runs in a thread) has its start stored at the next turn of the loop
        (``_flush_history``). A process that dies before then loses the record with the attempt, which then runs
        again, as a power cut under durability "full" may (that commit is not synced: the next synced commit
        makes it durable with it, in WAL mode a sync of the whole log). Outside an event loop it is stored at once.
        """
        self._history.append((sql, parameters))
        if self._history_flush_due:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write_history()
            return
        self._history_flush_due = True
        loop.call_soon(self._flush_history)

    def _flush_history(self) -> None:
        self._history_flush_due = False
        if self._queued:  # a group commit at this turn carries it
            return
        try:
            self._write_history()
        except StorageError as error:  # kept: the next commit stores it, or fails with this to its caller
            logger.warning("steppe: run history could not be stored yet; it goes with the next commit (%s)", error)

    def _write_history(self) -> None:
        """Store the queued history now, in a commit of its own that does not wait for the disk."""
        if not self._history or self._db.in_transaction:  # in a transaction: the next one stores it
            return
        if self._synced:
            with self._guard:
                self._db.execute("PRAGMA synchronous = NORMAL")
        try:
            with self.transaction():
                pass
        finally:
            if self._synced:
                with self._guard:
                    self._db.execute("PRAGMA synchronous = FULL")

    def _one(self, sql: str, parameters: Sequence[Any] = ()) -> Any:
        with self._guard:
            return self._db.execute(sql, parameters).fetchone()

    def _all(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with self._guard:
            return self._db.execute(sql, parameters).fetchall()

    # -- events and runs -------------------------------------------------------------------------

    def insert_event(self, event_id: str, name: str, payload: dict[str, Any], received_at: datetime) -> None:
        self._execute(
            "INSERT INTO events (id, name, payload, received_at) VALUES (?, ?, ?, ?)",
            (event_id, name, json.dumps(payload), received_at.timestamp()),
        )

    def count_events(self, name: str | None = None) -> int:
        """How many events are stored (of ``name``, if given)."""
        if name is None:
            return int(self._one("SELECT count(*) FROM events")[0])
        return int(self._one("SELECT count(*) FROM events WHERE name = ?", (name,))[0])

    def load_events(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        payloads: list[dict[str, Any]] = []
        for event_id in event_ids:
            row = self._one("SELECT payload FROM events WHERE id = ?", (event_id,))
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
        self._execute(
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
        row = self._one(
            "SELECT id, function_id, event_ids, status, attempt, retry_at, output, error, parent_run_id, parent_step,"
            " created_at, started_at, ended_at FROM runs WHERE id = ?",
            (run_id,),
        )
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
            started_at=_dt(row[11]),
            ended_at=_dt(row[12]),
        )

    def unfinished_runs(self) -> list[tuple[str, str]]:
        """(run id, function id) of every run not finished yet, oldest first."""
        return list(self._all("SELECT id, function_id FROM runs WHERE status = 'running' ORDER BY created_at"))

    def schedule_run_retry(self, run_id: str, attempt: int, retry_at: datetime) -> None:
        self._execute("UPDATE runs SET attempt = ?, retry_at = ? WHERE id = ?", (attempt, retry_at.timestamp(), run_id))

    def finish_run(
        self, run_id: str, status: RunStatus, now: datetime, *, output: Any = None, error: ErrorInfo | None = None
    ) -> bool:
        """End a running run with ``status``; False (and nothing written) if it was not running any more."""
        row = self._one(
            # Only a running run: one cancelled meanwhile (from another process, say) stays cancelled.
            "UPDATE runs SET status = ?, output = ?, error = ?, ended_at = ?, retry_at = NULL"
            " WHERE id = ? AND status = 'running' RETURNING id",
            (status, json.dumps(output), None if error is None else _error_json(error), now.timestamp(), run_id),
        )
        if row is not None:
            self._execute("DELETE FROM cancel_keys WHERE run_id = ?", (run_id,))
        return row is not None

    def cancel_run(self, run_id: str, now: datetime, error: ErrorInfo) -> bool:
        """Mark a running run cancelled and drop what it waits on; False if it had already finished."""
        row = self._one(
            "UPDATE runs SET status = 'cancelled', error = ?, ended_at = ?, retry_at = NULL WHERE id = ? AND status = 'running'"
            " RETURNING id",
            (_error_json(error), now.timestamp(), run_id),
        )
        if row is not None:
            self._execute("DELETE FROM waits WHERE run_id = ?", (run_id,))
            self._execute("DELETE FROM cancel_keys WHERE run_id = ?", (run_id,))
        return row is not None

    def running_runs(self, function_ids: Iterable[str]) -> list[tuple[str, str, str, datetime]]:
        """(run id, function id, first event id, created at) of the running runs of these functions."""
        wanted = list(function_ids)
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        rows = self._all(
            f"SELECT id, function_id, event_ids, created_at FROM runs WHERE status = 'running' AND function_id IN ({marks})"
            " ORDER BY created_at",
            wanted,
        )
        return [
            (run_id, function_id, json.loads(event_ids)[0], datetime.fromtimestamp(created_at, UTC))
            for run_id, function_id, event_ids, created_at in rows
        ]

    # -- cancel conditions, indexed (see steppe._engine.matching) --------------------------------

    def forget_cancel_keys(self, function_id: str, fingerprint: str) -> None:
        """Mark the running runs of ``function_id`` whose cancel keys were made for other conditions as not keyed."""
        self._execute(
            "UPDATE runs SET cancel_keyed = NULL WHERE status = 'running' AND function_id = ?"
            " AND cancel_keyed IS NOT NULL AND cancel_keyed <> ?",
            (function_id, fingerprint),
        )

    def unkeyed_running_runs(self, function_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(run id, first event) of the running runs of ``function_id`` whose cancel keys are not made yet."""
        rows = self._all(
            "SELECT runs.id, events.payload FROM runs"
            " LEFT JOIN events ON events.id = json_extract(runs.event_ids, '$[0]')"
            " WHERE runs.status = 'running' AND runs.function_id = ? AND runs.cancel_keyed IS NULL",
            (function_id,),
        )
        for run_id, payload in rows:
            if payload is None:
                raise DatabaseError(f"{self.path}: the event of run {run_id!r} is missing")
        return [(run_id, json.loads(payload)) for run_id, payload in rows]

    def set_cancel_keys(self, run_id: str, function_id: str, fingerprint: str, keys: Iterable[tuple[str, str]]) -> None:
        """Replace the run's cancel keys by ``keys`` ((condition, key)), made for the conditions ``fingerprint`` names."""
        self._execute("DELETE FROM cancel_keys WHERE run_id = ?", (run_id,))
        with self._guard:
            self._db.executemany(
                "INSERT OR IGNORE INTO cancel_keys (function_id, condition, value, run_id) VALUES (?, ?, ?, ?)",
                [(function_id, condition, key, run_id) for condition, key in keys],
            )
        self._execute("UPDATE runs SET cancel_keyed = ? WHERE id = ?", (fingerprint, run_id))

    def cancel_candidates(self, function_id: str, condition: str, key: str) -> list[tuple[str, str, datetime]]:
        """(run id, first event id, created at) of the running runs whose key for ``condition`` is ``key`` (or
        ``ALWAYS_CANDIDATE``)."""
        rows = self._all(
            "SELECT runs.id, runs.event_ids, runs.created_at FROM cancel_keys JOIN runs ON runs.id = cancel_keys.run_id"
            " WHERE cancel_keys.function_id = ? AND cancel_keys.condition = ? AND cancel_keys.value IN (?, ?)"
            " AND runs.status = 'running'",
            (function_id, condition, key, ALWAYS_CANDIDATE),
        )
        return [
            (run_id, json.loads(event_ids)[0], datetime.fromtimestamp(created_at, UTC))
            for run_id, event_ids, created_at in rows
        ]

    # -- flow control ----------------------------------------------------------------------------

    def singleton_running(self, function_id: str, key: str) -> bool:
        """Whether a run of ``function_id`` holding singleton ``key`` is still running."""
        row = self._one(
            "SELECT 1 FROM runs WHERE function_id = ? AND singleton_key = ? AND status = 'running' LIMIT 1",
            (function_id, key),
        )
        return row is not None

    def idempotency_key_held(self, function_id: str, key: str, now: datetime) -> bool:
        row = self._one(
            "SELECT 1 FROM idempotency_keys WHERE function_id = ? AND key = ? AND expires_at > ?",
            (function_id, key, now.timestamp()),
        )
        return row is not None

    def hold_idempotency_key(self, function_id: str, key: str, expires_at: datetime) -> None:
        self._execute(
            "INSERT INTO idempotency_keys (function_id, key, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (function_id, key) DO UPDATE SET expires_at = excluded.expires_at",
            (function_id, key, expires_at.timestamp()),
        )

    def rate_limited_starts(self, function_id: str, key: str, since: datetime) -> int:
        """How many runs were started for ``key`` after ``since``; older records are dropped on the way."""
        self._execute(
            "DELETE FROM rate_limit_starts WHERE function_id = ? AND key = ? AND started_at <= ?",
            (function_id, key, since.timestamp()),
        )
        row = self._one("SELECT count(*) FROM rate_limit_starts WHERE function_id = ? AND key = ?", (function_id, key))
        return int(row[0])

    def record_rate_limited_start(self, function_id: str, key: str, now: datetime) -> None:
        self._execute(
            "INSERT INTO rate_limit_starts (function_id, key, started_at) VALUES (?, ?, ?)",
            (function_id, key, now.timestamp()),
        )

    # -- held run starts (batch_events, debounce, throttle) ---------------------------------------
    # A group is (function id, kind, key value); its entries are kept in arrival order (seq).

    def pending(self, function_id: str, kind: str, key: str, *, limit: int = -1) -> list[PendingStart]:
        """The group's entries in arrival order (the first ``limit`` of them, if given)."""
        rows = self._all(
            "SELECT seq, event_ids, first_at, due_at FROM pending_starts WHERE function_id = ? AND kind = ? AND key = ?"
            " ORDER BY seq LIMIT ?",
            (function_id, kind, key, limit),
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
        self._execute(
            "INSERT INTO pending_starts (function_id, kind, key, event_ids, first_at, due_at) VALUES (?, ?, ?, ?, ?, ?)",
            (function_id, kind, key, json.dumps(list(event_ids)), first_at.timestamp(), due_at.timestamp()),
        )

    def update_pending(self, seq: int, event_ids: Sequence[str], due_at: datetime) -> None:
        self._execute(
            "UPDATE pending_starts SET event_ids = ?, due_at = ? WHERE seq = ?",
            (json.dumps(list(event_ids)), due_at.timestamp(), seq),
        )

    def delete_pending(self, seq: int) -> None:
        self._execute("DELETE FROM pending_starts WHERE seq = ?", (seq,))

    def pending_due(self, function_id: str, kind: str, key: str) -> datetime | None:
        """When the group's earliest held start is due (None: nothing held)."""
        row = self._one(
            "SELECT min(due_at) FROM pending_starts WHERE function_id = ? AND kind = ? AND key = ?",
            (function_id, kind, key),
        )
        return _dt(row[0])

    def pending_groups(self) -> list[tuple[str, str, str]]:
        """Every (function id, kind, key) with a held start, for an engine resuming on this file."""
        return self._all("SELECT DISTINCT function_id, kind, key FROM pending_starts ORDER BY function_id, kind, key")

    def throttle_starts(self, function_id: str, key: str, since: datetime) -> list[datetime]:
        """When the throttled runs started after ``since`` did, oldest first; older records are dropped."""
        self._execute(
            "DELETE FROM throttle_starts WHERE function_id = ? AND key = ? AND started_at <= ?",
            (function_id, key, since.timestamp()),
        )
        rows = self._all(
            "SELECT started_at FROM throttle_starts WHERE function_id = ? AND key = ? ORDER BY started_at",
            (function_id, key),
        )
        return [datetime.fromtimestamp(row[0], UTC) for row in rows]

    def record_throttle_start(self, function_id: str, key: str, now: datetime) -> None:
        self._execute(
            "INSERT INTO throttle_starts (function_id, key, started_at) VALUES (?, ?, ?)",
            (function_id, key, now.timestamp()),
        )

    # -- steps -----------------------------------------------------------------------------------

    def load_steps(self, run_id: str) -> tuple[dict[str, Memo], dict[str, StepAttempts]]:
        """The run's stored step results, and the steps that failed before and will be tried again."""
        memos: dict[str, Memo] = {}
        retrying: dict[str, StepAttempts] = {}
        for step, status, data, error, attempts, retry_at in self._all(
            "SELECT step, status, data, error, attempts, retry_at FROM steps WHERE run_id = ?", (run_id,)
        ):
            if status == "retrying":
                retrying[step] = StepAttempts(attempts, _dt(retry_at))
            else:
                memos[step] = _memo_from(status, data, error)
        return memos, retrying

    def load_memo(self, run_id: str, step: str) -> Memo | None:
        row = self._one(
            "SELECT status, data, error FROM steps WHERE run_id = ? AND step = ? AND status != 'retrying'",
            (run_id, step),
        )
        return None if row is None else _memo_from(*row)

    def save_memo(
        self,
        run_id: str,
        step: str,
        user_id: str,
        memo: Memo,
        now: datetime,
        *,
        kind: StepKind | None = None,
        started_at: datetime | None = None,
        parallel: str | None = None,
    ) -> None:
        """Store a step's result; ``kind``, ``started_at`` and ``parallel`` are kept from an earlier record when
        not given."""
        status, data, error = "completed", None, None
        match memo:
            case MemoJson(text=text):
                data = text if isinstance(text, str) else text.decode()
            case MemoData(value=value):
                data = json.dumps(value)
            case MemoError(error=failure):
                status, error = "failed", _error_json(failure)
        self._execute(
            "INSERT INTO steps (run_id, step, user_id, status, data, error, ended_at, kind, started_at, parallel)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status, data = excluded.data,"
            " error = excluded.error, ended_at = excluded.ended_at, retry_at = NULL,"
            " kind = coalesce(excluded.kind, kind), started_at = coalesce(started_at, excluded.started_at),"
            " parallel = coalesce(excluded.parallel, parallel)",
            (run_id, step, user_id, status, data, error, now.timestamp(), kind, _ts(started_at), parallel),
        )

    def record_step_retry(
        self,
        run_id: str,
        step: str,
        user_id: str,
        attempts: int,
        retry_at: datetime,
        error: ErrorInfo,
        *,
        kind: StepKind | None = None,
        started_at: datetime | None = None,
        parallel: str | None = None,
    ) -> None:
        self._execute(
            "INSERT INTO steps (run_id, step, user_id, status, error, attempts, retry_at, kind, started_at, parallel)"
            " VALUES (?, ?, ?, 'retrying', ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run_id, step) DO UPDATE SET attempts = excluded.attempts, retry_at = excluded.retry_at,"
            " error = excluded.error, kind = coalesce(excluded.kind, kind),"
            " started_at = coalesce(started_at, excluded.started_at), parallel = coalesce(excluded.parallel, parallel)",
            (
                run_id,
                step,
                user_id,
                _error_json(error),
                attempts,
                retry_at.timestamp(),
                kind,
                _ts(started_at),
                parallel,
            ),
        )

    # -- waits: sleeps, wait_for_event, invoke ----------------------------------------------------

    def load_wait(self, run_id: str, step: str) -> WaitRecord | None:
        row = self._one(
            "SELECT kind, wake_at, event_name, expression, child_run_id FROM waits WHERE run_id = ? AND step = ?",
            (run_id, step),
        )
        if row is None:
            return None
        return WaitRecord(kind=row[0], wake_at=_dt(row[1]), event_name=row[2], expression=row[3], child_run_id=row[4])

    def insert_wait(
        self, run_id: str, step: str, user_id: str, wait: WaitRecord, *, now: datetime | None = None
    ) -> None:
        """Store what a step waits on; ``now`` (when it began waiting) becomes the step's start once resolved.

        A wait for an event whose condition is indexed is stored with its match key (``steppe._engine.matching``).
        """
        match = None
        if wait.kind == "event" and wait.expression is not None:
            match = waiting_key(wait.expression, self._first_event(run_id))
        self._execute(
            "INSERT INTO waits (run_id, step, user_id, kind, wake_at, event_name, expression, child_run_id, created_at,"
            " match_path, match_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                step,
                user_id,
                wait.kind,
                _ts(wait.wake_at),
                wait.event_name,
                wait.expression,
                wait.child_run_id,
                _ts(now),
                *(match or (None, None)),
            ),
        )

    def resolve_wait(self, run_id: str, step: str, memo: Memo, now: datetime) -> bool:
        """Replace a wait by its step's result, atomically; False if something else resolved it first."""
        with self.transaction():
            row = self._one(
                "DELETE FROM waits WHERE run_id = ? AND step = ? RETURNING user_id, kind, created_at", (run_id, step)
            )
            if row is not None:
                user_id, kind, since = row
                self.save_memo(run_id, step, user_id, memo, now, kind=_WAIT_STEP_KIND.get(kind), started_at=_dt(since))
        return row is not None

    def event_wait_paths(self, event_name: str) -> list[str]:
        """The distinct incoming-event paths of the indexed waits for ``event_name``.

        One index seek per path (a loose index scan), however many waits share each one.
        """
        rows = self._all(
            "WITH RECURSIVE paths(path) AS ("
            " SELECT min(match_path) FROM waits WHERE event_name = ?1 AND match_path IS NOT NULL"
            " UNION ALL SELECT (SELECT min(match_path) FROM waits WHERE event_name = ?1 AND match_path > paths.path)"
            " FROM paths WHERE paths.path IS NOT NULL"
            ") SELECT path FROM paths WHERE path IS NOT NULL",
            (event_name,),
        )
        return [row[0] for row in rows]

    def event_waits(
        self, event_name: str, keys: Sequence[tuple[str, str]] | None = None
    ) -> list[tuple[str, str, str | None]]:
        """(run_id, step, expression) of the runs waiting for ``event_name`` that an event may match, oldest first.

        With ``keys`` ((path, key) of the incoming event's values): the waits not indexed, and the indexed ones
        whose key at that path is the event's; without: every wait for ``event_name``.
        """
        if keys is None:
            return self._all(
                "SELECT run_id, step, expression FROM waits WHERE kind = 'event' AND event_name = ? ORDER BY rowid",
                (event_name,),
            )
        found = self._all(
            "SELECT rowid, run_id, step, expression FROM waits"
            " WHERE kind = 'event' AND event_name = ? AND match_path IS NULL",
            (event_name,),
        )
        for path, key in keys:
            found += self._all(
                "SELECT rowid, run_id, step, expression FROM waits"
                " WHERE kind = 'event' AND event_name = ? AND match_path = ? AND match_value = ?",
                (event_name, path, key),
            )
        return [(run_id, step, expression) for _, run_id, step, expression in sorted(found)]

    def _first_event(self, run_id: str) -> dict[str, Any]:
        """The event that started ``run_id``."""
        row = self._one(
            "SELECT payload FROM events WHERE id = (SELECT json_extract(event_ids, '$[0]') FROM runs WHERE id = ?)",
            (run_id,),
        )
        if row is None:
            raise DatabaseError(f"{self.path}: the event of run {run_id!r} is missing")
        payload: dict[str, Any] = json.loads(row[0])
        return payload

    def invoke_wait(self, child_run_id: str) -> tuple[str, str] | None:
        row = self._one("SELECT run_id, step FROM waits WHERE kind = 'invoke' AND child_run_id = ?", (child_run_id,))
        return None if row is None else (row[0], row[1])

    def step_user_ids(self, run_id: str, steps: Iterable[str]) -> list[str]:
        wanted = set(steps)
        rows = self._all("SELECT step, user_id FROM steps WHERE run_id = ?", (run_id,))
        return [user_id for step, user_id in rows if step in wanted]

    # -- run history: attempts, listings, one run in detail ----------------------------------------

    def record_run_started(self, run_id: str, now: datetime) -> None:
        """The run's first attempt began (``created_at`` is when it was created; it may wait to start). History, not
        state, like an attempt's start: it goes with the next commit (``_note_history``)."""
        self._note_history(
            "UPDATE runs SET started_at = ? WHERE id = ? AND started_at IS NULL", (now.timestamp(), run_id)
        )

    def record_attempt_start(self, run_id: str, step: str, user_id: str, attempt: int, now: datetime) -> None:
        """Attempt ``attempt`` (0 first) of a step began. An attempt cut short by a stopped engine and run again
        keeps its first record, unended, next to the new one. History, not state: it goes with the next commit
        (``_note_history``), so a process that dies within the loop turn the attempt began in loses it."""
        self._note_history(
            "INSERT INTO step_attempts (run_id, step, user_id, attempt, started_at) VALUES (?, ?, ?, ?, ?)",
            (run_id, step, user_id, attempt, now.timestamp()),
        )

    def record_attempt_end(
        self, run_id: str, step: str, attempt: int, now: datetime, *, error: ErrorInfo | None = None
    ) -> None:
        """The latest record of this attempt ended, with ``error`` if it failed."""
        self._execute(
            "UPDATE step_attempts SET ended_at = ?, error = ? WHERE id = (SELECT max(id) FROM step_attempts"
            " WHERE run_id = ? AND step = ? AND attempt = ? AND ended_at IS NULL)",
            (now.timestamp(), None if error is None else _error_json(error), run_id, step, attempt),
        )

    def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        function_id: str | Sequence[str] | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[RunSummary]:
        """Runs newest first, optionally of one status or function; ``before`` (a run id) continues a listing
        after that run, so runs created in the same instant are neither skipped nor repeated."""
        if limit < 1:
            raise ValueError(f"list_runs: limit must be at least 1, got {limit}")
        conditions, parameters = _run_filter(status, function_id)
        if before is not None:
            cursor = self._one("SELECT created_at, id FROM runs WHERE id = ?", (before,))
            if cursor is None:
                raise ValueError(f"list_runs: before={before!r} is not a run in {self.path}")
            conditions.append("(created_at, id) < (?, ?)")
            parameters.extend(cursor)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return self._summaries(f"{where} ORDER BY created_at DESC, id DESC LIMIT ?", [*parameters, limit])

    def _summaries(self, clauses: str, parameters: Sequence[Any]) -> list[RunSummary]:
        self._write_history()  # the listings and details below show it, as of now
        rows = self._all(
            f"SELECT id, function_id, status, attempt, created_at, started_at, ended_at FROM runs{clauses}", parameters
        )
        return [
            RunSummary(
                id=run_id,
                function_id=function,
                status=run_status,
                attempt=attempt,
                created_at=datetime.fromtimestamp(created, UTC),
                started_at=_dt(started),
                ended_at=_dt(ended),
            )
            for run_id, function, run_status, attempt, created, started, ended in rows
        ]

    def run_detail(self, run_id: str) -> RunDetail | None:
        """A run with its steps (in the order they started) and what it waits on now; None if there is no such run."""
        self._write_history()
        if self._db.in_transaction:
            return self._run_detail(run_id)
        with self._guard:  # one read transaction: the run, its steps and its waits as of the same moment
            self._db.execute("BEGIN")
            try:
                return self._run_detail(run_id)
            finally:
                self._db.execute("COMMIT")

    def _run_detail(self, run_id: str) -> RunDetail | None:
        run = self.load_run(run_id)
        if run is None:
            return None
        steps = tuple(
            StepRecord(
                step=step,
                user_id=user_id,
                kind=kind,
                status=status,
                attempts=attempts,
                started_at=_dt(started),
                ended_at=_dt(ended),
                retry_at=_dt(retry_at),
                error=_error_from(error),
                output=data,
                parallel=parallel,
            )
            for step, user_id, kind, status, attempts, started, ended, retry_at, error, data, parallel in self._all(
                "SELECT step, user_id, kind, status, attempts, started_at, ended_at, retry_at, error, data, parallel"
                " FROM steps"
                " WHERE run_id = ? ORDER BY coalesce(started_at, ended_at, retry_at), rowid",
                (run_id,),
            )
        )
        waits = tuple(
            WaitDetail(
                step=step,
                user_id=user_id,
                wait=WaitRecord(
                    kind=kind, wake_at=_dt(wake_at), event_name=event_name, expression=expression, child_run_id=child
                ),
                since=_dt(since),
            )
            for step, user_id, kind, wake_at, event_name, expression, child, since in self._all(
                "SELECT step, user_id, kind, wake_at, event_name, expression, child_run_id, created_at FROM waits"
                " WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            )
        )
        return RunDetail(run=run, steps=steps, waits=waits)

    def step_history(self, run_id: str) -> list[AttemptRecord]:
        """Every attempt of every step of the run, in the order they started."""
        self._write_history()
        rows = self._all(
            "SELECT step, user_id, attempt, started_at, ended_at, error FROM step_attempts WHERE run_id = ?"
            " ORDER BY started_at, id",
            (run_id,),
        )
        return [
            AttemptRecord(
                step=step,
                user_id=user_id,
                attempt=attempt,
                started_at=datetime.fromtimestamp(started, UTC),
                ended_at=_dt(ended),
                error=_error_from(error),
            )
            for step, user_id, attempt, started, ended, error in rows
        ]

    # -- operations from other processes: the inbox, the functions an engine drives -------------------

    def post_command(self, kind: InboxKind, payload: dict[str, Any], now: datetime) -> int:
        """Leave a command for the engine that drives this database (it polls for them); returns its number."""
        row = self._one(
            "INSERT INTO inbox (kind, payload, created_at) VALUES (?, ?, ?) RETURNING seq",
            (kind, json.dumps(payload), now.timestamp()),
        )
        return int(row[0])

    def take_command(self) -> InboxCommand | None:
        """The oldest command not yet applied; call inside the transaction that applies it, which deletes it."""
        row = self._one("DELETE FROM inbox WHERE seq = (SELECT min(seq) FROM inbox) RETURNING seq, kind, payload")
        return None if row is None else InboxCommand(seq=row[0], kind=row[1], payload=json.loads(row[2]))

    def has_commands(self) -> bool:
        return self._one("SELECT 1 FROM inbox LIMIT 1") is not None

    def register_functions(self, functions: Iterable[tuple[str, str, str]]) -> None:
        """Record (id, id as declared, app id) of the functions an engine drives, for listings by declared id."""
        with self.transaction():
            for function_id, local_id, app_id in functions:
                self._execute(
                    "INSERT INTO functions (id, local_id, app_id) VALUES (?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET local_id = excluded.local_id, app_id = excluded.app_id",
                    (function_id, local_id, app_id),
                )

    def declared_ids(self) -> dict[str, str]:
        """Function id -> its id as declared, for every function an engine registered here."""
        return dict(self._all("SELECT id, local_id FROM functions"))

    def count_runs(self, *, status: RunStatus | None = None, function_id: str | Sequence[str] | None = None) -> int:
        conditions, parameters = _run_filter(status, function_id)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return int(self._one(f"SELECT count(*) FROM runs{where}", parameters)[0])

    def child_runs(self, run_id: str) -> list[tuple[str, str | None]]:
        """(run id, hashed id of the invoking step) of each run this run invoked, oldest first."""
        return self._all("SELECT id, parent_step FROM runs WHERE parent_run_id = ? ORDER BY created_at, id", (run_id,))

    def runs_of_event(self, event_id: str) -> list[RunSummary]:
        """The runs an event started (or joined, in a batch), newest first."""
        return self._summaries(
            " WHERE EXISTS (SELECT 1 FROM json_each(runs.event_ids) WHERE value = ?) ORDER BY created_at DESC, id DESC",
            (event_id,),
        )

    def copy_steps(self, from_run: str, to_run: str, steps: Iterable[str]) -> None:
        """Copy stored step results (by hashed id) from one run to another, as a rerun that skips them."""
        for step in steps:
            self._execute(
                "INSERT INTO steps (run_id, step, user_id, status, data, error, attempts, retry_at, ended_at, kind,"
                " started_at, parallel) SELECT ?, step, user_id, status, data, error, attempts, NULL, ended_at, kind,"
                " started_at, parallel FROM steps WHERE run_id = ? AND step = ? AND status != 'retrying'",
                (to_run, from_run, step),
            )


InboxKind = Literal["event", "cancelled", "created"]


@dataclass(frozen=True, slots=True)
class InboxCommand:
    """A command another process left for the engine: an event to accept (``payload`` the event), or a run it
    cancelled or created in the database (``payload`` ``{"run_id": ...}``) for the engine to stop or start."""

    seq: int
    kind: InboxKind
    payload: dict[str, Any]


def _settle(done: asyncio.Future[Any], failure: BaseException | None, value: Any) -> None:
    """Hand a queued change's outcome to its caller; the failure of one no longer awaited is reported, not hidden."""
    if done.cancelled():
        if failure is not None:
            done.get_loop().call_exception_handler(
                {"message": "steppe: a change of a stopped run could not be stored", "exception": failure}
            )
    elif failure is None:
        done.set_result(value)
    else:
        done.set_exception(failure)


def _shared_failure(error: BaseException) -> BaseException:
    """The error of a transaction that failed for every change in it, as each of their callers gets it."""
    if isinstance(error, StorageError):
        shared = StorageError(str(error))
        shared.__cause__ = error
        return shared
    return error


def _run_filter(status: RunStatus | None, function_id: str | Sequence[str] | None) -> tuple[list[str], list[Any]]:
    conditions: list[str] = []
    parameters: list[Any] = []
    if status is not None:
        conditions.append("status = ?")
        parameters.append(status)
    if isinstance(function_id, str):
        conditions.append("function_id = ?")
        parameters.append(function_id)
    elif function_id is not None:
        conditions.append(f"function_id IN ({', '.join('?' for _ in function_id)})")
        parameters.extend(function_id)
    return conditions, parameters
