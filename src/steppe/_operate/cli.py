"""The operating commands of ``steppe``: ``worker``, ``send`` and ``runs list|show|cancel|rerun``."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import datetime
from typing import Any, get_args

import click

from steppe._cli.targets import load_app
from steppe._client import Client
from steppe._core.errors import SteppeError
from steppe._core.events import Event
from steppe._engine.database import DURABILITY_LEVELS, Durability, check_durability
from steppe._operate.runs import RunDetail, Runs, RunStatus, RunSummary, StepInfo

__all__ = ["register"]


def _runs(database: str, app: Client | None = None) -> Runs:
    try:
        return Runs(database, app=app)
    except SteppeError as error:
        raise click.ClickException(str(error)) from error


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    seconds = (end - start).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    ]
    return "\n".join(lines)


def _list_text(runs: list[RunSummary]) -> str:
    if not runs:
        return "no runs"
    rows = [
        [run.run_id, run.function, run.status, _when(run.started_at), _duration(run.started_at, run.ended_at)]
        for run in runs
    ]
    return _table(["RUN", "FUNCTION", "STATUS", "STARTED", "DURATION"], rows)


def _step_row(step: StepInfo) -> list[str]:
    note = step.waiting_for or (f"{step.error.name}: {step.error.message}" if step.error else "")
    if step.child_run_id and not step.waiting_for:
        note = f"run {step.child_run_id}"
    retries = len(step.attempts) if len(step.attempts) > 1 else ""
    return [
        f"{'∥ ' if step.parallel else '  '}{step.id}",
        step.kind,
        step.status,
        _duration(step.started_at, step.ended_at),
        str(retries),
        note,
    ]


def _show_text(detail: RunDetail, database: str) -> str:
    lines = [
        f"run       {detail.run_id}",
        f"function  {detail.function}",
        f"status    {detail.status}",
        f"started   {_when(detail.started_at)}   ended {_when(detail.ended_at)}   ({_duration(detail.started_at, detail.ended_at)})",
    ]
    if detail.waiting_on:
        lines.append(f"waiting   {detail.waiting_on}")
    if detail.parent_run_id:
        lines.append(f"parent    {detail.parent_run_id}")
    if detail.error is not None:
        lines.append(f"error     {detail.error.name}: {detail.error.message}")
    elif detail.status == "completed":
        lines.append(f"output    {json.dumps(detail.output)}")
    lines.append("")
    if detail.steps:
        lines.append(
            _table(["STEP", "KIND", "STATUS", "DURATION", "ATTEMPTS", ""], [_step_row(s) for s in detail.steps])
        )
        if any(step.parallel for step in detail.steps):
            lines.append("(∥ ran inside step.parallel)")
    else:
        lines.append("no steps yet")
    lines.append("")
    if detail.status in ("queued", "running"):
        lines.append(f"next: steppe runs cancel {detail.run_id} --db {database}")
    elif detail.status == "failed" and detail.steps:
        failed = next((step.id for step in detail.steps if step.status == "failed"), detail.steps[-1].id)
        lines.append(f"next: steppe runs rerun {detail.run_id} --db {database} --from {failed}")
    else:
        lines.append(f"next: steppe runs rerun {detail.run_id} --db {database}")
    return "\n".join(lines)


def _worker(app_target: str, database: str, durability: Durability) -> None:
    from steppe._cli.progress import ProgressPrinter
    from steppe._operate.worker import run_worker

    app = load_app(app_target)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        click.echo(f"steppe worker: {len(app.functions)} functions of app {app.app_id!r} on {database}", err=True)
        await run_worker(app, database, stop=stop, listeners=[ProgressPrinter("")], durability=durability)
        click.echo("steppe worker: stopped; unfinished runs resume on the next start", err=True)

    try:
        asyncio.run(serve())
    except SteppeError as error:
        raise click.ClickException(str(error)) from error


_STATUSES: tuple[str, ...] = get_args(RunStatus)


def register(main: click.Group) -> None:
    """Add the operating commands to the ``steppe`` command group."""

    @main.command()
    @click.argument("app_target", metavar="APP")
    @click.option("--db", "database", required=True, help="The SQLite file the worker drives.")
    @click.option(
        "--durability",
        type=click.Choice(DURABILITY_LEVELS),
        default="normal",
        show_default=True,
        help="What a commit survives: normal, a crash of the process; full, also power loss (an fsync per commit).",
    )
    def worker(app_target: str, database: str, durability: str) -> None:
        """Drive APP (PATH_OR_MODULE[:CLIENT]) on a database until SIGINT or SIGTERM.

        Resumes unfinished runs, fires crons, and applies the events, cancellations and reruns other processes
        send (steppe send, steppe runs ...). Stopping leaves runs in progress resumable.
        """
        _worker(app_target, database, check_durability(durability, owner="--durability"))

    @main.command()
    @click.argument("event_name", metavar="EVENT")
    @click.option("--data", default="{}", show_default=True, help="The event's data, a JSON object.")
    @click.option("--db", "database", required=True, help="The SQLite file a worker drives.")
    @click.option("--app", "app_target", default=None, help="APP whose typed triggers validate the event.")
    def send(event_name: str, data: str, database: str, app_target: str | None) -> None:
        """Store an event for the worker on the database; prints its id."""
        try:
            payload = json.loads(data)
        except json.JSONDecodeError as error:
            raise click.BadParameter(f"not JSON: {error}", param_hint="--data") from error
        if not isinstance(payload, dict):
            raise click.BadParameter(f"must be a JSON object, got {type(payload).__name__}", param_hint="--data")
        from pydantic import ValidationError

        app = None if app_target is None else load_app(app_target)
        with _runs(database, app) as runs:
            try:
                [event_id] = runs.send(Event[Any](name=event_name, data=payload))
            except ValidationError as error:
                raise click.BadParameter(
                    f"event {event_name!r} does not fit its trigger: {error}", param_hint="--data"
                ) from error
            except SteppeError as error:
                raise click.ClickException(str(error)) from error
        click.echo(event_id)

    @main.group(name="runs")
    def runs_group() -> None:
        """List, inspect, cancel and rerun the runs of a database."""

    @runs_group.command(name="list")
    @click.option("--db", "database", required=True, help="The SQLite file to read.")
    @click.option("--status", type=click.Choice(_STATUSES), default=None, help="Only runs of this status.")
    @click.option("--function", "function", default=None, help="Only runs of this function (its fn_id).")
    @click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many.")
    @click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
    def list_runs(database: str, status: str | None, function: str | None, limit: int, as_json: bool) -> None:
        """The runs, newest first."""
        with _runs(database) as runs:
            found = runs.list(status=_status(status), function=function, limit=limit)
        click.echo(json.dumps([run.to_json() for run in found], indent=2) if as_json else _list_text(found))

    @runs_group.command()
    @click.argument("run_id")
    @click.option("--db", "database", required=True, help="The SQLite file to read.")
    @click.option("--json", "as_json", is_flag=True, help="A JSON object instead of a table.")
    def show(run_id: str, database: str, as_json: bool) -> None:
        """One run: its event, outcome, and every step with its attempts."""
        with _runs(database) as runs:
            try:
                detail = runs.get(run_id)
            except SteppeError as error:
                raise click.ClickException(str(error)) from error
        click.echo(json.dumps(detail.to_json(), indent=2) if as_json else _show_text(detail, database))

    @runs_group.command()
    @click.argument("run_id")
    @click.option("--db", "database", required=True, help="The SQLite file a worker drives.")
    def cancel(run_id: str, database: str) -> None:
        """Cancel a run (a parent invoking it gets a StepError)."""
        with _runs(database) as runs:
            try:
                runs.cancel(run_id)
                status = runs.get(run_id).status
            except SteppeError as error:
                raise click.ClickException(str(error)) from error
        click.echo(f"run {run_id} {status}")

    @runs_group.command()
    @click.argument("run_id")
    @click.option("--db", "database", required=True, help="The SQLite file a worker drives.")
    @click.option("--from", "from_step", default=None, help="Reuse the results of the steps before this step id.")
    def rerun(run_id: str, database: str, from_step: str | None) -> None:
        """Start a new run of the same event(s); prints its id."""
        with _runs(database) as runs:
            try:
                new_id = runs.rerun(run_id, from_step=from_step)
            except SteppeError as error:
                raise click.ClickException(str(error)) from error
        click.echo(new_id)


def _status(status: str | None) -> RunStatus | None:
    for known in get_args(RunStatus):
        if status == known:
            return known  # type: ignore[no-any-return]
    return None
