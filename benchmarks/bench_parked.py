"""What a parked run costs the engine's process, and what waking an unloaded run costs.

Run: ``.venv/bin/python benchmarks/bench_parked.py [--runs 1000,10000,100000] [--grace 0.5] [--rounds 15]`` (a
plain script; prints markdown tables, asserts nothing; about 10 minutes with 100,000 runs, ``--runs 1000,10000``
takes about one).

* Parked runs: a sign-up function runs one step, then sleeps for a day. N runs are started, 1,000 per
  ``engine.send``; each batch is left to park and (past the grace period, ``Engine(unload_parked_after=)``, here
  ``--grace`` seconds so the script is quick; the default is 5) be unloaded before the next. Then the Python heap
  (tracemalloc, after ``gc.collect()``) and the resident set (RSS, less tracemalloc's own memory) are compared
  with what they were before the first batch, per parked run, with the live asyncio tasks. Each N runs in a
  fresh process, so RSS is not left over from a larger N. Flat per-run numbers mean parked runs cost the
  same however many there are.
* Wake cost: a function runs k steps, sleeps for a day, then runs one more. One engine keeps its parked runs in
  memory (``unload_parked_after=None``), the other unloads them at once (``0``); the time is from the moment
  the sleep is due (the clock, the benchmark's own, releases it) to ``engine.wait`` returning, median of
  ``--rounds`` runs, the two engines interleaved in one process. The unloaded run replays its k stored steps
  (each answered from the database, none runs again) before it goes on.

There is no peer ratio: inngest 0.5.19 keeps no run in the SDK's process (the Inngest server holds it and calls
the function again over HTTP when it wakes, replaying its steps each time; see ``bench_http.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import steppe

DAY = timedelta(days=1)
BATCH = 1000
UNLOADS = "unload_parked_after" in inspect.signature(steppe.Engine).parameters  # False on steppe before it

client = steppe.Client("bench-parked")


async def create_user(n: int) -> str:
    return f"user-{n}"


async def follow_up(user: str) -> str:
    return f"followed up {user}"


async def number(i: int) -> int:
    return i


@client.create_function(fn_id="signup", trigger=steppe.TriggerEvent(event="app/user.signup"))
async def signup(ctx: steppe.Context, step: steppe.Step) -> str:
    user = await step.run("create-user", create_user, int(ctx.event.data["n"]))
    await step.sleep("wait-a-day", DAY)
    return await step.run("follow-up", follow_up, user)


@client.create_function(fn_id="k-steps", trigger=steppe.TriggerEvent(event="bench/k-steps"))
async def k_steps(ctx: steppe.Context, step: steppe.Step) -> int:
    total = 0
    for i in range(int(ctx.event.data["k"])):
        total += await step.run(f"step-{i}", number, i)
    await step.sleep("nap", DAY)
    return total + await step.run("after", number, 1)


class Parked:
    """A progress listener counting the sleeps runs have started: how many runs have parked."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, progress: object) -> None:
        self.count += type(progress).__name__ == "SleepStarted"


def engine_options(grace: float | None) -> dict[str, Any]:
    return {"unload_parked_after": grace} if UNLOADS else {}


# -- parked runs: memory per run ------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def settle(condition: Any, what: str, limit: float = 600.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting: {what}")
        await asyncio.sleep(0.01)


async def park(n: int, grace: float) -> dict[str, float]:
    """In this process: start ``n`` sign-ups, let them park, and measure (see the module docstring)."""
    parked = Parked()

    async def start_batch(engine: steppe.Engine, first: int, size: int) -> None:
        await engine.send([steppe.Event(name="app/user.signup", data={"n": i}) for i in range(first, first + size)])
        await settle(lambda: parked.count >= BATCH + first + size, "the batch parks")
        if UNLOADS:
            await settle(lambda: len(asyncio.all_tasks()) <= idle_tasks, "the batch unloads")

    with tempfile.TemporaryDirectory() as directory:
        tracemalloc.start()
        async with steppe.Engine(
            client, database=Path(directory) / "parked.db", listeners=[parked], **engine_options(grace)
        ) as engine:
            idle_tasks = len(asyncio.all_tasks()) + 1  # and the task that sleeps for every unloaded run
            # One batch first, not counted: the peak of a batch in memory (the event loop's and the engine's
            # tables at their largest, the step threads) is then in the baseline, not spread over the runs.
            await start_batch(engine, -BATCH, BATCH)
            gc.collect()
            heap_before, rss_before = tracemalloc.get_traced_memory()[0], rss_bytes()
            tracing_before = tracemalloc.get_tracemalloc_memory()
            started = time.perf_counter()
            for first in range(0, n, BATCH):
                await start_batch(engine, first, min(BATCH, n - first))
            elapsed = time.perf_counter() - started
            gc.collect()
            heap = tracemalloc.get_traced_memory()[0] - heap_before
            tracing = tracemalloc.get_tracemalloc_memory() - tracing_before
            rss = rss_bytes() - rss_before - tracing
            tasks = len(asyncio.all_tasks()) - 1  # less this benchmark's own
        tracemalloc.stop()
    return {"n": n, "heap": heap / n, "rss": rss / n, "tasks": tasks, "seconds": elapsed}


