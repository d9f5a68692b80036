"""The options the embedded engine enforces are listed once (flow_control); the docs say the same."""

from __future__ import annotations

import re
from pathlib import Path

from steppe import FunctionOptions
from steppe._engine.flow_control import ENFORCED, NOT_ENFORCED

ROOT = Path(__file__).resolve().parent.parent
NOT_FLOW_CONTROL = {"name", "retries", "on_failure"}


def names_in(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def test_every_flow_control_option_is_either_enforced_or_warned_about() -> None:
    classified = {name.split("(")[0].split(".")[0] for name in (*ENFORCED, *NOT_ENFORCED)}
    assert classified == set(FunctionOptions.__annotations__) - NOT_FLOW_CONTROL
    assert not set(ENFORCED) & set(NOT_ENFORCED)


def test_the_readme_names_the_enforced_and_the_unenforced_options() -> None:
    readme = (ROOT / "README.md").read_text()
    bullet = re.search(
        r"^- Flow control from `create_function` applies locally too:(.*?)(?=^- |^$)", readme, re.S | re.M
    )
    assert bullet is not None, "README.md lost its bullet on flow control in the embedded engine"
    enforced, separator, rest = bullet.group(1).partition("the options only an Inngest server enforces")
    assert separator, bullet.group(1)
    assert tuple(names_in(enforced)) == ENFORCED
    unenforced, separator, _ = rest.partition("are named in a warning")
    assert separator, rest
    assert tuple(names_in(unenforced)) == NOT_ENFORCED


def test_the_serving_guide_has_a_row_for_each_enforced_option_and_names_the_others() -> None:
    guide = (ROOT / "docs" / "serving.md").read_text()
    table = re.search(r"^\| option \| on the embedded engine \|\n\|[- |]+\|\n((?:\|.*\n)+)", guide, re.M)
    assert table is not None, "docs/serving.md lost its table of the options the embedded engine enforces"
    rows = re.findall(r"^\| `([^`]+)` \|", table.group(1), re.M)
    assert tuple(rows) == ENFORCED
    before, separator, _ = guide.partition(" are **not**\nenforced locally")
    assert separator, "docs/serving.md lost its sentence on the options the engine does not enforce"
    assert tuple(names_in(before.rpartition("\n\n")[2])) == NOT_ENFORCED
