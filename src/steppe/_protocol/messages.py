"""The HTTP request and response as the framework-independent handler sees them, and the protocol's headers.

Adapters turn their framework's request into an ``HttpRequest`` and write the ``HttpResponse`` back, nothing more.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import pydantic_core

from steppe._protocol.wire import WireModel

__all__ = [
    "JSON_CONTENT_TYPE",
    "SDK_NAME",
    "SDK_VERSION",
    "Header",
    "HttpRequest",
    "HttpResponse",
    "json_response",
    "sdk_header_value",
]

SDK_NAME: Final = "steppe"
JSON_CONTENT_TYPE: Final = "application/json"


def _installed_version() -> str:
    try:
        return importlib.metadata.version("steppe")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0.0.0"


SDK_VERSION: Final = _installed_version()


class Header:
    """Header names, lower case (HTTP header names are case-insensitive; ``HttpRequest.headers`` is lower-cased)."""

    SDK: Final = "x-inngest-sdk"
    REQ_VERSION: Final = "x-inngest-req-version"
    SIGNATURE: Final = "x-inngest-signature"
    NO_RETRY: Final = "x-inngest-no-retry"
    RETRY_AFTER: Final = "retry-after"
    FRAMEWORK: Final = "x-inngest-framework"
    SERVER_KIND: Final = "x-inngest-server-kind"
    EXPECTED_SERVER_KIND: Final = "x-inngest-expected-server-kind"
    SYNC_KIND: Final = "x-inngest-sync-kind"
    ENV: Final = "x-inngest-env"
    CONTENT_TYPE: Final = "content-type"
    AUTHORIZATION: Final = "authorization"
    USER_AGENT: Final = "user-agent"


def sdk_header_value() -> str:
    """``X-Inngest-Sdk``: ``steppe:v<version>``. The server rejects a response without it as not from an SDK."""
    return f"{SDK_NAME}:v{SDK_VERSION}"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request to the serve endpoint.

    ``url`` is the URL the request reached us on (scheme, host, path; the query is ignored), used as the serve
    URL when ``INNGEST_SERVE_ORIGIN``/``INNGEST_SERVE_PATH`` do not say otherwise. ``body`` is the raw bytes:
    the signature covers them exactly.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes = b""

    @classmethod
    def create(
        cls, *, method: str, url: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> HttpRequest:
        """A request with its header names lower-cased (the first value wins for a repeated name)."""
        lowered: dict[str, str] = {}
        for name, value in headers.items():
            lowered.setdefault(name.lower(), value)
        return cls(method=method.upper(), url=url, headers=lowered, query=dict(query), body=body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What the endpoint answers: a status, headers (lower-case names) and the exact body bytes."""

    status: int
    headers: dict[str, str] = field(default_factory=lambda: {})
    body: bytes = b""


def json_response(status: int, body: object, headers: Mapping[str, str] | None = None) -> HttpResponse:
    """A JSON response: a wire model in its protocol spelling, or any JSON data."""
    encoded = body.to_wire_json() if isinstance(body, WireModel) else pydantic_core.to_json(body)
    return HttpResponse(status, {Header.CONTENT_TYPE: JSON_CONTENT_TYPE, **(headers or {})}, encoded)
