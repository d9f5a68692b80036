"""The operating commands, with a worker in its own process: send, list, show, cancel, rerun, stop and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import steppe
from steppe.cli import main

APP = str(Path(__file__).resolve().parent / "ops_app.py")
# Generous: a slow machine must not fail these tests; nothing here measures speed.
PATIENCE_SECONDS = 60.0


def steppe_cli(*arguments: str) -> Any:
    result = CliRunner().invoke(main, list(arguments))
    return result


def ok(*arguments: str) -> str:
    result = steppe_cli(*arguments)
    assert result.exit_code == 0, (result.output, result.stderr if result.stderr_bytes else "")
    return str(result.stdout)


def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def readable(database: Path) -> bool:
    try:
        steppe.Runs(database).close()
    except steppe.DatabaseError:  # not created yet, or created but not yet holding the schema
        return False
    return True


class Worker:
    def __init__(self, database: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from steppe.cli import main; main()", "worker", APP, "--db", str(database)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        eventually(lambda: readable(database), "the worker created its database")

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=PATIENCE_SECONDS)
        return self.process.returncode, stderr


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "ops.db"


def show(run_id: str, database: Path) -> dict[str, Any]:
    detail: dict[str, Any] = json.loads(ok("runs", "show", run_id, "--db", str(database), "--json"))
    return detail


def listed(database: Path, *extra: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = json.loads(ok("runs", "list", "--db", str(database), "--json", *extra))
    return runs


def test_a_worker_driven_from_another_process(database: Path) -> None:
    db = str(database)
    worker = Worker(database)
    try:
        event_id = ok("send", "shop/order.placed", "--data", '{"order_id": "o1"}', "--db", db, "--app", APP).strip()
        assert len(event_id) == 32
        [run] = eventually(lambda: listed(database, "--function", "confirm"), "the sent event started a run")
        assert set(run) >= {"run_id", "function", "status", "started_at", "ended_at"} and run["function"] == "confirm"
        run_id = run["run_id"]
        waiting = eventually(lambda: (d := show(run_id, database))["waiting_on"] and d, "the run waits")
        assert waiting["status"] == "running" and waiting["event"]["data"] == {"order_id": "o1"}
        assert [(s["id"], s["kind"], s["status"]) for s in waiting["steps"]] == [
            ("record", "run", "completed"),
            ("confirmed", "wait", "waiting"),
        ]
        assert waiting["steps"][0]["attempts"][0]["error"] is None and waiting["steps"][0]["output"] == "o1"
        text = ok("runs", "show", run_id, "--db", db)
        assert "record" in text and "waiting   event shop/order.confirmed" in text
        assert f"next: steppe runs cancel {run_id} --db {db}" in text
        table = ok("runs", "list", "--db", db)
        assert table.splitlines()[0].split() == ["RUN", "FUNCTION", "STATUS", "STARTED", "DURATION"]
        assert run_id in table
        # reads while the worker writes: a run started, then cancelled, from this process
        parent_event = ok("send", "ops/parent", "--db", db).strip()
        [parent] = eventually(lambda: listed(database, "--function", "parent"), "the parent run started")
        child_id = eventually(lambda: show(parent["run_id"], database)["child_run_ids"], "the child run started")[0]
        assert ok("runs", "cancel", child_id, "--db", db).strip() == f"run {child_id} cancelled"
        finished = eventually(
            lambda: (d := show(parent["run_id"], database))["status"] == "completed" and d, "the parent finished"
        )
        assert finished["output"].startswith("child failed")
        assert [r["status"] for r in listed(database, "--status", "cancelled")] == ["cancelled"]
        assert parent_event
    finally:
        code, stderr = worker.stop(signal.SIGTERM)
    assert code == 0, stderr
    assert "stopped; unfinished runs resume on the next start" in stderr
    assert show(run_id, database)["status"] == "running"  # stopped mid-wait: resumable

    # no engine: sent events wait in the database for the next worker
    ok("send", "shop/order.confirmed", "--data", '{"order_id": "o1"}', "--db", db)
    worker = Worker(database)
    try:
        done = eventually(lambda: (d := show(run_id, database))["status"] == "completed" and d, "the run resumed")
        assert done["output"] == "confirmed o1" and done["ended_at"] is not None
        rerun_id = ok("runs", "rerun", run_id, "--db", db, "--from", "confirmed").strip()
        rerun = eventually(lambda: (d := show(rerun_id, database))["waiting_on"] and d, "the rerun waits")
        assert rerun["steps"][0]["id"] == "record" and rerun["steps"][0]["attempts"] == []  # reused
        assert rerun["event"] == done["event"]
    finally:
        code, stderr = worker.stop(signal.SIGINT)
    assert code == 0, stderr


def test_commands_refuse_bad_input_by_name(database: Path) -> None:
    worker = Worker(database)
    try:
        wrong = steppe_cli("send", "shop/order.placed", "--data", '{"nope": 1}', "--db", str(database), "--app", APP)
        assert wrong.exit_code == 2 and "does not fit its trigger" in wrong.stderr, wrong.stderr
        not_object = steppe_cli("send", "x", "--data", "[1]", "--db", str(database))
        assert not_object.exit_code == 2 and "must be a JSON object" in not_object.stderr
        missing = steppe_cli("runs", "show", "nope", "--db", str(database))
        assert missing.exit_code == 1 and "no run with id 'nope'" in missing.stderr
        no_step = steppe_cli("runs", "rerun", "nope", "--db", str(database), "--from", "x")
        assert no_step.exit_code == 1 and "no run with id 'nope'" in no_step.stderr
        assert ok("runs", "list", "--db", str(database)).strip() == "no runs"
        assert listed(database) == []
    finally:
        worker.stop()
    absent = steppe_cli("runs", "list", "--db", str(database.with_name("absent.db")))
    assert absent.exit_code == 1 and "does not exist" in absent.stderr
    bad_app = steppe_cli("worker", APP + ":nothing", "--db", str(database))
    assert bad_app.exit_code == 2 and "not a steppe.Client" in bad_app.stderr


def test_an_app_that_fails_to_import_is_reported_at_its_line(database: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken_app.py"
    broken.write_text("import steppe\n\nclient = steppe.Client('shop')\nraise RuntimeError('no config')\n")
    result = steppe_cli("worker", str(broken), "--db", str(database))
    assert result.exit_code == 1, result.stderr
    assert f"{broken}:4 (raise RuntimeError('no config')): RuntimeError: no config" in result.stderr, result.stderr
    several = tmp_path / "two_apps.py"
    several.write_text("import steppe\n\na = steppe.Client('a')\nb = steppe.Client('b')\n")
    ambiguous = steppe_cli("send", "x", "--db", str(database), "--app", str(several))
    assert ambiguous.exit_code == 2 and "exactly one steppe.Client" in ambiguous.stderr and "a, b" in ambiguous.stderr
