"""Every check the project runs; `nox` with no arguments runs all blocking sessions (CI runs exactly that).

Type checkers are pinned: upgrading one is a deliberate change that re-records the typing gaps. No default
session writes a tracked file: `generated` only checks that every generated file is fresh, and the sessions
that rewrite them (`typing_matrix`, or a generator run by hand) are not in the default list.
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
    "lint",
    "generated",
    "pyright",
    "mypy",
    "stubtest",
    "verifytypes",
    "typing_dist",
]

ROOT = Path(__file__).parent
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

PYRIGHT = "pyright==1.1.414"
MYPY = "mypy==2.4.1"
PYREFLY = "pyrefly==1.5.0"
TY = "ty==0.0.108"
PYTEST_MYPY_PLUGINS = "pytest-mypy-plugins==4.1.0"
PEER = "inngest==0.5.19"
RUFF = "ruff==0.17.6"
LINTED = ["noxfile.py", "src", "stubs", "tests", "tools", "benchmarks", "examples", "typing_tests"]

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
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check (config in pyproject.toml)."""
    session.install(RUFF)
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)


@nox.session(python=PYTHON)
def generated(session: nox.Session) -> None:
    """Fails when a generated file is stale: each generator's --check, writing nothing."""
    # The wheel, as in typing_matrix: the matrix is what users' checkers see, shipped stubs included.
    session.install(".", PYRIGHT, MYPY, PYREFLY, TY)
    session.run("python", "tools/generate_overloads.py", "--check")  # the step stub and the benchmark mock
    session.run("python", "tools/generate_arity_cases.py", "--check")
    session.run("python", "tools/assert_installed.py")
    session.run("python", "tools/typing_matrix.py", "--check", "--timings", _timings_file(session))


@nox.session(python=PYTHON)
def pyright(session: nox.Session) -> None:
    """pyright strict on the package and its users (examples, tools, tests), and the assert_type suite."""
    # Editable: the .pth puts stubs/ on the path, so code outside src/steppe sees the step stub (pyproject.toml).
    session.install("-e", *FULL_PACKAGE, *TEST_DEPS, PYRIGHT)
    session.run("pyright", "src/steppe", "examples", "tools")
    session.run("pyright", "-p", "typing_tests/pyrightconfig.json")
    session.run("pyright", "tests")


@nox.session(python=PYTHON)
def mypy(session: nox.Session) -> None:
    """mypy strict on the package, its users (examples, tools, tests), typing_tests/, and the recorded gaps."""
    # pytest-asyncio too: the project's pytest config names its options, and warnings are errors.
    session.install("-e", *FULL_PACKAGE, *TEST_DEPS, MYPY, PYTEST_MYPY_PLUGINS)
    session.run("mypy", "src/steppe")
    # Runs apart from src/steppe: code checked in the same run as step.py would read it instead of its stub.
    session.run("mypy", "examples", "tools")
    session.run("mypy", "--config-file", "typing_tests/mypy.ini", "typing_tests")
    session.run("pytest", "-p", "no:cacheprovider", "typing_tests/mypy_cases", "--mypy-ini-file=typing_tests/mypy.ini")
    session.run("mypy", "tests")


@nox.session(python=PYTHON)
def stubtest(session: nox.Session) -> None:
    """Each shipped .pyi against its runtime module (the modules typed inline have no stub to drift from)."""
    # The wheel (not an editable install): the stubs are inside it, next to their modules.
    session.install(*FULL_PACKAGE, MYPY)
    stubs = ROOT / "stubs" / "steppe-stubs"
    modules = sorted(
        ".".join(("steppe", *path.relative_to(stubs).with_suffix("").parts)).removesuffix(".__init__")
        for path in stubs.rglob("*.pyi")
    )
    allowlist = ["--allowlist", "stubs/stubtest-allowlist.txt"]
    session.run("python", "-m", "mypy.stubtest", *modules, *allowlist, "--mypy-config-file", "pyproject.toml")


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
    """Rewrites docs/typing-matrix.md: each typing case under pyright, mypy, pyrefly and ty (`generated` checks it)."""
    # The wheel, not an editable install: pyrefly 1.5.0 does not read the partial stub package on the dev path.
    session.install(".", PYRIGHT, MYPY, PYREFLY, TY)
    session.run("python", "tools/assert_installed.py")
    session.run("python", "tools/typing_matrix.py", "--timings", _timings_file(session), *session.posargs)


def _timings_file(session: nox.Session) -> str:
    """Check times are machine noise: they go into the session's venv under .nox/ (git-ignored), never into the
    tracked matrix. Not session.create_tmp(): it sets TMPDIR, and pyrefly skips a suite copied under .nox/."""
    return str(Path(session.bin).parent / "typing-matrix-timings.json")


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Not run by default: speed and memory against the peer and the plain-Python limit."""
    # The package with DBOS too (the `bench` extra): bench_dbos.py's peer.
    session.install("-e", ".[serve,fastapi,flask,django,dev,bench]", *FULL_PACKAGE[1:], PEER, PYRIGHT, MYPY)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), env={"PYTHONPATH": os.fspath(ROOT)})
