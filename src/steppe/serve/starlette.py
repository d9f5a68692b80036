"""Serve steppe functions from a Starlette app (ASGI): ``steppe.serve.starlette.serve(app, client)``.

Requests are handled on the app's event loop; the core runs plain ``def`` functions and steps in worker threads,
so a blocking handler never stalls the loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from steppe._core.function import Function
from steppe._protocol.endpoint import DEFAULT_SERVE_PATH, ServeHandler
from steppe._protocol.messages import HttpRequest

if TYPE_CHECKING:
    from steppe._client import Client

__all__ = ["endpoint", "serve"]

_METHODS = ["GET", "POST", "PUT"]


def endpoint(handler: ServeHandler) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette request handler for ``handler``, for apps that build their own routes."""

    async def serve_request(request: Request) -> Response:
        served = await handler.handle(
            HttpRequest.create(
                method=request.method,
                url=str(request.url),
                headers=request.headers,
                query=request.query_params,
                body=await request.body(),
            )
        )
        return Response(content=served.body, status_code=served.status, headers=served.headers)

    return serve_request


def serve(
    app: Starlette,
    client: Client,
    functions: Sequence[Function[Any, Any]] | None = None,
    *,
    path: str = DEFAULT_SERVE_PATH,
    framework: str = "starlette",
) -> ServeHandler:
    """Add the serve endpoint to ``app`` at ``path`` (GET, POST and PUT) and return its handler.

    ``functions`` defaults to every function of ``client``. Settings come from ``client.serve_settings()``.
    """
    handler = ServeHandler(client, functions, framework=framework)
    app.add_route(path, endpoint(handler), methods=_METHODS, include_in_schema=False)
    return handler
