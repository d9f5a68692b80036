"""Capture the HTTP wire traffic of the `inngest` package (our peer) as golden fixtures.

Run from the repository root:

    .venv/bin/python tests/serve/peer_capture.py

It serves a handful of functions with the peer's Flask adapter, drives them through Flask's test
client with crafted call requests (no network: the peer's own outbound calls go to an in-memory
httpx transport), and writes one JSON file per exchange to tests/serve/fixtures/peer/.

The output is deterministic: fixed event ids, run id and clock, and request bodies serialized as
sorted compact JSON. Stack traces in response bodies are cut down to their last line, because the
frames quote the peer's source code. Server-Timing and Content-Length headers are dropped.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TypeAlias, cast

import flask
import httpx
import inngest
import inngest.flask
from flask.testing import FlaskClient
from inngest._internal import net as peer_net

from steppe._protocol.signing import sign

JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None

FIXTURE_DIR: Final = Path(__file__).parent / "fixtures" / "peer"
SERVE_PATH: Final = "/api/inngest"
DEV_APP_ID: Final = "peer-app"
CLOUD_APP_ID: Final = "peer-cloud"
FIXED_NOW: Final = 1_700_000_000  # 2023-11-14T22:13:20Z
RUN_ID: Final = "01HF3ZQ6Y5Q2N3V2V6M5K1Z9XA"
FN_UUID: Final = "6f1a3c2e-8d1b-4c55-9e0f-0a1b2c3d4e5f"
# Two throwaway hex keys derived from fixed strings: deterministic, obviously not real secrets.
SIGNING_KEY: Final = "signkey-test-" + hashlib.sha256(b"steppe peer capture").hexdigest()
FALLBACK_KEY: Final = "signkey-test-" + hashlib.sha256(b"steppe peer capture fallback").hexdigest()
WRONG_KEY: Final = "signkey-test-" + hashlib.sha256(b"not the key").hexdigest()
PEER_VERSION: Final = importlib.metadata.version("inngest")
DROPPED_RESPONSE_HEADERS: Final = frozenset({"server-timing", "content-length"})


def step_hash(step_id: str) -> str:
    """The wire id of a step: lowercase hex SHA-1 of its user-facing id."""
    return hashlib.sha1(step_id.encode("utf-8")).hexdigest()


def event(name: str, data: dict[str, JSON], *, event_id: str = "01HF3ZQ6Y5EVENT0000000001") -> JSON:
    return {"data": data, "id": event_id, "name": name, "ts": FIXED_NOW * 1000, "user": {}}


def encode(body: JSON) -> bytes:
    """Sorted, compact JSON: equal to the RFC 8785 form for the plain values used here."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


TRACEBACK_HEAD: Final = "Traceback (most recent call last):"


def redact_stacks(value: JSON) -> JSON:
    """Replace each Python traceback under a "stack" key by its first and last lines."""
    if isinstance(value, dict):
        out: dict[str, JSON] = {}
        for key, item in value.items():
            if key == "stack" and isinstance(item, str) and item.startswith(TRACEBACK_HEAD):
                last = item.strip().splitlines()[-1]
                out[key] = f"{TRACEBACK_HEAD}\n  <frames redacted by peer_capture.py>\n{last}\n"
            else:
                out[key] = redact_stacks(item)
        return out
    if isinstance(value, list):
        return [redact_stacks(item) for item in value]
    return value


@dataclass
class OutboundRecorder:
    """An httpx transport standing in for the Inngest API: records what the peer sends."""

    requests: list[dict[str, JSON]] = field(default_factory=lambda: [])
    batch: list[JSON] = field(default_factory=lambda: [])
    actions: dict[str, JSON] = field(default_factory=lambda: {})

    def handle(self, request: httpx.Request) -> httpx.Response:
        body: JSON = json.loads(request.content) if request.content else None
        kept = (
            "authorization",
            "content-type",
            "x-inngest-env",
            "x-inngest-expected-server-kind",
            "x-inngest-framework",
            "x-inngest-sdk",
            "x-inngest-req-version",
            "user-agent",
        )
        self.requests.append(
            {
                "method": request.method,
                "url": str(request.url),
                "headers": {k: v for k, v in sorted(request.headers.items()) if k in kept},
                "body": body,
            }
        )
        if request.url.path == "/fn/register":
            return httpx.Response(200, json={"ok": True, "modified": True})
        if request.url.path.endswith("/batch"):
            return httpx.Response(200, json=self.batch)
        if request.url.path.endswith("/actions"):
            return httpx.Response(200, json=self.actions)
        return httpx.Response(404, json={"error": f"unexpected path {request.url.path}"})


