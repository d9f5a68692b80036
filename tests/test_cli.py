"""The `steppe run` command: targets, events, errors, stopping, progress lines and logs."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import steppe
from steppe.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples/parallel_steps.py")
# The installed console script: run as users run it (its sys.path starts with the script's directory, not the cwd).
STEPPE = Path(sys.executable).parent / "steppe"
# Each progress line: elapsed seconds, the run's short id, and the function's id for a run of another function.
LINE = re.compile(r"^\[ *\d+\.\d{3}s\] (?P<run>[0-9a-f]{8}) (?P<text>.*)$")


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command puts the target's directory on sys.path; keep that out of the other tests."""
    monkeypatch.setattr(sys, "path", [*sys.path])


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["run", *args])


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def progress(stderr: str) -> list[tuple[str, str]]:
    """(short run id, text) of each progress line."""
    matches = [LINE.match(line) for line in stderr.splitlines()]
    return [(m["run"], m["text"]) for m in matches if m is not None]


# -- the reference example, and where targets are found ------------------------------------------


def test_run_prints_progress_on_stderr_and_output_on_stdout() -> None:
    result = run(f"{EXAMPLE}:fn", "--event", "my-event", "--data", '{"user_id": 7}')
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"user": {"id": "7", "status": "updated"}, "email_sent": True}
    lines = progress(result.stderr)
    runs = {run_id for run_id, _ in lines}
    assert len(runs) == 1 and len(lines) == len(result.stderr.splitlines())  # every line is tagged with the run
    [run_id] = runs
    texts = [text for _, text in lines]
    assert re.fullmatch(rf"run {run_id}[0-9a-f]{{24}} started: examples-my-function", texts[0])
    assert sorted(texts[1:3]) == ["start  send-email [parallel]", "start  update-user [parallel]"]
    assert any(re.fullmatch(r"done   update-user in \d+ ms", text) for text in texts)
    assert texts[-1].startswith(f"run {run_id}") and texts[-1].endswith(" completed")


def test_event_may_be_left_out_when_the_function_has_one_event_trigger() -> None:
    result = run(EXAMPLE, "--data", '{"user_id": 3}')  # and the attribute: the module holds one function
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["user"] == {"id": "3", "status": "updated"}


def test_a_module_target_is_found_from_the_current_directory(tmp_path: Path) -> None:
    write(
        tmp_path,
        "cli_cwd_app.py",
        """
        import steppe
        client = steppe.Client(app_id="cwd")
        @client.create_function(fn_id="hello", trigger=steppe.TriggerEvent(event="hi"))
        async def hello(ctx: steppe.Context, step: steppe.Step) -> str:
            return "hello " + ctx.event.data["who"]
        """,
    )
    for target in ("cli_cwd_app:hello", "cli_cwd_app"):
        done = subprocess.run(
            [STEPPE, "run", target, "--data", '{"who": "ann"}'],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == "hello ann"
        assert "Traceback" not in done.stderr


def test_a_module_with_several_functions_needs_the_attribute_and_names_them(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        "several.py",
        """
        import steppe
        client = steppe.Client(app_id="sev")
        @client.create_function(fn_id="a", trigger=steppe.TriggerEvent(event="a"))
        async def first(ctx: steppe.Context, step: steppe.Step) -> None: ...
        @client.create_function(fn_id="b", trigger=steppe.TriggerEvent(event="b"))
        async def second(ctx: steppe.Context, step: steppe.Step) -> None: ...
        alias = second
        """,
    )
    result = run(str(app))
    assert result.exit_code == 2
    assert f"{app} holds several steppe functions (first, second): name one, as {app}:NAME" in result.stderr
    empty = write(tmp_path, "empty.py", "import steppe\n")
    assert f"{empty} holds no steppe function" in run(str(empty)).stderr


# -- choosing the event -----------------------------------------------------------------------------


CRON_APP = """
    import steppe
    client = steppe.Client(app_id="cron")
    @client.create_function(fn_id="nightly", trigger=steppe.TriggerCron("0 3 * * *"))
    async def nightly(ctx: steppe.Context, step: steppe.Step) -> dict[str, object]:
        return {"name": ctx.event.name, "data": ctx.event.data}
    @client.create_function(
        fn_id="both", trigger=[steppe.TriggerEvent(event="now"), steppe.TriggerCron("0 4 * * *")]
    )
    async def both(ctx: steppe.Context, step: steppe.Step) -> str:
        return ctx.event.name
    """


def test_a_cron_function_runs_on_the_scheduled_event(tmp_path: Path) -> None:
    app = write(tmp_path, "cron_app.py", CRON_APP)
    result = run(f"{app}:nightly")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"name": "inngest/scheduled.timer", "data": {"cron": "0 3 * * *"}}
    scheduled = run(f"{app}:both", "--event", "inngest/scheduled.timer")
    assert scheduled.exit_code == 0, scheduled.output
    assert json.loads(scheduled.stdout) == "inngest/scheduled.timer"


