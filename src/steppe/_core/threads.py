"""Where blocking code runs: sync function bodies on threads of their own, their step handlers on those same
threads, any other sync step handler in a shared pool.

A sync function body spends its life waiting on its steps. If bodies shared the handlers' pool, enough
concurrent sync runs would fill it with bodies waiting on steps that can never get a thread: a deadlock.
So each body gets a dedicated thread. While it waits for a step (``block_on``), that thread is idle and
already off the event loop, so the step's sync handler runs there: a step costs one round trip to the loop
and back to hand the handler over and one to report its result, through a queue and ``call_soon_threadsafe``,
rather than two more thread hops through a pool. A driver that can (``ThreadedDriver``, the embedded engine's)
saves one of them: the thread runs the handler at once and waits for the loop only to have its outcome stored
(``wait_on_loop``). Sync handlers of ``async def`` bodies run in a bounded pool;
it is one pool for the process rather than each event loop's default executor, so that the several loops of
one process (an engine's, the served path's kept loops) share one set of threads.
"""

from __future__ import annotations

import contextvars
import functools
import os
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio
    import queue
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["Waiter", "block_on", "run_blocking", "run_in_own_thread", "wait_on_loop"]

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


# Set in the context of a task started by ``block_on``: the inbox of the thread that waits for it. The loop puts
# there a handler to run (with the future for its result), then how the task ended.
_waiting_thread: contextvars.ContextVar[queue.SimpleQueue[Any] | None] = contextvars.ContextVar(
    "steppe_waiting_thread", default=None
)


class _Ended:
    __slots__ = ("error", "result")

    def __init__(self, result: object, error: BaseException | None) -> None:
        self.result = result
        self.error = error


class Waiter:
    """A thread blocked in ``wait_on_loop``, as the loop sees it: end its wait, or start a task whose outcome ends
    it (and whose ``run_blocking`` handlers run on that thread meanwhile). Used on the loop only."""

    __slots__ = ("_inbox", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, inbox: queue.SimpleQueue[Any]) -> None:
        self._loop = loop
        self._inbox = inbox

    def end(self, result: object, error: BaseException | None) -> None:
        """The waiting thread returns ``result``, or raises ``error`` if it is not ``None``."""
        self._inbox.put(_Ended(result, error))

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` as a task, in a copy of the current context; its outcome ends the wait."""
        context = contextvars.copy_context()
        context.run(_waiting_thread.set, self._inbox)
        self._loop.create_task(self._report(coroutine), context=context)

    async def _report(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        # Puts the outcome itself: a done callback would cost another loop turn.
        try:
            result = await coroutine
        except BaseException as error:  # noqa: BLE001 - raised again on the waiting thread
            self.end(None, error)
        else:
            self.end(result, None)


def wait_on_loop(loop: asyncio.AbstractEventLoop, start: Callable[[Waiter], None]) -> Any:
    """From a thread that is not ``loop``'s: call ``start`` on ``loop`` (in a copy of this thread's context) with
    this thread's ``Waiter``, and block until the loop ends the wait, meanwhile running here the handlers a task
    it spawned passes to ``run_blocking``. One hand-off to the loop, one back, plus two per handler."""
    import queue  # here, not at the top, as asyncio in run_blocking

    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
    loop.call_soon_threadsafe(start, Waiter(loop, inbox))
    while True:
        message = inbox.get()
        if isinstance(message, _Ended):
            if message.error is None:
                return message.result
            try:
                raise message.error
            finally:
                del message  # its error's traceback holds this frame: no cycle left for the garbage collector
        handler, future = message
        try:
            result, error = handler(), None
        except BaseException as raised:  # noqa: BLE001 - handed to the awaiting task as is
            result, error = None, raised
        loop.call_soon_threadsafe(_settle, future, result, error)
        del result, error  # as above: a handler's error must not keep this frame in a cycle


def block_on(loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """From a thread that is not ``loop``'s: run ``make()`` as a task on ``loop`` (in a copy of this thread's
    context) and block until it ends, meanwhile running here the handlers it passes to ``run_blocking``."""
    result: _T = wait_on_loop(loop, lambda waiter: waiter.spawn(make()))
    return result


async def run_blocking(function: Callable[..., _T], *args: Any) -> _T:
    """``function(*args)`` off the loop, with the caller's context variables: on the thread blocked in
    ``block_on`` for the calling task if there is one (it has nothing else to do), else in the shared pool."""
    import asyncio  # here, not at the top: importing steppe must not load asyncio's event loop machinery

    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    inbox = _waiting_thread.get()
    if inbox is None:
        return await loop.run_in_executor(_pool(), functools.partial(context.run, function, *args))
    outcome: asyncio.Future[_T] = loop.create_future()
    inbox.put((functools.partial(context.run, function, *args), outcome))
    try:
        return await outcome
    finally:
        del outcome  # it holds the error raised here, whose traceback holds this frame: no cycle for the collector


def _settle(outcome: asyncio.Future[_T], result: _T | None, error: BaseException | None) -> None:
    if outcome.done():  # the awaiting task was cancelled meanwhile
        return
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(result)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


async def run_in_own_thread(function: Callable[..., _T], *args: Any, name: str = "steppe-function") -> _T:
    """``function(*args)`` on a new thread, with the caller's context variables; awaits its result."""
    import asyncio  # here, not at the top, as in run_blocking

    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[_T] = loop.create_future()
    context = contextvars.copy_context()

    def body(outcome: asyncio.Future[_T]) -> None:
        try:
            result, error = context.run(function, *args), None
        except BaseException as raised:  # noqa: BLE001 - handed to the awaiting task as is
            result, error = None, raised
        try:
            loop.call_soon_threadsafe(_settle, outcome, result, error)
        except RuntimeError:
            pass  # the loop closed while this body ran: nobody is waiting any more
        finally:
            del outcome, result, error  # the error's traceback holds this frame: no cycle left for the collector

    # The future is an argument, not a closure's cell, so the ``del`` below leaves no path to it.
    threading.Thread(target=body, args=(outcome,), name=name, daemon=True).start()
    try:
        return await outcome
    finally:
        del outcome  # as in run_blocking
