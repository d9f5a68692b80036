"""``import steppe`` loads only what defining functions needs; optional parts load when first used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Each is loaded by the feature that needs it: CEL by the first expression compiled, croniter by the first cron
# schedule, httpx by the client's HTTP calls, click by the command line, starlette by its serve adapter.
OPTIONAL = ["celpy", "croniter", "httpx", "click", "starlette"]


def modules_loaded_after(script: str, candidates: list[str]) -> list[str]:
    """Which of ``candidates`` are in ``sys.modules`` after running ``script`` in a fresh interpreter."""
    probe = f"{script}\nimport json, sys\nprint(json.dumps([m for m in {candidates!r} if m in sys.modules]))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(completed.stdout)
    return loaded


def test_the_probe_sees_a_loaded_module() -> None:
    assert modules_loaded_after("import celpy", OPTIONAL) == ["celpy"]


def test_importing_steppe_loads_no_optional_dependency() -> None:
    assert modules_loaded_after("import steppe", OPTIONAL) == []


def test_importing_steppe_loads_no_event_loop_machinery() -> None:
    # asyncio (with ssl, socket, subprocess) costs about a third of pydantic's import; steppe's core imports it
    # inside the functions that run steps, which only ever run under an event loop.
    assert modules_loaded_after("import steppe", ["asyncio"]) == []


def test_the_embedded_engine_loads_when_one_of_its_names_is_first_used() -> None:
    engine_modules = ["steppe._engine.engine", "sqlite3"]
    assert modules_loaded_after("import steppe", engine_modules) == []
    assert modules_loaded_after("from steppe import Engine", engine_modules) == engine_modules
    assert modules_loaded_after("import steppe\nsteppe.ManualClock", ["steppe._engine.clock"]) == [
        "steppe._engine.clock"
    ]


def test_lazily_loaded_names_are_the_engines_own() -> None:
    import steppe
    from steppe._engine.clock import Clock, ManualClock, SystemClock
    from steppe._engine.engine import Engine, RunResult
    from steppe._engine.retry import RetryPolicy

    for value in (Clock, ManualClock, SystemClock, Engine, RunResult, RetryPolicy):
        assert getattr(steppe, value.__name__) is value
        assert value.__name__ in dir(steppe)


def test_an_unknown_name_is_an_attribute_error() -> None:
    import steppe

    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        getattr(steppe, "NoSuchName")  # noqa: B009  (the name is unknown on purpose)
