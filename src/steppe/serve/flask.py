"""Serve steppe functions from a Flask app (WSGI): ``steppe.serve.flask.serve(app, client)``.

Each request is answered in the WSGI worker thread that received it (``ServeHandler.handle_blocking``): a plain
``def`` function runs right there, and what needs an event loop runs on one kept from an earlier request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import flask

from steppe._core.function import Function
from steppe._protocol.endpoint import DEFAULT_SERVE_PATH, ServeHandler
from steppe._protocol.messages import HttpRequest

if TYPE_CHECKING:
    from steppe._client import Client

__all__ = ["serve"]


def serve(
    app: flask.Flask,
    client: Client,
    functions: Sequence[Function[Any, Any]] | None = None,
    *,
    path: str = DEFAULT_SERVE_PATH,
) -> ServeHandler:
    """Add the serve endpoint to ``app`` at ``path`` (GET, POST and PUT) and return its handler."""
    handler = ServeHandler(client, functions, framework="flask")

    def serve_request() -> flask.Response:
        request = flask.request
        served = handler.handle_blocking(
            HttpRequest.create(
                method=request.method,
                url=request.base_url,
                headers=dict(request.headers.items()),
                query=request.args.to_dict(),
                body=request.get_data(),
            )
        )
        return flask.Response(served.body, status=served.status, headers=served.headers)

    app.add_url_rule(path, endpoint="steppe_serve", view_func=serve_request, methods=["GET", "POST", "PUT"])
    return handler
