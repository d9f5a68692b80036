"""What a function receives besides its steps."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Generic

from typing_extensions import TypeVar

from steppe._core.events import Event

__all__ = ["Context"]

_D = TypeVar("_D", default=dict[str, Any])


@dataclass(frozen=True, kw_only=True, slots=True)
class Context(Generic[_D]):
    """The run a function body is executing.

    ``event`` is the triggering event (the first of ``events`` for a batch); its ``data`` is the
    trigger's declared model, or ``dict[str, Any]``. ``attempt`` counts from 0 across whole-function retries.
    ``logger`` tags records with the run and stays quiet while the run replays steps it already took, so a
    line is logged once per run, not once per replay.
    """

    event: Event[_D]
    events: tuple[Event[_D], ...]
    run_id: str
    attempt: int
    fn_id: str
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
