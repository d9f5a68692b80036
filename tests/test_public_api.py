"""The public API changes only on purpose: each public module's ``__all__`` is pinned here.

A name that appears or disappears fails this test until the list below is updated in the same change, so a
reviewer sees every change to what users can import.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC_NAMES: dict[str, list[str]] = {
    "steppe": [
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
    ],
    "steppe.cli": ["main"],
    "steppe.options": [
        "BatchEvents",
        "Cancel",
        "Concurrency",
        "Debounce",
        "Priority",
        "RateLimit",
        "Singleton",
        "Throttle",
        "Timeouts",
    ],
    "steppe.serve": [
        "DEFAULT_SERVE_PATH",
        "HttpRequest",
        "HttpResponse",
        "InngestApiError",
        "ServeHandler",
        "ServeSettings",
        "ServeSettingsError",
        "handle_call",
        "serve_django",
        "serve_fastapi",
        "serve_flask",
        "serve_starlette",
    ],
    "steppe.serve.django": ["serve"],
    "steppe.serve.fastapi": ["serve"],
    "steppe.serve.flask": ["serve"],
    "steppe.serve.starlette": ["endpoint", "serve"],
    "steppe.testing": ["run_function"],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC_NAMES))
def test_public_names_are_the_pinned_ones(module_name: str) -> None:
    module = importlib.import_module(module_name)
    declared: list[str] = module.__all__
    assert sorted(declared) == PUBLIC_NAMES[module_name]


@pytest.mark.parametrize("module_name", sorted(PUBLIC_NAMES))
def test_every_public_name_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in PUBLIC_NAMES[module_name]:
        assert getattr(module, name) is not None, f"{module_name}.{name}"


def test_public_classes_say_where_users_import_them() -> None:
    """Errors are defined in a private module but shown (tracebacks, wire payloads) under ``steppe``."""
    import steppe

    for name in ("SteppeError", "FunctionDefinitionError", "NonRetriableError", "RetryAfterError", "StepError"):
        assert getattr(steppe, name).__module__ == "steppe"
