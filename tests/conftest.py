from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import steppe
from steppe._engine.progress import Progress, StepFinished

ROOT = Path(__file__).resolve().parent.parent


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py fresh (each import creates its own client)."""
    path = ROOT / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}_{id(path)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Recorder:
    """Collects engine progress reports."""

    def __init__(self) -> None:
        self.items: list[Progress] = []

    def __call__(self, item: Progress) -> None:
        self.items.append(item)

    def finished(self) -> list[StepFinished]:
        return [i for i in self.items if isinstance(i, StepFinished)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def clock() -> steppe.ManualClock:
    return steppe.ManualClock(auto_advance=True)


EngineFactory = Callable[..., steppe.Engine]


@pytest.fixture
async def make_engine(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Open engines on a per-test database; all are closed at the end."""
    opened: list[steppe.Engine] = []

    async def make(client: steppe.Client, **kwargs: Any) -> steppe.Engine:
        kwargs.setdefault("database", tmp_path / "steppe.db")
        kwargs.setdefault("retry_policy", steppe.RetryPolicy())
        engine = steppe.Engine(client, **kwargs)
        await engine.__aenter__()
        opened.append(engine)
        return engine

    yield make
    for engine in reversed(opened):
        await engine.__aexit__(None, None, None)
