"""Opening steppe's SQLite file: which files are refused (and why, in words), and the one-engine lock.

Every refusal happens before SQLite touches the file: its header is read as plain bytes, so another
application's database (even one with a hot write-ahead log) is never opened, recovered or checkpointed.
Only a file whose header carries steppe's application id is handed to SQLite.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import sqlite3
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, get_args

from steppe._core.errors import SteppeError

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_SECONDS",
    "DURABILITY_LEVELS",
    "DatabaseError",
    "Durability",
    "FileState",
    "StorageError",
    "WriterLock",
    "check_durability",
    "check_file",
    "check_integrity",
    "sqlite_cause",
    "synchronous_setting",
    "writable",
]

# "STPP" in the header's application id field: marks a SQLite file as a steppe database.
APPLICATION_ID = 0x53545050
SQLITE_HEADER = b"SQLite format 3\x00"
_HEADER_SIZE = 100
# How long a statement waits for another process's write to finish before it fails as locked.
BUSY_TIMEOUT_SECONDS = 5.0

FileState = Literal["new", "steppe"]

# What a committed write of the engine survives. "normal": a crash of the process (or of steppe, or a kill -9)
# loses nothing committed; a power loss or OS crash may lose the last commits before it (never corrupting the
# file). "full": also survives power loss, at the price of one fsync per commit (run history, when a run or an
# attempt began, goes with the next commit: Store._note_history; Store.commit makes the changes of one loop turn
# one commit).
Durability = Literal["normal", "full"]
DURABILITY_LEVELS: tuple[Durability, ...] = get_args(Durability)
# SQLite's synchronous setting for each level, on the engine's connection in WAL mode: NORMAL syncs the
# write-ahead log only at checkpoints; FULL syncs it at every commit.
_SYNCHRONOUS: dict[Durability, Literal["NORMAL", "FULL"]] = {"normal": "NORMAL", "full": "FULL"}


class DatabaseError(SteppeError):
    """The database file cannot be used: not a steppe database, damaged, read-only, newer, or held by an engine."""


class StorageError(SteppeError):
    """A read or write of the steppe database failed while in use (disk full, I/O error, locked too long)."""


Access = Literal["create", "write", "read"]


# Database files this process has SQLite connections to, with how many: see check_file.
_CONNECTED: collections.Counter[Path] = collections.Counter()


def note_connected(path: Path) -> None:
    """Record that this process opened an SQLite connection to ``path`` (a checked steppe database)."""
    _CONNECTED[path.resolve()] += 1


def note_disconnected(path: Path) -> None:
    """Record that one of this process's connections to ``path`` was closed."""
    resolved = path.resolve()
    _CONNECTED[resolved] -= 1
    if _CONNECTED[resolved] <= 0:
        del _CONNECTED[resolved]


def check_file(path: Path, *, access: Access) -> FileState:
    """Whether ``path`` is a steppe database ("steppe") or a place to create one ("new", for ``access="create"``).

    Raises DatabaseError, naming the file and the cause, for anything else; reads bytes only.
    """
    creating = access == "create"
    if path.is_dir():
        raise DatabaseError(f"{path} is a directory, not a database file")
    directory = path.parent
    if not directory.is_dir():
        raise DatabaseError(f"{path}: its directory does not exist ({directory})")
    if not path.exists():
        if not creating:
            raise DatabaseError(f"{path} does not exist")
        if not os.access(directory, os.W_OK):
            raise DatabaseError(f"{path} cannot be created: its directory is read-only ({directory})")
        return "new"
    if not path.is_file():
        raise DatabaseError(f"{path} is not a regular file")
    if path.resolve() in _CONNECTED:
        # This process already holds a connection to it, opened (and so checked) before. Reading the header now
        # would open and close the file, and closing any descriptor of a file drops every POSIX lock this process
        # holds on it (SQLite's included): another process could then write beside our connection and corrupt it.
        if access != "read":
            _check_writable(path)
        return "steppe"
    try:
        with path.open("rb") as handle:
            header = handle.read(_HEADER_SIZE)
    except PermissionError as error:
        raise DatabaseError(f"{path} cannot be read (permission denied)") from error
    size = path.stat().st_size
    wal = _side_file(path, "-wal")
    if size == 0:
        if wal.exists() and wal.stat().st_size > 0:
            raise DatabaseError(f"{path} is damaged (the file is empty but {wal.name} beside it holds data)")
        if not creating:
            raise DatabaseError(f"{path} holds no steppe database yet (the file is empty)")
        _check_writable(path)
        return "new"
    if not header.startswith(SQLITE_HEADER):
        raise DatabaseError(f"{path} is not a steppe database (not an SQLite file); it was left untouched")
    if len(header) < _HEADER_SIZE:
        raise DatabaseError(f"{path} is damaged (truncated to {size} bytes, shorter than the SQLite header)")
    if int.from_bytes(header[68:72], "big") != APPLICATION_ID:
        raise DatabaseError(
            f"{path} is not a steppe database (another application's SQLite file); it was left untouched"
        )
    _check_length(path, header, size)
    if access != "read":
        _check_writable(path)
    return "steppe"


def _check_length(path: Path, header: bytes, size: int) -> None:
    for _ in range(_LENGTH_CHECKS - 1):
        if _recorded_length(header) <= size or not _side_file(path, "-wal").exists():
            break
        # Another process may be checkpointing this live database right now, its header already written and the
        # file not yet extended: a real truncation is still there when looked at again.
        time.sleep(_LENGTH_RECHECK_DELAY)
        with path.open("rb") as handle:
            header = handle.read(_HEADER_SIZE)
        size = path.stat().st_size
    if _recorded_length(header) > size:
        page_size, pages = _page_size(header), int.from_bytes(header[28:32], "big")
        raise DatabaseError(
            f"{path} is damaged (truncated: {size} bytes, but its header records {pages} pages of {page_size} bytes)"
        )


