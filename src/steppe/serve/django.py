"""Serve steppe functions from a Django project: add ``steppe.serve.django.serve(client)`` to ``urlpatterns``.

The default view is synchronous, for WSGI deployments: each request is answered in its worker thread
(``ServeHandler.handle_blocking``). Under ASGI pass ``asynchronous=True`` for an async view that runs on the server's loop
(Django would otherwise run a sync view in its single shared thread, one request at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest as DjangoRequest
from django.http import HttpResponse as DjangoResponse
from django.urls import URLPattern
from django.urls import path as url_path
from django.views.decorators.csrf import csrf_exempt

from steppe._core.function import Function
from steppe._protocol.endpoint import DEFAULT_SERVE_PATH, ServeHandler
from steppe._protocol.messages import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from steppe._client import Client

__all__ = ["serve"]


def _request(request: DjangoRequest) -> HttpRequest:
    return HttpRequest.create(
        method=request.method or "GET",
        url=request.build_absolute_uri(request.path),
        headers=dict(request.headers.items()),
        query=request.GET.dict(),
        body=request.body,
    )


def _response(served: HttpResponse) -> DjangoResponse:
    response = DjangoResponse(served.body, status=served.status)
    for name, value in served.headers.items():
        response[name] = value
    return response


def serve(
    client: Client,
    functions: Sequence[Function[Any, Any]] | None = None,
    *,
    path: str = DEFAULT_SERVE_PATH,
    asynchronous: bool = False,
) -> URLPattern:
    """A URL pattern for the serve endpoint at ``path`` (GET, POST and PUT; CSRF-exempt: requests are signed)."""
    handler = ServeHandler(client, functions, framework="django")
    route = path.lstrip("/")  # Django routes have no leading slash
    if asynchronous:

        async def serve_async(request: DjangoRequest) -> DjangoResponse:
            return _response(await handler.handle(_request(request)))

        return url_path(route, csrf_exempt(serve_async), name="steppe-serve")

    def serve_sync(request: DjangoRequest) -> DjangoResponse:
        return _response(handler.handle_blocking(_request(request)))

    return url_path(route, csrf_exempt(serve_sync), name="steppe-serve")
