"""steppe: durable step functions with exact static types.

Write a function of steps; run it durably on the embedded SQLite engine (``Engine``) or serve it to an
Inngest server (``steppe.serve``). ``step.parallel`` returns a tuple whose element types your checker knows.

The embedded engine's names (``Engine``, ``RunResult``, the clocks, ``RetryPolicy``, ``DatabaseError``) load on first use, so
an app that only serves its functions never imports the engine (asyncio's event loop machinery, sqlite3).
"""

import importlib
from typing import TYPE_CHECKING

from steppe._client import Client
from steppe._core.calls import StepCall
from steppe._core.context import Context
from steppe._core.decorator import FunctionOptions
from steppe._core.errors import (
    EngineError,
    FunctionDefinitionError,
    NestedStepError,
    NonRetriableError,
    RetryAfterError,
    RunNotFoundError,
    StepError,
    SteppeError,
    StepUsageError,
)
from steppe._core.events import Event, EventType, TriggerCron, TriggerEvent
from steppe._core.function import Function
from steppe._core.outcomes import ErrorInfo
from steppe._core.requests import ParallelMode
from steppe._core.step import Group, Step, StepSync, SyncGroup
from steppe.options import (
    BatchEvents,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
)

if TYPE_CHECKING:
    from steppe._engine.clock import Clock, ManualClock, SystemClock
    from steppe._engine.database import DatabaseError, Durability
    from steppe._engine.engine import Engine, RunResult
    from steppe._engine.retry import RetryPolicy
    from steppe._operate.runs import AttemptInfo, RunDetail, Runs, RunStatus, RunSummary, StepInfo

__all__ = [
    "AttemptInfo",
    "BatchEvents",
    "Cancel",
    "Client",
    "Clock",
    "Concurrency",
    "Context",
    "DatabaseError",
    "Debounce",
    "Durability",
    "Engine",
    "EngineError",
    "ErrorInfo",
    "Event",
    "EventType",
    "Function",
    "FunctionDefinitionError",
    "FunctionOptions",
    "Group",
    "ManualClock",
    "NestedStepError",
    "NonRetriableError",
    "ParallelMode",
    "Priority",
    "RateLimit",
    "RetryAfterError",
    "RetryPolicy",
    "RunDetail",
    "RunNotFoundError",
    "RunResult",
    "RunStatus",
    "RunSummary",
    "Runs",
    "Singleton",
    "Step",
    "StepCall",
    "StepError",
    "StepInfo",
    "StepSync",
    "StepUsageError",
    "SteppeError",
    "SyncGroup",
    "SystemClock",
    "Throttle",
    "Timeouts",
    "TriggerCron",
    "TriggerEvent",
]

__version__ = "0.1.0"

# Public name -> the module that defines it, imported by __getattr__ when the name is first used.
_ENGINE_NAMES = {
    "DatabaseError": "steppe._engine.database",
    "Durability": "steppe._engine.database",
    "Clock": "steppe._engine.clock",
    "ManualClock": "steppe._engine.clock",
    "SystemClock": "steppe._engine.clock",
    "Engine": "steppe._engine.engine",
    "RunResult": "steppe._engine.engine",
    "RetryPolicy": "steppe._engine.retry",
    "Runs": "steppe._operate.runs",
    "RunSummary": "steppe._operate.runs",
    "RunDetail": "steppe._operate.runs",
    "RunStatus": "steppe._operate.runs",
    "StepInfo": "steppe._operate.runs",
    "AttemptInfo": "steppe._operate.runs",
}


def __getattr__(name: str) -> object:
    module = _ENGINE_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'steppe' has no attribute {name!r}")
    value: object = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups find it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ENGINE_NAMES})
