"""Values returned by steps come back from storage equal and of exactly the declared type, through the engine.

The serde tests prove the codecs in isolation; here generated values travel the whole way: returned by a
step inside ``step.parallel``, stored in SQLite, and read back by a replay of the function.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import steppe
from steppe.testing import run_function
from tests.test_serde import Spec, assert_same, type_specs

_apps = itertools.count()


def returning(declared: object, value: object) -> Any:
    """A plain handler annotated ``-> declared`` that returns ``value``."""

    def handler() -> Any:
        return value

    handler.__annotations__["return"] = declared
    return handler


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), first=type_specs, second=type_specs)
def test_parallel_step_outputs_survive_storage_and_replay(data: st.DataObject, first: Spec, second: Spec) -> None:
    first_value, second_value = data.draw(first[1]), data.draw(second[1])
    client = steppe.Client(f"fidelity-{next(_apps)}")
    seen: list[tuple[object, object]] = []

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        a, b = await step.parallel(
            (
                lambda: step.run("first", returning(first[0], first_value)),
                lambda: step.run("second", returning(second[0], second_value)),
            )
        )
        after = await step.run("after-parallel", returning(first[0], first_value))
        seen.append((a, b))
        assert_same(first_value, after)

    result = asyncio.run(run_function(f, steppe.Event(name="go"), replay="every_step"))
    assert result.status == "completed", result.error
    # The last pass replayed every step from the database: these values were all rebuilt from JSON.
    a, b = seen[-1]
    assert_same(first_value, a)
    assert_same(second_value, b)


@settings(max_examples=25, deadline=None)
@given(spec=type_specs, data=st.data())
def test_a_value_survives_an_engine_restart(spec: Spec, data: st.DataObject, tmp_path_factory: Any) -> None:
    declared, values = spec
    value = data.draw(values)
    database = tmp_path_factory.mktemp("restart") / "steppe.db"
    client = steppe.Client(f"restart-{next(_apps)}")
    seen: list[object] = []

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent(event="go"))
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        got = await step.run("produce", returning(declared, value))
        await step.sleep("across-restart", timedelta(days=1))
        seen.append(got)

    async def scenario() -> None:
        clock = steppe.ManualClock()
        async with steppe.Engine(client, database=database, clock=clock) as engine:
            [run_id] = await engine.send(steppe.Event(name="go"))
            await clock.advance(timedelta(seconds=1))
        seen.clear()
        async with steppe.Engine(client, database=database, clock=steppe.ManualClock(auto_advance=True)) as engine:
            assert (await engine.wait(run_id, timeout=10)).status == "completed"

    asyncio.run(scenario())
    assert len(seen) == 1
    assert_same(value, seen[0])