@dataclass
class Capture:
    """Drives one served app and writes each exchange as a fixture file."""

    name: str
    app: flask.Flask
    app_id: str
    outbound: OutboundRecorder
    written: list[str] = field(default_factory=lambda: [])

    @property
    def http(self) -> FlaskClient:
        return self.app.test_client()

    def exchange(
        self,
        fixture: str,
        description: str,
        *,
        method: str,
        query: Mapping[str, str] | None = None,
        body: JSON = None,
        raw_body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        sign_with: str | None = None,
        sign_at: int = FIXED_NOW,
        function: str | None = None,
    ) -> dict[str, JSON]:
        sent = raw_body if raw_body is not None else (encode(body) if body is not None else b"")
        request_headers: dict[str, str] = {"Content-Type": "application/json", **(headers or {})}
        if sign_with is not None:
            request_headers["X-Inngest-Signature"] = sign(sent, sign_with, now=sign_at)
        self.outbound.requests.clear()
        response = self.http.open(
            SERVE_PATH,
            method=method,
            query_string=dict(query or {}),
            data=sent,
            headers=request_headers,
        )
        response_text = response.get_data(as_text=True)
        try:
            response_body: JSON = cast(JSON, json.loads(response_text)) if response_text else None
        except json.JSONDecodeError:
            response_body = None
        response_headers: dict[str, JSON] = {
            k.lower(): v for k, v in sorted(response.headers.items()) if k.lower() not in DROPPED_RESPONSE_HEADERS
        }
        signed_response = "x-inngest-signature" in response_headers
        record: dict[str, JSON] = {
            "description": description,
            "peer": f"inngest-py {PEER_VERSION}",
            "app_id": self.app_id,
            "mode": self.name,
            "function": function,
            "request": {
                "method": method,
                "path": SERVE_PATH,
                "query": dict(query or {}),
                "headers": {k.lower(): v for k, v in sorted(request_headers.items())},
                "body": body,
                # Exact bytes only when they are not encode(body): signed or deliberately broken.
                "raw_body": sent.decode("utf-8") if raw_body is not None else None,
            },
            "response": {
                "status": response.status_code,
                "headers": response_headers,
                "body": response_body if signed_response else redact_stacks(response_body),
                # A signed response needs its exact bytes for the signature to be checked.
                "raw_body": response_text if signed_response else None,
            },
            "outbound": list(cast(list[JSON], self.outbound.requests)),
        }
        if signed_response and TRACEBACK_HEAD in response_text:
            raise RuntimeError(f"{fixture}: a signed response carries a traceback; cannot redact")
        path = FIXTURE_DIR / f"{self.name}__{fixture}.json"
        path.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        self.written.append(path.name)
        return record

    def call(
        self,
        fixture: str,
        description: str,
        *,
        function: str,
        trigger: JSON,
        steps: Mapping[str, JSON] | None = None,
        stack: Sequence[str] | None = None,
        step_id: str = "step",
        attempt: int = 0,
        max_attempts: int | None = 4,
        disable_immediate_execution: bool = False,
        use_api: bool = False,
        sign_with: str | None = None,
        sign_at: int = FIXED_NOW,
        tamper: Callable[[bytes], bytes] | None = None,
        fn_id: str | None = None,
    ) -> dict[str, JSON]:
        memo: dict[str, JSON] = dict(steps or {})
        order = list(stack) if stack is not None else list(memo)
        ctx: dict[str, JSON] = {
            "attempt": attempt,
            "disable_immediate_execution": disable_immediate_execution,
            "env": "test",
            "fn_id": FN_UUID,
            "run_id": RUN_ID,
            "stack": {"current": len(order), "stack": list(order)},
            "step_id": step_id,
            "use_api": use_api,
        }
        if max_attempts is not None:
            ctx["max_attempts"] = max_attempts
        body: JSON = {
            "ctx": ctx,
            "event": trigger,
            "events": [] if use_api else [trigger],
            "steps": {} if use_api else memo,
            "use_api": use_api,
            "version": 1,
        }
        raw: bytes | None = None
        server_kind = "dev" if self.name == "dev" else "cloud"
        headers: dict[str, str] = {"X-Inngest-Server-Kind": server_kind}
        if tamper is not None:
            signature = sign(encode(body), sign_with or SIGNING_KEY, now=sign_at)
            headers["X-Inngest-Signature"] = signature
            raw = tamper(encode(body))
            sign_with = None
        return self.exchange(
            fixture,
            description,
            method="POST",
            query={"fnId": fn_id or f"{self.app_id}-{function}", "stepId": step_id},
            body=body,
            raw_body=raw,
            headers=headers,
            sign_with=sign_with,
            sign_at=sign_at,
            function=function,
        )


