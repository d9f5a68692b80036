"""The embedded engine against DBOS Transact on SQLite, the closest embedded peer, at both durability levels.

Run: ``.venv/bin/python benchmarks/bench_dbos.py [--rounds R] [--quick] [--levels normal,full] [--dir DIR]
[--dbos-journal default|wal]`` after ``pip install -e '.[bench]'`` (DBOS is the ``bench`` extra). A plain script:
it prints markdown tables and asserts nothing. Both engines keep their state in an SQLite file in a temporary
directory under ``--dir`` (default: the system's); it must be on a real disk, or syncing costs nothing.

The same workloads on both, with handlers that only add one, so the numbers are each engine's own cost:

* n sequential steps, n = 10, 100, 1000 (µs per step);
* a fan-out of k = 2, 10, 100 steps at once (``step.parallel`` / ``asyncio.gather`` of DBOS steps);
* throughput: 200 runs of 3 steps, all started one by one, then awaited together;
* a crash: a child process runs 1000 steps and SIGKILLs itself from inside step 500 (after noting that step in
  a log); a new process then recovers the run to the end. Every step appends its number to the log, so the
  steps that ran twice, or never, are counted exactly; the recovery time is from before the engine opens (or
  DBOS launches), with the modules already imported, to the run's result;
* peak memory of a child process that runs 1000 steps: its peak RSS (VmHWM, imports included), and the peak
  of Python allocations during one more 1000-step run (tracemalloc).

Durability is made equal by SQLite's ``synchronous`` setting, the one that decides what a commit survives:
``normal`` (steppe's default: survives a process crash; ``synchronous=NORMAL``) and ``full`` (also survives power
loss; ``synchronous=FULL``, DBOS's default). steppe sets it with ``Engine(durability=...)`` on its WAL-mode file;
for DBOS it is set on every connection of its system database, whose journal stays as DBOS leaves it (SQLite's
rollback journal) unless ``--dbos-journal wal`` switches it to WAL too. Within each level the rounds alternate
steppe and DBOS (who goes first alternates too), and each cell is the median over the rounds of the time per run;
a round's sample of a short workload runs it several times in a row (the "runs per sample" column), so that
every sample holds at least 100 steps and a few milliseconds of scheduler noise do not decide it. The ratio column
is steppe's time over DBOS's (below 1: steppe is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

Level = Literal["normal", "full"]
EngineName = Literal["steppe", "dbos"]
LEVELS: tuple[Level, ...] = ("normal", "full")
ENGINES: tuple[EngineName, ...] = ("steppe", "dbos")

SEQUENTIAL = (10, 100, 1000)
FAN_OUT = (2, 10, 100)
THROUGHPUT_RUNS, THROUGHPUT_STEPS = 200, 3
CRASH_STEPS, CRASH_AT = 1000, 500
MEMORY_STEPS = 1000

# The crash workload's step log (one step number per line, appended unbuffered so a SIGKILL loses nothing
# written) and the marker that step CRASH_AT leaves before killing its process; set in the child processes.
LOG_ENV = "BENCH_DBOS_LOG"


def note_step(number: int) -> None:
    """Append ``number`` to the step log; in step CRASH_AT of the first process, leave the marker and die."""
    log = os.environ[LOG_ENV]
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, f"{number}\n".encode())
    finally:
        os.close(descriptor)
    marker = Path(log + ".killed")
    if number == CRASH_AT and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)


# -- the two engines behind one interface ----------------------------------------------------------


class Runner(Protocol):
    """One engine, open on its database: each method runs one workload to its end and returns its result."""

    async def sequential(self, n: int) -> int: ...
    async def fan_out(self, k: int) -> int: ...
    async def many(self, runs: int, steps: int) -> list[int]: ...
    async def crash_start(self, steps: int) -> str: ...
    async def crash_finish(self, run_id: str) -> int: ...


async def add_one(x: int) -> int:
    return x + 1


def steppe_runner(database: Path, level: Level) -> contextlib.AbstractAsyncContextManager[Runner]:
    """steppe's engine on ``database`` at ``level``; imported here, so a DBOS child never loads it."""
    import pydantic

    import steppe

    class Work(pydantic.BaseModel):
        steps: int

    engine_type = steppe.Engine  # loads the engine's modules now: a recovery times opening, not importing
    client = steppe.Client("bench-dbos")
    seq_event = steppe.EventType("bench/sequential", Work)
    fan_event = steppe.EventType("bench/fan-out", Work)
    crash_event = steppe.EventType("bench/crash", Work)

    @client.create_function(fn_id="sequential", trigger=seq_event, retries=0)
    async def sequential(ctx: steppe.Context[Work], step: steppe.Step) -> int:
        x = 0
        for i in range(ctx.event.data.steps):
            x = await step.run(f"s{i}", add_one, x)
        return x

    @client.create_function(fn_id="fan-out", trigger=fan_event, retries=0)
    async def fan_out(ctx: steppe.Context[Work], step: steppe.Step) -> int:
        group: tuple[Callable[[], steppe.StepCall[int]], ...] = tuple(
            step.defer(f"f{i}", add_one, i) for i in range(ctx.event.data.steps)
        )
        return sum(await step.parallel(group))

    async def crash_step(number: int) -> int:
        note_step(number)
        return number

    @client.create_function(fn_id="crash", trigger=crash_event, retries=0)
    async def crash(ctx: steppe.Context[Work], step: steppe.Step) -> int:
        total = 0
        for number in range(1, ctx.event.data.steps + 1):
            total += await step.run(f"s{number}", crash_step, number)
        return total

    class SteppeRunner:
        def __init__(self, engine: steppe.Engine) -> None:
            self.engine = engine

        async def _run(self, event: steppe.Event[Work]) -> int:
            [run_id] = await self.engine.send(event)
            return await self._result(run_id)

        async def _result(self, run_id: str) -> int:
            result = await self.engine.wait(run_id, timeout=3600)
            if result.status != "completed" or not isinstance(result.output, int):
                raise SystemExit(f"bench_dbos: steppe run {run_id} ended {result.status}: {result.error}")
            return result.output

        async def sequential(self, n: int) -> int:
            return await self._run(seq_event.create(Work(steps=n)))

        async def fan_out(self, k: int) -> int:
            return await self._run(fan_event.create(Work(steps=k)))

        async def many(self, runs: int, steps: int) -> list[int]:
            run_ids = [(await self.engine.send(seq_event.create(Work(steps=steps))))[0] for _ in range(runs)]
            return list(await asyncio.gather(*(self._result(run_id) for run_id in run_ids)))

        async def crash_start(self, steps: int) -> str:
            [run_id] = await self.engine.send(crash_event.create(Work(steps=steps)))
            return run_id

        async def crash_finish(self, run_id: str) -> int:
            return await self._result(run_id)

    @contextlib.asynccontextmanager
    async def opened() -> AsyncGenerator[Runner]:
        async with engine_type(client, database=database, durability=level) as engine:
            yield SteppeRunner(engine)

    return opened()


