"""How an exception fails a step or a run: whether another attempt may succeed, and no sooner than when.

The one rule for every host: the embedded engine's steps and function bodies, and the HTTP protocol's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from steppe._core.errors import NonRetriableError, RetryAfterError, StepError
from steppe._core.outcomes import ErrorInfo
from steppe._core.serde import OutputValueError, UnsupportedTypeError

__all__ = ["Failed", "classify_failure"]


@dataclass(frozen=True, slots=True)
class Failed:
    """An attempt that raised ``error``.

    ``step_error`` is set when the exception was a ``StepError``: the original error of the step that failed
    for good, which the HTTP protocol reports in place of the ``StepError`` that carried it out of the function.
    """

    error: ErrorInfo
    retriable: bool
    retry_after: timedelta | datetime | None = None
    step_error: ErrorInfo | None = None


def classify_failure(error: Exception) -> Failed:
    """What an exception raised by a step handler or a function body means for the next attempt."""
    info = ErrorInfo.from_exception(error)
    if isinstance(error, StepError):
        # Raised again from the step's stored failure on every attempt: retrying cannot help.
        return Failed(info, retriable=False, step_error=ErrorInfo(error.name, error.message, error.stack))
    if isinstance(error, NonRetriableError | OutputValueError | UnsupportedTypeError):
        # Asked for by the user, a misuse of the step API (``StepUsageError`` is a NonRetriableError: the code
        # would make the same call next time), or a value that does not fit its declared type (or a type that
        # cannot be stored): it would not fit next time either.
        return Failed(info, retriable=False)
    if isinstance(error, RetryAfterError):
        return Failed(info, retriable=True, retry_after=error.retry_after)
    return Failed(info, retriable=True)
