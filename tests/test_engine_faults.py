"""Faults of the engine itself: a run is never stranded, and an engine fault is never the user's error.

Each fault is injected for real where it can be (a small filesystem that fills up, when running as root) and
simulated otherwise (a store method that raises what SQLite raises on a full disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
import subprocess
from collections.abc import Callable, Generator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import steppe
from steppe._engine.faults import INTERNAL_FAULT_ATTEMPTS
from steppe._engine.store import Store
from steppe.options import BatchEvents

DISK_FULL = "database or disk is full"


def _failing(
    monkeypatch: pytest.MonkeyPatch, method: str, error: Callable[[], Exception], times: int | None
) -> list[int]:
    """Make ``Store.<method>`` raise ``error()`` on its first ``times`` calls (every call for None); returns a
    one-element list counting the calls."""
    original = getattr(Store, method)
    calls = [0]

    def failing(self: Store, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if times is None or calls[0] <= times:
            raise error()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Store, method, failing)
    return calls


def _guarded_client(seen: list[BaseException], runs: list[int]) -> steppe.Client:
    """A function that catches every Exception around its step: an engine fault must not reach it."""
    client = steppe.Client("faults")

    def charge() -> str:
        runs.append(1)
        return "charged"

    @client.create_function(fn_id="pay", trigger=steppe.TriggerEvent(event="pay"))
    async def pay(ctx: steppe.Context, step: steppe.Step) -> str:
        try:
            return await step.run("charge", charge)
        except Exception as error:  # noqa: BLE001 - what a careless user writes: it must not see the engine's faults
            seen.append(error)
            return "swallowed"

    return client


# -- 1. every run reaches a truthful, visible state --------------------------------------------------------------


async def test_an_internal_error_once_is_retried_and_the_run_completes(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[BaseException] = []
    runs: list[int] = []
    engine = await make_engine(_guarded_client(seen, runs))
    calls = _failing(monkeypatch, "finish_run", lambda: RuntimeError("injected bug"), times=1)
    [run_id] = await engine.send(steppe.Event(name="pay"))
    result = await engine.wait(run_id, timeout=10)
    assert (result.status, result.output) == ("completed", "charged")
    assert calls[0] == 2 and seen == [] and runs == [1]  # the step's stored result was reused


async def test_an_internal_error_that_persists_fails_the_run_as_the_engines(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[BaseException] = []
    runs: list[int] = []
    engine = await make_engine(_guarded_client(seen, runs))
    calls = _failing(monkeypatch, "load_steps", lambda: RuntimeError("injected bug"), times=None)
    [run_id] = await engine.send(steppe.Event(name="pay"))
    with caplog.at_level(logging.WARNING, logger="steppe.engine"):
        result = await engine.wait(run_id, timeout=10)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.name == "EngineError"
    assert result.error.message == "steppe engine fault, not your function's error: RuntimeError: injected bug"
    assert calls[0] == INTERNAL_FAULT_ATTEMPTS
    assert seen == [] and runs == []
    assert any(run_id in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


async def test_a_failure_that_cannot_be_stored_at_first_is_stored_later(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await make_engine(_guarded_client([], []))
    _failing(monkeypatch, "load_steps", lambda: RuntimeError("injected bug"), times=None)
    _failing(monkeypatch, "finish_run", lambda: RuntimeError("also broken"), times=2)
    [run_id] = await engine.send(steppe.Event(name="pay"))
    result = await engine.wait(run_id, timeout=10)
    assert result.status == "failed" and result.error is not None and result.error.name == "EngineError"


# -- 2. engine faults are not user errors ------------------------------------------------------------------------


@pytest.mark.parametrize("durability", ["normal", "full"])  # "full": the change fails inside a group commit
@pytest.mark.parametrize("method", ["save_memo", "load_steps", "finish_run"])
async def test_a_full_disk_pauses_the_run_and_it_resumes_when_storage_works(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, method: str, durability: str
) -> None:
    seen: list[BaseException] = []
    runs: list[int] = []
    engine = await make_engine(_guarded_client(seen, runs), durability=durability)
    calls = _failing(monkeypatch, method, lambda: sqlite3.OperationalError(DISK_FULL), times=3)
    with caplog.at_level(logging.WARNING, logger="steppe.engine"):
        [run_id] = await engine.send(steppe.Event(name="pay"))
        result = await engine.wait(run_id, timeout=10)
    assert (result.status, result.output) == ("completed", "charged")
    assert seen == []  # the user's `except Exception:` never saw the fault
    assert calls[0] == 4
    paused = [r.getMessage() for r in caplog.records if r.name == "steppe.engine" and "paused" in r.getMessage()]
    assert paused == [
        f"steppe: run {run_id} paused: the engine's storage failed (OperationalError: {DISK_FULL}); retrying in "
        + paused[0].rsplit("retrying in ", 1)[1]
    ]


async def test_a_full_disk_in_a_sync_function_does_not_reach_its_code(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = steppe.Client("faults-sync")
    seen: list[BaseException] = []

    @client.create_function(fn_id="pay", trigger=steppe.TriggerEvent(event="pay"))
    def pay(ctx: steppe.Context, step: steppe.StepSync) -> str:
        try:
            return step.run("charge", lambda: "charged")
        except Exception as error:  # noqa: BLE001 - a careless user's catch-all: it must not see the engine's faults
            seen.append(error)
            return "swallowed"

    engine = await make_engine(client)
    _failing(monkeypatch, "save_memo", lambda: sqlite3.OperationalError(DISK_FULL), times=2)
    [run_id] = await engine.send(steppe.Event(name="pay"))
    result = await engine.wait(run_id, timeout=10)
    assert (result.status, result.output, seen) == ("completed", "charged", [])


@pytest.mark.parametrize("method", ["record_attempt_start", "save_memo"])
async def test_a_full_disk_under_a_sync_functions_step_does_not_reach_its_code(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, method: str
) -> None:
    # Noting the attempt's start fails on the loop while the body's thread already runs the handler, or storing its result
    # fails: either way the body never sees the fault, and the step is stored once the disk works again.
    client = steppe.Client("faults-sync-steps")
    seen: list[BaseException] = []

    @client.create_function(fn_id="pay", trigger=steppe.TriggerEvent(event="pay"))
    def pay(ctx: steppe.Context, step: steppe.StepSync) -> list[str]:
        try:
            return [step.run("charge", lambda: "charged"), step.run("mail", lambda: "mailed")]
        except Exception as error:  # noqa: BLE001 - a careless user's catch-all: it must not see the engine's faults
            seen.append(error)
            return []

    engine = await make_engine(client)
    calls = _failing(monkeypatch, method, lambda: sqlite3.OperationalError(DISK_FULL), times=2)
    [run_id] = await engine.send(steppe.Event(name="pay"))
    result = await engine.wait(run_id, timeout=10)
    assert (result.status, result.output, seen) == ("completed", ["charged", "mailed"], [])
    assert calls[0] == 4  # twice refused, then once for each step
    assert [step.status for step in steppe.Runs(tmp_path / "steppe.db").get(run_id).steps] == ["completed"] * 2


@pytest.mark.parametrize("durability", ["normal", "full"])  # "full": the branches' results share one commit
async def test_a_full_disk_under_a_parallel_group_does_not_reach_its_code(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch, durability: str
) -> None:
    client = steppe.Client("faults-parallel")
    seen: list[BaseException] = []

    @client.create_function(fn_id="pay", trigger=steppe.TriggerEvent(event="pay"))
    async def pay(ctx: steppe.Context, step: steppe.Step) -> list[int]:
        try:
            pair = await step.parallel((step.defer("a", lambda: 1), step.defer("b", lambda: 2)))
        except Exception as error:  # noqa: BLE001 - a careless user's catch-all: it must not see the engine's faults
            seen.append(error)
            return []
        return list(pair)

    engine = await make_engine(client, durability=durability)
    _failing(monkeypatch, "save_memo", lambda: sqlite3.OperationalError(DISK_FULL), times=3)
    [run_id] = await engine.send(steppe.Event(name="pay"))
    result = await engine.wait(run_id, timeout=10)
    assert (result.status, result.output, seen) == ("completed", [1, 2], [])


async def test_public_calls_raise_a_steppe_error_naming_the_storage_fault(
    make_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = await make_engine(_guarded_client([], []))
    _failing(monkeypatch, "insert_event", lambda: sqlite3.OperationalError(DISK_FULL), times=None)
    with pytest.raises(steppe.SteppeError, match=rf"Engine\.send \(nothing was sent\).*{DISK_FULL}"):
        await engine.send(steppe.Event(name="pay"))
    _failing(monkeypatch, "load_run", lambda: sqlite3.OperationalError(DISK_FULL), times=None)
    with pytest.raises(steppe.SteppeError, match=rf"Engine\.wait.*{DISK_FULL}"):
        await engine.wait("some-run", timeout=1)
    with pytest.raises(steppe.SteppeError, match=rf"Engine\.result.*{DISK_FULL}"):
        engine.result("some-run")


# -- the same with a real disk that fills up ---------------------------------------------------------------------


@contextlib.contextmanager
def _small_filesystem(directory: Path, size: str) -> Generator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file into ``directory`` until its filesystem has no space left."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:  # unbuffered: nothing is left to flush into a full disk
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_a_really_full_disk_pauses_the_run_and_it_completes_once_space_is_freed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, durability: steppe.Durability
) -> None:
    with _small_filesystem(tmp_path / "small", "2m") as small:
        client = steppe.Client("faults-disk")
        seen: list[BaseException] = []
        handler_runs: list[int] = []
        filled: list[Path] = []

        def make_report() -> str:
            handler_runs.append(1)
            if not filled:  # another process fills the disk while the step runs
                filled.append(_fill(small))
            return "x" * 200_000

        @client.create_function(fn_id="report", trigger=steppe.TriggerEvent(event="report"))
        async def report(ctx: steppe.Context, step: steppe.Step) -> int:
            try:
                text = await step.run("make-report", make_report)
            except Exception as error:  # noqa: BLE001 - a careless user's catch-all: it must not see the engine's faults
                seen.append(error)
                return -1
            return len(text)

        with caplog.at_level(logging.WARNING, logger="steppe.engine"):
            async with steppe.Engine(client, database=small / "steppe.db", durability=durability) as engine:
                [run_id] = await engine.send(steppe.Event(name="report"))
                with pytest.raises(TimeoutError):
                    await engine.wait(run_id, timeout=1)  # paused, not failed
                assert engine.result(run_id).status == "running"
                assert filled and seen == []
                filled[0].unlink()  # space is freed: the run goes on by itself
                result = await engine.wait(run_id, timeout=30)
        assert (result.status, result.output, seen) == ("completed", 200_000, [])
        assert len(handler_runs) >= 2  # its result could not be stored the first time
        assert any(
            run_id in r.getMessage() and DISK_FULL in r.getMessage() and r.levelno == logging.WARNING
            for r in caplog.records
        )


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_a_really_full_disk_makes_send_raise_a_steppe_error(
    tmp_path: Path, durability: steppe.Durability
) -> None:
    with _small_filesystem(tmp_path / "small", "1m") as small:
        client = _guarded_client([], [])
        async with steppe.Engine(client, database=small / "steppe.db", durability=durability) as engine:
            filler = _fill(small)
            with pytest.raises(steppe.SteppeError, match=DISK_FULL):
                await engine.send([steppe.Event(name="pay", data={"blob": "y" * 100_000}) for _ in range(5)])
            filler.unlink()
            [run_id] = await engine.send(steppe.Event(name="pay"))
            assert (await engine.wait(run_id, timeout=10)).output == "charged"


async def test_held_starts_are_released_once_storage_works_again(
    make_engine: Any, clock: steppe.ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = steppe.Client("faults-held")
    batches: list[list[str]] = []

    @client.create_function(
        fn_id="collect",
        trigger=steppe.TriggerEvent(event="item"),
        batch_events=BatchEvents(max_size=10, timeout=timedelta(seconds=5)),
    )
    async def collect(ctx: steppe.Context, step: steppe.Step) -> None:
        batches.append([event.data["sku"] for event in ctx.events])

    engine = await make_engine(client, clock=clock)
    calls = _failing(monkeypatch, "pending_due", lambda: sqlite3.OperationalError(DISK_FULL), times=2)
    assert await engine.send(steppe.Event(name="item", data={"sku": "A-1"})) == []  # held for its batch
    for _ in range(300):
        if batches:
            break
        await asyncio.sleep(0.01)
    assert batches == [["A-1"]] and calls[0] >= 3
