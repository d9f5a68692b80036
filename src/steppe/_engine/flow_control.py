"""Flow control on the embedded engine: which ``steppe.options`` it enforces, and the rules for each.

``ENFORCED`` names the options it applies, ``NOT_ENFORCED`` the ones it does not: each of those a function sets is
reported once, as a logging warning, when the engine starts; the app still runs, only without it. The rules live
here, except for the options that hold run starts back, which are in ``steppe._engine.queues``.

Keys (``key`` of Concurrency, RateLimit, Singleton, and ``idempotency``) and conditions (``Cancel.if_exp``) are CEL
expressions, compiled and evaluated by ``steppe._core.expressions``; a key's value is compared as JSON text, and
a key that cannot be evaluated for an event (a missing field, say) is ``null``, so all such events share one key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from steppe._core.errors import FunctionDefinitionError
from steppe._core.expressions import (
    EqualityIndex,
    Expression,
    ExpressionError,
    KeyExpression,
    NotIndexable,
    compile_expression,
    compile_key_expression,
)
from steppe._core.outcomes import ErrorInfo
from steppe._engine.matching import ALWAYS_CANDIDATE, conditions_fingerprint, waiting_key
from steppe.options import Cancel, Concurrency

if TYPE_CHECKING:
    from steppe._core.function import Function, FunctionSettings
    from steppe._engine.store import Store

__all__ = [
    "ENFORCED",
    "NOT_ENFORCED",
    "ConcurrencyGates",
    "FlowControl",
    "GateClaim",
    "RunCancelled",
    "compile_condition",
    "compile_key",
    "key_value",
]

ENFORCED: Final = (
    "concurrency",
    "cancel",
    "idempotency",
    "rate_limit",
    "singleton(mode='skip')",
    "timeouts.finish",
    "batch_events",
    "debounce",
    "throttle",
)
"""The flow-control options the embedded engine applies, as README.md and docs/serving.md name them."""

# Each option the embedded engine does not apply, with how to tell that a function sets it.
_SETS_UNENFORCED: Final[Mapping[str, Callable[[FunctionSettings], bool]]] = {
    "priority": lambda options: options.get("priority") is not None,
    "timeouts.start": lambda options: (timeouts := options.get("timeouts")) is not None and timeouts.start is not None,
    "singleton(mode='cancel')": lambda options: (
        (singleton := options.get("singleton")) is not None and singleton.mode == "cancel"
    ),
}

NOT_ENFORCED: Final = tuple(_SETS_UNENFORCED)
"""The flow-control options only an Inngest server applies: the embedded engine warns about each one a function sets."""

IDEMPOTENCY_PERIOD: Final = timedelta(hours=24)

# A run's status is "cancelled" with this error; a parent waiting on it through step.invoke gets it as a step error.
CANCELLED_ERROR: Final = "RunCancelledError"

# A concurrency gate: (scope, function id or "" when shared, key value) and the limit this claim asks for.
GateClaim = tuple[tuple[str, str, str], int]


def _unenforced(function: Function[Any, Any]) -> list[str]:
    """The options ``function`` sets that the embedded engine does not apply."""
    return [name for name, sets in _SETS_UNENFORCED.items() if sets(function.options)]


def compile_key(source: str | None, function_id: str, option: str) -> KeyExpression | None:
    """An option's key expression, compiled; a bad one is a definition error naming the function and option."""
    if source is None:
        return None
    try:
        return compile_key_expression(source)
    except ExpressionError as error:
        raise FunctionDefinitionError(f"function {function_id!r}: {option}: {error}") from error


def compile_condition(source: str | None, function_id: str, option: str) -> Expression | None:
    """An option's ``if_exp``, compiled; a bad one is a definition error naming the function and option."""
    if source is None:
        return None
    try:
        return compile_expression(source)
    except ExpressionError as error:
        raise FunctionDefinitionError(f"function {function_id!r}: {option}: {error}") from error


def key_value(key: KeyExpression | None, event: Mapping[str, Any]) -> str:
    """The key an event falls under; every event shares one key when the option has none."""
    return "" if key is None else key.value(event)


_O = TypeVar("_O", Concurrency, Cancel)


def _many(value: _O | Sequence[_O] | None, kind: type[_O]) -> tuple[_O, ...]:
    if value is None:
        return ()
    if isinstance(value, kind):
        return (value,)
    return tuple(cast(Sequence[_O], value))  # pyright: ignore[reportUnnecessaryCast]  (mypy needs it)


@dataclass(frozen=True)
class _ConcurrencyRule:
    scope: str
    limit: int
    key: KeyExpression | None


@dataclass(frozen=True)
class _CancelRule:
    event: str
    condition: Expression | None
    timeout: timedelta | None


@dataclass(frozen=True)
class _Policy:
    """One function's enforced options, with every expression compiled."""

    concurrency: tuple[_ConcurrencyRule, ...] = ()
    cancels: tuple[_CancelRule, ...] = ()
    idempotency: KeyExpression | None = None
    rate_limit: tuple[int, timedelta, KeyExpression | None] | None = None
    singleton_key: KeyExpression | None = None
    singleton: bool = False
    finish: timedelta | None = None


