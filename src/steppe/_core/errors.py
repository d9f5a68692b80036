"""Errors a user raises or catches. Engine-internal control flow is not here: see ``Interrupt`` in ``_core.outcomes``."""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = [
    "ENGINE_FAULT_PREFIX",
    "EngineError",
    "ExpressionError",
    "FunctionDefinitionError",
    "NestedStepError",
    "NonRetriableError",
    "RetryAfterError",
    "RunNotFoundError",
    "StepError",
    "StepUsageError",
    "SteppeError",
]

# How every engine fault's message starts, so no reader takes it for an error of their own code.
ENGINE_FAULT_PREFIX = "steppe engine fault, not your function's error: "


class SteppeError(Exception):
    """Base class of the errors steppe itself raises."""


class RunNotFoundError(SteppeError, KeyError):
    """No run with this id in the database (from ``Engine.result``/``Engine.wait`` and ``steppe.Runs``)."""

    def __init__(self, run_id: str, database: str) -> None:
        super().__init__(f"no run with id {run_id!r} in {database}")
        self.run_id = run_id
        self.database = database

    def __str__(self) -> str:  # KeyError's own str() would quote the message
        return str(self.args[0])


class FunctionDefinitionError(SteppeError, ValueError):
    """A function, trigger or step was declared wrongly; raised when it is defined, naming it."""


class ExpressionError(ValueError):
    """A CEL expression (a condition or a key) that cannot be compiled, or a condition whose value is not a boolean."""


class NonRetriableError(Exception):
    """Raise from a step or a function to fail it at once, without the remaining retries."""


class RetryAfterError(Exception):
    """Raise from a step or a function to retry it no sooner than ``retry_after``."""

    def __init__(self, message: str, retry_after: timedelta | datetime) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EngineError(SteppeError):
    """steppe's engine failed (its storage, or its own code), not the user's function.

    A run that the engine could not carry on fails with this error's name, and its message starts with
    ``ENGINE_FAULT_PREFIX``; the engine's public calls raise it when the database fails under them.
    """


class StepUsageError(NonRetriableError, SteppeError, TypeError, ValueError):
    """The step API was called wrongly (a list for ``step.parallel``, a naive datetime, a step never awaited, ...).

    Raised where the call is made, naming the step; it fails the run at once, since no retry can change the
    code. A TypeError and a ValueError, as the checks it replaced raised one or the other.
    """


class NestedStepError(StepUsageError):
    """A step was started inside another step's handler: steps must be called from the function body."""


class StepError(SteppeError):
    """A step failed for good (its retries are exhausted, or it raised ``NonRetriableError``).

    Raised inside the function where the step was awaited, so user code may catch it. It carries the
    original error's class name, message and traceback text, because the original object may come from
    stored state in another process.
    """

    def __init__(self, step_id: str, name: str, message: str, stack: str | None = None) -> None:
        super().__init__(f"step {step_id!r} failed: {name}: {message}")
        self.step_id = step_id
        self.name = name
        self.message = message
        self.stack = stack


# Users meet these as ``steppe.StepError`` and so on (in tracebacks and in error payloads sent over the wire),
# not under this private module's name.
for _public in (
    SteppeError,
    EngineError,
    FunctionDefinitionError,
    NonRetriableError,
    RetryAfterError,
    StepUsageError,
    NestedStepError,
    StepError,
):
    _public.__module__ = "steppe"
