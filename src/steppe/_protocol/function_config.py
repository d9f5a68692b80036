"""A ``Function`` as the server's function configuration (the ``functions`` of a sync)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from steppe._core.errors import FunctionDefinitionError
from steppe._core.events import TriggerCron, TriggerEvent
from steppe._core.function import Function
from steppe._protocol import wire
from steppe._protocol.durations import time_string
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

__all__ = ["function_config", "step_url"]

_O = TypeVar("_O", bound=BaseModel)
_W = TypeVar("_W", bound=wire.WireModel)

# The spec allows at most two concurrency limits per function.
_MAX_CONCURRENCY_LIMITS = 2


def step_url(serve_url: str, function_id: str) -> str:
    """``<serve url>?fnId=<id>&stepId=step``, keeping any query the serve URL already has."""
    parts = urllib.parse.urlsplit(serve_url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query += [("fnId", function_id), ("stepId", "step")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def function_config(function: Function[Any, Any], serve_url: str) -> wire.FunctionConfig:
    """The configuration the server needs to trigger, schedule and call ``function``.

    Raises ``FunctionDefinitionError`` when an option has the wrong type (say, a dict where a
    ``steppe.options.Throttle`` is expected).
    """
    options = function.options
    what = f"function {function.id!r}"
    step = wire.StepConfig(
        id="step",
        name="step",
        runtime=wire.StepRuntime(type="http", url=step_url(serve_url, function.id)),
        # Always sent: the server's default could differ from ours, and the embedded engine uses the same count.
        retries=wire.Retries(attempts=function.retries),
    )
    throttle = _option(options.get("throttle"), Throttle, "throttle", what)
    rate_limit = _option(options.get("rate_limit"), RateLimit, "rate_limit", what)
    debounce = _option(options.get("debounce"), Debounce, "debounce", what)
    batch = _option(options.get("batch_events"), BatchEvents, "batch_events", what)
    priority = _option(options.get("priority"), Priority, "priority", what)
    timeouts = _option(options.get("timeouts"), Timeouts, "timeouts", what)
    singleton = _option(options.get("singleton"), Singleton, "singleton", what)
    idempotency = options.get("idempotency")
    if idempotency is not None and (not isinstance(idempotency, str) or not idempotency.strip()):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise FunctionDefinitionError(f"{what}: idempotency must be a non-empty expression string, got {idempotency!r}")
    return _build(
        wire.FunctionConfig,
        id=function.id,
        name=function.name,
        triggers=[_trigger(t) for t in function.triggers],
        steps={"step": step},
        concurrency=_concurrency(options.get("concurrency"), what),
        throttle=throttle
        and _build(
            wire.Throttle,
            limit=throttle.limit,
            period=time_string(throttle.period),
            key=throttle.key,
            burst=throttle.burst,
        ),
        rate_limit=rate_limit
        and _build(wire.RateLimit, limit=rate_limit.limit, period=time_string(rate_limit.period), key=rate_limit.key),
        debounce=debounce
        and _build(
            wire.Debounce, period=time_string(debounce.period), key=debounce.key, timeout=_time(debounce.timeout)
        ),
        batch_events=batch
        and _build(
            wire.BatchEvents,
            max_size=batch.max_size,
            timeout=time_string(batch.timeout),
            key=batch.key,
            if_=batch.if_exp,
        ),
        cancel=_cancel(options.get("cancel"), what),
        priority=priority and _build(wire.Priority, run=priority.run),
        idempotency=idempotency,
        timeouts=timeouts and _build(wire.Timeouts, start=_time(timeouts.start), finish=_time(timeouts.finish)),
        singleton=singleton and _build(wire.Singleton, mode=singleton.mode, key=singleton.key),
    )


def _build(kind: type[_W], **values: object) -> _W:
    """A wire model from the values that are set: a ``None`` passed to the constructor would be sent as null."""
    return kind.model_validate({name: value for name, value in values.items() if value is not None})


def _trigger(trigger: TriggerEvent[Any] | TriggerCron) -> wire.EventTrigger | wire.CronTrigger:
    if isinstance(trigger, TriggerCron):
        return wire.CronTrigger(cron=trigger.cron)
    return _build(wire.EventTrigger, event=trigger.event, expression=trigger.expression)


def _time(value: timedelta | None) -> str | None:
    return None if value is None else time_string(value)


def _option(value: object, kind: type[_O], name: str, what: str) -> _O | None:
    if value is None or isinstance(value, kind):
        return value
    raise FunctionDefinitionError(
        f"{what}: {name} must be a steppe.options.{kind.__name__}, got {type(value).__name__}"
    )


def _many(value: object, kind: type[_O], name: str, what: str) -> list[_O]:
    items: list[object] = list(value) if isinstance(value, Sequence) else [value]  # pyright: ignore[reportUnknownArgumentType]
    for index, item in enumerate(items):
        if not isinstance(item, kind):
            raise FunctionDefinitionError(
                f"{what}: {name}[{index}] must be a steppe.options.{kind.__name__}, got {type(item).__name__}"
            )
    return [item for item in items if isinstance(item, kind)]


def _concurrency(value: object, what: str) -> list[wire.ConcurrencyLimit] | None:
    if value is None:
        return None
    limits = _many(value, Concurrency, "concurrency", what)
    if len(limits) > _MAX_CONCURRENCY_LIMITS:
        raise FunctionDefinitionError(
            f"{what}: at most {_MAX_CONCURRENCY_LIMITS} concurrency limits, got {len(limits)}"
        )
    return [_build(wire.ConcurrencyLimit, limit=c.limit, key=c.key, scope=c.scope) for c in limits]


def _cancel(value: object, what: str) -> list[wire.CancelOn] | None:
    if value is None:
        return None
    return [
        _build(wire.CancelOn, event=c.event, if_=c.if_exp, timeout=_time(c.timeout))
        for c in _many(value, Cancel, "cancel", what)
    ]