def _policy(function: Function[Any, Any]) -> _Policy:
    options, fid = function.options, function.id
    concurrency = tuple(
        _ConcurrencyRule(limit.scope or "fn", limit.limit, compile_key(limit.key, fid, "concurrency key"))
        for limit in _many(options.get("concurrency"), Concurrency)
    )
    cancels = [
        _CancelRule(cancel.event, compile_condition(cancel.if_exp, fid, f"cancel on {cancel.event!r}"), cancel.timeout)
        for cancel in _many(options.get("cancel"), Cancel)
    ]
    rate = options.get("rate_limit")
    singleton = options.get("singleton")
    timeouts = options.get("timeouts")
    return _Policy(
        concurrency=concurrency,
        cancels=tuple(cancels),
        idempotency=compile_key(options.get("idempotency"), fid, "idempotency"),
        rate_limit=None if rate is None else (rate.limit, rate.period, compile_key(rate.key, fid, "rate_limit key")),
        singleton=singleton is not None and singleton.mode == "skip",
        singleton_key=None if singleton is None else compile_key(singleton.key, fid, "singleton key"),
        finish=None if timeouts is None else timeouts.finish,
    )


@dataclass(frozen=True, slots=True)
class RunCancelled:
    """A run to cancel, and why."""

    run_id: str
    error: ErrorInfo


@dataclass(frozen=True, slots=True)
class Admission:
    """A run may start; it holds ``singleton_key`` while it runs (None: no singleton)."""

    singleton_key: str | None


