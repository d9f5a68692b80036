"""Run history at the Store level (schema version 2): step attempts, step kinds and start times, listings,
one run in detail; and SQLite faults at run time surfacing as StorageError naming file and cause."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from steppe._core.outcomes import ErrorInfo, MemoData, MemoJson
from steppe._engine.store import (
    AttemptRecord,
    RunSummary,
    StepRecord,
    StorageError,
    Store,
    WaitDetail,
    WaitRecord,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "history.db")
    yield opened
    opened.close()


def test_every_attempt_of_a_step_is_kept_with_its_error(store: Store) -> None:
    store.create_run("r1", "f", [], at(0))
    boom = ErrorInfo(name="ConnectionError", message="down", stack="Traceback ...")
    store.record_attempt_start("r1", "h-fetch", "fetch", 0, at(1))
    store.record_attempt_end("r1", "h-fetch", 0, at(2), error=boom)
    store.record_step_retry("r1", "h-fetch", "fetch", 1, at(12), boom, kind="run", started_at=at(1))
    store.record_attempt_start("r1", "h-fetch", "fetch", 1, at(12))
    store.record_attempt_end("r1", "h-fetch", 1, at(13))
    store.save_memo("r1", "h-fetch", "fetch", MemoJson('"page"'), at(13), kind="run", started_at=at(12))

    assert store.step_history("r1") == [
        AttemptRecord(step="h-fetch", user_id="fetch", attempt=0, started_at=at(1), ended_at=at(2), error=boom),
        AttemptRecord(step="h-fetch", user_id="fetch", attempt=1, started_at=at(12), ended_at=at(13), error=None),
    ]
    detail = store.run_detail("r1")
    assert detail is not None
    # The step started with its first attempt; its output stays in steps, read back as before.
    assert detail.steps == (
        StepRecord(
            step="h-fetch",
            user_id="fetch",
            kind="run",
            status="completed",
            attempts=1,
            started_at=at(1),
            ended_at=at(13),
            retry_at=None,
            error=None,
            output='"page"',
        ),
    )
    assert store.load_memo("r1", "h-fetch") == MemoJson('"page"')


def test_an_attempt_cut_short_keeps_its_record_beside_the_rerun(store: Store) -> None:
    store.create_run("r1", "f", [], at(0))
    store.record_attempt_start("r1", "h-a", "a", 0, at(1))  # the engine stopped here
    store.record_attempt_start("r1", "h-a", "a", 0, at(30))  # a new engine runs the same attempt again
    store.record_attempt_end("r1", "h-a", 0, at(31))
    history = store.step_history("r1")
    assert [(a.attempt, a.started_at, a.ended_at) for a in history] == [(0, at(1), None), (0, at(30), at(31))]


def test_a_resolved_wait_becomes_a_step_of_its_kind_started_when_the_wait_began(store: Store) -> None:
    store.create_run("r1", "f", [], at(0))
    store.record_run_started("r1", at(1))
    store.record_run_started("r1", at(5))  # a later attempt of the run does not move its start
    nap = WaitRecord(kind="sleep", wake_at=at(3600), event_name=None, expression=None, child_run_id=None)
    approval = WaitRecord(kind="event", wake_at=at(86400), event_name="approved", expression=None, child_run_id=None)
    store.insert_wait("r1", "h-nap", "nap", nap, now=at(2))
    store.insert_wait("r1", "h-ok", "approval", approval, now=at(2))

    detail = store.run_detail("r1")
    assert detail is not None
    assert detail.run.created_at == at(0) and detail.run.started_at == at(1) and detail.run.ended_at is None
    assert detail.steps == ()
    assert detail.waits == (
        WaitDetail(step="h-nap", user_id="nap", wait=nap, since=at(2)),
        WaitDetail(step="h-ok", user_id="approval", wait=approval, since=at(2)),
    )

    assert store.resolve_wait("r1", "h-nap", MemoData(None), at(3600))
    detail = store.run_detail("r1")
    assert detail is not None
    [nap_step] = detail.steps
    assert (nap_step.kind, nap_step.started_at, nap_step.ended_at) == ("sleep", at(2), at(3600))
    assert [wait.step for wait in detail.waits] == ["h-ok"]


def test_run_detail_of_an_unknown_run_is_none(store: Store) -> None:
    assert store.run_detail("nope") is None
    assert store.step_history("nope") == []


def test_runs_are_listed_newest_first_filtered_and_paged_without_skipping_ties(store: Store) -> None:
    for index in range(5):
        store.create_run(f"a{index}", "alpha", [], at(index // 2))  # a0,a1 at 0s; a2,a3 at 1s; a4 at 2s
    store.create_run("b0", "beta", [], at(10))
    store.finish_run("a1", "completed", at(20), output=1)

    assert [run.id for run in store.list_runs()] == ["b0", "a4", "a3", "a2", "a1", "a0"]
    assert [run.id for run in store.list_runs(function_id="alpha", status="running")] == ["a4", "a3", "a2", "a0"]
    first = store.list_runs(function_id="alpha", limit=2)
    second = store.list_runs(function_id="alpha", limit=2, before=first[-1].id)
    third = store.list_runs(function_id="alpha", limit=2, before=second[-1].id)
    assert [run.id for page in (first, second, third) for run in page] == ["a4", "a3", "a2", "a1", "a0"]
    assert store.list_runs(status="completed") == [
        RunSummary(
            id="a1",
            function_id="alpha",
            status="completed",
            attempt=0,
            created_at=at(0),
            started_at=None,
            ended_at=at(20),
        )
    ]
    with pytest.raises(ValueError, match=r"before='zz' is not a run in .*history.db"):
        store.list_runs(before="zz")
    with pytest.raises(ValueError, match="limit must be at least 1"):
        store.list_runs(limit=0)


def test_a_full_disk_is_a_storage_error_naming_file_and_cause(store: Store) -> None:
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]  # pyright: ignore[reportPrivateUsage]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # pyright: ignore[reportPrivateUsage]
    with pytest.raises(StorageError, match=r"history.db: the disk is full \(database or disk is full\)"):
        with store.transaction():
            for index in range(200):
                store.insert_event(f"e{index}", "big", {"pad": "x" * 4000}, at(0))
    assert store.count_events() == 0  # the transaction was rolled back


def test_a_lock_held_past_the_timeout_is_a_storage_error(store: Store, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "history.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
    store._db.execute("PRAGMA busy_timeout = 50")  # pyright: ignore[reportPrivateUsage]
    try:
        with pytest.raises(StorageError, match=r"history.db: the database stayed locked by another process"):
            store.insert_event("e1", "x", {}, at(0))
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.insert_event("e1", "x", {}, at(0))  # once the other writer is done
    assert store.count_events("x") == 1


def test_steppes_own_sql_faults_are_not_disguised_as_storage_errors(store: Store) -> None:
    store.insert_event("e1", "x", {}, at(0))
    with pytest.raises(sqlite3.IntegrityError):
        store.insert_event("e1", "x", {}, at(0))
