"""Pydantic models of the JSON bodies of the Inngest SDK HTTP protocol.

Python attribute names are snake_case; the JSON keys are the protocol's exact spelling (aliases).

Parsing is tolerant and strict at once: unknown keys the server may add are accepted and kept
(``extra="allow"``, so they also survive a round trip), while the types of known keys are checked
strictly (no ``"1"`` for an int, no ``"true"`` for a bool). A malformed body raises
``pydantic.ValidationError``, which the HTTP adapter turns into a 400.

Serialize with ``model.to_wire()`` / ``to_wire_json()``: JSON names, and a field left at its
``None`` default is omitted, as the wire does for optional fields. A field *explicitly* set to
``None`` (by the caller or because the parsed JSON had ``null``) is kept as ``null``: a step that
returned ``None`` must send ``"data": null``, and a parsed body round-trips exactly. A model may
name fields that are always sent, ``null`` when unset (``Op``: the server's decoder tells an absent
field from a ``null`` one, and the reference SDK sends every op field).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final, Literal, TypeAlias, cast

import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from steppe._core.outcomes import MemoData

__all__ = [
    "INTROSPECTION_SCHEMA_VERSION",
    "AuthenticatedIntrospection",
    "BatchEvents",
    "CallContext",
    "CallRequest",
    "CallStack",
    "CancelOn",
    "Capabilities",
    "ConcurrencyLimit",
    "CronTrigger",
    "Debounce",
    "ErrorBody",
    "EventTrigger",
    "FunctionConfig",
    "FunctionErrorBody",
    "InBandSyncRequest",
    "InBandSyncResponse",
    "InvokeFunctionOpts",
    "InvokePayload",
    "Memo",
    "MemoData",
    "MemoError",
    "Op",
    "Opcode",
    "Priority",
    "RateLimit",
    "RegisterRequest",
    "RegisterResponse",
    "Retries",
    "Singleton",
    "SleepOpts",
    "StepConfig",
    "StepRuntime",
    "SyncResponse",
    "Throttle",
    "Timeouts",
    "Trigger",
    "UnauthenticatedIntrospection",
    "Userland",
    "WaitForEventOpts",
    "WireEvent",
    "WireModel",
    "WireObject",
    "parse_memo",
    "parse_memos",
    "parse_ops",
    "wire_object",
    "wire_ops_json",
]

INTROSPECTION_SCHEMA_VERSION: Final = "2024-05-24"


def _wire_name(json_name: str) -> Any:
    """A field whose JSON key differs from its Python name.

    ``validation_alias`` + ``serialization_alias`` (rather than ``alias``) keeps the Python name in
    the constructor signature that type checkers see; ``validate_by_name`` accepts it at runtime.
    """
    return Field(default=None, validation_alias=json_name, serialization_alias=json_name)


class WireModel(BaseModel):
    """Base of every protocol body: strict known types, unknown keys kept, exact JSON names."""

    model_config: ClassVar[ConfigDict] = ConfigDict(
        strict=True,
        extra="allow",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    null_when_unset: ClassVar[frozenset[str]] = frozenset()
    """Fields (Python names) sent as ``null`` when unset, instead of being left out."""

    @model_serializer(mode="wrap")
    def _keep_explicit_nulls(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        dumped: Any = handler(self)
        if not info.exclude_none or not isinstance(dumped, dict):
            return dumped
        result = cast(dict[str, Any], dumped)
        excluded = info.exclude if isinstance(info.exclude, set | dict) else ()
        wanted = self.model_fields_set | type(self).null_when_unset
        by_alias = bool(info.by_alias)
        nulls: set[str] = set()
        for name, alias in _field_keys(type(self)):
            if name in wanted and name not in excluded and getattr(self, name) is None:
                nulls.add(alias if by_alias and alias else name)
        extra = self.__pydantic_extra__
        extra_nulls = (
            [] if not extra else [n for n, v in extra.items() if v is None and n in wanted and n not in excluded]
        )
        if not nulls and not extra_nulls:
            return result
        # Declared fields in declaration order, then unknown keys, so the keys come out the same on every run.
        ordered: dict[str, Any] = {}
        for name, alias in _field_keys(type(self)):
            key = alias if by_alias and alias else name
            if key in result:
                ordered[key] = result[key]
            elif key in nulls:
                ordered[key] = None
        for key, value in result.items():
            ordered.setdefault(key, value)
        for key in extra_nulls:
            ordered.setdefault(key, None)
        return ordered

    def to_wire(self) -> dict[str, JsonValue]:
        """The JSON object for this body (protocol key names, unset optional fields omitted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_wire_json(self) -> bytes:
        """``to_wire()`` encoded as compact UTF-8 JSON."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")


@functools.cache
def _field_keys(model: type[BaseModel]) -> tuple[tuple[str, str | None], ...]:
    """A model's declared fields in declaration order: (Python name, serialization alias or None)."""
    return tuple((name, info.serialization_alias) for name, info in model.model_fields.items())


WireObject: TypeAlias = dict[str, JsonValue]
"""A protocol body as the JSON object ``to_wire()`` gives."""


def wire_object(model: type[WireModel], fields: Mapping[str, JsonValue]) -> WireObject:
    """``model(**fields).to_wire()``, built without the model, for fields that are JSON data already (a nested
    body given as its own wire object): the bodies a call answers with every time (ops), where building and
    validating a model, then serializing it through the null rule, costs ~30 µs against ~2.

    The same rule as ``to_wire``: declared fields in order under their JSON names, one given (even as ``None``)
    or named in ``null_when_unset`` is sent, any other is left out. Only for models whose optional fields all
    default to ``None`` (a default would otherwise be sent); tests hold the two paths equal.
    """
    nulls = model.null_when_unset
    wired: WireObject = {}
    for name, key in _wire_keys(model):
        if name in fields:
            wired[key] = fields[name]
        elif name in nulls:
            wired[key] = None
    return wired


@functools.cache
def _wire_keys(model: type[WireModel]) -> tuple[tuple[str, str], ...]:
    for name, info in model.model_fields.items():
        if not info.is_required() and (info.default is not None or info.default_factory is not None):
            raise TypeError(f"wire_object: {model.__name__}.{name} has a default other than None")
    return tuple((name, alias or name) for name, alias in _field_keys(model))


# --- call request ------------------------------------------------------------------------------

_PARSED_JSON: Final = "steppe_parsed_json"
_PARSED_JSON_CONTEXT: Final = {_PARSED_JSON: True}


def _parsed_json(info: ValidationInfo) -> bool:
    """Whether the input being validated came from a JSON parser (``model_validate_json``, ``from_json_document``)."""
    context: object = info.context
    return info.mode == "json" or (isinstance(context, dict) and _PARSED_JSON in context)


class WireEvent(WireModel):
    """An event as the server sends it (``event``, ``events[]``, a wait_for_event memo)."""

    name: str
    data: dict[str, JsonValue] | None = None
    id: str | None = None
    ts: int | None = None
    user: dict[str, JsonValue] | None = None
    v: str | None = None


class CallStack(WireModel):
    """The hashed ids of the memoized steps in the order they completed."""

    stack: list[str] = Field(default_factory=lambda: [])
    current: int = Field(default=0, ge=0)

    @field_validator("stack", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        # A Go nil slice marshals as null.
        return [] if value is None else value


class CallContext(WireModel):
    """``ctx`` of a call request. Only ``run_id`` is required: a missing field takes the protocol's default
    (first attempt, immediate execution allowed, no stored steps)."""

    run_id: str
    attempt: int = Field(default=0, ge=0)
    disable_immediate_execution: bool = False
    stack: CallStack = Field(default_factory=lambda: CallStack())
    max_attempts: int | None = Field(default=None, ge=1)
    fn_id: str | None = None
    env: str | None = None
    step_id: str | None = None
    use_api: bool | None = None


class CallRequest(WireModel):
    """The body of a ``POST <serve url>?fnId=...&stepId=...`` call request."""

    event: WireEvent
    ctx: CallContext
    steps: dict[str, JsonValue] = Field(default_factory=lambda: {})
    events: list[WireEvent] | None = None
    use_api: bool | None = None
    version: int | None = None

    @field_validator("steps", mode="wrap")
    @classmethod
    def _steps_as_parsed(cls, value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> object:
        if value is None:  # a Go nil map marshals as null
            return {}
        if isinstance(value, dict) and _parsed_json(info):
            # Whatever a JSON parser produced is JSON data: checking it value by value again (pydantic's JsonValue)
            # would cost about 10 µs per stored step, most of a replay's cost.
            return cast(dict[str, JsonValue], value)
        return handler(value)

    @field_validator("steps", mode="after")
    @classmethod
    def _memos_are_well_formed(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        for step_id, raw in value.items():
            if _is_error_memo(raw):
                try:
                    parse_memo(raw)
                except ValidationError as err:
                    raise ValueError(f"memo of step {step_id!r} has a malformed error: {err}") from None
        return value

    @classmethod
    def from_json_document(cls, document: object) -> CallRequest:
        """The call request in ``document``, which a JSON parser produced from the request's body."""
        return cls.model_validate(document, context=_PARSED_JSON_CONTEXT)

    @property
    def must_fetch_from_api(self) -> bool:
        """The server trimmed the payload: events and memos must be fetched from its API.

        The server sets both the top-level ``use_api`` and ``ctx.use_api``; honour either.
        """
        return bool(self.use_api) or bool(self.ctx.use_api)

    def memos(self) -> dict[str, Memo]:
        """The ``steps`` map as typed memos, keyed by hashed step id."""
        return parse_memos(self.steps)


# --- memos -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoError:
    """A step's final error, from an ``{"error": {name, message, stack?}}`` memo."""

    name: str
    message: str
    stack: str | None = None


Memo: TypeAlias = MemoData | MemoError


def parse_memo(raw: JsonValue) -> Memo:
    """One memo: an object with exactly a ``data`` key or exactly an ``error`` key is unwrapped;
    anything else is the step's raw value (a wait_for_event result: the event object, or ``None`` on timeout; a
    finished sleep). A malformed error raises ``ValidationError``.

    An output is the core's ``MemoData`` itself, which the step's codec rebuilds: a replay converts nothing."""
    if isinstance(raw, dict) and len(raw) == 1:
        if "data" in raw:
            return MemoData(raw["data"])
        if "error" in raw:
            error = ErrorBody.model_validate(raw["error"])
            return MemoError(name=error.name, message=error.message, stack=error.stack)
    return MemoData(raw)


def _is_error_memo(raw: JsonValue) -> bool:
    return isinstance(raw, dict) and len(raw) == 1 and "error" in raw


def parse_memos(steps: Mapping[str, JsonValue]) -> dict[str, Memo]:
    """The ``steps`` map of a call request (or of the API's ``/actions``) as typed memos."""
    return {step_id: parse_memo(raw) for step_id, raw in steps.items()}


# --- responses: ops and errors -----------------------------------------------------------------


class Opcode(enum.StrEnum):
    """The ``op`` of an operation reported in a 206 response."""

    STEP_RUN = "StepRun"
    STEP_PLANNED = "StepPlanned"
    STEP_ERROR = "StepError"
    STEP_FAILED = "StepFailed"
    SLEEP = "Sleep"
    WAIT_FOR_EVENT = "WaitForEvent"
    INVOKE_FUNCTION = "InvokeFunction"
    STEP_NOT_FOUND = "StepNotFound"


class ErrorBody(WireModel):
    """An error as the protocol carries it: a step error, a memoized error, a refused request's body.

    A step's error carries ``data`` (``null``: the reference SDK puts a step's partial output there; ours has
    none). The Python peer adds a ``code`` key; it is kept as an extra."""

    name: str
    message: str
    stack: str | None = None
    data: JsonValue = None


class FunctionErrorBody(WireModel):
    """The body of a failed function's 500/400 answer, as the reference SDK sends it: the message (and here the
    user's stack, whose last line names the exception). No ``name``: the server takes it as ``Error``."""

    message: str
    stack: str | None = None


class Userland(WireModel):
    """The user's own step id, and its repeat index (``None`` for the first occurrence)."""

    id: str
    index: int | None = None


class Op(WireModel):
    """One operation of a 206 response: every field is sent, ``null`` when empty, as the reference SDK does."""

    null_when_unset: ClassVar[frozenset[str]] = frozenset(
        {"name", "display_name", "opts", "data", "error", "timing", "userland"}
    )

    # Lax for the enum only: a plain string is accepted and checked against the members.
    op: Opcode = Field(strict=False)
    id: str
    name: str | None = None
    opts: dict[str, JsonValue] | None = None
    data: JsonValue = None
    error: ErrorBody | None = None
    display_name: str | None = _wire_name("displayName")
    timing: dict[str, JsonValue] | None = None
    userland: Userland | None = None


class SleepOpts(WireModel):
    """``opts`` of a ``Sleep`` op (spec form; the Python peer sends the wake time in ``name``)."""

    duration: str


class WaitForEventOpts(WireModel):
    """``opts`` of a ``WaitForEvent`` op. ``if_`` is an expression such as
    ``async.data.id == event.data.id``."""

    event: str
    timeout: str
    if_: str | None = _wire_name("if")


class InvokePayload(WireModel):
    """The event sent to an invoked function, without its name."""

    data: dict[str, JsonValue]
    v: str | None = None


class InvokeFunctionOpts(WireModel):
    """``opts`` of an ``InvokeFunction`` op; ``function_id`` is ``<app id>-<function id>``."""

    function_id: str
    payload: InvokePayload
    timeout: str | None = None


_OPS: Final = TypeAdapter(list[Op])


def parse_ops(body: str | bytes) -> list[Op]:
    """The ops of a 206 response body."""
    return _OPS.validate_json(body)


def wire_ops_json(ops: Sequence[WireObject]) -> bytes:
    """A 206 response body of ops built with ``wire_object(Op, ...)``, encoded."""
    return pydantic_core.to_json(ops)


# --- function configuration (sync) -------------------------------------------------------------


class EventTrigger(WireModel):
    event: str
    expression: str | None = None


class CronTrigger(WireModel):
    cron: str


def _trigger_kind(value: object) -> str:
    if isinstance(value, CronTrigger) or (isinstance(value, dict) and "cron" in value):
        return "cron"
    return "event"


Trigger: TypeAlias = Annotated[
    Annotated[EventTrigger, Tag("event")] | Annotated[CronTrigger, Tag("cron")],
    Discriminator(_trigger_kind),
]


class Retries(WireModel):
    """Read by the server as a retry count: ``attempts=3`` means up to 4 attempts."""

    attempts: int = Field(ge=0)


class StepRuntime(WireModel):
    type: Literal["http", "ws"]
    url: str


class StepConfig(WireModel):
    id: str
    name: str
    runtime: StepRuntime
    retries: Retries | None = None


class ConcurrencyLimit(WireModel):
    limit: int
    key: str | None = None
    scope: Literal["fn", "env", "account"] | None = None


class Throttle(WireModel):
    limit: int
    period: str
    key: str | None = None
    burst: int | None = None


class RateLimit(WireModel):
    limit: int
    period: str
    key: str | None = None


class Debounce(WireModel):
    period: str
    key: str | None = None
    timeout: str | None = None


class BatchEvents(WireModel):
    max_size: int = Field(validation_alias="maxSize", serialization_alias="maxSize")
    timeout: str
    key: str | None = None
    if_: str | None = _wire_name("if")


class CancelOn(WireModel):
    event: str
    if_: str | None = _wire_name("if")
    timeout: str | None = None


class Priority(WireModel):
    run: str | None = None


class Timeouts(WireModel):
    start: str | None = None
    finish: str | None = None


class Singleton(WireModel):
    mode: Literal["skip", "cancel"]
    key: str | None = None


class FunctionConfig(WireModel):
    """One function of a sync: ``id`` is ``<app id>-<function id>``; ``steps`` has the single
    entry ``"step"`` whose runtime URL is ``<serve url>?fnId=<id>&stepId=step``."""

    id: str
    triggers: list[Trigger]
    steps: dict[str, StepConfig]
    name: str | None = None
    concurrency: int | list[ConcurrencyLimit] | None = None
    throttle: Throttle | None = None
    rate_limit: RateLimit | None = _wire_name("rateLimit")
    debounce: Debounce | None = None
    batch_events: BatchEvents | None = _wire_name("batchEvents")
    cancel: list[CancelOn] | None = None
    priority: Priority | None = None
    idempotency: str | None = None
    timeouts: Timeouts | None = None
    singleton: Singleton | None = None


class Capabilities(WireModel):
    in_band_sync: str | None = None
    trust_probe: str | None = None
    connect: str | None = None


class RegisterRequest(WireModel):
    """Body of the out-of-band sync, ``POST {api}/fn/register``."""

    url: str
    app_name: str = Field(validation_alias="appName", serialization_alias="appName")
    sdk: str
    functions: list[FunctionConfig]
    deploy_type: Literal["ping"] = Field(
        default="ping", validation_alias="deployType", serialization_alias="deployType"
    )
    v: str = "0.1"
    framework: str | None = None
    app_version: str | None = _wire_name("appVersion")
    capabilities: Capabilities | None = None


class RegisterResponse(WireModel):
    """The API's answer to a register call: ``{ok, modified?}`` or, on a 400, ``{error}``."""

    ok: bool | None = None
    modified: bool | None = None
    error: str | None = None


class SyncResponse(WireModel):
    """The SDK's answer to the ``PUT`` that asked it to sync."""

    message: str
    modified: bool


class InBandSyncRequest(WireModel):
    """Body of a signed in-band sync ``PUT`` (header ``x-inngest-sync-kind: in_band``)."""

    url: str


# --- introspection (GET) -----------------------------------------------------------------------


class UnauthenticatedIntrospection(WireModel):
    """``GET`` answer when the request is not signed: nothing sensitive."""

    function_count: int = Field(ge=0)
    has_event_key: bool
    has_signing_key: bool
    has_signing_key_fallback: bool
    mode: Literal["cloud", "dev"]
    schema_version: Literal["2024-05-24"] = INTROSPECTION_SCHEMA_VERSION
    extra: dict[str, JsonValue] | None = None


class AuthenticatedIntrospection(UnauthenticatedIntrospection):
    """``GET`` answer to a validly signed request: adds app, SDK and key-hash fields."""

    api_origin: str
    app_id: str
    event_api_origin: str
    framework: str
    sdk_language: str
    sdk_version: str
    authentication_succeeded: bool | None = True
    """``None`` in an in-band sync answered in dev mode, where no signature is checked."""
    capabilities: Capabilities | None = None
    env: str | None = None
    event_key_hash: str | None = None
    serve_origin: str | None = None
    serve_path: str | None = None
    signing_key_hash: str | None = None
    signing_key_fallback_hash: str | None = None


class InBandSyncResponse(WireModel):
    """The SDK's answer to an in-band sync: the app and its functions."""

    app_id: str
    framework: str
    functions: list[FunctionConfig]
    inspection: AuthenticatedIntrospection
    sdk_author: str
    sdk_language: str
    sdk_version: str
    url: str
    app_version: str | None = _wire_name("appVersion")
    env: str | None = None
    platform: str | None = None
