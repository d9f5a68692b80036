"""Step ids as the Inngest protocol spells them: a user id, de-duplicated within a run, then SHA-1 hashed."""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass, field

__all__ = ["StepId", "StepIdAllocator", "hash_step_id"]


@functools.lru_cache(maxsize=4096)
def hash_step_id(user_id: str) -> str:
    # Cached: every call request of a served run, and every replay, hashes the same ids again.
    return hashlib.sha1(user_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StepId:
    """One step's identity within a run.

    ``user_id`` is what the user wrote; ``index`` is None for its first use in the run and n for the
    (n+1)-th, whose de-duplicated form is ``"{user_id}:{n}"``; ``hashed`` is the key its result is stored under.
    ``position`` is the order in which the attempt took the id (0 for the first): program order, which a driver
    needs to report steps found together in a deterministic order, since sync parallel branches run in threads
    and may reach the driver in any order. It does not take part in equality.
    """

    user_id: str
    index: int | None
    hashed: str
    position: int = field(default=0, compare=False)

    @property
    def deduplicated(self) -> str:
        return self.user_id if self.index is None else f"{self.user_id}:{self.index}"


class StepIdAllocator:
    """Hands out ids in call order. Thread-safe, because sync parallel branches run in threads."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._taken = 0
        self._lock = threading.Lock()

    def allocate(self, user_id: str) -> StepId:
        with self._lock:
            count = self._seen.get(user_id, 0)
            self._seen[user_id] = count + 1
            position = self._taken
            self._taken += 1
        index = None if count == 0 else count
        deduplicated = user_id if index is None else f"{user_id}:{index}"
        return StepId(user_id, index, hash_step_id(deduplicated), position)  # positional: a third cheaper
