"""Handling one call request: steppe against the `inngest` package, on identical request bytes.

A function of N + 1 sequential steps gets a call request that memoizes the first N, so handling it means
rebuilding N stored results into their declared type (a pydantic model) and running the last step in place (a
206 with one StepRun). Both SDKs serve the same function from the same framework and get the same bytes:

* a plain ``def`` function from a Flask app, driven through Flask's test client;
* an ``async def`` function from a FastAPI app, driven by direct ASGI calls on one event loop.

The peer rebuilds the values with its opt-in typed path (``serializer=PydanticSerializer()``, ``output_type=``),
steppe from the step handler's return annotation. Each framework also serves a "plain" endpoint, the limit with
no SDK at all: parse the body, rebuild the N memoized values with one pydantic ``TypeAdapter``, run the step and
encode its op. Callers are timed interleaved, round by round, in one process; per-call times are medians over
the rounds, so a noisy neighbour moves them less. The per-memo cost at N is ``(t(N) - t(0)) / N``.

Run from the repository root:  .venv/bin/python benchmarks/bench_http.py [--sizes 0,10,100,1000] [--rounds R]
[--budget SECONDS] [--clock wall|cpu] [--profile N]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import logging
import os
import platform
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

os.environ["INNGEST_DEV"] = "1"  # both SDKs in dev mode: no signatures, no keys

import fastapi
import flask
import inngest
import inngest.fast_api
import inngest.flask
import pydantic

import steppe
from steppe.serve import HttpRequest, ServeHandler
from steppe.serve.fastapi import serve as serve_fastapi
from steppe.serve.flask import serve as serve_flask

APP_ID: Final = "bench"
FN_ID: Final = "steps"
PATH: Final = "/api/inngest"
QUERY: Final = f"fnId={APP_ID}-{FN_ID}&stepId=step"
HEADERS: Final = {"Content-Type": "application/json", "X-Inngest-Server-Kind": "dev"}


class Item(pydantic.BaseModel):
    """What every step returns: a replayed memo must be rebuilt into this model, not left as a dict."""

    index: int
    name: str
    tags: list[str]


ITEM: Final = pydantic.TypeAdapter(Item)
OPS: Final = pydantic.TypeAdapter(list[dict[str, Any]])


def make_item(i: int) -> Item:
    return Item(index=i, name=f"item-{i}", tags=["bench", str(i % 7)])


async def make_item_async(i: int) -> Item:
    return make_item(i)


def step_name(i: int) -> str:
    return f"step-{i}"


def call_body(memoized: int) -> bytes:
    """A call request with the first ``memoized`` steps stored: the function must run the next one."""
    hashes = [hashlib.sha1(step_name(i).encode()).hexdigest() for i in range(memoized)]
    event = {"name": "bench/run", "data": {"n": 1}, "id": "01HBENCH0000000000000000", "ts": 1_700_000_000_000}
    body = {
        "event": event,
        "events": [event],
        "steps": {h: {"data": make_item(i).model_dump(mode="json")} for i, h in enumerate(hashes)},
        "ctx": {
            "run_id": "01HBENCHRUN000000000000000",
            "attempt": 0,
            "max_attempts": 4,
            "disable_immediate_execution": False,
            "use_api": False,
            "env": "bench",
            "fn_id": "6f1a3c2e-8d1b-4c55-9e0f-0a1b2c3d4e5f",
            "step_id": "step",
            "stack": {"stack": hashes, "current": memoized},
        },
        "use_api": False,
        "version": 1,
    }
    return json.dumps(body, separators=(",", ":")).encode()


# -- the functions, one per SDK and kind ---------------------------------------------------------------------------


def steppe_client(memoized: int, *, sync: bool) -> steppe.Client:
    client = steppe.Client(APP_ID, is_production=False)
    trigger = steppe.TriggerEvent("bench/run")
    if sync:

        @client.create_function(fn_id=FN_ID, trigger=trigger)
        def steps_sync(ctx: steppe.Context, step: steppe.StepSync) -> int:
            total = 0
            for i in range(memoized + 1):
                total += step.run(step_name(i), make_item, i).index
            return total

    else:

        @client.create_function(fn_id=FN_ID, trigger=trigger)
        async def steps_async(ctx: steppe.Context, step: steppe.Step) -> int:
            total = 0
            for i in range(memoized + 1):
                total += (await step.run(step_name(i), make_item_async, i)).index
            return total

    return client


def peer_function(memoized: int, *, sync: bool) -> tuple[inngest.Inngest, inngest.Function[Any]]:
    quiet = logging.getLogger("bench-peer")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    client = inngest.Inngest(app_id=APP_ID, logger=quiet, serializer=inngest.PydanticSerializer())
    trigger = inngest.TriggerEvent(event="bench/run")
    if sync:

        @client.create_function(fn_id=FN_ID, trigger=trigger)
        def steps_sync(ctx: inngest.ContextSync) -> int:
            total = 0
            for i in range(memoized + 1):
                item: Item = ctx.step.run(step_name(i), make_item, i, output_type=Item)
                total += item.index
            return total

        return client, steps_sync

    @client.create_function(fn_id=FN_ID, trigger=trigger)
    async def steps_async(ctx: inngest.Context) -> int:
        total = 0
        for i in range(memoized + 1):
            item: Item = await ctx.step.run(step_name(i), make_item_async, i, output_type=Item)
            total += item.index
        return total

    return client, steps_async


def plain_answer(body: bytes) -> bytes:
    """The limit: the same work with no SDK (parse, rebuild every memo into ``Item``, run the step, encode it)."""
    document = json.loads(body)
    steps = document["steps"]
    stack = document["ctx"]["stack"]["stack"]
    items = [ITEM.validate_python(steps[hashed]["data"]) for hashed in stack]
    new = make_item(len(items))
    op = {"op": "StepRun", "id": hashlib.sha1(step_name(len(items)).encode()).hexdigest(), "data": new}
    return OPS.dump_json([op])


# -- callers: one call through a framework, answering (status, body) ----------------------------------------------

Caller = Callable[[], tuple[int, Any]]


def flask_caller(app: flask.Flask) -> Callable[[bytes], Caller]:
    client = app.test_client()

    def bind(body: bytes) -> Caller:
        def call() -> tuple[int, Any]:
            response = client.post(f"{PATH}?{QUERY}", data=body, headers=HEADERS)
            return response.status_code, response.get_json()

        return call

    return bind


def flask_apps(memoized: int) -> dict[str, flask.Flask]:
    ours = flask.Flask("bench-steppe")
    serve_flask(ours, steppe_client(memoized, sync=True))
    peer = flask.Flask("bench-peer")
    client, function = peer_function(memoized, sync=True)
    inngest.flask.serve(peer, client, [function])
    plain = flask.Flask("bench-plain")

    @plain.post(PATH)
    def plain_view() -> flask.Response:
        return flask.Response(plain_answer(flask.request.get_data()), status=206, content_type="application/json")

    return {"steppe": ours, "inngest": peer, "plain": plain}


def asgi_caller(app: fastapi.FastAPI, loop: asyncio.AbstractEventLoop) -> Callable[[bytes], Caller]:
    """Direct ASGI calls (no client library), on one loop for every call: the framework's cost and nothing more."""
    headers = [(name.lower().encode(), value.encode()) for name, value in HEADERS.items()]

    def bind(body: bytes) -> Caller:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "query_string": QUERY.encode(),
            "root_path": "",
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("localhost", 80),
        }

        async def once() -> tuple[int, Any]:
            sent = False
            status = 0
            chunks: list[bytes] = []

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))

            await app(dict(scope), receive, send)
            return status, json.loads(b"".join(chunks))

        def call() -> tuple[int, Any]:
            return loop.run_until_complete(once())

        return call

    return bind


