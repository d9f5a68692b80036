"""steppe: durable step functions with exact static types.

Write a function of steps; run it durably on the embedded SQLite engine (``Engine``) or serve it to an
Inngest server (``steppe.serve``). ``step.parallel`` returns a tuple whose element types your checker knows.
"""

from steppe.client import Client
from steppe.context import Context
from steppe.core.calls import StepCall
from steppe.core.driver import ErrorInfo, ParallelMode
from steppe.core.step import Group, Step, StepSync, SyncGroup
from steppe.engine.clock import Clock, ManualClock, SystemClock
from steppe.engine.engine import Engine, RunResult
from steppe.engine.retry import RetryPolicy
from steppe.errors import (
    FunctionDefinitionError,
    NestedStepError,
    NonRetriableError,
    RetryAfterError,
    SteppeError,
    StepError,
)
from steppe.events import Event, EventType, TriggerCron, TriggerEvent
from steppe.function import Function, FunctionOptions
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
    "StepCall",
    "Step",
    "StepError",
    "StepSync",
    "SteppeError",
    "SyncGroup",
    "SystemClock",
    "Throttle",
    "Timeouts",
    "TriggerCron",
    "TriggerEvent",
]

__version__ = "0.1.0"
