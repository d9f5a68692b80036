"""Source text of a synthetic user module full of `parallel` calls, for steppe or inngest.

Both dialects produce the same flows, call for call; they differ only in how the API is
reached (steppe: `step.parallel`, `step.run`; inngest 0.5.19: `ctx.group.parallel`,
`ctx.step.run`) and in one forced substitution: inngest's async `Step.run` accepts only
async handlers, so where a steppe flow passes a plain `def` handler, the inngest flow
passes that handler's `async def` twin.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

ElementKind = Literal["run_async", "run_plain", "coroutine_fn", "nested"]


@dataclass(frozen=True)
class Mix:
    """The shape of the generated calls; every sequence is cycled through."""

    # Arity of successive top-level `parallel` calls.
    arities: tuple[int, ...]
    # Kinds filling each tuple, in order; sync flows turn async kinds into plain ones.
    kinds: tuple[ElementKind, ...]
    # Every sync_every-th flow is blocking (StepSync / ContextSync); 0 for none.
    sync_every: int
    # Every destructure_every-th flow unpacks the tuple into names instead of splatting it.
    destructure_every: int = 5


MIXES = {
    # Mostly small tuples, some wide, one wider than common N; a nested parallel in calls of 6+.
    "mixed": Mix(
        arities=(2, 3, 2, 4, 5, 3, 6, 2, 8, 4, 2, 3, 7, 2, 5, 3, 12, 2, 4, 6),
        kinds=(
            "run_async",
            "run_plain",
            "run_async",
            "coroutine_fn",
            "run_plain",
            "nested",
            "run_async",
            "run_plain",
        ),
        sync_every=4,
    ),
    # Isolates nesting: every call is (run, lambda: parallel((run, run))).
    "nested": Mix(arities=(2,), kinds=("run_async", "nested"), sync_every=0),
    # Isolates flat lambdas around run, no coroutine functions, no nesting.
    "flat": Mix(arities=(2, 4, 6, 3), kinds=("run_async", "run_plain"), sync_every=0),
    # Lambdas mixed with `async def` functions, whose CoroutineType[Any, Any, T] carries Any.
    "coroutine": Mix(arities=(2, 4, 6, 3), kinds=("run_async", "coroutine_fn"), sync_every=0),
}

# (handler name, argument source text); `uid` is the flow's `user_id` parameter.
ASYNC_HANDLERS = (("load_user", "uid"), ("send_email", 'uid, "welcome"'), ("count_orders", "uid"))
PLAIN_HANDLERS = (("score", "uid, 0.5"), ("tags_of", "uid"), ("audit", 'uid, "seen"'))

HANDLER_DEFINITIONS = """
class User:
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id


async def load_user(user_id: int) -> User:
    return User(user_id)


async def send_email(user_id: int, subject: str) -> bool:
    return bool(subject)


async def count_orders(user_id: int) -> int:
    return user_id


def score(user_id: int, weight: float) -> float:
    return user_id * weight


def tags_of(user_id: int) -> list[str]:
    return [str(user_id)]


def audit(user_id: int, note: str) -> dict[str, int]:
    return {note: user_id}


async def score_async(user_id: int, weight: float) -> float:
    return user_id * weight


async def tags_of_async(user_id: int) -> list[str]:
    return [str(user_id)]


async def audit_async(user_id: int, note: str) -> dict[str, int]:
    return {note: user_id}


async def fetch_config() -> str:
    return "config"


def read_flag() -> bool:
    return False


def consume(*values: object) -> None:
    print(len(values))
