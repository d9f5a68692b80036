"""Serve steppe functions to an Inngest server over its SDK HTTP protocol (docs/serving.md).

One adapter per framework, each adding the endpoint (``/api/inngest`` by default) and returning its handler::

    from steppe.serve import serve_fastapi      # or serve_starlette, serve_flask; serve_django for urlpatterns
    serve_fastapi(app, client)

The adapters are imported on first use, so only the framework you serve with needs to be installed.
``ServeHandler`` is the framework-independent endpoint behind them all, for other frameworks.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

from steppe._protocol.api import InngestApiError
from steppe._protocol.endpoint import DEFAULT_SERVE_PATH, ServeHandler
from steppe._protocol.executor import handle_call
from steppe._protocol.messages import HttpRequest, HttpResponse
from steppe._protocol.settings import ServeSettings, ServeSettingsError

if TYPE_CHECKING:
    from steppe.serve.django import serve as serve_django
    from steppe.serve.fastapi import serve as serve_fastapi
    from steppe.serve.flask import serve as serve_flask
    from steppe.serve.starlette import serve as serve_starlette

__all__ = [
    "DEFAULT_SERVE_PATH",
    "HttpRequest",
    "HttpResponse",
    "InngestApiError",
    "ServeHandler",
    "ServeSettings",
    "ServeSettingsError",
    "handle_call",
    "serve_django",
    "serve_fastapi",
    "serve_flask",
    "serve_starlette",
]

_ADAPTERS: Final = {
    "serve_django": "steppe.serve.django",
    "serve_fastapi": "steppe.serve.fastapi",
    "serve_flask": "steppe.serve.flask",
    "serve_starlette": "steppe.serve.starlette",
}


def __getattr__(name: str) -> object:
    module = _ADAPTERS.get(name)
    if module is None:
        raise AttributeError(f"module 'steppe.serve' has no attribute {name!r}")
    serve: object = importlib.import_module(module).serve
    return serve