_LENGTH_CHECKS: Final = 3
_LENGTH_RECHECK_DELAY: Final = 0.02  # seconds


def _page_size(header: bytes) -> int:
    page_size = int.from_bytes(header[16:18], "big")
    return 65536 if page_size == 1 else page_size


def _recorded_length(header: bytes) -> int:
    """The file length the header records, or 0 when its page count is not current."""
    pages = int.from_bytes(header[28:32], "big")
    # The page count in the header is only current when its "valid for" counter matches the change counter.
    counted = header[92:96] == header[24:28] and pages > 0
    return pages * _page_size(header) if counted else 0


def writable(path: Path) -> bool:
    # Permission bits are checked as well as access(): root may write anything, but a file marked read-only
    # was meant to stay unchanged.
    mode = path.stat().st_mode
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _check_writable(path: Path) -> None:
    if not writable(path):
        raise DatabaseError(f"{path} is read-only; an engine needs to write to its database")
    if not _side_file(path, "-wal").exists() and not os.access(path.parent, os.W_OK):
        raise DatabaseError(
            f"{path}: its directory is read-only (SQLite keeps {path.name}-wal and {path.name}-shm beside the file)"
        )


def _side_file(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def check_durability(value: object, *, owner: str) -> Durability:
    """``value`` as a durability level; a ValueError naming ``owner``'s option for anything else."""
    for level in DURABILITY_LEVELS:
        if isinstance(value, str) and value == level:
            return level
    choices = " or ".join(repr(level) for level in DURABILITY_LEVELS)
    raise ValueError(f"{owner}: durability must be {choices}, got {value!r}")


def synchronous_setting(durability: Durability) -> Literal["NORMAL", "FULL"]:
    """The value of SQLite's ``PRAGMA synchronous`` that gives ``durability`` in WAL mode."""
    return _SYNCHRONOUS[durability]


def check_integrity(connection: sqlite3.Connection, path: str) -> None:
    """Refuse a damaged database: SQLite's quick_check walks every page of every table and index."""
    try:
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as error:
        raise DatabaseError(f"{path} is damaged ({error})") from error
    if problems != ["ok"]:
        more = f"; {len(problems) - 1} more problems" if len(problems) > 1 else ""
        raise DatabaseError(f"{path} is damaged ({problems[0]}{more})")


def sqlite_cause(error: sqlite3.Error) -> str | None:
    """The cause of an SQLite failure in words, if it lies in the file or its disk; None for anything else."""
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    return _CAUSES.get(code & 0xFF)  # the primary result code: the low byte of an extended one


_CAUSES = {
    sqlite3.SQLITE_FULL: "the disk is full",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_BUSY: f"the database stayed locked by another process for more than {BUSY_TIMEOUT_SECONDS:g} s",
    sqlite3.SQLITE_LOCKED: "the database is locked by another connection",
    sqlite3.SQLITE_READONLY: "the database is read-only",
    sqlite3.SQLITE_CORRUPT: "the database is damaged",
    sqlite3.SQLITE_NOTADB: "the file is not a database",
    sqlite3.SQLITE_CANTOPEN: "the file cannot be opened",
    sqlite3.SQLITE_PERM: "permission denied",
    sqlite3.SQLITE_NOMEM: "SQLite ran out of memory",
    sqlite3.SQLITE_PROTOCOL: "the database's locking protocol failed (is it on a network file system?)",
}


@dataclass(frozen=True, slots=True)
class WriterLock:
    """The one engine driving a database: an exclusive ``flock`` on ``<database>.lock``.

    The kernel drops the lock when its process ends, however it ends, so a killed engine never blocks the
    next one. The file also names its holder (pid, host, since when) for the refusal message; its content
    is only informative, the lock itself is what counts.
    """

    path: Path
    descriptor: int

    @classmethod
    def acquire(cls, database: Path) -> WriterLock:
        try:
            import fcntl  # POSIX only: without it, steppe still imports (to serve), but no engine opens a file
        except ImportError:
            raise DatabaseError(
                f"{database}: this platform has no fcntl file locks, which the embedded engine needs"
            ) from None
        path = _side_file(database.resolve(), ".lock")  # resolved: every spelling of a path (or link) shares it
        while True:
            try:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise DatabaseError(
                    f"{database}: cannot create its lock file {path.name} ({error.strerror})"
                ) from error
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(descriptor)
                os.close(descriptor)
                raise DatabaseError(
                    f"{database} is in use by another steppe engine ({holder}); one engine drives a database at a time"
                ) from None
            # A holder that was closing may have removed the file between our open and our lock: then we hold
            # a lock on a file no one else can see, and must try again on the current one.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            held = os.fstat(descriptor)
            if current is not None and (current.st_ino, current.st_dev) == (held.st_ino, held.st_dev):
                break
            os.close(descriptor)
        details = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat()}
        os.ftruncate(descriptor, 0)
        os.write(descriptor, json.dumps(details).encode())
        return cls(path, descriptor)

    def release(self) -> None:
        # Removed while still held, so no one can lock the old file after we let go (see acquire).
        self.path.unlink(missing_ok=True)
        os.close(self.descriptor)


def _read_holder(descriptor: int) -> str:
    try:
        raw = json.loads(os.pread(descriptor, 4096, 0))
        since = datetime.fromisoformat(raw["since"]).strftime("%Y-%m-%d %H:%M:%S %Z")
        return f"pid {raw['pid']} on host {raw['host']}, since {since}"
    except (ValueError, KeyError, TypeError, OSError):
        return "its holder has not written its details yet"
