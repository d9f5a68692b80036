"""Cost of durable steps on the embedded engine, against calling the same handlers with no durability.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--quick] [--profile]`` (a plain script, one process;
prints markdown tables, asserts nothing). ``--quick`` takes fewer samples; ``--profile`` instead prints a
cProfile of one 1000-step run.

What it measures, each time as the median over several runs of a whole run (``engine.send`` + ``engine.wait``):

* sequential steps, n = 10, 100, 1000, for three shapes of function: an ``async def`` body with ``async``
  handlers, an ``async def`` body with plain ``def`` handlers (run in a worker thread by design), and a plain
  ``def`` body using ``StepSync``; on an SQLite file in a temporary directory and on ``:memory:``. The limit
  is the same handlers called in a plain loop, no engine; the overhead per step is (run - limit) / n. A
  second table times each step by its position in a 1000-step run: flat means no replay per step.
* how often the body started and the handlers ran, counted by the body and the handlers themselves, in the
  default replay mode and in ``replay="every_step"`` (the testing mode that replays after each new step).
* ``step.parallel`` groups of k = 2, 8, 32 steps against ``asyncio.gather`` of the bare handlers.
* ``wait_for_event`` steps (timing out at once), early against late in a run: the wait path re-reads the
  run's stored steps, so this is where a cost per step that grows with n would show.
* peak Python memory (tracemalloc) during a run of 100 and of 1000 steps.
* blocking against async: µs per step of a plain ``def`` body using ``StepSync`` (and of an ``async def``
  body with ``def`` handlers) over an ``async def`` body with ``async`` handlers, runs alternated in rounds.
* fairness: while one 10,000-step run (async handlers that complete at once, ``:memory:``) executes, the
  latency of a trivial Starlette endpoint served on the same loop (httpx's ``ASGITransport``, one request at
  a time, each arriving 0.5 ms after the previous answer), with the engine yielding the loop every ``LOOP_SHARE`` (the default), after every step, and never;
  and what yielding costs per step (runs alone, the three settings alternated in rounds).

No engine-vs-peer ratio: inngest 0.5.19 has no in-process engine (its runs live in the Inngest server and
each step is an HTTP round trip; ``bench_http.py`` compares the per-call cost). Its one in-process runner,
``inngest.experimental.mocked.trigger`` (an unstable test harness, memos in a dict, nothing durable), is
timed as a reference for the replay model only: it re-runs the handler from the start for every step.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import itertools
import os
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import inngest
import pydantic
from inngest.experimental import mocked
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import steppe
from steppe._engine import embedded_driver

# -- the workload ---------------------------------------------------------------------------------


@dataclass
class Counts:
    """Tallied by the function bodies and handlers below; reset before each run.

    ``stamps`` holds when each handler call started, while ``stamping`` is on (the memory section turns it
    off so the list does not count as the engine's memory).
    """

    body_starts: int = 0
    step_calls: int = 0
    handler_calls: int = 0
    stamping: bool = True
    stamps: list[float] = field(default_factory=list[float])

    def reset(self) -> None:
        self.body_starts = self.step_calls = self.handler_calls = 0
        self.stamps = []

    def snapshot(self) -> tuple[int, int, int]:
        return (self.body_starts, self.step_calls, self.handler_calls)


COUNTS = Counts()


class Workload(pydantic.BaseModel):
    steps: int
    groups: int = 1


async def add_one(x: int) -> int:
    COUNTS.handler_calls += 1
    if COUNTS.stamping:
        COUNTS.stamps.append(time.perf_counter())
    return x + 1


def add_one_sync(x: int) -> int:
    COUNTS.handler_calls += 1
    if COUNTS.stamping:
        COUNTS.stamps.append(time.perf_counter())
    return x + 1


client = steppe.Client("bench-engine")

SEQ_ASYNC = steppe.EventType("bench/seq-async", Workload)
SEQ_SYNC_HANDLER = steppe.EventType("bench/seq-sync-handler", Workload)
SEQ_STEP_SYNC = steppe.EventType("bench/seq-step-sync", Workload)
PARALLEL = steppe.EventType("bench/parallel", Workload)
SEQ_WAITS = steppe.EventType("bench/seq-waits", Workload)


@client.create_function(fn_id="seq-async", trigger=SEQ_ASYNC, retries=0)
async def seq_async(ctx: steppe.Context[Workload], step: steppe.Step) -> int:
    COUNTS.body_starts += 1
    x = 0
    for i in range(ctx.event.data.steps):
        COUNTS.step_calls += 1
        x = await step.run(f"s{i}", add_one, x)
    return x


@client.create_function(fn_id="seq-sync-handler", trigger=SEQ_SYNC_HANDLER, retries=0)
async def seq_sync_handler(ctx: steppe.Context[Workload], step: steppe.Step) -> int:
    COUNTS.body_starts += 1
    x = 0
    for i in range(ctx.event.data.steps):
        COUNTS.step_calls += 1
        x = await step.run(f"s{i}", add_one_sync, x)
    return x


@client.create_function(fn_id="seq-step-sync", trigger=SEQ_STEP_SYNC, retries=0)
def seq_step_sync(ctx: steppe.Context[Workload], step: steppe.StepSync) -> int:
    COUNTS.body_starts += 1
    x = 0
    for i in range(ctx.event.data.steps):
        COUNTS.step_calls += 1
        x = step.run(f"s{i}", add_one_sync, x)
    return x


@client.create_function(fn_id="parallel", trigger=PARALLEL, retries=0)
async def parallel_groups(ctx: steppe.Context[Workload], step: steppe.Step) -> int:
    COUNTS.body_starts += 1
    k, total = ctx.event.data.steps, 0
    for g in range(ctx.event.data.groups):
        COUNTS.step_calls += k
        # The declared type gives mypy the context it needs to infer defer's result (pyright needs none).
        group: tuple[Callable[[], steppe.StepCall[int]], ...] = tuple(
            step.defer(f"g{g}-{i}", add_one, i) for i in range(k)
        )
        results = await step.parallel(group)
        total += sum(results)
    return total


@client.create_function(fn_id="seq-waits", trigger=SEQ_WAITS, retries=0)
async def seq_waits(ctx: steppe.Context[Workload], step: steppe.Step) -> int:
    """``wait_for_event`` steps that time out at once: the engine's wait path, with no event to wait for."""
    COUNTS.body_starts += 1
    for i in range(ctx.event.data.steps):
        COUNTS.step_calls += 1
        await step.wait_for_event(f"w{i}", event="bench/never-sent", timeout=timedelta(0))
        COUNTS.stamps.append(time.perf_counter())
    return ctx.event.data.steps


# The peer's in-process test harness, running the same loop of steps.
peer_client = inngest.Inngest(app_id="bench-engine-peer", is_production=False)
peer_harness = mocked.Inngest(app_id="bench-engine-peer-harness", is_production=False)


@peer_client.create_function(fn_id="seq-async", trigger=inngest.TriggerEvent(event="bench/seq-async"), retries=0)
async def peer_seq_async(ctx: inngest.Context) -> int:
    COUNTS.body_starts += 1
    steps = ctx.event.data["steps"]
    assert isinstance(steps, int)
    x = 0
    for i in range(steps):
        COUNTS.step_calls += 1
        x = await ctx.step.run(f"s{i}", add_one, x)
    return x


# -- the limit: the same handlers, no engine -------------------------------------------------------


async def limit_async(n: int) -> None:
    x = 0
    for _ in range(n):
        x = await add_one(x)


async def limit_sync(n: int) -> None:
    x = 0
    for _ in range(n):
        x = add_one_sync(x)


async def limit_gather(k: int, groups: int) -> None:
    for _ in range(groups):
        await asyncio.gather(*(add_one(i) for i in range(k)))


# -- measuring -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    label: str
    handler: str
    event: steppe.EventType[Workload]
    limit: Callable[[int], Awaitable[None]]


VARIANTS = (
    Variant("async def", "async def", SEQ_ASYNC, limit_async),
    Variant("async def", "def (thread)", SEQ_SYNC_HANDLER, limit_sync),
    Variant("def + StepSync", "def", SEQ_STEP_SYNC, limit_sync),
)


@dataclass(frozen=True)
class RunSample:
    seconds: float  # median over the runs
    body_starts: int  # per run (the same in every run, else the script stops)
    step_calls: int
    handler_calls: int
    gaps: list[list[float]]  # per run: seconds from one handler call to the next


async def one_run(engine: steppe.Engine, event: steppe.Event[Workload]) -> tuple[float, tuple[int, int, int]]:
    """Seconds for one whole run, and its (body starts, step calls, handler calls)."""
    COUNTS.reset()
    started = time.perf_counter()
    [run_id] = await engine.send(event)
    result = await engine.wait(run_id, timeout=600)
    elapsed = time.perf_counter() - started
    if result.status != "completed":
        raise SystemExit(f"bench_engine: run {run_id} of {result.function_id} ended {result.status}: {result.error}")
    return elapsed, COUNTS.snapshot()


async def sample_runs(engine: steppe.Engine, event: steppe.Event[Workload], runs: int) -> RunSample:
    timings: list[float] = []
    tallies: set[tuple[int, int, int]] = set()
    gaps: list[list[float]] = []
    for _ in range(runs):
        seconds, counts = await one_run(engine, event)
        timings.append(seconds)
        tallies.add(counts)
        gaps.append([later - earlier for earlier, later in itertools.pairwise(COUNTS.stamps)])
    if len(tallies) != 1:
        raise SystemExit(f"bench_engine: {event.name} counted differently across runs: {sorted(tallies)}")
    [(body_starts, step_calls, handler_calls)] = tallies
    return RunSample(statistics.median(timings), body_starts, step_calls, handler_calls, gaps)


async def sample_limit(limit: Callable[[], Awaitable[None]], runs: int) -> float:
    timings: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        await limit()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def runs_for(steps: int, budget: int, minimum: int) -> int:
    """How many runs of ``steps`` steps to time: about ``budget`` steps in all, at least ``minimum`` runs."""
    return max(minimum, budget // max(steps, 1))


# -- reporting -------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:,.0f}×" if denominator > 0 else "n/a"


# -- the sections ----------------------------------------------------------------------------------

SIZES = (10, 100, 1000)
Database = Literal["file", ":memory:"]


@dataclass(frozen=True)
class Settings:
    budget: int  # steps timed per (variant, database, n)
    min_runs: int


# Step positions (1-based) whose cost is compared in the position table: a replay per step would make the
# later ones cost more, in proportion to their position.
POSITIONS = ((2, 100), (101, 500), (501, 1000))


def by_position(gaps: list[list[float]]) -> list[str]:
    """Median cost of the steps at each position range of POSITIONS, then the 90th percentile of all."""
    cells: list[str] = []
    for first, last in POSITIONS:
        # gaps[i] is the time from handler i to handler i + 1 (0-based): the cost of step i + 2 (1-based).
        chosen = [run[i] for run in gaps for i in range(first - 2, last - 1)]
        cells.append(us(statistics.median(chosen)))
    every = [gap for run in gaps for gap in run]
    cells.append(us(statistics.quantiles(every, n=10)[-1]))
    return cells


async def sequential(engines: dict[Database, steppe.Engine], settings: Settings) -> str:
    rows: list[list[object]] = []
    slopes: list[list[object]] = []
    positions: list[list[object]] = []
    for variant in VARIANTS:
        for database, engine in engines.items():
            await one_run(engine, variant.event.create(Workload(steps=10)))  # warm caches and statements
            empty = await sample_runs(
                engine, variant.event.create(Workload(steps=0)), runs_for(0, 200, settings.min_runs)
            )
            per_size: dict[int, float] = {}
            for n in SIZES:
                runs = runs_for(n, settings.budget, settings.min_runs)
                sample = await sample_runs(engine, variant.event.create(Workload(steps=n)), runs)
                limit = await sample_limit(lambda: variant.limit(n), max(runs, 20))
                per_size[n] = sample.seconds
                if n == 1000:
                    positions.append([variant.label, variant.handler, database, *by_position(sample.gaps)])
                rows.append(
                    [
                        variant.label,
                        variant.handler,
                        database,
                        n,
                        f"{sample.seconds * 1e3:,.2f}",
                        us(sample.seconds / n),
                        f"{limit / n * 1e6:,.3f}",
                        us((sample.seconds - limit) / n),
                        ratio(sample.seconds, limit),
                        sample.body_starts,
                        sample.handler_calls,
                    ]
                )
            slope = (per_size[1000] - per_size[100]) / 900
            slopes.append(
                [variant.label, variant.handler, database, us(empty.seconds), us(slope), us(per_size[1000] / 1000)]
            )
    return "\n\n".join(
        [
            "### Sequential steps (median run; the limit calls the same handlers in a plain loop)",
            table(
                [
                    "body",
                    "handler",
                    "db",
                    "n",
                    "run ms",
                    "µs/step",
                    "limit µs/step",
                    "overhead µs/step",
                    "× limit",
                    "body starts",
                    "handler calls",
                ],
                rows,
            ),
            "### Scaling: run(n) ≈ fixed + n × per-step",
            table(
                ["body", "handler", "db", "empty run µs (n=0)", "µs/step, slope n=100→1000", "µs/step at n=1000"],
                slopes,
            ),
            "### Cost of one step by its position in a 1000-step run (µs from one handler call to the next)",
            table(
                ["body", "handler", "db", *(f"median, steps {a}–{b}" for a, b in POSITIONS), "p90, all steps"],
                positions,
            ),
        ]
    )


async def replay_contrast(
    on_restart: steppe.Engine, every_step: steppe.Engine, settings: Settings, peer_rows: list[list[object]]
) -> str:
    rows: list[list[object]] = []
    for n in (10, 100):
        for mode, engine in (("on_restart (default)", on_restart), ("every_step (testing)", every_step)):
            event = SEQ_ASYNC.create(Workload(steps=n))
            await one_run(engine, event)
            sample = await sample_runs(engine, event, runs_for(n, settings.budget // 3, settings.min_runs))
            rows.append(
                [
                    f"steppe {mode}",
                    n,
                    f"{sample.seconds * 1e3:,.2f}",
                    us(sample.seconds / n),
                    sample.body_starts,
                    sample.step_calls,
                    sample.handler_calls,
                ]
            )
        rows += [row for row in peer_rows if row[1] == n]
    return "\n\n".join(
        [
            "### Replay: function-body passes per run (async def body, async handlers; steppe on the file db)",
            table(["runner", "n", "run ms", "µs/step", "body starts", "step calls by the body", "handler calls"], rows),
        ]
    )


def peer_harness_runs(settings: Settings) -> list[list[object]]:
    """Rows for the replay table from inngest's mocked harness; it drives its own event loop, so this runs
    outside ours (on one loop set for the purpose, so no run pays for creating loops)."""
    rows: list[list[object]] = []
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        for n in (10, 100):
            timings: list[float] = []
            for _ in range(runs_for(n, settings.budget // 5, settings.min_runs)):
                COUNTS.reset()
                started = time.perf_counter()
                result = mocked.trigger(
                    peer_seq_async, inngest.Event(name="bench/seq-async", data={"steps": n}), peer_harness
                )
                timings.append(time.perf_counter() - started)
                if result.status is not mocked.Status.COMPLETED:
                    raise SystemExit(f"bench_engine: the inngest harness run ended {result.status}: {result.error}")
            seconds = statistics.median(timings)
            rows.append(
                [
                    "inngest mocked harness (no storage)",
                    n,
                    f"{seconds * 1e3:,.2f}",
                    us(seconds / n),
                    COUNTS.body_starts,
                    COUNTS.step_calls,
                    COUNTS.handler_calls,
                ]
            )
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return rows


async def parallel(engine: steppe.Engine, settings: Settings) -> str:
    rows: list[list[object]] = []
    for k in (2, 8, 32):
        groups = max(1, 256 // k)
        event = PARALLEL.create(Workload(steps=k, groups=groups))
        await one_run(engine, event)
        runs = runs_for(k * groups, settings.budget, settings.min_runs)
        sample = await sample_runs(engine, event, runs)
        limit = await sample_limit(lambda: limit_gather(k, groups), max(runs, 20))
        rows.append(
            [
                k,
                groups,
                us(sample.seconds / groups),
                us(limit / groups),
                us((sample.seconds - limit) / (k * groups)),
                ratio(sample.seconds, limit),
                sample.body_starts,
                sample.handler_calls,
            ]
        )
    return "\n\n".join(
        [
            "### `step.parallel` of k steps vs `asyncio.gather` of the bare handlers (file db; groups run in sequence)",
            table(
                [
                    "k",
                    "groups per run",
                    "µs/group",
                    "gather µs/group",
                    "overhead µs/step",
                    "× limit",
                    "body starts",
                    "handler calls",
                ],
                rows,
            ),
        ]
    )


async def waits(engine: steppe.Engine, settings: Settings) -> str:
    rows: list[list[object]] = []
    await one_run(engine, SEQ_WAITS.create(Workload(steps=10)))
    for n in SIZES:
        sample = await sample_runs(engine, SEQ_WAITS.create(Workload(steps=n)), runs_for(n, settings.budget // 5, 1))
        first = [run[i] for run in sample.gaps for i in range(min(len(run), 99))]
        last = [gap for run in sample.gaps for gap in run[-(len(run) // 10 or 1) :]]
        rows.append(
            [
                n,
                f"{sample.seconds * 1e3:,.2f}",
                us(sample.seconds / n),
                us(statistics.median(first)),
                us(statistics.median(last)),
                sample.body_starts,
            ]
        )
    return "\n\n".join(
        [
            "### `wait_for_event` steps that time out at once (file db): median step cost early and late in the run",
            table(["n", "run ms", "µs/step", "median, steps 2–100", "median, last tenth", "body starts"], rows),
        ]
    )


async def memory(engine: steppe.Engine) -> str:
    rows: list[list[object]] = []

    async def peak(work: Callable[[], Awaitable[object]]) -> int:
        gc.collect()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        await work()
        return tracemalloc.get_traced_memory()[1] - before

    COUNTS.stamping = False
    tracemalloc.start()
    try:
        await one_run(engine, SEQ_ASYNC.create(Workload(steps=10)))
        for n in (100, 1000):
            engine_peak = await peak(lambda: one_run(engine, SEQ_ASYNC.create(Workload(steps=n))))
            limit_peak = await peak(lambda: limit_async(n))
            rows.append([n, f"{engine_peak / 1024:,.1f}", f"{engine_peak / n:,.0f}", f"{limit_peak / 1024:,.1f}"])
    finally:
        tracemalloc.stop()
        COUNTS.stamping = True
    return "\n\n".join(
        [
            "### Peak Python memory during one run (tracemalloc; SQLite's own page cache is not traced; file db)",
            table(["n", "peak KiB", "bytes/step", "limit peak KiB"], rows),
        ]
    )


async def blocking(engines: dict[Database, steppe.Engine], settings: Settings) -> str:
    """µs per step of the blocking shapes over the async one, their runs alternated so load hits all alike."""
    n = 1000
    rounds = max(3, settings.budget // n)
    rows: list[list[object]] = []
    for database, engine in engines.items():
        timings: dict[str, list[float]] = {variant.handler + variant.label: [] for variant in VARIANTS}
        for variant in VARIANTS:
            await one_run(engine, variant.event.create(Workload(steps=10)))
        for _ in range(rounds):
            for variant in VARIANTS:
                seconds, _ = await one_run(engine, variant.event.create(Workload(steps=n)))
                timings[variant.handler + variant.label].append(seconds / n)
        per_step = {key: statistics.median(values) for key, values in timings.items()}
        base = per_step[VARIANTS[0].handler + VARIANTS[0].label]
        for variant in VARIANTS:
            mine = per_step[variant.handler + variant.label]
            rows.append([variant.label, variant.handler, database, us(mine), f"{mine / base:.2f}×"])
    return "\n\n".join(
        [
            f"### Blocking against async: µs per step, {n}-step runs alternated over {rounds} rounds",
            table(["body", "handler", "db", "µs/step", "× async def body, async handlers"], rows),
        ]
    )


def endpoint() -> httpx.AsyncClient:
    """A client for a trivial Starlette app served in-process, on the running loop."""

    async def ping(request: Request) -> PlainTextResponse:
        return PlainTextResponse("pong")

    app = Starlette(routes=[Route("/ping", ping)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")


async def request_latencies(http: httpx.AsyncClient, until: asyncio.Future[Any] | None, count: int) -> list[float]:
    """Seconds from each request's arrival to its answer: until ``until`` is done (or ``count`` requests).

    A request arrives ``ARRIVAL_GAP`` after the previous answer, as a timer on the loop: an in-process ASGI
    request never suspends, so its latency is how late the loop gets to it, plus its own time.
    """
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    while (until is None and len(latencies) < count) or (until is not None and not until.done()):
        arrival = loop.time() + ARRIVAL_GAP
        await asyncio.sleep(ARRIVAL_GAP)
        response = await http.get("/ping")
        latencies.append(loop.time() - arrival)
        if response.text != "pong":
            raise SystemExit(f"bench_engine: the endpoint answered {response.status_code} {response.text!r}")
    return latencies


ARRIVAL_GAP = 0.0005
FAIRNESS_STEPS = 10_000
LOOP_SHARES = (("every 1 ms (default)", embedded_driver.LOOP_SHARE), ("every step", 0.0), ("never", float("inf")))


async def fairness(engine: steppe.Engine, settings: Settings) -> str:
    rounds = 1 if settings.min_runs == 1 else 3
    event = SEQ_ASYNC.create(Workload(steps=FAIRNESS_STEPS))
    default = embedded_driver.LOOP_SHARE
    latency_rows: list[list[object]] = []
    cost_rows: list[list[object]] = []
    async with endpoint() as http:
        idle = await request_latencies(http, None, 1000)
        latency_rows.append(["no run (idle loop)", len(idle), *latency_cells(idle)])
        alone: dict[str, list[float]] = {label: [] for label, _ in LOOP_SHARES}
        during: dict[str, list[float]] = {label: [] for label, _ in LOOP_SHARES}
        try:
            for _ in range(rounds):
                for label, share in LOOP_SHARES:
                    embedded_driver.LOOP_SHARE = share
                    seconds, _ = await one_run(engine, event)
                    alone[label].append(seconds / FAIRNESS_STEPS)
                    run = asyncio.ensure_future(one_run(engine, event))
                    during[label] += await request_latencies(http, run, 0)
                    await run
        finally:
            embedded_driver.LOOP_SHARE = default
    never = statistics.median(alone["never"])
    for label, _ in LOOP_SHARES:
        latencies = during[label]
        latency_rows.append([f"during the run, yielding {label}", len(latencies), *latency_cells(latencies)])
        per_step = statistics.median(alone[label])
        cost_rows.append([label, us(per_step), us(per_step - never), f"{(per_step - never) / never * 100:+.1f}%"])
    return "\n\n".join(
        [
            (
                f"### Fairness: a Starlette endpoint on the same loop while a {FAIRNESS_STEPS:,}-step run executes "
                "(async handlers that complete at once; :memory:; a request 0.5 ms after each answer)"
            ),
            table(["while", "requests", "p50 ms", "p99 ms", "max ms"], latency_rows),
            f"### What yielding the loop costs: µs per step of the run alone, {rounds} round(s) alternated",
            table(["engine yields", "µs/step", "µs/step over never", "share"], cost_rows),
        ]
    )


def latency_cells(latencies: list[float]) -> list[str]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return [f"{statistics.median(ordered) * 1e3:,.3f}", f"{p99 * 1e3:,.3f}", f"{ordered[-1] * 1e3:,.3f}"]


async def storage(directory: Path) -> str:
    """Database growth per step attempt: the step's row, its attempt record and their index entries."""
    path = directory / "storage.db"
    n = 2000

    async def size_after(steps: int) -> int:
        async with steppe.Engine(client, database=path) as engine:
            await one_run(engine, SEQ_ASYNC.create(Workload(steps=steps)))
        return path.stat().st_size  # closed: the write-ahead log is checkpointed into the file

    before = await size_after(1)
    after = await size_after(n)
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        attempts = reader.execute("SELECT count(*) FROM step_attempts").fetchone()[0] - 1
    finally:
        reader.close()
    return "\n\n".join(
        [
            f"### Storage: database growth over one run of {n} steps (async def body, async handlers; file db)",
            table(
                ["attempts recorded", "growth KiB", "bytes/attempt"],
                [[attempts, f"{(after - before) / 1024:,.1f}", f"{(after - before) / max(attempts, 1):,.0f}"]],
            ),
        ]
    )


# -- entry points ----------------------------------------------------------------------------------


async def benchmark(settings: Settings, directory: Path, peer_rows: list[list[object]]) -> None:
    print(
        f"python {sys.version.split()[0]}, pydantic {pydantic.VERSION}, steppe {steppe.__version__}, "
        f"SQLite {sqlite3.sqlite_version}; {os.cpu_count()} CPUs, load average {load_average()}; "
        f"about {settings.budget} steps timed per row\n"
    )
    async with (
        steppe.Engine(client, database=directory / "bench.db") as on_file,
        steppe.Engine(client, database=":memory:") as in_memory,
        steppe.Engine(client, database=directory / "every-step.db", replay="every_step") as every_step,
    ):
        print(await sequential({"file": on_file, ":memory:": in_memory}, settings), end="\n\n", flush=True)
        print(await replay_contrast(on_file, every_step, settings, peer_rows), end="\n\n", flush=True)
        print(await parallel(on_file, settings), end="\n\n", flush=True)
        print(await waits(on_file, settings), end="\n\n", flush=True)
        print(await memory(on_file), end="\n\n", flush=True)
        print(await blocking({"file": on_file, ":memory:": in_memory}, settings), end="\n\n", flush=True)
        print(await fairness(in_memory, settings), end="\n\n", flush=True)
    print(await storage(directory), flush=True)


def load_average() -> str:
    """The 1-minute load average: other work on the machine shows in the tail of the timings."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


async def only(section: str, settings: Settings, directory: Path) -> None:
    async with (
        steppe.Engine(client, database=directory / "bench.db") as on_file,
        steppe.Engine(client, database=":memory:") as in_memory,
    ):
        if section == "blocking":
            print(await blocking({"file": on_file, ":memory:": in_memory}, settings), flush=True)
        else:
            print(await fairness(in_memory, settings), flush=True)


async def profile(directory: Path) -> None:
    """cProfile one 1000-step run (async body, async handlers, file db) after a warm-up run."""
    async with steppe.Engine(client, database=directory / "profile.db") as engine:
        await one_run(engine, SEQ_ASYNC.create(Workload(steps=10)))
        profiler = cProfile.Profile()
        profiler.enable()
        await one_run(engine, SEQ_ASYNC.create(Workload(steps=1000)))
        profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats(pstats.SortKey.TIME).print_stats(20)
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats("steppe", 25)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer samples (about 15 s)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one 1000-step run instead")
    parser.add_argument("--only", choices=("blocking", "fairness"), help="run only this section (on its own engines)")
    args = parser.parse_args(argv)
    settings = Settings(budget=1000, min_runs=1) if args.quick else Settings(budget=5000, min_runs=5)
    with tempfile.TemporaryDirectory(prefix="steppe-bench-") as directory:
        if args.profile:
            asyncio.run(profile(Path(directory)))
        elif args.only:
            asyncio.run(only(args.only, settings, Path(directory)))
        else:
            started = time.perf_counter()
            peer_rows = peer_harness_runs(settings)
            asyncio.run(benchmark(settings, Path(directory), peer_rows))
            print(f"\n(total {time.perf_counter() - started:.1f} s; load average at the end {load_average()})")


if __name__ == "__main__":
    main()
