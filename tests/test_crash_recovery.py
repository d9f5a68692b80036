"""A run killed with SIGKILL mid-way is completed by a new engine, without re-running completed steps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import steppe
from tests import crash_worker

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("durability", ["normal", "full"])
async def test_sigkilled_run_resumes_without_repeating_completed_steps(
    tmp_path: Path, durability: steppe.Durability
) -> None:
    # Under "full" the steps' results are group-committed (steppe._engine.store.Store.commit): still each one is
    # stored before its step returns, so a SIGKILL mid-step repeats that step only.
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}"}
    command = [sys.executable, "-m", "tests.crash_worker", str(tmp_path), durability]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    log = tmp_path / "side-effects.log"
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "three" in log.read_text()):
            assert process.poll() is None, "the worker exited early"
            assert time.monotonic() < deadline, "the worker never reached step three"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert log.read_text().split() == ["one", "two", "three"]

    (tmp_path / "release").touch()
    client = crash_worker.make_app(tmp_path)
    run_id = (tmp_path / "run-id").read_text()
    async with steppe.Engine(client, database=tmp_path / "crash.db", durability=durability) as engine:
        result = await engine.wait(run_id, timeout=30)
    assert result.status == "completed", result.error
    assert result.output == [0, 1, 2, 3, 4]
    # "three" was killed mid-step (its result was never stored), so it ran again; no completed step did.
    assert log.read_text().split() == ["one", "two", "three", "three", "four", "five"]
