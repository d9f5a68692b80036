"""steppe: durable step functions with exact static types.

Write a function of steps; run it durably on the embedded SQLite engine (``Engine``) or serve it to an
Inngest server (``steppe.serve``). ``step.parallel`` returns a tuple whose element types your checker knows.
"""

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
    StepError,
    SteppeError,
    StepUsageError,
)
from steppe._core.events import Event, EventType, TriggerCron, TriggerEvent
from steppe._core.function import Function
from steppe._core.outcomes import ErrorInfo
from steppe._core.requests import ParallelMode
from steppe._core.step import Group, Step, StepSync, SyncGroup
from steppe._engine.clock import Clock, ManualClock, SystemClock
from steppe._engine.engine import Engine, RunResult
from steppe._engine.retry import RetryPolicy
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

__all__ = [
    "BatchEvents",
    "Cancel",
    "Client",
    "Clock",
    "Concurrency",
    "Context",
    "Debounce",
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
    "RunResult",
    "Singleton",
    "Step",
    "StepCall",
    "StepError",
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
