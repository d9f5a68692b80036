"""The engine's own faults: which errors are the database's, how they leave a step, and how the engine retries them.

A fault of the engine is never the user's error. Inside a run it leaves the user's function as ``EngineFault``, a
BaseException (like ``Interrupt``) that an ``except Exception:`` around a step cannot swallow; the engine then
pauses the run and retries it. Out of a public call it is an ``EngineError`` naming the cause.

Backoff, in real seconds (not the engine's clock: a disk is freed in real time, whatever time the functions see):
``FAULT_BACKOFF`` doubles from 50 ms to at most 5 s, with jitter. A storage fault is retried for as long as it
lasts (the run resumes once the database works again); any other fault is retried ``INTERNAL_FAULT_ATTEMPTS`` times
in all, then the run fails with ``EngineError``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator
from contextlib import contextmanager
from datetime import timedelta
from typing import Final

from steppe._core.errors import ENGINE_FAULT_PREFIX, EngineError
from steppe._engine.retry import RetryPolicy

__all__ = [
    "FAULT_BACKOFF",
    "INTERNAL_FAULT_ATTEMPTS",
    "EngineFault",
    "engine_errors",
    "is_engine_fault",
    "is_storage_fault",
]

FAULT_BACKOFF: Final = RetryPolicy(base=timedelta(milliseconds=50), cap=timedelta(seconds=5))
INTERNAL_FAULT_ATTEMPTS: Final = 5


def is_storage_fault(error: BaseException) -> bool:
    """Whether ``error`` is the database failing under the engine (disk full, I/O error, locked, ...).

    That is an ``sqlite3.Error`` of the operational kind, or any error raised from one (so a storage error type
    that wraps SQLite's keeps its meaning). Errors of a wrong statement or a broken constraint are steppe's own
    bugs, not storage's: retrying them cannot help.
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, sqlite3.Error):
            return not isinstance(
                cause,
                sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError | sqlite3.NotSupportedError,
            )
        cause = cause.__cause__
    return False


def is_engine_fault(error: BaseException) -> bool:
    """Whether ``error``, raised by the engine's own machinery, is the engine's fault: anything from SQLite."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, sqlite3.Error):
            return True
        cause = cause.__cause__
    return False


class EngineFault(BaseException):
    """Stops a run's attempt because the engine failed under it; ``cause`` is what failed.

    A BaseException, so a user's ``except Exception:`` around a step cannot swallow it.
    """

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@contextmanager
def engine_errors(what: str) -> Generator[None]:
    """Raise the database failing under a public call as ``EngineError`` naming the call and the cause."""
    try:
        yield
    except sqlite3.Error as error:
        raise EngineError(
            f"{ENGINE_FAULT_PREFIX}{what}: the database failed: {type(error).__name__}: {error}"
        ) from error
