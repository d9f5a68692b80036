"""The app's functions as the index page lists them: id, triggers, flow-control options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel

from steppe._client import Client
from steppe._core.events import TriggerCron, TriggerEvent
from steppe._core.function import Function

__all__ = ["FunctionRow", "event_names", "function_rows"]


@dataclass(frozen=True)
class FunctionRow:
    local_id: str
    id: str
    name: str
    triggers: Sequence[str]
    options: Sequence[str]


def function_rows(client: Client) -> list[FunctionRow]:
    return [_row(function) for function in client.functions]


def event_names(client: Client) -> list[str]:
    """The event names that start some function of the app, for the send form's suggestions."""
    names = {t.event for f in client.functions for t in f.triggers if isinstance(t, TriggerEvent)}
    return sorted(names)


def _row(function: Function[Any, Any]) -> FunctionRow:
    options = [f"retries={function.retries}"]
    for key, value in function.options.items():
        if key not in ("name", "retries"):
            options.append(f"{key}={_option(value)}")
    return FunctionRow(
        local_id=function.local_id,
        id=function.id,
        name=function.name,
        triggers=[_trigger(t) for t in function.triggers],
        options=options,
    )


def _trigger(trigger: object) -> str:
    if isinstance(trigger, TriggerEvent):
        typed = f" ({trigger.event_type.data_type.__name__})" if trigger.event_type else ""
        where = f" if {trigger.expression}" if trigger.expression else ""
        return f"event {trigger.event}{typed}{where}"
    if isinstance(trigger, TriggerCron):
        return f"cron {trigger.cron}"
    return repr(trigger)


def _option(value: object) -> str:
    if isinstance(value, BaseModel):
        fields = ", ".join(f"{k}={v!r}" for k, v in value.model_dump(exclude_defaults=True).items())
        return f"{type(value).__name__}({fields})"
    if isinstance(value, list | tuple):
        items = cast("Sequence[object]", value)
        return "[" + ", ".join(_option(v) for v in items) + "]"
    return repr(value)