# SQLite's synchronous setting and journal mode for DBOS's connections, read by the connect hook below.
_DBOS_PRAGMAS: dict[str, str] = {}


def _dbos_connect(connection: sqlite3.Connection, _record: object) -> None:
    if _DBOS_PRAGMAS.get("journal") == "wal":
        connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {_DBOS_PRAGMAS['synchronous']}")


_DBOS_LOADED: dict[str, Any] = {}


def _dbos_workflows() -> dict[str, Any]:
    """DBOS's workflows and steps, registered once per process (DBOS keeps one global registry)."""
    if _DBOS_LOADED:
        return _DBOS_LOADED
    from dbos import DBOS
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    event.listen(Pool, "connect", _dbos_connect)  # every pool: DBOS's system database is the only one here

    @DBOS.step(name="add_one")
    async def dbos_add_one(x: int) -> int:
        return x + 1

    @DBOS.workflow(name="sequential")
    async def sequential(n: int) -> int:
        x = 0
        for _ in range(n):
            x = await dbos_add_one(x)
        return x

    @DBOS.workflow(name="fan_out")
    async def fan_out(k: int) -> int:
        return sum(await asyncio.gather(*(dbos_add_one(i) for i in range(k))))

    @DBOS.step(name="crash_step")
    async def crash_step(number: int) -> int:
        note_step(number)
        return number

    @DBOS.workflow(name="crash")
    async def crash(steps: int) -> int:
        total = 0
        for number in range(1, steps + 1):
            total += await crash_step(number)
        return total

    _DBOS_LOADED.update(DBOS=DBOS, sequential=sequential, fan_out=fan_out, crash=crash)
    return _DBOS_LOADED