# --- the functions we serve ------------------------------------------------------------------


def build_dev_functions(client: inngest.Inngest) -> list[inngest.Function[object]]:
    def on(event_name: str) -> inngest.TriggerEvent:
        return inngest.TriggerEvent(event=event_name)

    @client.create_function(fn_id="sequential", trigger=on("test/sequential"))
    def sequential(ctx: inngest.ContextSync) -> object:
        first = ctx.step.run("first", lambda: "A")
        second = ctx.step.run("second", lambda: first + "B")
        return {"result": second}

    @client.create_function(fn_id="parallel", trigger=on("test/parallel"))
    def parallel(ctx: inngest.ContextSync) -> object:
        outputs = ctx.group.parallel(
            (lambda: ctx.step.run("left", lambda: 1), lambda: ctx.step.run("right", lambda: 2))
        )
        total = ctx.step.run("after", lambda: sum(outputs))
        return {"outputs": list(outputs), "total": total}

    @client.create_function(fn_id="parallel-race", trigger=on("test/parallel-race"))
    def parallel_race(ctx: inngest.ContextSync) -> object:
        outputs = ctx.group.parallel(
            (lambda: ctx.step.run("left", lambda: 1), lambda: ctx.step.run("right", lambda: 2)),
            parallel_mode=inngest.ParallelMode.RACE,
        )
        return list(outputs)

    @client.create_function(fn_id="sleeper", trigger=on("test/sleep"))
    def sleeper(ctx: inngest.ContextSync) -> object:
        ctx.step.sleep_until("nap", datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC))
        return "awake"

    @client.create_function(fn_id="waiter", trigger=on("test/wait"))
    def waiter(ctx: inngest.ContextSync) -> object:
        found = ctx.step.wait_for_event(
            "wait-approval",
            event="test/approved",
            if_exp="async.data.order == event.data.order",
            timeout=timedelta(hours=1),
        )
        return {"approved_by": None if found is None else found.data.get("user")}

    @client.create_function(fn_id="child", trigger=on("test/child"))
    def child(ctx: inngest.ContextSync) -> object:
        n = ctx.event.data.get("n")
        return n + 1 if isinstance(n, int) else None

    @client.create_function(fn_id="invoker", trigger=on("test/invoke"))
    def invoker(ctx: inngest.ContextSync) -> object:
        result = ctx.step.invoke("call-child", function=child, data={"n": 41})
        return {"child": result}

    def flaky() -> object:
        raise ValueError("flaky failure")

    @client.create_function(fn_id="step-error", trigger=on("test/step-error"), retries=3)
    def step_error(ctx: inngest.ContextSync) -> object:
        return ctx.step.run("flaky", flaky)

    def fatal() -> object:
        raise inngest.NonRetriableError("cannot continue")

    @client.create_function(fn_id="non-retriable", trigger=on("test/non-retriable"))
    def non_retriable(ctx: inngest.ContextSync) -> object:
        return ctx.step.run("fatal", fatal)

    @client.create_function(fn_id="fn-error", trigger=on("test/fn-error"))
    def fn_error(ctx: inngest.ContextSync) -> object:
        raise KeyError("missing thing")

    @client.create_function(fn_id="retry-after", trigger=on("test/retry-after"))
    def retry_after(ctx: inngest.ContextSync) -> object:
        raise inngest.RetryAfterError("slow down", retry_after=datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC))

    @client.create_function(fn_id="duplicates", trigger=on("test/duplicates"))
    def duplicates(ctx: inngest.ContextSync) -> object:
        def times_ten(i: int) -> int:
            return i * 10

        total = 0
        for i in range(3):
            total += ctx.step.run("repeat", times_ten, i)
        return total

    @client.create_function(fn_id="nested", trigger=on("test/nested"))
    def nested(ctx: inngest.ContextSync) -> object:
        return ctx.step.run("outer", lambda: ctx.step.run("inner", lambda: "x"))

    @client.create_function(
        fn_id="configured",
        name="Configured function",
        trigger=[
            inngest.TriggerEvent(event="test/configured", expression="event.data.ok == true"),
            inngest.TriggerCron(cron="0 9 * * 1"),
        ],
        retries=2,
        concurrency=[
            inngest.Concurrency(limit=5, key="event.data.user", scope="fn"),
            inngest.Concurrency(limit=50, scope="account", key='"global"'),
        ],
        throttle=inngest.Throttle(limit=10, period=timedelta(minutes=1), key="event.data.user"),
        rate_limit=inngest.RateLimit(limit=100, period=timedelta(hours=1)),
        debounce=inngest.Debounce(period=timedelta(seconds=30), timeout=timedelta(minutes=5)),
        cancel=[
            inngest.Cancel(event="test/cancelled", if_exp="async.data.id == event.data.id", timeout=timedelta(days=1))
        ],
        priority=inngest.Priority(run="event.data.vip ? 120 : 0"),
        idempotency="event.data.order",
        timeouts=inngest.Timeouts(start=timedelta(minutes=10), finish=timedelta(hours=2)),
        singleton=inngest.Singleton(key="event.data.user", mode="skip"),
        on_failure=lambda ctx: None,
    )
    def configured(ctx: inngest.ContextSync) -> object:
        return None

    @client.create_function(
        fn_id="batched",
        trigger=on("test/batched"),
        batch_events=inngest.Batch(max_size=10, timeout=timedelta(seconds=5)),
    )
    def batched(ctx: inngest.ContextSync) -> object:
        return len(ctx.events)

    return [
        sequential,
        parallel,
        parallel_race,
        sleeper,
        waiter,
        child,
        invoker,
        step_error,
        non_retriable,
        fn_error,
        retry_after,
        duplicates,
        nested,
        configured,
        batched,
    ]


