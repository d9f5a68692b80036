"""A function run in a subprocess that the crash-recovery test kills with SIGKILL.

Each step appends its name to a side-effect log. Step "three" blocks (until a release file exists), which
is where the process gets killed. Arguments: the work directory, the engine's durability.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import steppe
from steppe._engine.database import check_durability


def make_app(workdir: Path) -> steppe.Client:
    """A client with the five-step function, logging to ``workdir`` (a new one each call)."""
    client = steppe.Client("crash")
    log = workdir / "side-effects.log"

    def effect(name: str, value: int) -> int:
        with log.open("a") as handle:
            handle.write(f"{name}\n")
        if name == "three":
            while not (workdir / "release").exists():
                time.sleep(0.01)
        return value

    @client.create_function(fn_id="five-steps", trigger=steppe.TriggerEvent(event="go"))
    async def five_steps(ctx: steppe.Context, step: steppe.Step) -> list[int]:
        results: list[int] = []
        for index, name in enumerate(["one", "two", "three", "four", "five"]):
            results.append(await step.run(name, effect, name, index))
        return results

    return client


async def start_and_hang(workdir: Path, durability: steppe.Durability) -> None:
    client = make_app(workdir)
    async with steppe.Engine(client, database=workdir / "crash.db", durability=durability) as engine:
        [run_id] = await engine.send(steppe.Event(name="go"))
        (workdir / "run-id").write_text(run_id)
        await asyncio.sleep(3600)  # killed long before this


if __name__ == "__main__":
    asyncio.run(start_and_hang(Path(sys.argv[1]), check_durability(sys.argv[2], owner="crash_worker")))