class FlowControl:
    """The enforced flow-control options of an engine's functions."""

    def __init__(self, functions: Iterable[Function[Any, Any]]) -> None:
        self._functions = list(functions)
        self._policies = {function.id: _policy(function) for function in self._functions}
        self.gates: ConcurrencyGates = ConcurrencyGates()
        self._keys_checked: set[str] = set()  # functions whose runs' cancel keys were checked against their conditions

    def warn_unenforced(self, logger: logging.Logger) -> None:
        for function in self._functions:
            for option in _unenforced(function):
                logger.warning(
                    "steppe: function %r sets %s, which the embedded engine does not enforce: its runs go on as "
                    "if it were not set (an Inngest server enforces it)",
                    function.id,
                    option,
                )

    # -- starting runs ---------------------------------------------------------------------------

    def admit(self, function_id: str, event: Mapping[str, Any], store: Store, now: datetime) -> Admission | None:
        """Whether ``event`` may start a run of the function; records what the start uses up.

        Call inside the transaction that creates the run. Checked in order, each without using anything up:
        singleton (a run with the same key still running), idempotency (the key seen in the last 24 hours),
        rate limit (``limit`` runs started in the last ``period``). Only a run that passes all three holds its
        idempotency key and counts against the rate limit.
        """
        policy = self._policies.get(function_id)
        if policy is None:
            return Admission(None)
        singleton_key = None
        if policy.singleton:
            singleton_key = key_value(policy.singleton_key, event)
            if store.singleton_running(function_id, singleton_key):
                return None
        idempotency_key = None if policy.idempotency is None else policy.idempotency.value(event)
        if idempotency_key is not None and store.idempotency_key_held(function_id, idempotency_key, now):
            return None
        rate_key = None
        if policy.rate_limit is not None:
            limit, period, key = policy.rate_limit
            rate_key = key_value(key, event)
            if store.rate_limited_starts(function_id, rate_key, now - period) >= limit:
                return None
        if idempotency_key is not None:
            store.hold_idempotency_key(function_id, idempotency_key, now + IDEMPOTENCY_PERIOD)
        if rate_key is not None:
            store.record_rate_limited_start(function_id, rate_key, now)
        return Admission(singleton_key)

    # -- cancelling runs -------------------------------------------------------------------------

    def cancellations(self, incoming: Mapping[str, Any], store: Store, now: datetime) -> list[RunCancelled]:
        """The running runs that the event ``incoming`` cancels (checked before the runs it starts exist).

        Call inside the event's transaction. A function whose cancel conditions for this event are all indexed
        (see ``steppe._engine.matching``) has only the runs whose keys match looked at; otherwise every running run.
        """
        name = incoming.get("name")
        found: list[tuple[datetime, str, str, str]] = []
        for function_id, policy in self._policies.items():
            rules = [rule for rule in policy.cancels if rule.event == name]
            if not rules:
                continue
            candidates = self._cancel_candidates(function_id, policy, rules, incoming, store)
            for run_id, event_id, created_at in candidates:
                trigger: dict[str, Any] | None = None
                for rule in rules:
                    if rule.timeout is not None and now > created_at + rule.timeout:
                        continue
                    if rule.condition is not None:
                        trigger = trigger or store.load_events([event_id])[0]
                        if not rule.condition.matches(event=trigger, incoming=incoming):
                            continue
                    found.append((created_at, run_id, function_id, str(name)))
                    break
        found.sort(key=lambda item: item[0])  # oldest first, as the runs were started
        return [
            RunCancelled(
                run_id, ErrorInfo(CANCELLED_ERROR, f"run of function {fid!r} was cancelled by event {event!r}")
            )
            for _, run_id, fid, event in found
        ]

    def _cancel_candidates(
        self,
        function_id: str,
        policy: _Policy,
        rules: Sequence[_CancelRule],
        incoming: Mapping[str, Any],
        store: Store,
    ) -> list[tuple[str, str, datetime]]:
        """The running runs of the function one of ``rules`` may cancel for ``incoming``: by key where all are indexed."""

        def every_run() -> list[tuple[str, str, datetime]]:
            return [(run_id, event_id, created) for run_id, _, event_id, created in store.running_runs([function_id])]

        indexed = [(rule.condition, rule.condition.index) for rule in rules if rule.condition is not None]
        if len(indexed) < len(rules) or any(index is None for _, index in indexed):
            return every_run()
        self._key_running_runs(function_id, policy, store)
        candidates: dict[str, tuple[str, str, datetime]] = {}
        for condition, index in indexed:
            assert index is not None
            try:
                key = EqualityIndex.key(incoming, index.incoming)
            except NotIndexable:
                return every_run()
            if key is None:  # the incoming event lacks the field: this condition holds for no run
                continue
            for candidate in store.cancel_candidates(function_id, condition.source, key):
                candidates[candidate[0]] = candidate
        return sorted(candidates.values(), key=lambda candidate: candidate[2])

    def _key_running_runs(self, function_id: str, policy: _Policy, store: Store) -> None:
        """Make the cancel keys of the function's running runs that have none for its current conditions."""
        conditions = [rule.condition.source for rule in policy.cancels if rule.condition is not None]
        indexed = [source for source in dict.fromkeys(conditions) if compile_expression(source).index is not None]
        fingerprint = conditions_fingerprint(indexed)
        if function_id not in self._keys_checked:  # once per engine: the function's conditions may have changed
            store.forget_cancel_keys(function_id, fingerprint)
            self._keys_checked.add(function_id)
        for run_id, event in store.unkeyed_running_runs(function_id):
            keys: list[tuple[str, str]] = []
            for source in indexed:
                match = waiting_key(source, event)
                if match is None:  # this run's own value has no key: always a candidate, evaluated in full
                    keys.append((source, ALWAYS_CANDIDATE))
                elif match[1] is not None:  # (None: the run lacks the field, so the condition never holds)
                    keys.append((source, match[1]))
            store.set_cancel_keys(run_id, function_id, fingerprint, keys)

    def finish_deadline(self, function_id: str, created_at: datetime | None) -> datetime | None:
        """When a run started at ``created_at`` is cancelled for not having finished (``timeouts.finish``)."""
        policy = self._policies.get(function_id)
        if policy is None or policy.finish is None or created_at is None:
            return None
        return created_at + policy.finish

    # -- running steps ---------------------------------------------------------------------------

    def claims(self, function_id: str, event: Mapping[str, Any]) -> list[GateClaim]:
        """The concurrency gates each step handler of this run passes through, in a fixed global order."""
        policy = self._policies.get(function_id)
        if policy is None:
            return []
        claims: list[GateClaim] = []
        for rule in policy.concurrency:
            value = key_value(rule.key, event)
            owner = function_id if rule.scope == "fn" else ""
            claims.append(((rule.scope, owner, value), rule.limit))
        # One order for every run, so two runs claiming the same two gates cannot each hold one and wait.
        return sorted(claims)


class _Gate:
    def __init__(self) -> None:
        self.active = 0
        self.waiters: list[asyncio.Future[None]] = []

    async def enter(self, limit: int) -> None:
        while self.active >= limit:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
        self.active += 1

    def leave(self) -> None:
        # Synchronous, so a cancelled step handler can never leave its slot taken.
        self.active -= 1
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:  # each re-checks its own limit (functions sharing a gate may ask for different ones)
            if not waiter.done():
                waiter.set_result(None)


class ConcurrencyGates:
    """Counts the step handlers executing per concurrency key; a claim waits while its limit is reached."""

    def __init__(self) -> None:
        self._gates: dict[tuple[str, str, str], _Gate] = {}

    def active(self, identity: tuple[str, str, str]) -> int:
        gate = self._gates.get(identity)
        return 0 if gate is None else gate.active

    @asynccontextmanager
    async def hold(self, claims: Sequence[GateClaim]) -> AsyncGenerator[None]:
        held: list[_Gate] = []
        try:
            for identity, limit in claims:
                gate = self._gates.setdefault(identity, _Gate())
                await gate.enter(limit)
                held.append(gate)
            yield
        finally:
            for gate in reversed(held):
                gate.leave()
