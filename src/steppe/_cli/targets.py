"""``PATH_OR_MODULE[:ATTRIBUTE]``: import the user's code and find the function (or the app) it names.

Every mistake in the target, or in the code it imports, becomes a one-line click error naming the thing at
fault (for an error inside the user's module: the file, line and source of the failing statement). An error
raised inside steppe itself that is not one of steppe's own user-facing errors is an engine fault: it is
re-raised with its traceback, never reported as the user's.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import sysconfig
import traceback
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import click

from steppe._client import Client
from steppe._core.errors import SteppeError
from steppe._core.function import Function

__all__ = ["Target", "load_app", "load_target"]

_STEPPE_DIR = Path(__file__).resolve().parents[1]  # the steppe package
# Frames in these directories are not the user's code (the standard library, installed packages).
_LIBRARY_DIRS = tuple(
    Path(directory).resolve() for directory in {sysconfig.get_path(name) for name in ("stdlib", "purelib", "platlib")}
)


@dataclass(frozen=True, slots=True)
class Target:
    function: Function[Any, Any]
    location: str
    """The PATH_OR_MODULE part of the target, as given."""
    app: str
    """The function's app as other commands take it: ``location:client_attribute`` (or ``location`` alone)."""


def load_target(target: str) -> Target:
    location, attribute = _split(target, "TARGET")
    module = _import(location, "TARGET")
    function = _function(module, location, attribute)
    client_names = [name for name, value in vars(module).items() if value is function.client]
    app = f"{location}:{client_names[0]}" if client_names else location
    return Target(function, location, app)


def load_app(target: str) -> Client:
    """The ``steppe.Client`` a ``PATH_OR_MODULE[:ATTRIBUTE]`` names (without an attribute: the module's only one)."""
    location, attribute = _split(target, "APP")
    module = _import(location, "APP")
    if attribute is not None:
        found: object = getattr(module, attribute, None)
        if not isinstance(found, Client):
            what = "nothing" if found is None else type(found).__name__
            raise click.BadParameter(f"{location}:{attribute} is {what}, not a steppe.Client", param_hint="APP")
        return found
    clients = {name: value for name, value in vars(module).items() if isinstance(value, Client)}
    if len(clients) != 1:
        names = ", ".join(sorted(clients)) or "none"
        raise click.BadParameter(
            f"{location} must hold exactly one steppe.Client to use without :ATTRIBUTE (found: {names})",
            param_hint="APP",
        )
    return next(iter(clients.values()))


def _split(target: str, param_hint: str) -> tuple[str, str | None]:
    location, colon, attribute = target.rpartition(":")
    if not colon or not attribute.isidentifier():  # no attribute (a Windows drive's colon is not one)
        return target, None
    if not location:
        raise click.BadParameter(f"{target!r} names no file or module before ':'", param_hint=param_hint)
    return location, attribute


def _is_path(location: str) -> bool:
    return location.endswith(".py") or "/" in location or "\\" in location


def _import(location: str, param_hint: str) -> ModuleType:
    if _is_path(location):
        path = Path(location)
        if not path.is_file():
            raise click.BadParameter(f"no such file: {location}", param_hint=param_hint)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise click.BadParameter(f"cannot import {location}: not a Python file", param_hint=param_hint)
        module = importlib.util.module_from_spec(spec)
        # Registered under its stem so modules it imports can import it back; its directory is importable.
        sys.modules[spec.name] = module
        sys.path.insert(0, str(path.resolve().parent))
        with _user_code(location):
            spec.loader.exec_module(module)
        return module
    # As with uvicorn and python -m: a module target is looked up from the current directory first.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        with _user_code(location):
            return importlib.import_module(location)
    except _ModuleMissing as missing:
        raise click.BadParameter(
            f"no module named {missing.name!r} (looked in the current directory {os.getcwd()} and sys.path)",
            param_hint=param_hint,
        ) from None


class _ModuleMissing(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@contextmanager
def _user_code(location: str) -> Generator[None]:
    """Turns an exception raised while importing the user's module into a one-line error at its source line."""
    try:
        yield
    except ModuleNotFoundError as error:
        if error.name and _is_target_module(error.name, location):
            raise _ModuleMissing(error.name) from None
        raise _user_error(error, location) from None
    except SyntaxError as error:
        where = _where(error.filename or location, error.lineno, error.text)
        raise click.ClickException(f"{where}: SyntaxError: {error.msg}") from None
    except Exception as error:
        if _raised_in_steppe(error) and not isinstance(error, SteppeError):
            raise  # not one of steppe's user-facing errors: an engine fault, shown with its traceback
        raise _user_error(error, location) from None


def _user_error(error: Exception, location: str) -> click.ClickException:
    frame = _innermost_user_frame(error)
    where = location if frame is None else _where(frame.filename, frame.lineno, frame.line)
    return click.ClickException(f"{where}: {type(error).__name__}: {error}")


def _is_target_module(missing: str, location: str) -> bool:
    """Whether the missing module is the target (or a package above it), not something the target imports."""
    return location == missing or location.startswith(missing + ".")


def _innermost_user_frame(error: BaseException) -> traceback.FrameSummary | None:
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if _origin(frame) == "user"]
    return frames[-1] if frames else None


def _raised_in_steppe(error: BaseException) -> bool:
    """Whether the innermost frame that is not a library's (through which the error passed) is steppe's."""
    origins = [_origin(frame) for frame in traceback.extract_tb(error.__traceback__)]
    return next((origin for origin in reversed(origins) if origin in ("steppe", "user")), "user") == "steppe"


def _origin(frame: traceback.FrameSummary) -> Literal["steppe", "user", "library"]:
    if frame.filename.startswith("<"):  # <frozen importlib._bootstrap> and the like
        return "library"
    path = Path(frame.filename).resolve()
    if path.is_relative_to(_STEPPE_DIR):
        return "steppe"
    return "library" if any(path.is_relative_to(directory) for directory in _LIBRARY_DIRS) else "user"


def _where(filename: str, line: int | None, source: str | None) -> str:
    path = Path(filename)
    try:
        shown = str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        shown = filename
    text = (source or "").strip()
    return f"{shown}:{line}" + (f" ({text})" if text else "")


def _function(module: ModuleType, location: str, attribute: str | None) -> Function[Any, Any]:
    if attribute is not None:
        found: object = getattr(module, attribute, None)
        function = _as_function(found)
        if function is None:
            what = "nothing" if found is None else type(found).__name__
            raise click.BadParameter(f"{location}:{attribute} is {what}, not a steppe function", param_hint="TARGET")
        return function
    functions: dict[int, tuple[str, Function[Any, Any]]] = {}
    for name, value in vars(module).items():
        function = _as_function(value)
        if function is not None:
            functions.setdefault(id(function), (name, function))  # an alias names the same function
    if len(functions) == 1:
        [(_, only)] = functions.values()
        return only
    if not functions:
        raise click.BadParameter(f"{location} holds no steppe function", param_hint="TARGET")
    names = ", ".join(name for name, _ in functions.values())
    raise click.BadParameter(
        f"{location} holds several steppe functions ({names}): name one, as {location}:NAME", param_hint="TARGET"
    )


def _as_function(value: object) -> Function[Any, Any] | None:
    return value if isinstance(value, Function) else None  # pyright: ignore[reportUnknownVariableType]
