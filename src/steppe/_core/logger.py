"""``ctx.logger``: a logger that stays quiet while a run replays steps it has already taken.

A run's body executes again whenever it resumes (after a restart on the embedded engine, on every call over
the HTTP protocol). Without this, a line logged before the last stored step would be logged once per replay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["ReplayAwareLogger"]


class ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """Adds ``run_id`` and ``fn_id`` to each record, and drops records while ``replaying()`` is true."""

    def __init__(self, logger: logging.Logger, *, run_id: str, fn_id: str, replaying: Callable[[], bool]) -> None:
        super().__init__(logger, {"run_id": run_id, "fn_id": fn_id})
        self._replaying = replaying

    def isEnabledFor(self, level: int) -> bool:
        return not self._replaying() and super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, {**kwargs, "extra": extra}
