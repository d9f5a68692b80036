"""What one sent event costs on the embedded engine, by how many runs are parked on its name.

Run: ``.venv/bin/python benchmarks/bench_events.py [--counts 200,1000,4000,20000,100000] [--rounds 15]``
(a plain script; prints markdown tables, asserts nothing; about two minutes with the defaults).

Two kinds of parked runs: runs waiting in ``step.wait_for_event("reply", if_exp=...)`` and running runs that an
``abort`` event cancels (``Cancel(event="abort", if_exp=...)``). Each with an expression the engine can index,
``async.data.k == event.data.k``, and with the same test spelled so that it cannot, ``!(async.data.k !=
event.data.k)``, which the engine evaluates for every parked run. For each count it times (median of
``--rounds``, milliseconds) one ``Engine.send`` of an event that matches no parked run, and one that matches
exactly one (which resolves that wait, or cancels that run), and prints the ratio of each count's cost to the
cost at 200 parked runs.

How runs are parked: the first 200 of each kind are real runs, started by ``Engine.send`` and parked by their
bodies. The rest are written through the engine's own ``Store`` methods (``insert_event``, ``create_run``,
``insert_wait``: the rows a parked run leaves) in one transaction while the engine is open, so that 100,000 of
them take seconds rather than 100,000 asyncio tasks; a send finds parked runs in the database either way. The
unindexed expression is measured only up to ``--unindexed-max`` parked runs, since every send evaluates it once
per parked run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import steppe
from steppe._engine.store import Store, WaitRecord
from steppe.options import Cancel

INDEXED = "async.data.k == event.data.k"
UNINDEXED = "!(async.data.k != event.data.k)"
REAL_RUNS = 200
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_client(kind: str, expression: str) -> tuple[steppe.Client, str]:
    """An app with one function whose runs park on ``reply`` (kind "wait") or are cancelled by ``abort``."""
    client = steppe.Client("bench")
    if kind == "wait":

        @client.create_function(fn_id="parked", trigger=steppe.TriggerEvent(event="start"))
        async def parked(ctx: steppe.Context, step: steppe.Step) -> Any:  # pyright: ignore[reportUnusedFunction]
            reply = await step.wait_for_event("reply", event="reply", timeout=timedelta(days=30), if_exp=expression)
            return None if reply is None else reply.data

    else:

        @client.create_function(
            fn_id="parked",
            trigger=steppe.TriggerEvent(event="start"),
            cancel=Cancel(event="abort", if_exp=expression),
        )
        async def parked(ctx: steppe.Context, step: steppe.Step) -> None:  # pyright: ignore[reportUnusedFunction]
            await step.sleep("nap", timedelta(days=30))

    return client, client.functions[0].id


class Parked:
    """Runs parked on one engine; ``top_up`` adds more until there are ``count``."""

    def __init__(self, engine: steppe.Engine, kind: str, function_id: str, expression: str) -> None:
        self.engine = engine
        self.kind = kind
        self.function_id = function_id
        self.expression = expression
        self.count = 0

    @property
    def store(self) -> Store:
        return self.engine._store  # pyright: ignore[reportPrivateUsage]

    async def top_up(self, count: int) -> None:
        real = min(count, REAL_RUNS)
        if self.count < real:
            await self.engine.send([steppe.Event(name="start", data={"k": f"k{i}"}) for i in range(self.count, real)])
            await self._until_parked(real)
            self.count = real
        if self.count >= count:
            return
        now = datetime.now(UTC)
        with self.store.transaction():
            for i in range(self.count, count):
                event = steppe.Event(
                    name="start", id=f"bench-start-{i}", ts=int(now.timestamp() * 1000), data={"k": f"k{i}"}
                )
                self.store.insert_event(event.id, event.name, event.model_dump(mode="json"), now)
                run_id = f"bench-run-{i}"
                self.store.create_run(run_id, self.function_id, [event.id], now)
                if self.kind == "wait":
                    wait = WaitRecord("event", now + timedelta(days=30), "reply", self.expression, None)
                    self.store.insert_wait(run_id, "reply", "reply", wait, now=now)
        self.count = count

    async def _until_parked(self, count: int) -> None:
        table = "waits" if self.kind == "wait" else "waits WHERE kind = 'sleep'"
        for _ in range(2000):
            if self.store._one(f"SELECT count(*) FROM {table}")[0] >= count:  # pyright: ignore[reportPrivateUsage]
                return
            await asyncio.sleep(0.01)
        raise RuntimeError(f"runs did not park: wanted {count}")


async def median_send_ms(engine: steppe.Engine, make: Callable[[int], steppe.Event[Any]], rounds: int) -> float:
    samples: list[float] = []
    for index in range(rounds):
        event = make(index)
        start = time.perf_counter()
        await engine.send(event)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def measure(
    kind: str, expression: str, counts: Sequence[int], rounds: int, directory: Path
) -> dict[int, tuple[float, float]]:
    """Per parked count: (ms per non-matching send, ms per matching send)."""
    client, function_id = make_client(kind, expression)
    name = "reply" if kind == "wait" else "abort"
    results: dict[int, tuple[float, float]] = {}
    database = directory / f"{kind}-{'indexed' if expression == INDEXED else 'unindexed'}.db"
    async with steppe.Engine(client, database=database) as engine:
        parked = Parked(engine, kind, function_id, expression)
        matched = 0
        for count in counts:
            await parked.top_up(count + matched)
            await engine.send(steppe.Event(name=name, data={"k": "warm-up"}))  # what a first send does once
            miss = await median_send_ms(engine, lambda i: steppe.Event(name=name, data={"k": f"none-{i}"}), rounds)
            # Each matching send takes one distinct parked run (the newest ones); the count shrinks by `rounds`.
            top = parked.count

            def hit(i: int, top: int = top) -> steppe.Event[Any]:
                return steppe.Event(name=name, data={"k": f"k{top - 1 - i}"})

            match = await median_send_ms(engine, hit, rounds)
            matched += rounds
            results[count] = (miss, match)
            print(
                f"  {kind} {'indexed' if expression == INDEXED else 'unindexed'} {count}: {miss:.3f} / {match:.3f} ms",
                file=sys.stderr,
            )
    return results


def table(title: str, rows: dict[str, dict[int, tuple[float, float]]], counts: Sequence[int]) -> None:
    print(f"\n### {title}\n")
    print("| expression | parked runs | non-matching send (ms) | ratio to 200 | matching send (ms) | ratio to 200 |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, results in rows.items():
        base = results.get(counts[0])
        for count in counts:
            if count not in results:
                continue
            miss, match = results[count]
            miss_ratio = f"{miss / base[0]:.2f}" if base else "-"
            match_ratio = f"{match / base[1]:.2f}" if base else "-"
            print(f"| `{label}` | {count:,} | {miss:.3f} | {miss_ratio} | {match:.3f} | {match_ratio} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="200,1000,4000,20000,100000")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--unindexed-max", type=int, default=4000)
    arguments = parser.parse_args()
    counts = [int(count) for count in arguments.counts.split(",")]
    print(f"python {platform.python_version()}, {platform.platform()}, {os.cpu_count()} cpus, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as directory:
        for kind, title in (
            ("wait", "wait_for_event: runs parked on `reply`"),
            ("cancel", "cancel: running runs `abort` cancels"),
        ):
            rows: dict[str, dict[int, tuple[float, float]]] = {}
            for expression in (INDEXED, UNINDEXED):
                wanted = counts if expression == INDEXED else [c for c in counts if c <= arguments.unindexed_max]
                rows[expression] = await measure(kind, expression, wanted, arguments.rounds, Path(directory))
            table(title, rows, counts)
    print(f"\nload at the end {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
