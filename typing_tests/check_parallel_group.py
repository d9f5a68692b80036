"""`step.group()`: the TypeVarTuple builder that types a parallel group of any length."""

from __future__ import annotations

from typing import assert_type

from steppe import Group, Step, StepSync, SyncGroup


class User:
    pass


async def get_user(user_id: int) -> User:
    return User()


async def count_users() -> int:
    return 0


def user_name(user_id: int) -> str:
    return str(user_id)


def is_active(user_id: int) -> bool:
    return user_id > 0


async def async_group(step: Step) -> None:
    # case: step.group() is an empty Group
    assert_type(step.group(), Group[()])
    # case: an empty group's parallel
    assert_type(await step.group().parallel(), tuple[()])
    group = step.group().add(lambda: step.run("count", count_users)).add(step.defer("name", user_name, 1))
    # case: Group after two add calls
    assert_type(group, Group[int, str])
    # case: group parallel result (lambda and defer elements)
    assert_type(await group.parallel(), tuple[int, str])
    # case: group of three with a coroutine function element, mode="race"
    assert_type(await group.add(count_users).parallel(mode="race"), tuple[int, str, int])


async def chained_in_one_expression(step: Step) -> None:
    result = await (
        step.group()
        .add(lambda: step.run("get", get_user, 1))
        .add(lambda: step.run("name", user_name, 1))
        .add(lambda: step.run("active", is_active, 1))
        .parallel()
    )
    # case: group chained in one expression
    assert_type(result, tuple[User, str, bool])


async def nested_groups(step: Step) -> None:
    inner = step.group().add(lambda: step.run("count", count_users)).add(lambda: step.run("name", user_name, 1))
    outer = step.group().add(inner.parallel).add(lambda: step.run("get", get_user, 1))
    # case: a group inside a group
    assert_type(await outer.parallel(), tuple[tuple[int, str], User])


def sync_group(step: StepSync) -> None:
    # case: StepSync.group() is an empty SyncGroup
    assert_type(step.group(), SyncGroup[()])
    group = step.group().add(lambda: step.run("name", user_name, 1)).add(step.defer("active", is_active, 1))
    # case: SyncGroup after two add calls
    assert_type(group, SyncGroup[str, bool])
    # case: SyncGroup parallel result
    assert_type(group.parallel(), tuple[str, bool])