def test_several_triggers_or_an_event_that_triggers_nothing_are_usage_errors(tmp_path: Path) -> None:
    app = write(tmp_path, "cron_app.py", CRON_APP)
    ambiguous = run(f"{app}:both")
    assert ambiguous.exit_code == 2
    assert (
        "function 'cron-both' has several triggers (event 'now', cron '0 4 * * *' (--event inngest/scheduled.timer)): "
        "choose one with --event NAME" in ambiguous.stderr
    )
    wrong = run(f"{EXAMPLE}:fn", "--event", "other")
    assert wrong.exit_code == 2
    assert "'other' does not trigger function 'examples-my-function' (its triggers: event 'my-event')" in wrong.stderr


def test_an_event_whose_expression_does_not_match_starts_no_run(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        "picky.py",
        """
        import steppe
        client = steppe.Client(app_id="picky")
        @client.create_function(fn_id="vip", trigger=steppe.TriggerEvent(event="order", expression="event.data.vip"))
        async def vip(ctx: steppe.Context, step: steppe.Step) -> None: ...
        """,
    )
    result = run(str(app), "--data", '{"vip": false}')
    assert result.exit_code == 1
    assert "event 'order' started no run of 'picky-vip'" in result.stderr


# -- one-line errors for the user's mistakes ------------------------------------------------------


TYPED_APP = """
    import pydantic
    import steppe
    class Order(pydantic.BaseModel):
        user_id: int
        item: str
    client = steppe.Client(app_id="typed")
    @client.create_function(fn_id="place", trigger=steppe.EventType("order.placed", Order))
    async def place(ctx: steppe.Context, step: steppe.Step) -> int:
        return ctx.event.data.user_id
    """


def test_invalid_data_for_a_typed_event_lists_each_field(tmp_path: Path) -> None:
    app = write(tmp_path, "typed.py", TYPED_APP)
    result = run(str(app), "--data", '{"user_id": "x"}')
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: Invalid value for --data: invalid data for event 'order.placed': user_id: ")
    assert "user_id: Input should be a valid integer" in error and "; item: Field required" in error
    valid = run(str(app), "--data", '{"user_id": "12", "item": "hat"}')
    assert valid.exit_code == 0 and json.loads(valid.stdout) == 12


def test_data_that_is_not_a_json_object_is_a_usage_error() -> None:
    bad_json = run(EXAMPLE, "--data", "{oops")
    assert bad_json.exit_code == 2 and "Invalid value for --data: not JSON: Expecting property name" in bad_json.stderr
    not_object = run(EXAMPLE, "--data", "[1]")
    assert not_object.exit_code == 2 and "--data: must be a JSON object, got list" in not_object.stderr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "import steppe\nimport cli_no_such_module\n",
            "broken.py:2 (import cli_no_such_module): ModuleNotFoundError: No module named 'cli_no_such_module'",
            id="import-error",
        ),
        pytest.param("x = 1\ny = x / 0\n", "broken.py:2 (y = x / 0): ZeroDivisionError: division by zero", id="raises"),
        pytest.param("def f(:\n    pass\n", "broken.py:1 (def f(:): SyntaxError: invalid syntax", id="syntax"),
        pytest.param(
            "import steppe\n"
            "client = steppe.Client(app_id='b')\n"
            "@client.create_function(fn_id='f', trigger=steppe.TriggerEvent(event='e'))\n"
            "async def f(ctx: steppe.Context) -> None: ...\n",
            "broken.py:3 (@client.create_function(fn_id='f', trigger=steppe.TriggerEvent(event='e'))): "
            "FunctionDefinitionError: function 'b-f': the handler 'f' must accept exactly (ctx, step) positionally",
            id="function-defined-wrongly",
        ),
    ],
)
def test_an_error_in_the_users_module_is_one_line_at_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "broken.py", source)
    result = run("broken.py:f")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: {expected}")
    assert len(result.stderr.splitlines()) == 1


