"""Indexed event matching: an event is compared only with the parked runs its index keys find, and matches exactly
the runs that evaluating every condition would (property tests over CEL's equality edge cases)."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import steppe
from steppe._core import cel
from steppe._core.expressions import EqualityIndex, compile_expression
from steppe._engine.flow_control import FlowControl
from steppe._engine.matching import incoming_keys
from steppe._engine.store import Store, WaitRecord
from steppe.options import Cancel

NOW = datetime(2030, 1, 1, tzinfo=UTC)
EXAMPLES = itertools.count()  # run ids unique across the examples sharing one store

# Values where CEL equality and JSON text disagree: 1 == 1.0 == 1.0e0, -0.0 == 0, true != 1, "1" != 1,
# ints beyond int64 read as doubles (2**63 + 1 == 2**63 then), 2**53 + 1 != 2.0**53, NaN equal to nothing.
EDGE_VALUES: list[Any] = [
    0,
    1,
    -1,
    1.0,
    0.0,
    -0.0,
    1.5,
    True,
    False,
    "1",
    "a",
    "",
    None,
    2**53 + 1,
    2.0**53,
    2**63 - 1,
    2**63,
    2**63 + 1,
    2.0**63,
    -(2**63) - 1,
    math.inf,
    -math.inf,
    math.nan,
    [],
    [1],
    [1.0],
    [math.nan],
    {},
    {"a": 1},
    {"a": 1.0, "b": [True]},
    {"a": None},
]

scalars = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "k"]), inner, max_size=3),
    max_leaves=6,
)
# `data` as a map holding (or lacking) the compared fields, or something no field can be selected from.
data: st.SearchStrategy[Any] = st.one_of(
    st.fixed_dictionaries({}, optional={"k": json_values, "j": json_values, "n": st.integers(-3, 3)}),
    st.sampled_from([None, [1], "k", 3]),
)

CONDITIONS = [
    "async.data.k == event.data.k",
    "event.data.k == async.data.j",
    "async.data == event.data",
    "async.data.k == event.data.k && async.data.n > 0",
    "async.data.n > 0 && (event.data.j == async.data.k) && event.data.n != async.data.n",
    "event.data.k == async.data.k && event.data.j == async.data.j",
    "async.data.k == 1 && event.data.k == async.data.j",
    # not indexed: evaluated for every run, as before
    "async.data.k == event.data.k || async.data.j == event.data.j",
    "!(async.data.k != event.data.k)",
    "async.data.k == event.data.j ? true : false",
]


def event(name: str, payload: Any, index: int) -> dict[str, Any]:
    return {"name": name, "data": payload, "id": f"{name}-{index}", "ts": 0}


def test_the_conditions_that_are_indexed() -> None:
    indexed = {source: compile_expression(source).index for source in CONDITIONS}
    assert [source for source, index in indexed.items() if index is not None] == CONDITIONS[:7]
    assert indexed["event.data.k == async.data.j"] == EqualityIndex(waiting=("data", "k"), incoming=("data", "j"))
    assert indexed["async.data == event.data"] == EqualityIndex(waiting=("data",), incoming=("data",))


@given(st.sampled_from(EDGE_VALUES) | json_values, st.sampled_from(EDGE_VALUES) | json_values)
def test_equal_keys_exactly_when_cel_says_equal(left: Any, right: Any) -> None:
    left_key, right_key = cel.equality_key(left), cel.equality_key(right)
    equal = cel._values_equal(cel._json_to_cel(left), cel._json_to_cel(right))  # pyright: ignore[reportPrivateUsage]
    assert equal == (left_key is not None and left_key == right_key)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "matching.db")
    try:
        yield opened
    finally:
        opened.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.sampled_from(CONDITIONS), data), min_size=1, max_size=12),
    st.lists(data, min_size=1, max_size=4),
)
def test_indexed_waits_match_what_evaluating_every_condition_matches(
    store: Store, parked: list[tuple[str, Any]], incoming: list[Any]
) -> None:
    example = next(EXAMPLES)
    with store.transaction():
        store._execute("DELETE FROM waits")  # pyright: ignore[reportPrivateUsage]  (one store for all examples)
        for index, (condition, payload) in enumerate(parked):
            run_id = f"run-{index}-{example}"
            trigger = event("start", payload, index)
            store.insert_event(f"{run_id}-event", "start", trigger, NOW)
            store.create_run(run_id, "app-f", [f"{run_id}-event"], NOW)
            store.insert_wait(run_id, "w", "w", WaitRecord("event", NOW, "reply", condition, None), now=NOW)
    triggers = {
        f"run-{index}-{example}": (condition, event("start", payload, index))
        for index, (condition, payload) in enumerate(parked)
    }
    for number, payload in enumerate(incoming):
        sent = event("reply", payload, number)
        keys = incoming_keys(store.event_wait_paths("reply"), sent)
        candidates = store.event_waits("reply", keys)
        found = {
            run_id
            for run_id, _, condition in candidates
            if condition is not None and compile_expression(condition).matches(event=triggers[run_id][1], incoming=sent)
        }
        every = {
            run_id
            for run_id, (condition, trigger) in triggers.items()
            if compile_expression(condition).matches(event=trigger, incoming=sent)
        }
        assert found == every
        assert len(candidates) == len({run_id for run_id, _, _ in candidates})  # each wait at most once


def cancelling_client() -> steppe.Client:
    client = steppe.Client("app")
    for number, condition in enumerate(CONDITIONS):

        @client.create_function(
            fn_id=f"f{number}",
            trigger=steppe.TriggerEvent(event="start"),
            cancel=Cancel(event="abort", if_exp=condition),
        )
        async def function(ctx: steppe.Context, step: steppe.Step) -> None:
            return None

    return client


CANCELLING = cancelling_client()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, len(CONDITIONS) - 1), data), min_size=1, max_size=12),
    st.lists(data, min_size=1, max_size=4),
)
def test_indexed_cancellations_are_what_evaluating_every_condition_cancels(
    store: Store, running: list[tuple[int, Any]], incoming: list[Any]
) -> None:
    functions = {function.id: function for function in CANCELLING.functions}
    flow = FlowControl(CANCELLING.functions)
    conditions = {f"app-f{number}": condition for number, condition in enumerate(CONDITIONS)}
    triggers: dict[str, tuple[str, dict[str, Any]]] = {}
    example = next(EXAMPLES)
    with store.transaction():
        store._execute("UPDATE runs SET status = 'completed'")  # pyright: ignore[reportPrivateUsage]
        for index, (number, payload) in enumerate(running):
            run_id = f"run-{index}-{example}"
            trigger = event("start", payload, index)
            store.insert_event(f"{run_id}-event", "start", trigger, NOW)
            function_id = f"app-f{number}"
            assert function_id in functions
            store.create_run(run_id, function_id, [f"{run_id}-event"], NOW)
            triggers[run_id] = (conditions[function_id], trigger)
    for number, payload in enumerate(incoming):
        sent = event("abort", payload, number)
        with store.transaction():
            found = {cancel.run_id for cancel in flow.cancellations(sent, store, NOW + timedelta(seconds=1))}
        every = {
            run_id
            for run_id, (condition, trigger) in triggers.items()
            if compile_expression(condition).matches(event=trigger, incoming=sent)
        }
        assert found == every


# -- through the engine: only the candidates are evaluated ------------------------------------------


class Evaluations:
    """Counts full evaluations of conditions."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = cel.Program.matches

        def counted(program: cel.Program, *, event: Any, incoming: Any) -> bool:
            self.count += 1
            return original(program, event=event, incoming=incoming)

        monkeypatch.setattr(cel.Program, "matches", counted)