"""


@dataclass(frozen=True)
class Dialect:
    """How one library spells the pieces of a flow."""

    name: str
    imports: str
    async_flow_params: str
    sync_flow_params: str
    run: str
    parallel: str
    # inngest's async run rejects plain handlers; name the async twin to use instead.
    plain_handler_suffix_in_async_flow: str


def steppe_dialect(module: str) -> Dialect:
    return Dialect(
        name="steppe",
        imports=f"from {module} import Step, StepSync",
        async_flow_params="step: Step, uid: int",
        sync_flow_params="step: StepSync, uid: int",
        run="step.run",
        parallel="step.parallel",
        plain_handler_suffix_in_async_flow="",
    )


INNGEST_DIALECT = Dialect(
    name="inngest",
    imports="import inngest",
    async_flow_params="ctx: inngest.Context, uid: int",
    sync_flow_params="ctx: inngest.ContextSync, uid: int",
    run="ctx.step.run",
    parallel="ctx.group.parallel",
    plain_handler_suffix_in_async_flow="_async",
)


class _FlowWriter:
    """Writes one flow; step ids are unique within the flow."""

    def __init__(self, dialect: Dialect, flow_index: int, is_async: bool) -> None:
        self.dialect = dialect
        self.flow_index = flow_index
        self.is_async = is_async
        self._ids = itertools.count()
        self._handler_turn = itertools.count(flow_index)

    def _step_id(self) -> str:
        return f'"f{self.flow_index}-s{next(self._ids)}"'

    def _run(self, handlers: tuple[tuple[str, str], ...], suffix: str = "") -> str:
        name, args = handlers[next(self._handler_turn) % len(handlers)]
        return f"lambda: {self.dialect.run}({self._step_id()}, {name}{suffix}, {args})"

    def element(self, kind: ElementKind) -> str:
        if not self.is_async:
            if kind == "nested":
                inner = [self.element("run_plain"), self.element("run_plain")]
                return f"lambda: {self.parallel_call(inner)}"
            if kind == "coroutine_fn":
                return "read_flag"
            return self._run(PLAIN_HANDLERS)
        if kind == "run_async":
            return self._run(ASYNC_HANDLERS)
        if kind == "run_plain":
            return self._run(PLAIN_HANDLERS, self.dialect.plain_handler_suffix_in_async_flow)
        if kind == "coroutine_fn":
            return "fetch_config"
        inner = [self.element("run_async"), self.element("run_plain")]
        return f"lambda: {self.parallel_call(inner)}"

    def parallel_call(self, elements: list[str]) -> str:
        return f"{self.dialect.parallel}(({', '.join(elements)},))"


def render_flow(dialect: Dialect, mix: Mix, flow_index: int) -> str:
    is_async = mix.sync_every == 0 or flow_index % mix.sync_every != mix.sync_every - 1
    arity = mix.arities[flow_index % len(mix.arities)]
    writer = _FlowWriter(dialect, flow_index, is_async)
    elements = [writer.element(mix.kinds[i % len(mix.kinds)]) for i in range(arity)]
    params = dialect.async_flow_params if is_async else dialect.sync_flow_params
    head = f"{'async ' if is_async else ''}def flow_{flow_index}({params}) -> None:"
    awaited = "await " if is_async else ""
    body = ["    results = " + awaited + dialect.parallel + "(", "        ("]
    body += [f"            {e}," for e in elements]
    body += ["        )", "    )"]
    if flow_index % mix.destructure_every == 0:
        names = ", ".join(f"r{i}" for i in range(arity))
        body += [f"    {names} = results", f"    consume({names})"]
    else:
        body += ["    consume(*results)"]
    return "\n".join([head, *body])


def render_user_module(dialect: Dialect, mix: Mix, calls: int) -> str:
    """A module with `calls` flows, each making one top-level `parallel` call.

    `calls=0` gives the baseline: imports and handler definitions only.
    """
    # Keeps the imports used (strict mode reports unused ones) when there are no flows.
    uses_imports = (
        f"def uses_imports({dialect.async_flow_params}) -> None: ...\n\n\n"
        f"def uses_imports_sync({dialect.sync_flow_params}) -> None: ...\n\n"
    )
    parts = [
        f'"""Generated by benchmarks/typecheck: {calls} parallel calls, {dialect.name}."""',
        "from __future__ import annotations\n",
        dialect.imports,
        HANDLER_DEFINITIONS,
        uses_imports,
        *(render_flow(dialect, mix, i) + "\n\n" for i in range(calls)),
    ]
    return "\n".join(parts).rstrip() + "\n"