def dbos_runner(database: Path, level: Level, journal: str) -> contextlib.AbstractAsyncContextManager[Runner]:
    """DBOS launched on an SQLite system database at ``database``, its connections at ``level``."""
    workflows = _dbos_workflows()
    dbos = workflows["DBOS"]
    _DBOS_PRAGMAS.update(synchronous=level.upper(), journal=journal)

    class DbosRunner:
        async def _result(self, handle: Any) -> int:
            output = await handle.get_result(polling_interval_sec=0.005)
            if not isinstance(output, int):
                raise SystemExit(f"bench_dbos: DBOS workflow {handle.workflow_id} returned {output!r}")
            return output

        async def sequential(self, n: int) -> int:
            return await self._result(await dbos.start_workflow_async(workflows["sequential"], n))

        async def fan_out(self, k: int) -> int:
            return await self._result(await dbos.start_workflow_async(workflows["fan_out"], k))

        async def many(self, runs: int, steps: int) -> list[int]:
            handles = [await dbos.start_workflow_async(workflows["sequential"], steps) for _ in range(runs)]
            return list(await asyncio.gather(*(self._result(handle) for handle in handles)))

        async def crash_start(self, steps: int) -> str:
            handle = await dbos.start_workflow_async(workflows["crash"], steps)
            return str(handle.workflow_id)

        async def crash_finish(self, run_id: str) -> int:
            return await self._result(await dbos.retrieve_workflow_async(run_id))

    @contextlib.asynccontextmanager
    async def opened() -> AsyncGenerator[Runner]:
        config = {"name": "bench-dbos", "system_database_url": f"sqlite:///{database}", "log_level": "WARNING"}
        dbos(config=config)
        dbos.launch()  # recovers the pending workflows of this executor, as a restarted DBOS app does
        try:
            yield DbosRunner()
        finally:
            dbos.destroy()

    return opened()


def open_runner(
    name: EngineName, database: Path, level: Level, journal: str
) -> contextlib.AbstractAsyncContextManager[Runner]:
    return steppe_runner(database, level) if name == "steppe" else dbos_runner(database, level, journal)


# -- child processes: the crash and the memory workloads ------------------------------------------


