"""Handling one call request: steppe against the `inngest` package, on identical requests.

The function has 101 sequential steps; the request memoizes the first 100, so handling it means replaying 100
stored results and running the last step in place (a 206 with one StepRun). Both SDKs serve the same plain
``def`` function from a Flask app in dev mode and are driven through Flask's test client with the same request
bytes. steppe is also timed without any framework (``ServeHandler.handle_blocking``), and with the function
written as ``async def`` (same steps, same request): a plain ``def`` function runs in a worker thread and each of
its steps makes a round trip to the event loop, which an ``async def`` function does not. Per-call times are
medians over several rounds, so a noisy neighbour moves them less.

Run from the repository root:  .venv/bin/python benchmarks/bench_http.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from typing import Any, Final

os.environ["INNGEST_DEV"] = "1"  # both SDKs in dev mode: no signatures, no keys

import flask
import inngest
import inngest.flask

import steppe
from steppe.serve import HttpRequest, ServeHandler
from steppe.serve.flask import serve as serve_flask

MEMOIZED: Final = 100
APP_ID: Final = "bench"
FN_ID: Final = "hundred"
PATH: Final = "/api/inngest"


def step_name(i: int) -> str:
    return f"step-{i}"


def call_body() -> bytes:
    """A call request with the first 100 steps memoized: the function must run step 101."""
    hashes = [hashlib.sha1(step_name(i).encode()).hexdigest() for i in range(MEMOIZED)]
    event = {
        "name": "bench/run",
        "data": {"n": 1},
        "id": "01HBENCH0000000000000000",
        "ts": 1_700_000_000_000,
        "user": {},
    }
    body = {
        "event": event,
        "events": [event],
        "steps": {h: {"data": i} for i, h in enumerate(hashes)},
        "ctx": {
            "run_id": "01HBENCHRUN000000000000000",
            "attempt": 0,
            "max_attempts": 4,
            "disable_immediate_execution": False,
            "use_api": False,
            "env": "bench",
            "fn_id": "6f1a3c2e-8d1b-4c55-9e0f-0a1b2c3d4e5f",
            "step_id": "step",
            "stack": {"stack": hashes, "current": MEMOIZED},
        },
        "use_api": False,
        "version": 1,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def same(i: int) -> int:
    return i


def steppe_app() -> tuple[flask.Flask, ServeHandler]:
    client = steppe.Client(APP_ID, is_production=False)

    @client.create_function(fn_id=FN_ID, trigger=steppe.TriggerEvent("bench/run"))
    def hundred(ctx: steppe.Context, step: steppe.StepSync) -> int:
        total = 0
        for i in range(MEMOIZED + 1):
            total += step.run(step_name(i), same, i)
        return total

    app = flask.Flask("bench-steppe")
    handler = serve_flask(app, client)
    return app, handler


def steppe_async_handler() -> ServeHandler:
    client = steppe.Client(APP_ID, is_production=False)

    @client.create_function(fn_id=FN_ID, trigger=steppe.TriggerEvent("bench/run"))
    async def hundred(ctx: steppe.Context, step: steppe.Step) -> int:
        total = 0
        for i in range(MEMOIZED + 1):
            total += await step.run(step_name(i), same, i)
        return total

    return ServeHandler(client, framework="none")


def peer_app() -> flask.Flask:
    quiet = logging.getLogger("bench-peer")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    client = inngest.Inngest(app_id=APP_ID, logger=quiet)

    @client.create_function(fn_id=FN_ID, trigger=inngest.TriggerEvent(event="bench/run"))
    def hundred(ctx: inngest.ContextSync) -> int:
        total = 0
        for i in range(MEMOIZED + 1):
            total += ctx.step.run(step_name(i), same, i)
        return total

    app = flask.Flask("bench-peer")
    inngest.flask.serve(app, client, [hundred])
    return app


def flask_caller(app: flask.Flask, body: bytes) -> Callable[[], tuple[int, Any]]:
    client = app.test_client()
    query = {"fnId": f"{APP_ID}-{FN_ID}", "stepId": "step"}
    headers = {"Content-Type": "application/json", "X-Inngest-Server-Kind": "dev"}

    def call() -> tuple[int, Any]:
        response = client.post(PATH, query_string=query, data=body, headers=headers)
        return response.status_code, response.get_json()

    return call


def direct_caller(handler: ServeHandler, body: bytes) -> Callable[[], tuple[int, Any]]:
    request = HttpRequest.create(
        method="POST",
        url=f"http://localhost{PATH}",
        headers={"content-type": "application/json", "x-inngest-server-kind": "dev"},
        query={"fnId": f"{APP_ID}-{FN_ID}", "stepId": "step"},
        body=body,
    )

    def call() -> tuple[int, Any]:
        response = handler.handle_blocking(request)
        return response.status, json.loads(response.body)

    return call


def per_call_seconds(call: Callable[[], object], calls: int, rounds: int) -> float:
    for _ in range(max(3, calls // 10)):  # warm caches, codecs and pydantic validators
        call()
    medians: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        medians.append((time.perf_counter() - started) / calls)
    return statistics.median(medians)


def check_same_answer(*callers: Callable[[], tuple[int, Any]]) -> None:
    """Both SDKs must give the same answer, or the timing compares different work."""
    answers = [caller() for caller in callers]
    summaries = [(status, [(op["op"], op["id"], op.get("data")) for op in body]) for status, body in answers]
    if any(summary != summaries[0] for summary in summaries):
        raise SystemExit(f"the SDKs answered differently: {summaries}")
    status, ops = summaries[0]
    print(f"answer: {status} {ops}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Handling one call request: steppe against the inngest package.")
    parser.add_argument("--calls", type=int, default=200, help="calls per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    body = call_body()
    steppe_flask, handler = steppe_app()
    steppe_call = flask_caller(steppe_flask, body)
    peer_call = flask_caller(peer_app(), body)
    direct_call = direct_caller(handler, body)
    async_call = direct_caller(steppe_async_handler(), body)
    check_same_answer(steppe_call, peer_call, direct_call, async_call)

    print(
        f"one call: {MEMOIZED} memoized steps + 1 new step, {len(body)} request bytes, "
        f"median of {args.rounds} rounds x {args.calls} calls"
    )
    peer = per_call_seconds(peer_call, args.calls, args.rounds)
    ours = per_call_seconds(steppe_call, args.calls, args.rounds)
    direct = per_call_seconds(direct_call, args.calls, args.rounds)
    async_direct = per_call_seconds(async_call, args.calls, args.rounds)
    print(f"  inngest, def function (flask):          {peer * 1e3:8.3f} ms/call")
    print(f"  steppe, def function (flask):           {ours * 1e3:8.3f} ms/call   ratio {ours / peer:5.2f}")
    print(f"  steppe, def function (no framework):    {direct * 1e3:8.3f} ms/call")
    print(
        f"  steppe, async def (no framework):       {async_direct * 1e3:8.3f} ms/call   ratio {async_direct / peer:5.2f}"
    )


if __name__ == "__main__":
    main()
