"""Cost of the checks an engine (and a reader) runs when it opens a database, by database size.

Run: ``.venv/bin/python benchmarks/bench_open.py [--runs 10000]`` (a plain script; prints a markdown table,
asserts nothing). It fills a database through ``Store`` with ``--runs`` finished runs, each with its event,
three completed steps of about 200 bytes of output and an attempt record per step, closes it, and times (median
of 5, file in the page cache) ``PRAGMA quick_check`` (what ``Store.open`` runs), ``PRAGMA integrity_check``
(which also compares every index with its table), and ``Store.open`` / ``Store.open_reader`` as a whole.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from steppe._core.outcomes import MemoJson
from steppe._engine.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fill(path: Path, runs: int) -> None:
    store = Store.open(path)
    try:
        with store.transaction():
            for index in range(runs):
                now = T0 + timedelta(seconds=index)
                run_id = f"run-{index:06d}"
                store.insert_event(f"event-{index:06d}", "order.placed", {"order": index, "items": [1, 2, 3]}, now)
                store.create_run(run_id, "fulfil", [f"event-{index:06d}"], now)
                for step in ("reserve", "charge", "ship"):
                    store.record_attempt_start(run_id, step, step, 0, now)
                    store.record_attempt_end(run_id, step, 0, now)
                    store.save_memo(run_id, step, step, MemoJson('"' + "x" * 200 + '"'), now, kind="run")
                store.finish_run(run_id, "completed", now, output={"shipped": True})
    finally:
        store.close()


def median_ms(action: Callable[[], object], repeat: int = 5) -> float:
    samples: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def pragma(path: Path, name: str) -> Callable[[], object]:
    def run() -> object:
        connection = sqlite3.connect(path)
        try:
            return connection.execute(f"PRAGMA {name}").fetchall()
        finally:
            connection.close()

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    arguments = parser.parse_args()
    print("| runs | file size | quick_check | integrity_check | Store.open | Store.open_reader |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for runs in arguments.runs:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "bench.db"
            fill(path, runs)
            size = path.stat().st_size / 1e6
            quick = median_ms(pragma(path, "quick_check"))
            full = median_ms(pragma(path, "integrity_check"))
            opened = median_ms(lambda: Store.open(path).close())
            reader = median_ms(lambda: Store.open_reader(path).close())
            print(f"| {runs} | {size:.1f} MB | {quick:.1f} ms | {full:.1f} ms | {opened:.1f} ms | {reader:.1f} ms |")


if __name__ == "__main__":
    main()