def park_in_fresh_process(n: int, grace: float) -> dict[str, float]:
    command = [sys.executable, __file__, "--one", str(n), "--grace", str(grace)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


# -- waking: replay cost ----------------------------------------------------------------------------


class GateClock:
    """The benchmark's clock: time moves only when ``release`` says, which wakes the sleepers due by then."""

    def __init__(self) -> None:
        self._now = datetime(2030, 1, 1, tzinfo=UTC)
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    def due(self, moment: datetime) -> bool:
        return any(at <= moment and not future.done() for at, future in self._sleepers)

    async def sleep_until(self, moment: datetime) -> None:
        if moment <= self._now:
            return
        entry = (moment, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    def release(self, moment: datetime) -> None:
        self._now = moment
        for at, future in list(self._sleepers):
            if at <= moment and not future.done():
                future.set_result(None)


async def wake_once(engine: Any, clock: GateClock, k: int, unloading: bool) -> float:
    [run_id] = await engine.send(steppe.Event(name="bench/k-steps", data={"k": k}))
    wake_at = clock.now() + DAY
    await settle(lambda: clock.due(wake_at), "the run parks")
    if unloading:
        await settle(lambda: run_id in engine._unloaded, "the run is unloaded")
    started = time.perf_counter()
    clock.release(wake_at)
    result = await engine.wait(run_id, timeout=60)
    elapsed = time.perf_counter() - started
    assert result.status == "completed", result.error
    return elapsed


async def wake_costs(ks: Sequence[int], rounds: int, directory: Path) -> str:
    kinds: list[tuple[str, float | None]] = [("kept in memory", None)]
    if UNLOADS:
        kinds.append(("unloaded", 0.0))
    clocks = {name: GateClock() for name, _ in kinds}
    rows: list[list[object]] = []
    engines: dict[str, Any] = {  # Any: the benchmark looks at which runs an engine has unloaded
        name: steppe.Engine(
            client, database=directory / f"wake-{index}.db", clock=clocks[name], **engine_options(grace)
        )
        for index, (name, grace) in enumerate(kinds)
    }
    for engine in engines.values():
        await engine.__aenter__()
    try:
        for k in ks:
            samples: dict[str, list[float]] = {name: [] for name in engines}
            for _ in range(rounds):
                for name, engine in engines.items():
                    samples[name].append(await wake_once(engine, clocks[name], k, name == "unloaded"))
            kept = statistics.median(samples["kept in memory"])
            if "unloaded" in samples:
                unloaded = statistics.median(samples["unloaded"])
                per_step = f"{(unloaded - kept) / k * 1e6:,.1f}" if k else "n/a"
                rows.append([k, f"{kept * 1e3:.2f}", f"{unloaded * 1e3:.2f}", f"{unloaded / kept:.1f}×", per_step])
            else:
                rows.append([k, f"{kept * 1e3:.2f}", "n/a", "n/a", "n/a"])
    finally:
        for engine in engines.values():
            await engine.__aexit__(None, None, None)
    header = [
        "stored steps before the sleep (k)",
        "wake, kept in memory (ms)",
        "wake, unloaded: replay + go on (ms)",
        "unloaded / kept",
        "replay per stored step (µs)",
    ]
    return f"### Waking a run from a one-day sleep (median of {rounds})\n\n" + table(header, rows)


# -- output -----------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def parked_table(results: Sequence[dict[str, float]], grace: float) -> str:
    rows = [
        [
            f"{int(r['n']):,}",
            f"{int(r['tasks']):,}",
            f"{r['heap']:,.0f}",
            f"{r['rss']:,.0f}",
            f"{r['n'] / r['seconds']:,.0f}",
        ]
        for r in results
    ]
    held = f"unloaded {grace} s after parking" if UNLOADS else "this steppe keeps parked runs in memory"
    header = ["parked runs", "live asyncio tasks", "Python heap per run (B)", "RSS per run (B)", "runs parked per s"]
    return f"### Parked runs, one day asleep ({held})\n\n" + table(header, rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="1000,10000,100000", help="numbers of parked runs, comma-separated")
    parser.add_argument("--grace", type=float, default=0.5, help="unload_parked_after for the parked runs (s)")
    parser.add_argument("--rounds", type=int, default=15, help="wakes timed per row (0: skip the wake table)")
    parser.add_argument("--ks", default="0,10,100", help="stored steps before the sleep, comma-separated")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: one measurement, as JSON
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(asyncio.run(park(args.one, args.grace))))
        return
    print(
        f"python {sys.version.split()[0]}, steppe {steppe.__version__}, SQLite {sqlite3.sqlite_version}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n",
        flush=True,
    )
    if args.runs:
        results = [park_in_fresh_process(int(n), args.grace) for n in args.runs.split(",")]
        print(parked_table(results, args.grace), end="\n\n", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        if args.rounds:
            ks = [int(k) for k in args.ks.split(",")]
            print(asyncio.run(wake_costs(ks, args.rounds, Path(directory))), flush=True)
    print(f"\n(load average at the end {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
