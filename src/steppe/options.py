"""Flow-control options of ``create_function``: how an Inngest server schedules a function's runs.

Each is a small frozen model checked when it is built: a limit below 1, a period under one second or an unknown
singleton mode raises pydantic's ``ValidationError`` naming the field. Periods are ``timedelta`` values; they are
sent to the server as time strings (``"1m"``, ``"1h30m"``). Keys and conditions (``key``, ``if_exp``, ``run``) are
expressions the server evaluates, with ``event`` bound to the triggering event (and ``async`` to the incoming event
for ``Cancel.if_exp``).

The Inngest server enforces all of these options. The embedded engine (``steppe.Engine``) enforces most of them,
keeping their state in its database; for each other option a function sets it logs one warning at start and runs
without it. docs/serving.md says which are which and how each is applied. It refuses a function that sets both
``batch_events`` and ``debounce``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "BatchEvents",
    "Cancel",
    "Concurrency",
    "Debounce",
    "Priority",
    "RateLimit",
    "Singleton",
    "Throttle",
    "Timeouts",
]

_ONE_SECOND = timedelta(seconds=1)


def _at_least_one_second(value: timedelta) -> timedelta:
    # The server counts these periods in whole seconds; anything shorter would be silently rounded.
    if value < _ONE_SECOND:
        raise ValueError(f"must be at least one second, got {value}")
    return value


Period = Annotated[timedelta, AfterValidator(_at_least_one_second)]


class _Option(BaseModel):
    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)


class Concurrency(_Option):
    """At most ``limit`` steps of this function run at once, per value of ``key`` if given.

    ``scope`` widens the limit from this function (``"fn"``) to the environment or the whole account.
    A function takes one ``Concurrency`` or a sequence of at most two.
    """

    limit: int = Field(ge=1)
    key: str | None = None
    scope: Literal["fn", "env", "account"] | None = None


class Throttle(_Option):
    """Start at most ``limit`` runs per ``period`` (per ``key``); further runs are delayed, not dropped."""

    limit: int = Field(ge=1)
    period: Period
    key: str | None = None
    burst: int | None = Field(default=None, ge=1)


class RateLimit(_Option):
    """Start at most ``limit`` runs per ``period`` (per ``key``); further events are skipped."""

    limit: int = Field(ge=1)
    period: Period
    key: str | None = None


class Debounce(_Option):
    """Run once ``period`` has passed without a new event (per ``key``), at the latest after ``timeout``."""

    period: Period
    key: str | None = None
    timeout: Period | None = None


class BatchEvents(_Option):
    """Run with up to ``max_size`` events at once (``ctx.events``), or with fewer once ``timeout`` has passed."""

    max_size: int = Field(ge=1)
    timeout: Period
    key: str | None = None
    if_exp: str | None = None


class Cancel(_Option):
    """Cancel a run when an event named ``event`` arrives (matching ``if_exp``), within ``timeout`` if given."""

    event: str = Field(min_length=1)
    if_exp: str | None = None
    timeout: Period | None = None


class Priority(_Option):
    """``run``: an expression giving a run's priority in seconds, from -600 (later) to 600 (sooner)."""

    run: str | None = None


class Timeouts(_Option):
    """Cancel a run not started within ``start`` of its event, or not finished within ``finish`` of its start."""

    start: Period | None = None
    finish: Period | None = None


class Singleton(_Option):
    """At most one run at a time (per ``key``): a new run is skipped, or cancels the running one."""

    mode: Literal["skip", "cancel"]
    key: str | None = None