def test_a_target_that_is_not_a_function_is_named(tmp_path: Path) -> None:
    missing = run(f"{EXAMPLE}:nope")
    assert missing.exit_code == 2 and "parallel_steps.py:nope is nothing, not a steppe function" in missing.stderr
    client = run(f"{EXAMPLE}:client")
    assert client.exit_code == 2 and "parallel_steps.py:client is Client, not a steppe function" in client.stderr
    no_file = run(str(tmp_path / "absent.py"))
    assert no_file.exit_code == 2 and f"no such file: {tmp_path / 'absent.py'}" in no_file.stderr
    no_module = run("cli_no_such_package.app:fn")
    assert no_module.exit_code == 2 and "no module named 'cli_no_such_package'" in no_module.stderr


def test_a_db_in_a_missing_directory_or_on_a_directory_is_named(tmp_path: Path) -> None:
    in_missing = run(EXAMPLE, "--db", str(tmp_path / "nowhere" / "app.db"))
    assert in_missing.exit_code == 2
    assert f"--db: the directory {tmp_path / 'nowhere'} (of {tmp_path / 'nowhere' / 'app.db'}) does not exist" in (
        in_missing.stderr
    )
    on_directory = run(EXAMPLE, "--db", str(tmp_path))
    assert (
        on_directory.exit_code == 2 and f"--db: {tmp_path} is a directory, not a database file" in on_directory.stderr
    )
    not_steppe = run(EXAMPLE, "--data", '{"user_id": 1}', "--db", EXAMPLE)
    assert not_steppe.exit_code == 1 and f"Error: {EXAMPLE} is not a steppe database" in not_steppe.stderr


