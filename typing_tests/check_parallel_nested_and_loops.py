"""`Step.parallel` nested in itself and fed from loops (the dynamic fan-out the fallback overload serves)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import assert_type

from steppe import Step


class User:
    pass


async def get_user(user_id: int) -> User:
    return User()


async def count_users() -> int:
    return 0


def user_name(user_id: int) -> str:
    return str(user_id)


async def nested(step: Step) -> None:
    result = await step.parallel(
        (
            lambda: step.parallel((lambda: step.run("count", count_users), lambda: step.run("name", user_name, 1))),
            lambda: step.run("get", get_user, 1),
        )
    )
    # case: parallel nested inside parallel
    assert_type(result, tuple[tuple[int, str], User])


async def nested_group(step: Step) -> None:
    inner = step.group().add(lambda: step.run("count", count_users)).add(lambda: step.run("name", user_name, 1))
    result = await step.parallel((inner.parallel, lambda: step.run("get", get_user, 1)))
    # case: a group's parallel as an element of parallel
    assert_type(result, tuple[tuple[int, str], User])


async def loop_with_defer(step: Step, user_ids: list[int]) -> None:
    result = await step.parallel(tuple(step.defer(f"get-{uid}", get_user, uid) for uid in user_ids))
    # case: loop of step.defer (generator into tuple)
    assert_type(result, tuple[User, ...])


async def loop_with_accumulator(step: Step, user_ids: list[int]) -> None:
    pending: tuple[Callable[[], Awaitable[User]], ...] = ()
    for uid in user_ids:
        pending += (step.defer(f"get-{uid}", get_user, uid),)
    # case: loop accumulating step.defer into a declared tuple
    assert_type(await step.parallel(pending), tuple[User, ...])


async def loop_with_partial(step: Step, user_ids: list[int]) -> None:
    pending = tuple(functools.partial(get_user, uid) for uid in user_ids)
    # case: loop of functools.partial(handler, arg)
    assert_type(await step.parallel(pending), tuple[User, ...])


async def loop_with_default_lambda(step: Step, user_ids: list[int]) -> None:
    pending: list[Callable[[], Awaitable[User]]] = []
    for uid in user_ids:
        # case: lambda uid=uid capture checked against a declared Callable
        pending.append(lambda uid=uid: step.run(f"get-{uid}", get_user, uid))  # type: ignore[misc]
    # case: loop of default-argument lambdas
    assert_type(await step.parallel(tuple(pending)), tuple[User, ...])


async def default_lambda_in_parallel(step: Step) -> None:
    # mypy types `lambda uid=1: ...` as Callable[[Any], ...], forgetting the default, so no overload fits.
    # case: lambda with a default argument as a parallel element
    result = await step.parallel((lambda uid=1: step.run("get", get_user, uid),))  # type: ignore[arg-type, misc, var-annotated]
    # case: lambda with a default argument, result
    assert_type(result, tuple[User])  # type: ignore[assert-type]


async def parallel_in_loop(step: Step, batches: list[list[int]]) -> None:
    for index, batch in enumerate(batches):
        pair = await step.parallel(
            (lambda: step.run(f"count-{index}", count_users), step.defer(f"first-{index}", get_user, batch[0]))
        )
        # case: fixed-size parallel inside a loop body
        assert_type(pair, tuple[int, User])
