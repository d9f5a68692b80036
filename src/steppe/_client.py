"""``Client``: an app's identity and the registry of its functions."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast, overload

from pydantic import BaseModel
from typing_extensions import TypeVar, Unpack

from steppe._core.decorator import FunctionDecorator, FunctionOptions
from steppe._core.errors import FunctionDefinitionError
from steppe._core.events import Event, EventType, TriggerCron, TriggerEvent, event_list
from steppe._core.function import Trigger

if TYPE_CHECKING:
    from steppe._core.function import Function
    from steppe._protocol.settings import ServeSettings, ServeSettingsOverrides

__all__ = ["Client"]

_M = TypeVar("_M", bound=BaseModel)
_D = TypeVar("_D")


class Client:
    """An app: its id (the prefix of every function id) and the functions created with it.

    The keywords after ``logger`` matter only when the app is served to an Inngest server (``steppe.serve``) or
    sends events to one (``send``); each one not given is read from its ``INNGEST_*`` variable when it is needed
    (see ``steppe._protocol.settings``). ``is_production=False`` is dev mode (``INNGEST_DEV=1``): the Dev Server, no
    signature checks. The embedded engine uses none of them: ``Client("app")`` needs no keys.
    """

    def __init__(
        self,
        app_id: str,
        *,
        logger: logging.Logger | None = None,
        signing_key: str | None = None,
        signing_key_fallback: str | None = None,
        event_key: str | None = None,
        is_production: bool | None = None,
        api_base_url: str | None = None,
        event_api_base_url: str | None = None,
        serve_origin: str | None = None,
        serve_path: str | None = None,
        env: str | None = None,
    ) -> None:
        if not isinstance(app_id, str) or not app_id.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise FunctionDefinitionError(f"Client: app_id must be a non-empty string, got {app_id!r}")
        self.app_id = app_id
        self.logger: logging.Logger = logger or logging.getLogger("steppe")
        self._functions: dict[str, Function[Any, Any]] = {}
        # Only what was given: the rest is read from the environment when the settings are built.
        given: dict[str, object] = {
            "dev": None if is_production is None else not is_production,
            "signing_key": signing_key,
            "signing_key_fallback": signing_key_fallback,
            "event_key": event_key,
            "api_base_url": api_base_url,
            "event_api_base_url": event_api_base_url,
            "serve_origin": serve_origin,
            "serve_path": serve_path,
            "env": env,
        }
        self._serve_overrides = cast(
            "ServeSettingsOverrides", {key: value for key, value in given.items() if value is not None}
        )

    def serve_settings(self, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """How this app reaches an Inngest server: the keywords given to the client, else ``environ``
        (default ``os.environ``). Raises ``ServeSettingsError`` naming what is missing or malformed."""
        from steppe._protocol.settings import ServeSettings

        return ServeSettings.from_env(os.environ if environ is None else environ, **self._serve_overrides)

    async def send(self, events: Event[Any] | Sequence[Event[Any]]) -> list[str]:
        """Send events to the Inngest server's event API (with the event key); returns the ids it gave them.

        Every item must be a ``steppe.Event``; an event that triggers one of this app's functions with a declared
        ``EventType`` is validated against it first (pydantic's ``ValidationError``, nothing sent). Needs the
        ``serve`` extra (httpx). To run functions on the embedded engine, use ``Engine.send`` instead.
        """
        try:
            from steppe._protocol.api import InngestApi, check_events
        except ImportError as error:  # pragma: no cover - depends on the installed extras
            raise ImportError("Client.send needs httpx: pip install 'steppe[serve]'") from error

        batch = event_list(events, what="Client.send")
        check_events(batch, self.functions, what="Client.send")
        if not batch:
            return []
        return await InngestApi(self.serve_settings()).send_events(batch)

    @overload
    def create_function(
        self, *, fn_id: str, trigger: EventType[_M], **options: Unpack[FunctionOptions]
    ) -> FunctionDecorator[_M]: ...
    @overload
    def create_function(
        self, *, fn_id: str, trigger: TriggerEvent[_D], **options: Unpack[FunctionOptions]
    ) -> FunctionDecorator[_D]: ...
    @overload
    def create_function(
        self, *, fn_id: str, trigger: TriggerCron | Sequence[Trigger], **options: Unpack[FunctionOptions]
    ) -> FunctionDecorator[dict[str, Any]]: ...
    def create_function(
        self, *, fn_id: str, trigger: Trigger | Sequence[Trigger], **options: Unpack[FunctionOptions]
    ) -> FunctionDecorator[Any]:
        """Declare a durable function; decorate its ``(ctx, step)`` handler with the result."""
        triggers: Sequence[Trigger] = list(trigger) if isinstance(trigger, Sequence) else [trigger]
        if f"{self.app_id}-{fn_id}" in self._functions:
            raise FunctionDefinitionError(f"app {self.app_id!r} already has a function with fn_id {fn_id!r}")
        return FunctionDecorator(self, fn_id, triggers, options)

    def register(self, function: Function[Any, Any]) -> None:
        if function.id in self._functions:
            raise FunctionDefinitionError(
                f"app {self.app_id!r} already has a function with fn_id {function.local_id!r}"
            )
        self._functions[function.id] = function

    @property
    def functions(self) -> list[Function[Any, Any]]:
        """Every function created with this client, in creation order."""
        return list(self._functions.values())
