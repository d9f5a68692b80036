"""Page times of the ``steppe dev`` UI on a database of many runs.

Run: ``.venv/bin/python benchmarks/bench_dev_ui.py [--runs 10000] [--repeats 30]`` (a plain script; prints a
markdown table, asserts nothing). It makes a database with the embedded engine: ``--runs`` runs of a function with
two parallel steps and a third after them (a tenth of them fail), then renders each page in-process through the
ASGI app (httpx's ASGI transport: no sockets, so the time is the handler's, the store's and the template's) and
prints the median and 90th percentile in ms per page over ``--repeats`` requests.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from pathlib import Path

import httpx

import steppe
from steppe._dev.app import create_app
from steppe._operate.runs import Runs

client = steppe.Client(app_id="bench")


@client.create_function(fn_id="order", trigger=steppe.TriggerEvent("bench/order"), retries=0)
async def order(ctx: steppe.Context, step: steppe.Step) -> dict[str, object]:
    number = int(ctx.event.data["n"])
    reserved, charged = await step.parallel(
        (lambda: step.run("reserve", lambda: {"items": [1, 2, 3]}), lambda: step.run("charge", lambda: number * 10))
    )
    if number % 10 == 0:
        await step.run("ship", _refuse)
    await step.run("ship", lambda: True)
    return {"reserved": reserved, "charged": charged}


def _refuse() -> None:
    raise steppe.NonRetriableError("the carrier refused the parcel")


async def fill(database: Path, runs: int) -> str:
    """Runs ``runs`` orders; returns the id of the last one."""
    last = ""
    async with steppe.Engine(client, database=str(database)) as engine:
        for start in range(0, runs, 500):
            events = [steppe.Event(name="bench/order", data={"n": n}) for n in range(start, min(start + 500, runs))]
            run_ids = await engine.send(events)
            for run_id in run_ids:
                await engine.wait(run_id, timeout=60)
            last = run_ids[-1]
    return last


async def measure(database: Path, run_id: str, repeats: int) -> list[tuple[str, list[float]]]:
    pages = {
        "/ (newest 50)": "/",
        "/?status=failed": "/?status=failed",
        "/ page 100 (before= cursor)": None,
        "/runs/<id>": f"/runs/{run_id}",
        "/api/runs (the poll)": "/api/runs",
    }
    results: list[tuple[str, list[float]]] = []
    with Runs(database, app=client) as runs:
        app = create_app(runs, client, database=str(database))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            # The cursor of the 100th page: the run id 99 pages of 50 down.
            deep = runs.list(limit=99 * 50)[-1].run_id
            pages["/ page 100 (before= cursor)"] = f"/?before={deep}"
            for label, path in pages.items():
                assert path is not None
                (await http.get(path)).raise_for_status()  # warm: templates compiled, pages cached
                times: list[float] = []
                for _ in range(repeats):
                    began = time.perf_counter()
                    response = await http.get(path)
                    times.append((time.perf_counter() - began) * 1000)
                    response.raise_for_status()
                results.append((label, times))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="Page times of the steppe dev UI on a database of many runs.")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        database = Path(scratch) / "dev.db"
        began = time.perf_counter()
        last = asyncio.run(fill(database, args.runs))
        filled = time.perf_counter() - began
        results = asyncio.run(measure(database, last, args.repeats))
        size = database.stat().st_size
    print(f"Python {platform.python_version()} on {platform.machine()}; {args.runs} runs made in {filled:.1f} s, ")
    print(f"database {size / 1e6:.1f} MB; {args.repeats} requests per page\n")
    print("| page | median ms | p90 ms |")
    print("|---|---|---|")
    for label, times in results:
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"| `{label}` | {statistics.median(times):.1f} | {p90:.1f} |")


if __name__ == "__main__":
    main()
