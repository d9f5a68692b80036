"""The ``steppe dev`` command's surface: registered on ``steppe``, usable help, clear errors, optional packages."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from steppe._dev.command import DEFAULT_PORT
from steppe._dev.format import human_duration
from steppe.cli import main
from tests.dev.processes import PARALLEL_EXAMPLE, REPO, steppe_dev


def test_dev_is_a_steppe_command_with_its_options() -> None:
    result = CliRunner().invoke(main, ["dev", "--help"])
    assert result.exit_code == 0
    assert "Usage: main dev [OPTIONS] APP" in result.output
    assert "--db TEXT" in result.output and ".steppe/dev.db" in result.output
    assert f"[default: {DEFAULT_PORT}; 0<=x<=65535]" in result.output and "(loopback only)" in result.output


def test_a_database_in_a_missing_directory_is_refused_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "dev.db"
    result = CliRunner().invoke(main, ["dev", str(PARALLEL_EXAMPLE), "--db", str(missing)])
    assert result.exit_code == 2
    assert f"the directory {missing.parent} (of {missing}) does not exist" in result.output


def test_a_port_out_of_range_is_refused() -> None:
    result = CliRunner().invoke(main, ["dev", str(PARALLEL_EXAMPLE), "--port", "70000"])
    assert result.exit_code == 2 and "70000 is not in the range 0<=x<=65535" in result.output


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)


def test_the_command_line_loads_no_web_package_until_dev_runs() -> None:
    # `pip install .` without the dev extra must keep every other command working.
    probe = "import sys, json; import steppe.cli; print(json.dumps([m for m in ('uvicorn', 'jinja2', 'starlette') if m in sys.modules]))"
    completed = run_python(probe)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []


def test_without_the_dev_extra_the_command_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from steppe.cli import main\n"
        f"main(['dev', {str(PARALLEL_EXAMPLE)!r}])"
    )
    completed = run_python(code)
    assert completed.returncode == 1
    assert (
        "steppe dev needs the packages of its extra (missing: uvicorn): pip install 'steppe[dev]'" in completed.stderr
    )


def test_a_taken_port_is_a_one_line_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["dev", str(PARALLEL_EXAMPLE), "--port", str(port), "--db", ":memory:"])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.output


def test_durations_read_in_human_units() -> None:
    assert [human_duration(s) for s in (0, 0.0004, 0.84, 3.21, 59.9, 270, 7560, 200_000)] == [
        "0 ms",
        "0 ms",
        "840 ms",
        "3.2 s",
        "59.9 s",
        "4.5 min",
        "2.1 h",
        "2.3 d",
    ]


def test_a_database_another_engine_holds_is_a_one_line_error(tmp_path: Path) -> None:
    database = tmp_path / "dev.db"
    with steppe_dev(str(PARALLEL_EXAMPLE), "--db", str(database), "--port", "0", cwd=tmp_path) as first:
        result = CliRunner().invoke(main, ["dev", str(PARALLEL_EXAMPLE), "--db", str(database), "--port", "0"])
        assert result.exit_code == 1, result.output
        assert f"Error: {database} is in use by another steppe engine (pid {first.process.pid}" in result.output
        assert "Traceback" not in result.output
        status, stderr = first.stop(signal.SIGINT)
    assert status == 0, stderr