def build_cloud_functions(client: inngest.Inngest) -> list[inngest.Function[object]]:
    @client.create_function(fn_id="greeter", trigger=inngest.TriggerEvent(event="test/greet"))
    def greeter(ctx: inngest.ContextSync) -> object:
        return ctx.step.run("greet", lambda: "hello")

    return [greeter]


def serve(client: inngest.Inngest, functions: list[inngest.Function[object]]) -> tuple[flask.Flask, OutboundRecorder]:
    app = flask.Flask(f"peer-{client.app_id}")
    recorder = OutboundRecorder()
    # The peer's register, batch and actions calls go through this client: keep them in memory.
    client._http_client._http_client_sync = httpx.Client(  # pyright: ignore[reportPrivateUsage]
        transport=httpx.MockTransport(recorder.handle)
    )
    inngest.flask.serve(app, client, functions)
    return app, recorder


# --- the scenarios ---------------------------------------------------------------------------


def capture_dev(cap: Capture) -> None:
    seq = event("test/sequential", {"who": "dev"})
    cap.call(
        "sequential_01_empty",
        "No memo: the first step is found and run immediately.",
        function="sequential",
        trigger=seq,
    )
    cap.call(
        "sequential_02_first_memo",
        "First step memoized: the second runs immediately.",
        function="sequential",
        trigger=seq,
        steps={step_hash("first"): {"data": "A"}},
    )
    cap.call(
        "sequential_03_all_memos",
        "Both steps memoized: the function returns (200).",
        function="sequential",
        trigger=seq,
        steps={step_hash("first"): {"data": "A"}, step_hash("second"): {"data": "AB"}},
    )
    cap.call(
        "sequential_04_target_unknown",
        "stepId targets a step the function never reaches.",
        function="sequential",
        trigger=seq,
        step_id=step_hash("no-such-step"),
        disable_immediate_execution=True,
    )
    cap.call(
        "sequential_05_disable_immediate",
        "disable_immediate_execution: a new step is planned.",
        function="sequential",
        trigger=seq,
        disable_immediate_execution=True,
    )

    par = event("test/parallel", {})
    left, right, after = step_hash("left"), step_hash("right"), step_hash("after")
    cap.call(
        "parallel_01_empty", "Parallel group of two: both steps planned in one 206.", function="parallel", trigger=par
    )
    cap.call(
        "parallel_02_target_left",
        "stepId targets the planned left step: only it runs.",
        function="parallel",
        trigger=par,
        step_id=left,
        disable_immediate_execution=True,
    )
    cap.call(
        "parallel_03_target_right_left_memo",
        "Left memoized, stepId targets right.",
        function="parallel",
        trigger=par,
        step_id=right,
        disable_immediate_execution=True,
        steps={left: {"data": 1}},
    )
    cap.call(
        "parallel_04_one_memo_discovery",
        "Left memoized, discovery call: right is planned.",
        function="parallel",
        trigger=par,
        disable_immediate_execution=True,
        steps={left: {"data": 1}},
    )
    cap.call(
        "parallel_05_both_memos",
        "Both branches memoized, immediate execution disabled: the following step is planned, not run.",
        function="parallel",
        trigger=par,
        disable_immediate_execution=True,
        steps={left: {"data": 1}, right: {"data": 2}},
    )
    cap.call(
        "parallel_06_target_after",
        "stepId targets the step after the group.",
        function="parallel",
        trigger=par,
        step_id=after,
        disable_immediate_execution=True,
        steps={left: {"data": 1}, right: {"data": 2}},
    )
    cap.call(
        "parallel_07_all_memos",
        "Everything memoized: the function returns.",
        function="parallel",
        trigger=par,
        disable_immediate_execution=True,
        steps={left: {"data": 1}, right: {"data": 2}, after: {"data": 3}},
    )
    cap.call(
        "parallel_race_01_empty",
        "Parallel group in race mode: planned ops carry opts.",
        function="parallel-race",
        trigger=event("test/parallel-race", {}),
    )

    nap = event("test/sleep", {})
    cap.call("sleep_01_empty", "A sleep is reported as a Sleep op.", function="sleeper", trigger=nap)
    cap.call(
        "sleep_02_done",
        "The server memoizes a finished sleep with null.",
        function="sleeper",
        trigger=nap,
        steps={step_hash("nap"): None},
    )

    wait = event("test/wait", {"order": 7})
    approved = event("test/approved", {"order": 7, "user": "ada"}, event_id="01HF3ZQ6Y5EVENT0000000002")
    cap.call("wait_01_empty", "wait_for_event with an `if` expression.", function="waiter", trigger=wait)
    cap.call(
        "wait_02_matched",
        "Matched: the memo is the raw event, not wrapped in data.",
        function="waiter",
        trigger=wait,
        steps={step_hash("wait-approval"): approved},
    )
    cap.call(
        "wait_03_timed_out",
        "Timed out: the memo is null.",
        function="waiter",
        trigger=wait,
        steps={step_hash("wait-approval"): None},
    )

    inv = event("test/invoke", {})
    cap.call("invoke_01_empty", "step.invoke is reported as an InvokeFunction op.", function="invoker", trigger=inv)
    cap.call(
        "invoke_02_data",
        "The invoked function returned: memo {data}.",
        function="invoker",
        trigger=inv,
        steps={step_hash("call-child"): {"data": 42}},
    )
    cap.call(
        "invoke_03_error",
        "The invoked function failed: memo {error}, not caught by the user.",
        function="invoker",
        trigger=inv,
        steps={
            step_hash("call-child"): {
                "error": {"name": "Error", "message": "child failed", "stack": "Error: child failed"}
            }
        },
    )

    err = event("test/step-error", {})
    cap.call(
        "step_error_01_retries_left",
        "A step raises on attempt 0 of 4: StepError.",
        function="step-error",
        trigger=err,
        attempt=0,
        max_attempts=4,
    )
    cap.call(
        "step_error_02_last_attempt",
        "A step raises on the last attempt: StepFailed.",
        function="step-error",
        trigger=err,
        attempt=3,
        max_attempts=4,
    )
    cap.call(
        "step_error_03_no_max_attempts",
        "A step raises, ctx has no max_attempts.",
        function="step-error",
        trigger=err,
        attempt=3,
        max_attempts=None,
    )
    cap.call(
        "step_error_04_memoized_error",
        "The failed step's final error comes back as memo.",
        function="step-error",
        trigger=err,
        steps={
            step_hash("flaky"): {
                "error": {"name": "ValueError", "message": "flaky failure", "stack": "ValueError: flaky failure"}
            }
        },
    )
    cap.call(
        "non_retriable_01",
        "NonRetriableError raised inside a step.",
        function="non-retriable",
        trigger=event("test/non-retriable", {}),
    )
    cap.call(
        "fn_error_01",
        "A plain exception raised by the function itself (no step).",
        function="fn-error",
        trigger=event("test/fn-error", {}),
    )
    cap.call(
        "retry_after_01",
        "RetryAfterError with a fixed time.",
        function="retry-after",
        trigger=event("test/retry-after", {}),
    )

    dup = event("test/duplicates", {})
    r0, r1, r2 = step_hash("repeat"), step_hash("repeat:1"), step_hash("repeat:2")
    cap.call("duplicates_01_empty", "A repeated step id: the first has no suffix.", function="duplicates", trigger=dup)
    cap.call(
        "duplicates_02_one_memo",
        "Second occurrence hashes 'repeat:1', userland index 1.",
        function="duplicates",
        trigger=dup,
        steps={r0: {"data": 0}},
    )
    cap.call(
        "duplicates_03_two_memos",
        "Third occurrence hashes 'repeat:2'.",
        function="duplicates",
        trigger=dup,
        steps={r0: {"data": 0}, r1: {"data": 10}},
    )
    cap.call(
        "duplicates_04_all_memos",
        "All three memoized: the function returns.",
        function="duplicates",
        trigger=dup,
        steps={r0: {"data": 0}, r1: {"data": 10}, r2: {"data": 20}},
    )

    cap.call(
        "nested_01",
        "A step started inside another step's handler.",
        function="nested",
        trigger=event("test/nested", {}),
    )

    batch = [event("test/batched", {"i": i}, event_id=f"01HF3ZQ6Y5EVENT00000000B{i}") for i in range(3)]
    cap.outbound.batch = batch
    cap.outbound.actions = {}
    cap.call(
        "use_api_01",
        "use_api: the peer fetches the batch and the memos from the API.",
        function="batched",
        trigger=batch[0],
        use_api=True,
    )

    cap.call(
        "unknown_function",
        "fnId names no served function.",
        function="sequential",
        trigger=seq,
        fn_id=f"{DEV_APP_ID}-does-not-exist",
    )
    cap.exchange(
        "malformed_body",
        "The body is not JSON.",
        method="POST",
        query={"fnId": f"{DEV_APP_ID}-sequential", "stepId": "step"},
        raw_body=b"{not json",
        function="sequential",
    )
    cap.exchange(
        "missing_ctx",
        "The body is JSON but lacks ctx.",
        method="POST",
        query={"fnId": f"{DEV_APP_ID}-sequential", "stepId": "step"},
        body={"event": seq, "events": [seq], "steps": {}, "use_api": False},
        function="sequential",
    )
    cap.exchange("probe_trust", "The trust probe.", method="POST", query={"probe": "trust"})
    cap.exchange(
        "introspection",
        "GET in dev mode: unauthenticated introspection.",
        method="GET",
        headers={"X-Inngest-Server-Kind": "dev"},
    )
    cap.exchange(
        "sync_out_of_band",
        "PUT in dev mode: the peer registers with the API.",
        method="PUT",
        headers={"X-Inngest-Server-Kind": "dev"},
    )