async def until_waits(engine: steppe.Engine, count: int) -> None:
    for _ in range(1000):
        if engine._store._one("SELECT count(*) FROM waits")[0] >= count:  # pyright: ignore[reportPrivateUsage]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} runs parked")


async def test_an_event_evaluates_only_the_waits_its_key_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    client = steppe.Client("app")

    @client.create_function(fn_id="waits", trigger=steppe.TriggerEvent(event="order"))
    async def waits(ctx: steppe.Context, step: steppe.Step) -> Any:
        paid = await step.wait_for_event(
            "paid",
            event="paid",
            timeout=timedelta(days=1),
            if_exp="async.data.order == event.data.order && async.data.amount > 0",
        )
        return None if paid is None else paid.data

    async with steppe.Engine(client) as engine:
        run_ids = await engine.send([steppe.Event(name="order", data={"order": n}) for n in range(30)])
        await until_waits(engine, 30)
        evaluations = Evaluations(monkeypatch)
        await engine.send(steppe.Event(name="paid", data={"order": 99, "amount": 5}))
        assert evaluations.count == 0  # no parked run has order 99: none evaluated (every one, before)
        await engine.send(steppe.Event(name="paid", data={"order": 7.0, "amount": 0}))
        assert evaluations.count == 1  # 7.0 finds order 7 (CEL: 7 == 7.0); the rest of its condition fails
        await engine.send(steppe.Event(name="paid", data={"order": 7, "amount": 3}))
        assert evaluations.count == 2
        assert (await engine.wait(run_ids[7], timeout=10)).output == {"order": 7, "amount": 3}
        assert all(engine.result(run_id).status == "running" for run_id in run_ids[:7] + run_ids[8:])