def asgi_apps(memoized: int) -> dict[str, fastapi.FastAPI]:
    ours = fastapi.FastAPI()
    serve_fastapi(ours, steppe_client(memoized, sync=False))
    peer = fastapi.FastAPI()
    client, function = peer_function(memoized, sync=False)
    inngest.fast_api.serve(peer, client, [function])
    plain = fastapi.FastAPI()

    @plain.post(PATH)
    async def plain_view(request: fastapi.Request) -> fastapi.Response:
        return fastapi.Response(plain_answer(await request.body()), status_code=206, media_type="application/json")

    return {"steppe": ours, "inngest": peer, "plain": plain}


# -- timing ----------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    kind: str
    memoized: int
    seconds: dict[str, float]


def check_same_answer(callers: dict[str, Caller]) -> None:
    """Every endpoint must give the same answer, or the timing compares different work."""
    summaries = {}
    for name, caller in callers.items():
        status, body = caller()
        summaries[name] = (status, [(op["op"], op["id"], op.get("data")) for op in body])
    first = next(iter(summaries.values()))
    if any(summary != first for summary in summaries.values()):
        raise SystemExit(f"the endpoints answered differently: {summaries}")


def time_interleaved(
    callers: dict[str, Caller], rounds: int, budget: float, clock: Callable[[], float]
) -> dict[str, float]:
    """Median seconds per call of each caller; each round times every caller once, in turn."""
    calls: dict[str, int] = {}
    for name, caller in callers.items():  # warm caches, then size a round to about ``budget`` seconds per caller
        started = clock()
        caller()
        caller()
        one = (clock() - started) / 2
        calls[name] = max(3, int(budget / max(one, 1e-6)))
    samples: dict[str, list[float]] = {name: [] for name in callers}
    for _ in range(rounds):
        for name, caller in callers.items():
            started = clock()
            for _ in range(calls[name]):
                caller()
            samples[name].append((clock() - started) / calls[name])
    return {name: statistics.median(values) for name, values in samples.items()}


