"""Every check the project runs; `nox` with no arguments runs all blocking sessions (CI runs exactly that).

Type checkers are pinned: upgrading one is a deliberate change that re-records the typing gaps.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [
    "tests",
    "pyright",
    "mypy",
    "stubs",
    "stubtest",
    "verifytypes",
    "typing_dist",
    "typing_matrix",
]

ROOT = Path(__file__).parent
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

PYRIGHT = "pyright==1.1.414"
MYPY = "mypy==2.4.1"
PYREFLY = "pyrefly==1.5.0"
TY = "ty==0.0.108"
PYTEST_MYPY_PLUGINS = "pytest-mypy-plugins==4.1.0"
PEER = "inngest==0.5.19"

TEST_DEPS = ["pytest>=8", "pytest-asyncio>=0.24", "hypothesis>=6.100", PEER, "playwright>=1.45"]
# The package with every adapter's framework, and the stubs its imports need: type checkers and stub tools
# must resolve every import, or inferred types quietly turn into Any.
FULL_PACKAGE = [".[serve,fastapi,flask,django,dev]", "django-stubs>=5.2,<5.3", "types-croniter"]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The runtime test suite (engine, serialization, HTTP protocol, CLI)."""
    session.install("-e", *FULL_PACKAGE, *TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def pyright(session: nox.Session) -> None:
    """pyright strict on the package, then the assert_type suite in typing_tests/."""
    session.install("-e", *FULL_PACKAGE, PYRIGHT)
    session.run("pyright", "src/steppe", "examples")  # the examples are user code: they must type-check too
    session.run("pyright", "-p", "typing_tests/pyrightconfig.json")


@nox.session(python=PYTHON)
def mypy(session: nox.Session) -> None:
    """mypy strict on the package and typing_tests/, then the recorded-gap YAML cases."""
    # pytest-asyncio too: the project's pytest config names its options, and warnings are errors.
    session.install("-e", *FULL_PACKAGE, MYPY, PYTEST_MYPY_PLUGINS, "pytest-asyncio>=0.24")
    session.run("mypy", "src/steppe", "examples")
    session.run("mypy", "--config-file", "typing_tests/mypy.ini", "typing_tests")
    session.run("pytest", "-p", "no:cacheprovider", "typing_tests/mypy_cases", "--mypy-ini-file=typing_tests/mypy.ini")


@nox.session(python=PYTHON)
def stubs(session: nox.Session) -> None:
    """Fails when the generated overloads or stubs are stale."""
    session.install("-e", *FULL_PACKAGE, MYPY)
    session.run("python", "tools/generate_overloads.py", "--check", "src/steppe/core/step.py")
    session.run("python", "tools/generate_arity_cases.py", "--check")
    session.run("python", "tools/generate_stubs.py", "--check")


@nox.session(python=PYTHON)
def stubtest(session: nox.Session) -> None:
    """The shipped .pyi files against the runtime package."""
    # The wheel (not an editable install): the stubs are inside it.
    session.install(*FULL_PACKAGE, MYPY)
    session.run("python", "-m", "mypy.stubtest", "steppe", "--allowlist", "stubs/stubtest-allowlist.txt", "--mypy-config-file", "pyproject.toml")


@nox.session(python=PYTHON)
def verifytypes(session: nox.Session) -> None:
    """Type completeness of the public API as users see it: must be 100%."""
    session.install(".", PYRIGHT)
    session.run("python", "tools/verifytypes.py")


@nox.session(python=PYTHON, name="typing_dist")
def typing_dist(session: nox.Session) -> None:
    """Build the wheel, install it in a clean environment, and re-run the typing suite against it alone."""
    session.install("build", PYRIGHT, MYPY)
    dist = Path(session.create_tmp()).resolve() / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--wheel", "--outdir", str(dist))
    [wheel] = dist.glob("steppe-*.whl")
    session.install(str(wheel))
    with tempfile.TemporaryDirectory() as scratch:
        # Only the typing tests travel: no src/ or stubs/ next to them, so the checkers can only see the wheel.
        target = Path(scratch) / "typing_tests"
        shutil.copytree(ROOT / "typing_tests", target, ignore=shutil.ignore_patterns("mypy_cases", "__pycache__"))
        with session.chdir(scratch):
            session.run("python", str(ROOT / "tools" / "assert_installed.py"), "--wheel", str(wheel))
            session.run("pyright", "-p", "typing_tests/pyrightconfig.json", env={"PYTHONPATH": ""})
            session.run("mypy", "--config-file", "typing_tests/mypy.ini", "typing_tests", env={"MYPYPATH": ""})


@nox.session(python=PYTHON, name="typing_matrix")
def typing_matrix(session: nox.Session) -> None:
    """Writes docs/typing-matrix.md: each typing case under pyright, mypy, pyrefly and ty."""
    # The wheel, not an editable install: the matrix shows what users' checkers see, shipped stubs included.
    session.install(".", PYRIGHT, MYPY, PYREFLY, TY)
    session.run("python", "tools/typing_matrix.py", *session.posargs)


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Not run by default: speed and memory against the peer and the plain-Python limit."""
    session.install("-e", *FULL_PACKAGE, PEER, PYRIGHT, MYPY)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), env={"PYTHONPATH": os.fspath(ROOT)})