def capture_cloud(cap: Capture) -> None:
    greet = event("test/greet", {"name": "cloud"})
    cap.call(
        "signed_01_primary",
        "Call signed with the signing key: accepted, response signed.",
        function="greeter",
        trigger=greet,
        sign_with=SIGNING_KEY,
    )
    cap.call(
        "signed_02_fallback",
        "Call signed with the fallback key: accepted.",
        function="greeter",
        trigger=greet,
        sign_with=FALLBACK_KEY,
    )
    cap.call("signed_03_unsigned", "Unsigned call in cloud mode.", function="greeter", trigger=greet)
    cap.call(
        "signed_04_wrong_key",
        "Call signed with an unknown key.",
        function="greeter",
        trigger=greet,
        sign_with=WRONG_KEY,
    )
    cap.call(
        "signed_05_tampered",
        "Body changed after signing.",
        function="greeter",
        trigger=greet,
        sign_with=SIGNING_KEY,
        tamper=lambda raw: raw.replace(b'"cloud"', b'"cl0ud"'),
    )
    cap.call(
        "signed_06_expired",
        "Signature timestamp one day old (the spec asks to refuse it).",
        function="greeter",
        trigger=greet,
        sign_with=SIGNING_KEY,
        sign_at=FIXED_NOW - 86_400,
    )
    cap.exchange(
        "introspection_unsigned",
        "GET in cloud mode without a signature.",
        method="GET",
        headers={"X-Inngest-Server-Kind": "cloud"},
    )
    cap.exchange(
        "introspection_signed",
        "GET in cloud mode, signed: authenticated introspection.",
        method="GET",
        headers={"X-Inngest-Server-Kind": "cloud"},
        sign_with=SIGNING_KEY,
    )
    cap.exchange(
        "sync_in_band",
        "Signed in-band sync PUT: the app config is the response.",
        method="PUT",
        body={"url": "https://app.example.test/api/inngest"},
        headers={"X-Inngest-Server-Kind": "cloud", "X-Inngest-Sync-Kind": "in_band"},
        sign_with=SIGNING_KEY,
    )


