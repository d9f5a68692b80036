"""Step ids as the Inngest protocol spells them: a user id, de-duplicated within a run, then SHA-1 hashed."""

from __future__ import annotations

import functools
import hashlib
import threading

__all__ = ["StepId", "StepIdAllocator", "hash_step_id"]


@functools.lru_cache(maxsize=4096)
def hash_step_id(user_id: str) -> str:
    # Cached: every call request of a served run, and every replay, hashes the same ids again.
    return hashlib.sha1(user_id.encode()).hexdigest()


class StepId:
    """One step's identity within a run.

    ``user_id`` is what the user wrote; ``index`` is None for its first use in the run and n for the
    (n+1)-th, whose de-duplicated form is ``"{user_id}:{n}"``; ``hashed`` is the key its result is stored under.
    ``position`` is the order in which the attempt took the id (0 for the first): program order, which a driver
    needs to report steps found together in a deterministic order, since sync parallel branches run in threads
    and may reach the driver in any order. It does not take part in equality.

    A plain class with slots rather than a frozen dataclass: one is made per step of every replay, and a frozen
    dataclass's ``__init__`` costs three times as much. Treat it as immutable.
    """

    __slots__ = ("hashed", "index", "position", "user_id")

    user_id: str
    index: int | None
    hashed: str
    position: int

    def __init__(self, user_id: str, index: int | None, hashed: str, position: int = 0) -> None:
        self.user_id = user_id
        self.index = index
        self.hashed = hashed
        self.position = position

    @property
    def deduplicated(self) -> str:
        return self.user_id if self.index is None else f"{self.user_id}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StepId):
            return NotImplemented
        return (self.user_id, self.index, self.hashed) == (other.user_id, other.index, other.hashed)

    def __hash__(self) -> int:
        return hash((self.user_id, self.index, self.hashed))

    def __repr__(self) -> str:
        return f"StepId({self.user_id!r}, {self.index!r}, {self.hashed!r}, position={self.position})"


class StepIdAllocator:
    """Hands out ids in call order. Thread-safe, because sync parallel branches run in threads."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._taken = 0
        self._lock = threading.Lock()

    def allocate(self, user_id: str) -> StepId:
        self._lock.acquire()  # not ``with``: the context manager protocol costs three times as much, per step
        try:
            position = self._taken
            self._taken = position + 1
            count = self._seen.get(user_id, 0)
            self._seen[user_id] = count + 1
        finally:
            self._lock.release()
        if count == 0:
            return StepId(user_id, None, hash_step_id(user_id), position)
        return StepId(user_id, count, hash_step_id(f"{user_id}:{count}"), position)
