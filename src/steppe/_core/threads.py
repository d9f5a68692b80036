"""Where blocking code runs: sync function bodies on threads of their own, sync step handlers in a shared pool.

A sync function body spends its life waiting on its steps. If bodies shared the handlers' pool, enough
concurrent sync runs would fill it with bodies waiting on steps that can never get a thread: a deadlock.
So each body gets a dedicated thread. Step handlers never wait on other steps, so a bounded pool suits
them; it is one pool for the process rather than each event loop's default executor, because a WSGI
request runs its own short-lived loop and would otherwise start (and join) fresh threads every time.
"""

from __future__ import annotations

import contextvars
import functools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["run_in_own_thread", "run_in_step_pool"]

_T = TypeVar("_T")

_step_pool: ThreadPoolExecutor | None = None
_step_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor  # here, not at the top: importing steppe starts no pool code

    global _step_pool
    with _step_pool_lock:
        if _step_pool is None:
            _step_pool = ThreadPoolExecutor(
                max_workers=min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="steppe-step"
            )
        return _step_pool


async def run_in_step_pool(function: Callable[..., _T], *args: Any) -> _T:
    """``function(*args)`` in the shared step-handler pool, with the caller's context variables."""
    import asyncio  # here, not at the top: importing steppe must not load asyncio's event loop machinery

    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_pool(), functools.partial(context.run, function, *args))


async def run_in_own_thread(function: Callable[..., _T], *args: Any, name: str = "steppe-function") -> _T:
    """``function(*args)`` on a new thread, with the caller's context variables; awaits its result."""
    import asyncio  # here, not at the top, as in run_in_step_pool

    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[_T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if outcome.done():  # the awaiting task was cancelled meanwhile
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

    def body() -> None:
        try:
            result, error = context.run(function, *args), None
        except BaseException as raised:  # noqa: BLE001 - handed to the awaiting task as is
            result, error = None, raised
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop closed while this body ran: nobody is waiting any more

    threading.Thread(target=body, name=name, daemon=True).start()
    return await outcome
