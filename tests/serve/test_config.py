"""Function configuration for a sync: flow-control options, on_failure, time strings, and the peer's configs."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

import steppe
from steppe._protocol.durations import time_string, utc_instant
from steppe._protocol.function_config import function_config, step_url
from steppe.options import BatchEvents, Cancel, Concurrency, Debounce, Singleton, Throttle, Timeouts
from tests.serve import twins

SERVE_URL: Final = "http://localhost/api/inngest"
PEER_REGISTER: Final = Path(__file__).parent / "fixtures" / "peer" / "dev__sync_out_of_band.json"


def config_of(function: steppe.Function[Any, Any]) -> dict[str, Any]:
    return function_config(function, SERVE_URL).to_wire()


def by_local_id(client: steppe.Client, local_id: str) -> steppe.Function[Any, Any]:
    return next(f for f in client.functions if f.local_id == local_id)


# --- the peer's register body, function by function ------------------------------------------------

ALWAYS_SENT_RETRIES = "retries are always sent: the server's default could differ from ours (the peer omits 4)"
# Per function: the fields of steppe's config that differ from the peer's, with steppe's value (None: absent).
CONFIG_DIFFERENCES: Final[dict[str, tuple[str, dict[str, Any]]]] = {
    "peer-app-configured": (
        "throttle.burst is sent only when set (the peer sends its default 1; the server's default is 1 too)",
        {"throttle": {"key": "event.data.user", "limit": 10, "period": "1m"}},
    ),
    "peer-app-configured-failure": (
        "the handler is named '(on failure)', keeps its function's retries, and sends no empty lists",
        {
            "name": "Configured function (on failure)",
            "cancel": None,
            "concurrency": None,
            "steps": {
                "step": {
                    "id": "step",
                    "name": "step",
                    "retries": {"attempts": 2},
                    "runtime": {"type": "http", "url": f"{SERVE_URL}?fnId=peer-app-configured-failure&stepId=step"},
                }
            },
        },
    ),
}


def peer_configs() -> dict[str, dict[str, Any]]:
    register = json.loads(PEER_REGISTER.read_text())["outbound"][0]["body"]
    return {f["id"]: f for f in cast(list[dict[str, Any]], register["functions"])}


def test_every_peer_function_has_a_steppe_twin() -> None:
    assert {f.id for f in twins.build_dev_client().functions} == set(peer_configs())


@pytest.mark.parametrize("function_id", sorted(peer_configs()))
def test_function_config_matches_the_peers(function_id: str) -> None:
    function = next(f for f in twins.build_dev_client().functions if f.id == function_id)
    ours = config_of(function)
    expected = dict(peer_configs()[function_id])
    step = expected["steps"]["step"]
    if "retries" not in step:  # ALWAYS_SENT_RETRIES
        expected["steps"] = {"step": {**step, "retries": {"attempts": function.retries}}}
    reason, differences = CONFIG_DIFFERENCES.get(function_id, ("", {}))
    for key, value in differences.items():
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = value
    assert ours == expected, reason or ALWAYS_SENT_RETRIES


# --- on_failure ----------------------------------------------------------------------------------


def test_on_failure_is_a_second_function_triggered_by_the_failure_event() -> None:
    client = twins.build_dev_client()
    handler = by_local_id(client, "configured-failure")
    config = config_of(handler)
    assert config["id"] == "peer-app-configured-failure"
    # The reference: triggered by inngest/function.failed with expression "event.data.function_id == '<id>'".
    assert config["triggers"] == [
        {"event": "inngest/function.failed", "expression": "event.data.function_id == 'peer-app-configured'"}
    ]
    assert config["steps"]["step"]["runtime"]["url"] == f"{SERVE_URL}?fnId=peer-app-configured-failure&stepId=step"
    # Flow control belongs to the function, not to its failure handler.
    assert not {"concurrency", "throttle", "rateLimit", "debounce", "cancel", "singleton"} & set(config)


# --- options ---------------------------------------------------------------------------------------


def make(**options: Any) -> steppe.Function[Any, Any]:
    client = steppe.Client("app")

    @client.create_function(fn_id="f", trigger=steppe.TriggerEvent("e"), **options)
    async def f(ctx: steppe.Context, step: steppe.Step) -> None:
        return None

    return f


def test_every_option_reaches_the_config() -> None:
    config = config_of(
        make(
            concurrency=Concurrency(limit=3),
            throttle=Throttle(limit=1, period=timedelta(seconds=90), burst=2),
            debounce=Debounce(period=timedelta(seconds=5), key="event.data.k"),
            batch_events=BatchEvents(
                max_size=50, timeout=timedelta(seconds=10), key="event.data.k", if_exp="event.data.ok"
            ),
            cancel=Cancel(event="app/cancel"),
            timeouts=Timeouts(finish=timedelta(days=1, hours=2)),
            singleton=Singleton(mode="cancel"),
        )
    )
    assert config["concurrency"] == [{"limit": 3}]
    assert config["throttle"] == {"limit": 1, "period": "1m30s", "burst": 2}
    assert config["debounce"] == {"period": "5s", "key": "event.data.k"}
    assert config["batchEvents"] == {"maxSize": 50, "timeout": "10s", "key": "event.data.k", "if": "event.data.ok"}
    assert config["cancel"] == [{"event": "app/cancel"}]
    assert config["timeouts"] == {"finish": "1d2h"}
    assert config["singleton"] == {"mode": "cancel"}


def test_a_function_without_options_sends_only_what_the_spec_requires() -> None:
    assert config_of(make()) == {
        "id": "app-f",
        "name": "f",
        "triggers": [{"event": "e"}],
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "retries": {"attempts": 4},
                "runtime": {"type": "http", "url": f"{SERVE_URL}?fnId=app-f&stepId=step"},
            }
        },
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"throttle": {"limit": 1, "period": 60}}, "throttle must be a steppe.options.Throttle, got dict"),
        ({"cancel": [Cancel(event="x"), "y"]}, r"cancel\[1\] must be a steppe.options.Cancel, got str"),
        ({"concurrency": [Concurrency(limit=1)] * 3}, "at most 2 concurrency limits, got 3"),
        ({"idempotency": "  "}, "idempotency must be a non-empty expression string"),
    ],
)
def test_a_wrong_option_is_refused_naming_the_function(options: dict[str, Any], message: str) -> None:
    with pytest.raises(steppe.FunctionDefinitionError, match=rf"function 'app-f': {message}"):
        config_of(make(**options))


@pytest.mark.parametrize(
    "build",
    [
        lambda: Throttle(limit=0, period=timedelta(minutes=1)),
        lambda: Throttle(limit=1, period=timedelta(milliseconds=500)),
        lambda: Debounce(period=timedelta(seconds=1), timeout=timedelta(0)),
        lambda: Singleton(mode="queue"),  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        lambda: Concurrency(limit=True),
        lambda: BatchEvents(max_size=10, timeout=5),  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        lambda: Cancel(event=""),
    ],
)
def test_option_models_check_their_values(build: Any) -> None:
    with pytest.raises(ValidationError):
        build()


# --- URLs and times --------------------------------------------------------------------------------


def test_step_url_keeps_the_serve_urls_own_query() -> None:
    assert step_url("https://x.test/api/inngest?token=a%20b", "app-f") == (
        "https://x.test/api/inngest?token=a+b&fnId=app-f&stepId=step"
    )


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(seconds=1), "1s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=8, seconds=5), "8d5s"),
        (timedelta(milliseconds=1500), "2s"),
        (timedelta(0), "1s"),
    ],
)
def test_time_strings(duration: timedelta, text: str) -> None:
    assert time_string(duration) == text


UNIT_SECONDS: Final = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10_000)))
def test_a_time_string_is_the_duration_rounded_up_to_whole_seconds(duration: timedelta) -> None:
    text = time_string(duration)
    total, number = 0, ""
    for char in text:
        if char.isdigit():
            number += char
        else:
            total += int(number) * UNIT_SECONDS[char]
            number = ""
    assert total == max(1, math.ceil(duration.total_seconds()))
    assert "".join(c for c in text if not c.isdigit()) in {"".join(u) for u in _unit_orders()}


def _unit_orders() -> list[tuple[str, ...]]:
    """Units appear at most once each, largest first: every ordered subset of d, h, m, s."""
    units = "dhms"
    return [tuple(u for i, u in enumerate(units) if mask >> i & 1) for mask in range(1, 16)]


def test_utc_instants() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert utc_instant(datetime(2030, 1, 1, 14, 0, tzinfo=plus_two)) == "2030-01-01T12:00:00.000Z"
    assert utc_instant(datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)) == "2030-01-01T12:00:00.123Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_instant(datetime(2030, 1, 1))
