"""Held run starts on the embedded engine: ``batch_events``, ``debounce`` and ``throttle``.

An event that triggers a function goes through two stages before its run is created:

1. grouping, by ``batch_events`` or ``debounce`` (a function may set at most one of them): the event is held in
   its key's group until the group is released (batch full or timed out; debounce period over);
2. pacing, by ``throttle``: a release that would exceed ``limit`` (+ ``burst``) starts in the last ``period`` of
   its key waits in that key's queue, in order, until a start falls out of the window.

Everything held lives in the store (table ``pending_starts``), so an engine restarted on the same file releases
it when due. Keys are CEL expressions over ``event`` (see ``steppe._core.expressions.KeyExpression``); for a
batch or a queued start it is the key of its first event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from steppe._core.errors import FunctionDefinitionError
from steppe._engine.flow_control import compile_condition, compile_key, key_value

if TYPE_CHECKING:
    from steppe._core.expressions import Expression, KeyExpression
    from steppe._core.function import Function
    from steppe._engine.store import Store

__all__ = ["HOLD_KINDS", "HeldGroup", "Release", "RunQueues"]

HoldKind = Literal["batch", "debounce", "throttle"]
HOLD_KINDS: Final[dict[str, HoldKind]] = {"batch": "batch", "debounce": "debounce", "throttle": "throttle"}


@dataclass(frozen=True, slots=True)
class HeldGroup:
    """Where held starts wait: one function, one kind of hold, one key value (JSON text)."""

    function_id: str
    kind: HoldKind
    key: str


@dataclass(slots=True)
class Release:
    """What an event or a due group yields: runs to start now (their event ids) and groups to wake when due."""

    starts: list[tuple[str, ...]] = field(default_factory=list[tuple[str, ...]])
    watch: list[HeldGroup] = field(default_factory=list[HeldGroup])

    def extend(self, other: Release) -> None:
        self.starts.extend(other.starts)
        self.watch.extend(other.watch)


@dataclass(frozen=True)
class _Batch:
    max_size: int
    timeout: timedelta
    key: KeyExpression | None
    condition: Expression | None


@dataclass(frozen=True)
class _Debounce:
    period: timedelta
    timeout: timedelta | None
    key: KeyExpression | None


@dataclass(frozen=True)
class _Throttle:
    capacity: int
    period: timedelta
    key: KeyExpression | None


@dataclass(frozen=True)
class _Holds:
    batch: _Batch | None
    debounce: _Debounce | None
    throttle: _Throttle | None


def _holds(function: Function[Any, Any]) -> _Holds | None:
    options, fid = function.options, function.id
    batch, debounce, throttle = options.get("batch_events"), options.get("debounce"), options.get("throttle")
    if batch is not None and debounce is not None:
        raise FunctionDefinitionError(f"function {fid!r}: batch_events and debounce cannot both be set; choose one")
    if batch is None and debounce is None and throttle is None:
        return None
    condition = None if batch is None else compile_condition(batch.if_exp, fid, "batch_events if_exp")
    return _Holds(
        batch=None
        if batch is None
        else _Batch(batch.max_size, batch.timeout, compile_key(batch.key, fid, "batch_events key"), condition),
        debounce=None
        if debounce is None
        else _Debounce(debounce.period, debounce.timeout, compile_key(debounce.key, fid, "debounce key")),
        throttle=None
        if throttle is None
        else _Throttle(
            throttle.limit + (throttle.burst or 0), throttle.period, compile_key(throttle.key, fid, "throttle key")
        ),
    )


class RunQueues:
    """The batch, debounce and throttle holds of an engine's functions; every method runs inside a transaction."""

    def __init__(self, functions: Iterable[Function[Any, Any]]) -> None:
        self._holds: dict[str, _Holds] = {}
        for function in functions:
            holds = _holds(function)  # raises on an invalid key or condition, naming the function
            if holds is not None:
                self._holds[function.id] = holds

    def arrive(self, function_id: str, event_id: str, event: Mapping[str, Any], store: Store, now: datetime) -> Release:
        """An event triggering ``function_id`` was stored: start its run now, or hold it."""
        holds = self._holds.get(function_id)
        if holds is None:
            return Release(starts=[(event_id,)])
        batch = holds.batch
        if batch is not None and (batch.condition is None or batch.condition.matches(event=event, incoming=event)):
            return self._add_to_batch(function_id, batch, event_id, event, store, now)
        if holds.debounce is not None:
            return self._debounce(function_id, holds.debounce, event_id, event, store, now)
        return self._pace(function_id, (event_id,), event, store, now)

    def release(self, group: HeldGroup, store: Store, now: datetime) -> Release:
        """The group's due time came: release what is due (grouped starts then go through throttle)."""
        released = Release()
        if group.kind == "throttle":
            return self._drain_throttle(group, store, now)
        for entry in store.pending(group.function_id, group.kind, group.key):
            if entry.due_at <= now:
                store.delete_pending(entry.seq)
                first = store.load_events(entry.event_ids[:1])[0]
                released.extend(self._pace(group.function_id, entry.event_ids, first, store, now))
        return released

    # -- grouping --------------------------------------------------------------------------------

    def _add_to_batch(
        self, function_id: str, batch: _Batch, event_id: str, event: Mapping[str, Any], store: Store, now: datetime
    ) -> Release:
        group = HeldGroup(function_id, "batch", key_value(batch.key, event))
        open_batch = store.pending(function_id, "batch", group.key)
        if not open_batch:
            if batch.max_size == 1:
                return self._pace(function_id, (event_id,), event, store, now)
            store.add_pending(function_id, "batch", group.key, [event_id], now, now + batch.timeout)
            return Release(watch=[group])
        entry = open_batch[0]
        event_ids = (*entry.event_ids, event_id)
        if len(event_ids) < batch.max_size:
            store.update_pending(entry.seq, event_ids, entry.due_at)
            return Release()
        store.delete_pending(entry.seq)
        first = store.load_events(event_ids[:1])[0]
        return self._pace(function_id, event_ids, first, store, now)

    def _debounce(
        self,
        function_id: str,
        debounce: _Debounce,
        event_id: str,
        event: Mapping[str, Any],
        store: Store,
        now: datetime,
    ) -> Release:
        group = HeldGroup(function_id, "debounce", key_value(debounce.key, event))
        held = store.pending(function_id, "debounce", group.key)
        first_at = held[0].first_at if held else now
        due_at = now + debounce.period
        if debounce.timeout is not None:
            due_at = min(due_at, first_at + debounce.timeout)
        if held:
            store.update_pending(held[0].seq, [event_id], due_at)  # the run starts with the last event only
        else:
            store.add_pending(function_id, "debounce", group.key, [event_id], now, due_at)
        return Release(watch=[group])

    # -- pacing ----------------------------------------------------------------------------------

    def _pace(
        self, function_id: str, event_ids: tuple[str, ...], first: Mapping[str, Any], store: Store, now: datetime
    ) -> Release:
        holds = self._holds.get(function_id)
        throttle = None if holds is None else holds.throttle
        if throttle is None:
            return Release(starts=[event_ids])
        group = HeldGroup(function_id, "throttle", key_value(throttle.key, first))
        queued = store.pending(function_id, "throttle", group.key, limit=1)  # only whether any is queued, and when
        window = store.throttle_starts(function_id, group.key, now - throttle.period)
        if not queued and len(window) < throttle.capacity:
            store.record_throttle_start(function_id, group.key, now)
            return Release(starts=[event_ids])
        # Queued behind earlier starts (order is kept); due when a start leaves the window and frees a slot.
        due_at = queued[0].due_at if queued else window[-throttle.capacity] + throttle.period
        store.add_pending(function_id, "throttle", group.key, event_ids, now, due_at)
        return Release(watch=[group])

    def _drain_throttle(self, group: HeldGroup, store: Store, now: datetime) -> Release:
        holds = self._holds.get(group.function_id)
        if holds is None or holds.throttle is None:  # the option was removed: let everything queued start
            queued = store.pending(group.function_id, "throttle", group.key)
            for entry in queued:
                store.delete_pending(entry.seq)
            return Release(starts=[entry.event_ids for entry in queued])
        throttle = holds.throttle
        released = Release()
        queued = store.pending(group.function_id, "throttle", group.key)
        window = store.throttle_starts(group.function_id, group.key, now - throttle.period)
        for entry in queued:
            if len(window) >= throttle.capacity:
                # Still full: every entry left waits for the next free slot (the group wakes at the earliest due).
                store.update_pending(entry.seq, entry.event_ids, window[-throttle.capacity] + throttle.period)
                if not released.watch:
                    released.watch.append(group)
                continue
            store.delete_pending(entry.seq)
            store.record_throttle_start(group.function_id, group.key, now)
            window.append(now)
            released.starts.append(entry.event_ids)
        return released
