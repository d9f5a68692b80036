"""The worker and the web server on one asyncio loop, stopped together by one ``stop`` event.

uvicorn's ``Server`` normally installs its own SIGINT/SIGTERM handlers, which would stop the web server and leave
the worker running; ``steppe dev`` handles the signals itself (``command.py``) and sets ``stop`` for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Generator

import uvicorn

from steppe._client import Client
from steppe._core.errors import SteppeError
from steppe._dev.app import create_app
from steppe._operate.runs import Runs
from steppe._operate.worker import run_worker

__all__ = ["LOOPBACK", "listen", "serve"]

LOOPBACK = "127.0.0.1"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield  # the signals are ours: see the module's docstring


def listen(port: int) -> socket.socket:
    """A socket bound to ``port`` on the loopback interface only (0: a free port); raises OSError if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


async def serve(
    client: Client,
    database: str | os.PathLike[str],
    sock: socket.socket,
    *,
    stop: asyncio.Event,
    ready: Callable[[], None] = lambda: None,
) -> None:
    """Run ``client``'s functions on ``database`` and serve the UI on ``sock`` until ``stop`` is set; ``ready`` is
    called once the database is open and the server accepts requests.

    If either side fails, the other is stopped too and the failure is raised.
    """
    worker = asyncio.create_task(run_worker(client, database, stop=stop), name="steppe dev worker")
    # The worker opens (and migrates) the database; the UI's reader waits for that.
    await _database_ready(worker, database)
    with Runs(database, app=client) as runs:
        app = create_app(runs, client, database=os.fspath(database))
        server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
        web = asyncio.create_task(server.serve(sockets=[sock]), name="steppe dev web server")
        stopping = asyncio.create_task(stop.wait())
        try:
            while not (server.started or web.done() or worker.done() or stop.is_set()):
                await asyncio.sleep(0.01)
            if server.started:
                ready()
            await asyncio.wait({worker, web, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.set()
            server.should_exit = True
            stopping.cancel()
            await asyncio.gather(worker, web, return_exceptions=True)
    for task in (worker, web):
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


async def _database_ready(worker: asyncio.Task[None], database: str | os.PathLike[str]) -> None:
    """Until the worker's engine has created (or migrated) the database, a reader refuses it as missing or old."""
    while True:
        if worker.done():
            worker.result()  # the worker failed before the database opened: its error is the one to see
            raise RuntimeError("steppe dev: the worker stopped before the database was open")
        try:
            Runs(database).close()
        except (SteppeError, OSError):
            await asyncio.sleep(0.05)
        else:
            return
