"""Serve steppe functions from a FastAPI app: ``steppe.serve.fastapi.serve(app, client)``.

FastAPI is Starlette underneath; the endpoint is a plain route, left out of the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from steppe._core.function import Function
from steppe._protocol.endpoint import DEFAULT_SERVE_PATH, ServeHandler
from steppe.serve import starlette as starlette_adapter

if TYPE_CHECKING:
    from steppe._client import Client

__all__ = ["serve"]


def serve(
    app: FastAPI,
    client: Client,
    functions: Sequence[Function[Any, Any]] | None = None,
    *,
    path: str = DEFAULT_SERVE_PATH,
) -> ServeHandler:
    """Add the serve endpoint to ``app`` at ``path`` (GET, POST and PUT) and return its handler."""
    return starlette_adapter.serve(app, client, functions, path=path, framework="fastapi")