def test_failed_run_exits_non_zero_with_the_error(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        "failing.py",
        """
        import steppe
        client = steppe.Client('cli')
        def boom() -> int:
            raise steppe.NonRetriableError('no such account')
        @client.create_function(fn_id='f', trigger=steppe.TriggerEvent(event='go'))
        async def f(ctx: steppe.Context, step: steppe.Step) -> int:
            return await step.run('charge', boom)
        """,
    )
    result = run(f"{app}:f", "--db", str(tmp_path / "cli.db"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "failed charge" in result.stderr and "no retries left" in result.stderr
    assert "Error: run" in result.stderr and "no such account" in result.stderr


# -- stopping before the run ends -------------------------------------------------------------------


WAITING_APP = """
    from datetime import timedelta
    import steppe
    client = steppe.Client(app_id="waiting")
    @client.create_function(fn_id="wait", trigger=steppe.TriggerEvent(event="go"))
    async def wait(ctx: steppe.Context, step: steppe.Step) -> object:
        return await step.wait_for_event("reply", event="answer", timeout=timedelta(days=1))
    """


def _still_running(app: Path, database: Path, run_id: str) -> bool:
    namespace: dict[str, object] = {}
    exec(compile(app.read_text(), str(app), "exec"), namespace)
    client = namespace["client"]
    assert isinstance(client, steppe.Client)

    async def status() -> str:
        async with steppe.Engine(client, database=database) as engine:
            return engine.result(run_id).status

    return asyncio.run(status()) == "running"


def test_timeout_names_the_stored_run_and_how_to_inspect_and_resume_it(tmp_path: Path) -> None:
    app = write(tmp_path, "waiting.py", WAITING_APP)
    database = tmp_path / "app.db"
    result = run(str(app), "--db", str(database), "--timeout", "0.1")
    assert result.exit_code == 124
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "Aborted" not in result.stderr
    run_id = progress(result.stderr)[0][1].split()[1]
    assert result.stderr.splitlines()[-4:] == [
        f"steppe: stopped waiting after --timeout 0.1s: run {run_id} has not finished",
        f"steppe: the run is stored in {database}",
        f"steppe: inspect it with: steppe runs show {run_id} --db {database}",
        f"steppe: resume it with:  steppe worker {app}:client --db {database}",
    ]
    assert _still_running(app, database, run_id)


def test_timeout_with_the_in_memory_database_says_the_run_is_lost(tmp_path: Path) -> None:
    app = write(tmp_path, "waiting.py", WAITING_APP)
    result = run(str(app), "--timeout", "0.1")
    assert result.exit_code == 124
    assert result.stderr.splitlines()[-1] == (
        "steppe: the run is lost: it was kept in memory (pass --db FILE to store runs in a file)"
    )


def _interrupt_while_waiting(app: Path, *options: str) -> tuple[int, str, str]:
    """Run the command in a process of its own, press Ctrl-C once the run waits; (exit status, stdout, stderr)."""
    # Whatever the test runner did with SIGINT, the command starts with Python's own handler, as from a shell.
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from steppe.cli import main; main(sys.argv[1:], prog_name='steppe')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, "run", str(app), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen: list[str] = []
    for line in process.stderr:
        seen.append(line)
        if " wait   reply for event 'answer'" in line:
            break
    process.send_signal(signal.SIGINT)
    stdout, rest = process.communicate(timeout=120)
    return process.returncode, stdout, "".join(seen) + rest


def test_ctrl_c_names_the_stored_run_and_exits_130(tmp_path: Path) -> None:
    app = write(tmp_path, "waiting.py", WAITING_APP)
    database = tmp_path / "app.db"
    status, stdout, stderr = _interrupt_while_waiting(app, "--db", str(database))
    assert status == 130, stderr
    assert stdout == ""
    assert "Traceback" not in stderr and "Aborted" not in stderr
    run_id = progress(stderr)[0][1].split()[1]
    assert stderr.splitlines()[-4:] == [
        f"steppe: interrupted (Ctrl-C): run {run_id} has not finished",
        f"steppe: the run is stored in {database}",
        f"steppe: inspect it with: steppe runs show {run_id} --db {database}",
        f"steppe: resume it with:  steppe worker {app}:client --db {database}",
    ]
    assert _still_running(app, database, run_id)


def test_ctrl_c_with_the_in_memory_database_says_the_run_is_lost(tmp_path: Path) -> None:
    app = write(tmp_path, "waiting.py", WAITING_APP)
    status, _, stderr = _interrupt_while_waiting(app)
    assert status == 130, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr
    assert stderr.splitlines()[-1] == (
        "steppe: the run is lost: it was kept in memory (pass --db FILE to store runs in a file)"
    )


# -- a progress line for every step kind, retry and run ---------------------------------------------


KINDS_APP = """
    from datetime import timedelta
    import steppe
    client = steppe.Client(app_id="kinds")

    @client.create_function(fn_id="answerer", trigger=steppe.TriggerEvent(event="ask"))
    async def answerer(ctx: steppe.Context, step: steppe.Step) -> str:
        await step.send_event("answer", steppe.Event(name="answer", data={"to": ctx.event.data["q"]}))
        return "answered"

    @client.create_function(fn_id="main", trigger=steppe.TriggerEvent(event="go"))
    async def main(ctx: steppe.Context, step: steppe.Step) -> object:
        await step.sleep("nap", timedelta(milliseconds=10))
        # The wait starts first, so the event the child run sends matches it.
        reply, answered = await step.parallel((
            lambda: step.wait_for_event(
                "reply", event="answer", if_exp="async.data.to == 'q1'", timeout=timedelta(hours=1)
            ),
            lambda: step.invoke("ask", function=answerer, data={"q": "q1"}),
        ))
        missed = await step.wait_for_event("never", event="nothing", timeout=timedelta(milliseconds=10))
        ids = await step.send_event("tell", [steppe.Event(name="told"), steppe.Event(name="told-too")])
        return {"reply": reply is not None, "answered": answered, "missed": missed is None, "sent": len(ids)}
    """

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
ID = r"[0-9a-f]{32}"


def test_every_step_kind_prints_its_start_and_its_end(tmp_path: Path) -> None:
    app = write(tmp_path, "kinds.py", KINDS_APP)
    result = run(f"{app}:main")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"reply": True, "answered": "answered", "missed": True, "sent": 2}
    lines = progress(result.stderr)
    parent = lines[0][0]
    mine = [text for run_id, text in lines if run_id == parent]
    [child] = {run_id for run_id, _ in lines} - {parent}
    theirs = [text for run_id, text in lines if run_id == child]
    expected_mine = [
        rf"run {parent}[0-9a-f]{{24}} started: kinds-main",
        # The time left until the wake-up, counted when the line is printed: at most the 0.01 s asked for.
        rf"sleep  nap until {ISO} \(for (0\.01|0\.00\d|0)s\)",
        r"woke   nap",
        rf"wait   reply for event 'answer' if async\.data\.to == 'q1', timeout at {ISO} \(in (1h|59m 59s)\)",
        rf"invoke ask: function 'kinds-answerer' as run {child}",
        # In the order they happened: the child sends the event the wait receives, then ends.
        rf"got    reply: event {ID}",
        rf"invoke ask ended: child run {child} completed",
        rf"wait   never for event 'nothing', timeout at {ISO} \(in (0\.01|0\.00\d|0)s\)",
        r"wait   never timed out: no matching event",
        rf"sent   tell: told \({ID}\), told-too \({ID}\)",
        rf"run {parent}[0-9a-f]{{24}} completed",
    ]
    assert len(mine) == len(expected_mine), mine
    for text, pattern in zip(mine, expected_mine, strict=True):
        assert re.fullmatch(pattern, text), (text, pattern)
    # The child run's lines name its function, so they stand apart from the parent's.
    expected_theirs = [
        rf"kinds-answerer run {child}[0-9a-f]{{24}} started: kinds-answerer, invoked by run {parent}",
        rf"kinds-answerer sent   answer: answer \({ID}\)",
        rf"kinds-answerer run {child}[0-9a-f]{{24}} completed",
    ]
    assert len(theirs) == len(expected_theirs), theirs
    for text, pattern in zip(theirs, expected_theirs, strict=True):
        assert re.fullmatch(pattern, text), (text, pattern)
    # The event the child sent is the one the wait received.
    [sent_id] = re.findall(rf"answer \(({ID})\)", "\n".join(theirs))
    assert f"got    reply: event {sent_id}" in mine


def test_retries_of_the_function_body_are_shown(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        "flaky.py",
        """
        import steppe
        client = steppe.Client(app_id="flaky")
        @client.create_function(fn_id="body", trigger=steppe.TriggerEvent(event="go"), retries=1)
        async def body(ctx: steppe.Context, step: steppe.Step) -> int:
            if ctx.attempt == 0:
                raise RuntimeError("flaky body")
            return ctx.attempt
        """,
    )
    result = run(str(app))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == 1
    texts = [text for _, text in progress(result.stderr)]
    [retry] = [text for text in texts if text.startswith("retry")]
    assert re.fullmatch(
        rf"retry  attempt 1 of the function failed: RuntimeError: flaky body; retrying at {ISO} \(in [\d.]+s\)", retry
    )
    assert texts.index(retry) < len(texts) - 1 and texts[-1].endswith(" completed")


# -- logging ------------------------------------------------------------------------------------------


LOGGING_APP = """
    import steppe
    client = steppe.Client(app_id="logs")
    @client.create_function(fn_id="chatty", trigger=steppe.TriggerEvent(event="go"))
    async def chatty(ctx: steppe.Context, step: steppe.Step) -> str:
        ctx.logger.info("hello from %s", ctx.fn_id)
        ctx.logger.warning("careful")
        return "ok"
    """


@pytest.fixture
def logging_app(tmp_path: Path) -> Iterator[Path]:
    yield write(tmp_path, "chatty.py", LOGGING_APP)


def test_log_level_info_shows_ctx_logger_records_tagged_with_the_run(logging_app: Path) -> None:
    result = run(str(logging_app), "--log-level", "info")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == "ok"
    lines = progress(result.stderr)
    run_id = lines[0][0]
    assert (run_id, "info    hello from logs-chatty") in lines
    assert (run_id, "warning careful") in lines


def test_the_default_log_level_is_warning(logging_app: Path) -> None:
    result = run(str(logging_app))
    assert result.exit_code == 0, result.output
    texts = [text for _, text in progress(result.stderr)]
    assert "warning careful" in texts
    assert not any("hello from" in text for text in texts)
    assert run(str(logging_app), "--log-level", "loud").exit_code == 2


def test_an_error_inside_steppe_while_importing_is_not_reported_as_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A faulty check, compiled as part of steppe's own source file so its frame is steppe's, as a real bug's is.
    namespace: dict[str, object] = {}
    source = "def broken(handler, function_id):\n    raise AssertionError('a bug in steppe')\n"
    exec(compile(source, str(Path(steppe.__file__).parent / "_core" / "function.py"), "exec"), namespace)
    monkeypatch.setattr("steppe._core.function._check_handler", namespace["broken"])
    app = write(tmp_path, "fine.py", TYPED_APP)
    result = run(str(app))
    assert isinstance(result.exception, AssertionError)  # raised with its traceback, not as a one-line user error
    assert "Error:" not in result.stderr