async def child(args: argparse.Namespace) -> None:
    """One engine in a fresh process; prints one JSON line for the parent (a killed child prints nothing)."""
    name: EngineName = args.engine
    database = Path(args.database)
    if args.child == "crash":
        async with open_runner(name, database, args.level, args.dbos_journal) as runner:
            Path(args.run_file).write_text(await runner.crash_start(CRASH_STEPS))
            await asyncio.sleep(3600)  # step CRASH_AT kills this process long before
        raise SystemExit("bench_dbos: the crash child was not killed")
    if args.child == "recover":
        run_id = Path(args.run_file).read_text()
        opening = open_runner(name, database, args.level, args.dbos_journal)  # imports and definitions, untimed
        started = time.perf_counter()
        async with opening as runner:
            total = await runner.crash_finish(run_id)
            seconds = time.perf_counter() - started
        print(json.dumps({"seconds": seconds, "total": total}))
        return
    async with open_runner(name, database, args.level, args.dbos_journal) as runner:  # memory
        await runner.sequential(10)
        await runner.sequential(MEMORY_STEPS)
        rss_kib = peak_rss_kib()
        tracemalloc.start()
        await runner.sequential(MEMORY_STEPS)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(json.dumps({"rss_kib": rss_kib, "traced_peak": peak}))


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB: VmHWM, which (unlike ru_maxrss, kept across exec) starts
    anew with the program; ru_maxrss where /proc is missing."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(kind: str, name: EngineName, level: Level, work: Path, journal: str, **extra: str) -> Any:
    command = [sys.executable, __file__, "--child", kind, "--engine", name, "--level", level]
    command += ["--database", str(work / f"{name}.sqlite"), "--dbos-journal", journal]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", value]
    environment = {**os.environ, LOG_ENV: str(work / "steps.log")}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=3600, check=False)
    if kind == "crash":
        if done.returncode != -signal.SIGKILL:
            raise SystemExit(f"bench_dbos: the {name} crash child ended {done.returncode}: {done.stderr[-2000:]}")
        return None
    if done.returncode != 0:
        raise SystemExit(f"bench_dbos: the {name} {kind} child ended {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class CrashResult:
    seconds: float
    repeated: int  # step executions beyond the first, over all steps
    missing: int  # steps never executed
    correct: bool  # the run's output is the sum of every step's number


def crash_round(name: EngineName, level: Level, base: Path, journal: str) -> CrashResult:
    work = Path(tempfile.mkdtemp(prefix=f"crash-{name}-", dir=base))
    run_file = str(work / "run-id")
    run_child("crash", name, level, work, journal, run_file=run_file)
    outcome = run_child("recover", name, level, work, journal, run_file=run_file)
    counts: dict[int, int] = {}
    for line in (work / "steps.log").read_text().split():
        counts[int(line)] = counts.get(int(line), 0) + 1
    expected = range(1, CRASH_STEPS + 1)
    return CrashResult(
        seconds=outcome["seconds"],
        repeated=sum(count - 1 for count in counts.values()),
        missing=sum(1 for number in expected if number not in counts),
        correct=outcome["total"] == sum(expected),
    )


# -- measuring in this process ---------------------------------------------------------------------


Measure = Callable[[Runner], Awaitable[object]]

# A timed sample holds at least this many steps: a run of 10 steps or a fan-out of 2 takes a few milliseconds on
# steppe, where one sample is mostly the scheduler's noise, so short workloads are run several times per sample.
STEPS_PER_SAMPLE = 100


@dataclass(frozen=True)
class Workload:
    section: str
    label: str
    measure: Measure
    steps: int  # steps of one run of the workload (all of them, for throughput)

    @property
    def repeats(self) -> int:
        """Runs of the workload in one timed sample."""
        return max(1, STEPS_PER_SAMPLE // self.steps)


def workloads(quick: bool) -> list[Workload]:
    """The workloads, in the order they are timed."""

    def sequential(n: int) -> Measure:
        return lambda runner: runner.sequential(n)

    def fan_out(k: int) -> Measure:
        return lambda runner: runner.fan_out(k)

    sizes = SEQUENTIAL[:2] if quick else SEQUENTIAL
    found = [Workload("sequential", f"n = {n}", sequential(n), n) for n in sizes]
    found += [Workload("fan-out", f"k = {k}", fan_out(k), k) for k in FAN_OUT]

    def throughput(runner: Runner) -> Awaitable[object]:
        return runner.many(THROUGHPUT_RUNS, THROUGHPUT_STEPS)

    label = f"{THROUGHPUT_RUNS} runs of {THROUGHPUT_STEPS} steps"
    found.append(Workload("throughput", label, throughput, THROUGHPUT_RUNS * THROUGHPUT_STEPS))
    return found


async def timed(workload: Workload, runner: Runner) -> float:
    """Seconds per run of the workload, over one sample of ``workload.repeats`` runs."""
    started = time.perf_counter()
    for _ in range(workload.repeats):
        await workload.measure(runner)
    return (time.perf_counter() - started) / workload.repeats


async def in_process(
    level: Level, rounds: int, quick: bool, base: Path, journal: str
) -> dict[Workload, dict[EngineName, list[float]]]:
    """Each workload timed ``rounds`` times on each engine, alternating, both engines open throughout."""
    times: dict[Workload, dict[EngineName, list[float]]] = {}
    work = Path(tempfile.mkdtemp(prefix=f"{level}-", dir=base))
    async with contextlib.AsyncExitStack() as stack:
        runners: dict[EngineName, Runner] = {}
        for name in ENGINES:
            runners[name] = await stack.enter_async_context(open_runner(name, work / f"{name}.sqlite", level, journal))
            await runners[name].sequential(10)  # warm: statements prepared, code paths loaded
            await runners[name].fan_out(2)
        timed_workloads = workloads(quick)
        for turn in range(rounds):
            order = ENGINES if turn % 2 == 0 else ENGINES[::-1]
            for workload in timed_workloads:
                cell = times.setdefault(workload, {"steppe": [], "dbos": []})
                for name in order:
                    cell[name].append(await timed(workload, runners[name]))
    return times


# -- reporting ---------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(steppe_value: float, dbos_value: float) -> str:
    return f"{steppe_value / dbos_value:.3f}×" if dbos_value > 0 else "n/a"


def per_unit(workload: Workload) -> tuple[int, str]:
    """How many steps (or runs) one run of the workload holds, and the unit of the per-item column."""
    if workload.section == "throughput":
        return THROUGHPUT_RUNS, "µs/run"
    return workload.steps, "µs/step"


def report_level(
    level: Level,
    times: dict[Workload, dict[EngineName, list[float]]],
    crashes: dict[EngineName, list[CrashResult]],
    memory: dict[EngineName, dict[str, int]],
) -> str:
    rows: list[list[object]] = []
    for workload, cell in times.items():
        steppe_s, dbos_s = statistics.median(cell["steppe"]), statistics.median(cell["dbos"])
        count, unit = per_unit(workload)
        rows.append(
            [
                workload.section,
                workload.label,
                workload.repeats,
                f"{steppe_s * 1e3:,.2f}",
                f"{dbos_s * 1e3:,.2f}",
                f"{steppe_s / count * 1e6:,.1f} / {dbos_s / count * 1e6:,.1f} {unit}",
                ratio(steppe_s, dbos_s),
            ]
        )
    for name in ENGINES:
        results = crashes[name]
        if any(not result.correct for result in results):
            raise SystemExit(f"bench_dbos: a recovered {name} run returned a wrong total")
    if crashes["steppe"]:
        steppe_s = statistics.median(result.seconds for result in crashes["steppe"])
        dbos_s = statistics.median(result.seconds for result in crashes["dbos"])
        rows.append(
            [
                "crash recovery",
                f"SIGKILL at step {CRASH_AT} of {CRASH_STEPS}, then a new process finishes the run",
                1,
                f"{steppe_s * 1e3:,.2f}",
                f"{dbos_s * 1e3:,.2f}",
                "",
                ratio(steppe_s, dbos_s),
            ]
        )
    header = ["workload", "size", "runs per sample", "steppe ms", "DBOS ms", "steppe / DBOS per item", "steppe ÷ DBOS"]
    parts = [f"### Durability {level!r}", "", table(header, rows), ""]
    if crashes["steppe"]:
        crash_rows = [
            [
                name,
                ", ".join(str(result.repeated) for result in crashes[name]),
                ", ".join(str(result.missing) for result in crashes[name]),
            ]
            for name in ENGINES
        ]
        parts += [table(["engine", "steps run twice, per round", "steps never run, per round"], crash_rows), ""]
    if memory:
        memory_rows = [
            [name, f"{memory[name]['rss_kib'] / 1024:,.1f}", f"{memory[name]['traced_peak'] / 1024:,.1f}"]
            for name in ENGINES
        ]
        memory_rows.append(
            [
                "steppe ÷ DBOS",
                ratio(memory["steppe"]["rss_kib"], memory["dbos"]["rss_kib"]),
                ratio(memory["steppe"]["traced_peak"], memory["dbos"]["traced_peak"]),
            ]
        )
        parts += [
            table(
                ["engine", f"peak RSS MiB (child process, {MEMORY_STEPS} steps)", "peak traced KiB during a run"],
                memory_rows,
            ),
            "",
        ]
    return "\n".join(parts)


def filesystem(path: Path) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), or "unknown"."""
    best, kind = "", "unknown"
    with contextlib.suppress(OSError):
        resolved = str(path.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and (resolved == fields[1] or resolved.startswith(fields[1].rstrip("/") + "/")):
                if len(fields[1]) > len(best):
                    best, kind = fields[1], fields[2]
    return kind


@contextlib.contextmanager
def base_directory(parent: str | None) -> Generator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-dbos-", dir=parent) as name:
        yield Path(name)


def versions() -> str:
    found = [f"python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}"]
    for package in ("steppe", "dbos", "sqlalchemy"):
        found.append(f"{package} {importlib.metadata.version(package)}")
    return ", ".join(found)


async def main(args: argparse.Namespace) -> None:
    levels: list[Level] = [level for level in LEVELS if level in args.levels.split(",")]
    if not levels:
        raise SystemExit(f"bench_dbos: --levels must name normal and/or full, got {args.levels!r}")
    with base_directory(args.dir) as base:
        kind = filesystem(base)
        print(
            f"{versions()}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
            f"files in {base.parent} ({kind}); {args.rounds} rounds; DBOS journal: {args.dbos_journal}"
        )
        if kind in ("tmpfs", "ramfs"):
            print(f"warning: {base.parent} is in memory ({kind}): syncing costs nothing there; pass --dir on a disk")
        print()
        for level in levels:
            times = await in_process(level, args.rounds, args.quick, base, args.dbos_journal)
            crashes: dict[EngineName, list[CrashResult]] = {"steppe": [], "dbos": []}
            memory: dict[EngineName, dict[str, int]] = {}
            if not args.quick:
                for turn in range(args.rounds):
                    for name in ENGINES if turn % 2 == 0 else ENGINES[::-1]:
                        crashes[name].append(crash_round(name, level, base, args.dbos_journal))
                for name in ENGINES:
                    work = Path(tempfile.mkdtemp(prefix=f"memory-{name}-", dir=base))
                    memory[name] = run_child("memory", name, level, work, args.dbos_journal)
            print(report_level(level, times, crashes, memory))
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="steppe's embedded engine against DBOS on SQLite.")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per workload and engine (median)")
    parser.add_argument("--quick", action="store_true", help="n up to 100, no crash or memory children")
    parser.add_argument("--levels", default="normal,full", help="durability levels to run: normal,full")
    parser.add_argument("--dir", default=None, help="where the databases go (a disk, not tmpfs)")
    parser.add_argument(
        "--dbos-journal",
        choices=("default", "wal"),
        default="default",
        help="DBOS's SQLite journal: as DBOS leaves it (rollback journal), or WAL like steppe's",
    )
    # Internal: the child processes of the crash and memory workloads.
    parser.add_argument("--child", choices=("crash", "recover", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--level", choices=LEVELS, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--run-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


if __name__ == "__main__":
    arguments = parse()
    asyncio.run(child(arguments) if arguments.child else main(arguments))
