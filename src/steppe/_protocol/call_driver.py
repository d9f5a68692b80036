"""The HTTP protocol's driver: memos come from the call request, and a new step suspends the run.

Where the embedded engine's driver executes a new step in place, this one only notes it and raises ``Interrupt``.
The core lets every parallel branch run to its own first new step before the interrupt ends the attempt, so
after ``execute`` returns ``Suspended`` the driver holds every step the call found; the executor then decides,
by the protocol's rules, whether to run one of them or to report them all.
"""

from __future__ import annotations

from collections.abc import Mapping

from steppe._core.ids import StepId
from steppe._core.outcomes import Interrupt, Memo
from steppe._core.requests import StepRequest

__all__ = ["HttpDriver"]


class HttpDriver:
    """One call request's view of the run.

    ``target`` is the hashed id the server asked to run (``stepId``), or ``None`` for a discovery call
    (``stepId=step``). A targeted call notes only the target and passes over other new steps, which is how
    the protocol skips the branches it did not ask for.
    """

    def __init__(self, memos: Mapping[str, Memo], *, target: str | None) -> None:
        self._memos = memos
        self.target = target
        self._found: list[StepRequest] = []
        self.target_request: StepRequest | None = None
        # hashed id -> user id of every stored step this call reached
        self.visited: dict[str, str] = {}

    def memo(self, step_id: StepId) -> Memo | None:
        memo = self._memos.get(step_id.hashed)
        if memo is not None:
            self.visited[step_id.hashed] = step_id.user_id
        return memo

    def replaying(self) -> bool:
        return len(self.visited) < len(self._memos)

    async def new_step(self, request: StepRequest) -> object:
        if self.target is None:
            self._found.append(request)
        elif request.id.hashed == self.target:
            self.target_request = request
        raise Interrupt

    @property
    def found(self) -> list[StepRequest]:
        """The new steps of a discovery call, in program order (sync branches reach us in thread order)."""
        return sorted(self._found, key=lambda request: request.id.position)
