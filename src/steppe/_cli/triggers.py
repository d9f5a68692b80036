"""Which event starts the run: ``--event`` as given, or the function's only trigger.

A cron function runs on the event the engine's scheduler sends (``inngest/scheduled.timer`` with data
``{"cron": ...}``). The engine starts cron functions only on their schedule, so the command runs a copy of the
function whose one trigger is that event.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import click

from steppe._core.events import Event, TriggerCron, TriggerEvent
from steppe._core.function import Function
from steppe._engine.engine import CRON_EVENT

__all__ = ["Start", "choose_start"]


@dataclass(frozen=True, slots=True)
class Start:
    function: Function[Any, Any]
    """The function to run: the target itself, or its copy triggered by the scheduled event."""
    event: Event[Any]


def choose_start(function: Function[Any, Any], event_name: str | None, data: dict[str, Any] | None) -> Start:
    events = [trigger.event for trigger in function.triggers if isinstance(trigger, TriggerEvent)]
    crons = [trigger.cron for trigger in function.triggers if isinstance(trigger, TriggerCron)]
    if event_name is None:
        if len(events) == 1 and not crons:
            event_name = events[0]
        elif not events and crons:
            event_name = CRON_EVENT
        else:
            raise click.UsageError(
                f"function {function.id!r} has several triggers ({_describe(function)}): choose one with --event NAME"
            )
    if event_name in events:
        return Start(function, Event(name=event_name, data={} if data is None else data))
    if event_name == CRON_EVENT and crons:
        scheduled = copy.copy(function)
        scheduled.triggers = (TriggerEvent(CRON_EVENT),)
        return Start(scheduled, Event(name=CRON_EVENT, data={"cron": crons[0]} if data is None else data))
    raise click.BadParameter(
        f"{event_name!r} does not trigger function {function.id!r} (its triggers: {_describe(function)})",
        param_hint="--event",
    )


def _describe(function: Function[Any, Any]) -> str:
    return ", ".join(
        f"event {trigger.event!r}"
        if isinstance(trigger, TriggerEvent)
        else f"cron {trigger.cron!r} (--event {CRON_EVENT})"
        for trigger in function.triggers
    )
