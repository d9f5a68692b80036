"""Per-value cost of storing a step output and reading it back.

Run: ``.venv/bin/python benchmarks/bench_serde.py`` (a plain script; prints a table, asserts nothing).

Each column is one full round trip of one value, in microseconds (best of several runs):

* ``json``: ``json.dumps`` + ``json.loads`` of the value's JSON form (the "equivalent dict"): the floor, and it
  gives back plain JSON, not the declared type.
* ``inngest``: the inngest 0.5.19 package's default step-output path, called through its own functions: the
  client's ``_serialize`` (no serializer configured), the response builder's JSON check (``_prep_call_result``),
  the response body's JSON encoding (``CommResponse.body_bytes``); then, on replay, parsing the memo, the
  ``StepMemos.from_raw`` model validation, ``pop`` and the client's ``_deserialize``. It is handed the JSON
  form, since it cannot store the typed value, and it returns plain JSON.
* ``inngest+pyd``: the same path with ``serializer=PydanticSerializer()`` and ``output_type=`` the declared
  type (inngest's opt-in typed path: ``dump_python(mode="json")`` then lax ``validate_python``).
* ``steppe``: ``Codec.dump`` + ``json.dumps`` + ``json.loads`` + ``Codec.load``, the JSON-data API.
* ``steppe raw``: ``Codec.dump_json`` + ``Codec.load_json``, straight to and from JSON text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
import timeit
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import inngest
import pydantic
from inngest._internal import execution_lib, types
from inngest._internal.comm_lib import models as comm_models

from steppe._core.serde import Codec, JsonValue, codec_for_type


@dataclasses.dataclass
class LineItem:
    sku: str
    quantity: int
    unit_price: Decimal


@dataclasses.dataclass
class Order:
    id: int
    created: dt.datetime
    items: list[LineItem]
    tags: tuple[str, ...]


class User(pydantic.BaseModel):
    id: uuid.UUID
    name: str
    email: str
    created: dt.datetime
    tags: list[str]
    score: float
    nickname: str | None = None


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    declared: object
    value: object


CASES = [
    Case("int", int, 42),
    Case("tuple[int, str, datetime]", tuple[int, str, dt.datetime], (7, "seven", dt.datetime(2024, 5, 1, 12, 30))),
    Case(
        "pydantic User (7 fields)",
        User,
        User(
            id=uuid.UUID(int=1),
            name="Ada Lovelace",
            email="ada@example.com",
            created=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
            tags=["admin", "beta", "eu"],
            score=0.97,
        ),
    ),
    Case(
        "dataclass Order (10 items)",
        Order,
        Order(
            id=1001,
            created=dt.datetime(2024, 5, 1, 9, 15),
            items=[LineItem(f"SKU-{i:04}", i + 1, Decimal(f"{i}.99")) for i in range(10)],
            tags=("priority", "gift"),
        ),
    ),
    Case(
        "dict[str, list[float]] (10x20)",
        dict[str, list[float]],
        {f"k{i}": [i / 7 + j for j in range(20)] for i in range(10)},
    ),
]


def best_microseconds(fn: Callable[[], object]) -> float:
    """Best per-call time over several runs, each long enough to be measurable."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=7, number=number)) / number * 1e6


def plain_json(data: JsonValue) -> Callable[[], object]:
    return lambda: json.loads(json.dumps(data))


class InngestPath:
    """One step output through inngest's own store-and-replay calls."""

    HASHED_ID = "e7d8a2f140845095749d60246ff1110c9d01d76a"

    def __init__(self, client: inngest.Inngest, output_type: object) -> None:
        self._client = client
        self._output_type = output_type

    def store(self, output: object) -> bytes:
        serialized = self._client._serialize(output, self._output_type)  # pyright: ignore[reportPrivateUsage]
        call = execution_lib.CallResult(output=serialized)
        checked = comm_models._prep_call_result(call)  # pyright: ignore[reportPrivateUsage]
        body = comm_models.CommResponse(body={"data": checked}).body_bytes()
        assert isinstance(body, bytes)
        return body

    def replay(self, stored: bytes) -> object:
        memos = inngest.StepMemos.from_raw({self.HASHED_ID: json.loads(stored)})
        memo = memos.pop(self.HASHED_ID)
        assert not isinstance(memo, types.EmptySentinel)
        return self._client._deserialize(memo.data, self._output_type)  # pyright: ignore[reportPrivateUsage]

    def round_trip(self, output: object) -> Callable[[], object]:
        return lambda: self.replay(self.store(output))


def steppe_data(codec: Codec[Any], value: object) -> Callable[[], object]:
    return lambda: codec.load(json.loads(json.dumps(codec.dump(value, "bench"))), "bench")


def steppe_raw(codec: Codec[Any], value: object) -> Callable[[], object]:
    return lambda: codec.load_json(codec.dump_json(value, "bench"), "bench")


def main() -> None:
    default_client = inngest.Inngest(app_id="bench", is_production=False)
    typed_client = inngest.Inngest(app_id="bench", is_production=False, serializer=inngest.PydanticSerializer())
    columns = ["json", "inngest", "inngest+pyd", "steppe", "steppe raw"]
    print(f"python {sys.version.split()[0]}, pydantic {pydantic.VERSION}; microseconds per value (store + read back)")
    header = f"{'type':<32}" + "".join(f"{column:>13}" for column in columns)
    header += f"{'steppe/json':>13}{'steppe/inngest':>16}{'raw/json':>10}{'raw/inngest':>13}"
    print(header)
    print("-" * len(header))
    for case in CASES:
        codec = codec_for_type(case.declared, what=f"bench {case.name}")
        data = codec.dump(case.value, "bench")  # the JSON form: what the untyped paths are handed
        timings = {
            "json": best_microseconds(plain_json(data)),
            "inngest": best_microseconds(InngestPath(default_client, types.EmptySentinel).round_trip(data)),
            "inngest+pyd": best_microseconds(InngestPath(typed_client, case.declared).round_trip(case.value)),
            "steppe": best_microseconds(steppe_data(codec, case.value)),
            "steppe raw": best_microseconds(steppe_raw(codec, case.value)),
        }
        row = f"{case.name:<32}" + "".join(f"{timings[column]:>13.2f}" for column in columns)
        row += f"{timings['steppe'] / timings['json']:>12.2f}x{timings['steppe'] / timings['inngest']:>15.2f}x"
        row += f"{timings['steppe raw'] / timings['json']:>9.2f}x{timings['steppe raw'] / timings['inngest']:>12.2f}x"
        print(row)


if __name__ == "__main__":
    main()