def measure(
    kind: str, memoized: int, rounds: int, budget: float, clock: Callable[[], float], loop: asyncio.AbstractEventLoop
) -> Row:
    body = call_body(memoized)
    if kind == "def + Flask":
        callers = {name: flask_caller(app)(body) for name, app in flask_apps(memoized).items()}
    else:
        callers = {name: asgi_caller(app, loop)(body) for name, app in asgi_apps(memoized).items()}
    check_same_answer(callers)
    return Row(kind, memoized, time_interleaved(callers, rounds, budget, clock))


def print_table(rows: list[Row]) -> None:
    print(
        "| function, framework | N memoized | inngest ms/call | steppe ms/call | plain ms/call | steppe/inngest "
        "| steppe/plain | inngest µs/memo | steppe µs/memo |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    base: dict[str, Row] = {}
    for row in rows:
        s = row.seconds
        if row.memoized == 0:
            base[row.kind] = row
        zero = base.get(row.kind)
        if zero is not None and row.memoized > 0:
            peer_memo = f"{(s['inngest'] - zero.seconds['inngest']) / row.memoized * 1e6:.1f}"
            ours_memo = f"{(s['steppe'] - zero.seconds['steppe']) / row.memoized * 1e6:.1f}"
        else:
            peer_memo = ours_memo = "-"
        print(
            f"| {row.kind} | {row.memoized} | {s['inngest'] * 1e3:.3f} | {s['steppe'] * 1e3:.3f} "
            f"| {s['plain'] * 1e3:.3f} | {s['steppe'] / s['inngest']:.2f} | {s['steppe'] / s['plain']:.2f} "
            f"| {peer_memo} | {ours_memo} |"
        )


def handler_alone(sizes: list[int], rounds: int, budget: float, clock: Callable[[], float]) -> None:
    """steppe's ``ServeHandler`` with no framework: what a call costs steppe itself, and per memo."""
    loop = asyncio.new_event_loop()
    seconds: dict[tuple[str, int], float] = {}
    for memoized in sizes:
        request = HttpRequest.create(
            method="POST",
            url=f"http://localhost{PATH}",
            headers=HEADERS,
            query={"fnId": f"{APP_ID}-{FN_ID}", "stepId": "step"},
            body=call_body(memoized),
        )
        sync = ServeHandler(steppe_client(memoized, sync=True), framework="bench")
        asynchronous = ServeHandler(steppe_client(memoized, sync=False), framework="bench")
        callers: dict[str, Caller] = {
            "def, handle_blocking": lambda h=sync, r=request: (h.handle_blocking(r).status, None),
            "async, handle": lambda h=asynchronous, r=request: (loop.run_until_complete(h.handle(r)).status, None),
        }
        for name, median in time_interleaved(callers, rounds, budget, clock).items():
            seconds[name, memoized] = median
    print("\n| steppe's handler alone | N memoized | µs/call | µs/memo |")
    print("|---|---:|---:|---:|")
    for (name, memoized), value in seconds.items():
        zero = seconds.get((name, 0))
        per_memo = f"{(value - zero) / memoized * 1e6:.1f}" if zero is not None and memoized else "-"
        print(f"| {name} | {memoized} | {value * 1e6:.1f} | {per_memo} |")
    loop.close()


def profile(memoized: int, loop: asyncio.AbstractEventLoop) -> None:
    """cProfile of steppe's two paths at ``memoized`` steps (the def body's own thread is not profiled)."""
    body = call_body(memoized)
    for kind, caller in (
        ("def + Flask", flask_caller(flask_apps(memoized)["steppe"])(body)),
        ("async + FastAPI", asgi_caller(asgi_apps(memoized)["steppe"], loop)(body)),
    ):
        for _ in range(20):
            caller()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(200):
            caller()
        profiler.disable()
        print(f"\n### cProfile, steppe, {kind}, N = {memoized}, 200 calls\n")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description="Handling one call request: steppe against the inngest package.")
    parser.add_argument("--sizes", default="0,10,100,1000", help="memoized steps per request, comma-separated")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--budget", type=float, default=0.15, help="seconds per caller per round")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time, or the process's CPU time (steadier on a machine other work shares)",
    )
    parser.add_argument("--profile", type=int, metavar="N", help="profile steppe's paths at N memoized steps instead")
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    if args.profile is not None:
        profile(args.profile, loop)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    print(
        f"python {platform.python_version()}, inngest {inngest.__dict__.get('__version__', '0.5.19')}, "
        f"load average {os.getloadavg()[0]:.2f}; {args.clock} clock, median of {args.rounds} interleaved rounds, "
        f"about {args.budget:.2f} s per caller per round\n"
    )
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    rows = [
        measure(kind, memoized, args.rounds, args.budget, clock, loop)
        for kind in ("def + Flask", "async + FastAPI")
        for memoized in sizes
    ]
    print_table(rows)
    handler_alone(sizes, args.rounds, args.budget, clock)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