async def test_an_event_evaluates_only_the_cancel_conditions_its_key_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    client = steppe.Client("app")

    @client.create_function(
        fn_id="job",
        trigger=steppe.TriggerEvent(event="job"),
        cancel=Cancel(event="abort", if_exp="event.data.job == async.data.job && async.data.really"),
    )
    async def job(ctx: steppe.Context, step: steppe.Step) -> None:
        await step.sleep("long", timedelta(days=1))

    async with steppe.Engine(client) as engine:
        run_ids = await engine.send([steppe.Event(name="job", data={"job": f"j{n}"}) for n in range(30)])
        await engine.send(steppe.Event(name="abort", data={"job": "none", "really": True}))  # makes the keys
        evaluations = Evaluations(monkeypatch)
        await engine.send(steppe.Event(name="abort", data={"job": "nobody", "really": True}))
        assert evaluations.count == 0
        await engine.send(steppe.Event(name="abort", data={"job": "j3", "really": False}))
        assert evaluations.count == 1
        await engine.send(steppe.Event(name="abort", data={"job": "j3", "really": True}))
        assert (await engine.wait(run_ids[3], timeout=10)).status == "cancelled"
        assert all(engine.result(run_id).status == "running" for run_id in run_ids[:3] + run_ids[4:])


async def test_cancel_keys_follow_a_changed_condition(tmp_path: Path) -> None:
    """Runs keyed under one cancel condition are keyed again when the engine restarts with another."""
    database = tmp_path / "app.db"

    def app(condition: str) -> steppe.Client:
        client = steppe.Client("app")

        @client.create_function(
            fn_id="job", trigger=steppe.TriggerEvent(event="job"), cancel=Cancel(event="abort", if_exp=condition)
        )
        async def job(ctx: steppe.Context, step: steppe.Step) -> None:
            await step.sleep("long", timedelta(days=1))

        return client

    async with steppe.Engine(app("async.data.id == event.data.job"), database=database) as engine:
        [run_id] = await engine.send(steppe.Event(name="job", data={"job": 1, "owner": "ann"}))
        await engine.send(steppe.Event(name="abort", data={"id": 2}))  # keys the run by its job
        assert engine.result(run_id).status == "running"
    async with steppe.Engine(app("async.data.id == event.data.owner"), database=database) as engine:
        await engine.send(steppe.Event(name="abort", data={"id": 1}))  # the old key: no longer the condition
        assert engine.result(run_id).status == "running"
        await engine.send(steppe.Event(name="abort", data={"id": "ann"}))
        assert engine.result(run_id).status == "cancelled"
