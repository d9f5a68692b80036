"""The worker: a long-running engine on one database that also applies what other processes write to it."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence

from steppe._core.function import App
from steppe._engine.database import Durability
from steppe._engine.engine import Engine
from steppe._engine.progress import ProgressListener

__all__ = ["POLL_SECONDS", "run_worker"]

# How often the worker looks for events, cancellations and reruns written by other processes.
POLL_SECONDS = 0.25


async def run_worker(
    app: App,
    database: str | os.PathLike[str],
    *,
    stop: asyncio.Event,
    listeners: Sequence[ProgressListener] = (),
    poll_seconds: float = POLL_SECONDS,
    durability: Durability = "normal",
) -> None:
    """Drive ``app``'s functions on ``database`` until ``stop`` is set: resume unfinished runs, fire crons, and
    every ``poll_seconds`` apply the events, cancellations and reruns other processes left (``steppe.Runs``).

    On ``stop`` the runs in progress are stopped where they are and stay resumable: every completed step is kept.
    ``durability`` is the engine's (``steppe.Engine``): "normal" survives a crash of the process, "full" also
    power loss.
    """
    if poll_seconds <= 0:
        raise ValueError(f"run_worker: poll_seconds must be positive, got {poll_seconds!r}")
    async with Engine(app, database=os.fspath(database), listeners=listeners, durability=durability) as engine:
        while not stop.is_set():
            engine.apply_commands()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_seconds)
