"""The `steppe run` command."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from steppe.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_run_prints_progress_on_stderr_and_output_on_stdout() -> None:
    result = CliRunner().invoke(
        main,
        ["run", str(ROOT / "examples/parallel_steps.py") + ":fn", "--event", "my-event", "--data", '{"user_id": 7}'],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"user": {"id": "7", "status": "updated"}, "email_sent": True}
    lines = result.stderr.splitlines()
    starts = [line for line in lines if "start " in line]
    assert len(starts) == 2 and all("[parallel]" in line for line in starts)
    assert any("done   update-user in" in line for line in lines)
    assert lines[-1].endswith("completed")


def test_failed_run_exits_non_zero_with_the_error(tmp_path: Path) -> None:
    app = tmp_path / "failing.py"
    app.write_text(
        "import steppe\n"
        "client = steppe.Client('cli')\n"
        "def boom() -> int:\n"
        "    raise steppe.NonRetriableError('no such account')\n"
        "@client.create_function(fn_id='f', trigger=steppe.TriggerEvent(event='go'))\n"
        "async def f(ctx: steppe.Context, step: steppe.Step) -> int:\n"
        "    return await step.run('charge', boom)\n"
    )
    result = CliRunner().invoke(main, ["run", f"{app}:f", "--event", "go", "--db", str(tmp_path / "cli.db")])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "failed charge" in result.stderr and "no retries left" in result.stderr
    assert "Error: run" in result.stderr and "no such account" in result.stderr


def test_bad_data_and_bad_target_are_named() -> None:
    runner = CliRunner()
    bad_json = runner.invoke(main, ["run", "examples/parallel_steps.py:fn", "--event", "e", "--data", "{oops"])
    assert bad_json.exit_code == 2 and "--data" in bad_json.stderr and "not JSON" in bad_json.stderr
    not_object = runner.invoke(main, ["run", "examples/parallel_steps.py:fn", "--event", "e", "--data", "[1]"])
    assert not_object.exit_code == 2 and "must be a JSON object" in not_object.stderr
    missing = runner.invoke(main, ["run", str(ROOT / "examples/parallel_steps.py") + ":nope", "--event", "e"])
    assert missing.exit_code == 2 and "parallel_steps.py:nope is nothing, not a steppe function" in missing.stderr
    wrong_event = runner.invoke(main, ["run", str(ROOT / "examples/parallel_steps.py") + ":fn", "--event", "other"])
    assert wrong_event.exit_code == 1 and "does not trigger" in wrong_event.stderr
