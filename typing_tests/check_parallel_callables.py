"""What `Step.parallel` infers for each kind of zero-argument callable a user hands it."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, assert_type

from steppe import Step, StepCall


class User:
    name: str = ""


async def get_user(user_id: int) -> User:
    return User()


async def count_users() -> int:
    return 0


def user_name(user_id: int) -> str:
    return str(user_id)


def loose_lookup(key: str) -> Any:
    return key


class Repository:
    async def load(self, key: str) -> User:
        return User()

    async def size(self) -> int:
        return 0

    def label(self, key: str) -> str:
        return key


async def lambdas(step: Step) -> None:
    result = await step.parallel((lambda: step.run("get", get_user, 1), lambda: step.run("name", user_name, 1)))
    # case: lambdas around step.run (async and sync handlers)
    assert_type(result, tuple[User, str])


async def coroutine_functions(step: Step) -> None:
    # Not durable steps, but awaitables all the same: parallel accepts any zero-argument awaitable factory.
    result = await step.parallel((count_users, functools.partial(get_user, 7)))
    # case: coroutine function and functools.partial of one
    assert_type(result, tuple[int, User])


async def bound_methods(step: Step, repo: Repository) -> None:
    result = await step.parallel(
        (repo.size, lambda: step.run("load", repo.load, "k"), lambda: step.run("label", repo.label, "k"))
    )
    # case: bound methods, direct and through step.run
    assert_type(result, tuple[int, User, str])


async def deferred_steps(step: Step) -> None:
    deferred = step.defer("get", get_user, 1)
    # case: step.defer with an async handler
    assert_type(deferred, Callable[[], StepCall[User]])
    # case: step.defer with a sync handler
    assert_type(step.defer("name", user_name, 1), Callable[[], StepCall[str]])
    result = await step.parallel((deferred, step.defer("name", user_name, 2)))
    # case: parallel of step.defer elements
    assert_type(result, tuple[User, str])


async def partial_of_run(step: Step) -> None:
    # The reference page's loop element. Both checkers type `functools.partial(step.run, ...)` as
    # `partial[StepCall[Any]]` (the overloaded, variadic `run` defeats their partial support); pyright
    # then finds no `parallel` overload for it, mypy makes the result `Any`. `step.defer` is the
    # portable spelling.
    element = functools.partial(step.run, "get", get_user, 1)
    # case: functools.partial(step.run, ...) element type
    assert_type(element, functools.partial[StepCall[User]])  # type: ignore[assert-type]  # pyright: ignore[reportAssertTypeFailure]
    # case: parallel of functools.partial(step.run, ...) call
    result = await step.parallel((element,))  # pyright: ignore[reportCallIssue, reportArgumentType, reportUnknownVariableType]
    # case: parallel of functools.partial(step.run, ...) result
    assert_type(result, tuple[User])  # type: ignore[assert-type]  # pyright: ignore[reportAssertTypeFailure]


async def any_element(step: Step) -> None:
    # One element typed `Any` collapses mypy's whole result to `Any` (mypy issue 21768); see mypy_cases.
    result = await step.parallel((lambda: step.run("count", count_users), lambda: step.run("loose", loose_lookup, "k")))
    # case: one element returning Any
    assert_type(result, tuple[int, Any])  # type: ignore[assert-type]


async def race_mode(step: Step) -> None:
    result = await step.parallel((lambda: step.run("a", count_users), lambda: step.run("b", user_name, 1)), mode="race")
    # case: mode="race" keeps the element types
    assert_type(result, tuple[int, str])


async def awaitable_factories(step: Step, make: Callable[[], Awaitable[bytes]]) -> None:
    # case: a declared Callable[[], Awaitable[T]] parameter
    assert_type(await step.parallel((make, make)), tuple[bytes, bytes])


async def step_call_is_a_coroutine(step: Step) -> None:
    call = step.run("count", count_users)
    # case: step.run returns a StepCall
    await assert_type(call, StepCall[int])
    # case: a StepCall is a coroutine: asyncio.create_task takes it
    assert_type(await asyncio.create_task(step.run("count-2", count_users)), int)