def main() -> int:
    for key in [k for k in os.environ if k.startswith("INNGEST_")]:
        del os.environ[key]
    # Freeze the peer's clock so that its response signatures are reproducible.
    frozen_clock = types.SimpleNamespace(time=lambda: float(FIXED_NOW), perf_counter=time.perf_counter)
    setattr(peer_net, "time", frozen_clock)  # noqa: B010 - replacing the peer's module global
    quiet = logging.getLogger("peer-capture")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False

    if FIXTURE_DIR.exists():
        shutil.rmtree(FIXTURE_DIR)
    FIXTURE_DIR.mkdir(parents=True)

    os.environ["INNGEST_DEV"] = "1"
    dev_client = inngest.Inngest(app_id=DEV_APP_ID, logger=quiet)
    dev_app, dev_outbound = serve(dev_client, build_dev_functions(dev_client))
    dev = Capture("dev", dev_app, DEV_APP_ID, dev_outbound)
    capture_dev(dev)
    del os.environ["INNGEST_DEV"]

    # The peer reads the fallback key only from the environment.
    os.environ["INNGEST_SIGNING_KEY_FALLBACK"] = FALLBACK_KEY

    cloud_client = inngest.Inngest(app_id=CLOUD_APP_ID, is_production=True, signing_key=SIGNING_KEY, logger=quiet)
    cloud_app, cloud_outbound = serve(cloud_client, build_cloud_functions(cloud_client))
    cloud = Capture("cloud", cloud_app, CLOUD_APP_ID, cloud_outbound)
    capture_cloud(cloud)

    for name in dev.written + cloud.written:
        print(name)
    print(f"{len(dev.written) + len(cloud.written)} fixtures in {FIXTURE_DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
