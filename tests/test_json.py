"""sse_asgi._json: the JSON values fastapi.sse sends, for untyped items and ServerSentEvent.data.

The property test at the end streams random nested values through a
fastapi.sse app and through the same app on sse_asgi.fastapi and compares
the decoded JSON (FastAPI >= 0.135). The unit tests pin the rules on every
FastAPI and pydantic we support.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import ipaddress
import json
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

import anyio
import fastapi
import pydantic_core
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, SecretStr

from sse_asgi import InvalidEventError, ServerSentEvent
from sse_asgi import fastapi as ours
from sse_asgi._item_encoder import encode_item
from sse_asgi._json import dumps, dumps_by_alias
from sse_asgi.testing import connect


class Person(BaseModel):
    full_name: str = Field(alias="fullName")


class Color(enum.Enum):
    RED = "red"
    TWO = 2
    PAIR = (1, 2)


@dataclasses.dataclass
class Point:
    x: float
    owner: Person | None = None


Pair = collections.namedtuple("Pair", "a b")


class Ratio(float):
    pass


def value(data: bytes) -> Any:
    return json.loads(data)


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (7, "7"),
        (10**20, "100000000000000000000"),
        (1.5, "1.5"),
        (1e16, "1e+16"),
        (-0.0, "-0.0"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (float("nan"), "NaN"),
        (Color.RED, "red"),
        (Color.TWO, "2"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (datetime.date(2025, 1, 2), "2025-01-02"),
        (Decimal("2.50"), "2.5"),
        (Decimal("1E+2"), "100"),
        (Decimal("NaN"), "NaN"),
        (b"bytes", "bytes"),
        (PurePosixPath("a/b"), "a/b"),
    ],
)
def test_dict_keys_are_converted_as_json_dumps_converts_them(key: Any, text: str) -> None:
    # fastapi.sse: json.dumps(jsonable_encoder(value)).
    assert value(dumps({key: 1})) == {text: 1}
    assert value(ServerSentEvent(data={key: 1}).encode()[6:]) == {text: 1}


def test_no_key_is_lost_to_a_conversion() -> None:
    data = {None: "a", float("inf"): "b", float("nan"): "c", True: "d", 1.5: "e", "x": "f"}
    assert value(dumps(data)) == {
        "null": "a",
        "Infinity": "b",
        "NaN": "c",
        "true": "d",
        "1.5": "e",
        "x": "f",
    }


def test_keys_that_meet_after_conversion_keep_the_last_value_as_json_would() -> None:
    # json.dumps writes both "null" keys; a parser keeps the last value.
    assert dumps({None: "first", "null": "second"}) == b'{"null":"second"}'
    # Keys equal as Python values merge before they are written, as in FastAPI.
    assert dumps({Color.TWO: "enum", 2.0: "float"}) == b'{"2":"float"}'


@pytest.mark.parametrize("key", [(1, 2), frozenset({1}), Person(fullName="A").model_copy])
def test_keys_json_cannot_have_raise_type_error(key: Any) -> None:
    with pytest.raises(TypeError, match="dict keys must be str, int, float, bool or None"):
        dumps({key: 1})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (float("nan"), None),
        ([float("inf"), float("-inf"), 1.5], [None, None, 1.5]),
        (Ratio(float("inf")), None),
        (Ratio(0.5), 0.5),
        (Decimal("1.10"), 1.1),
        (Decimal("10"), 10),
        (Decimal("1E+2"), 100),
        (Decimal("NaN"), None),
        (Decimal("-Infinity"), None),
        (datetime.timedelta(days=1, seconds=1, microseconds=5), 86401.000005),
        ({3}, [3]),
        (frozenset({"a"}), ["a"]),
        (collections.deque([1, 2]), [1, 2]),
        (Pair(1, "b"), [1, "b"]),
        ((1, (2, 3)), [1, [2, 3]]),
        (b"bytes", "bytes"),
        (PurePosixPath("a/b"), "a/b"),
        (ipaddress.ip_address("::1"), "::1"),
        (ipaddress.ip_network("10.0.0.0/8"), "10.0.0.0/8"),
        (re.compile("a+"), "a+"),
        (SecretStr("hidden"), "**********"),
        (pydantic_core.PydanticUndefined, None),
        (MappingProxyType({"a": 1}), {"a": 1}),
        (Color.PAIR, [1, 2]),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (2**70, 2**70),
        (Point(1.5, Person(fullName="Ada")), {"x": 1.5, "owner": {"fullName": "Ada"}}),
    ],
)
def test_values_are_what_jsonable_encoder_makes_of_them(data: Any, expected: Any) -> None:
    assert value(dumps(data)) == expected  # at the top
    assert value(dumps([data])) == [expected]  # inside a container, through orjson
    assert value(dumps({None: data})) == {"null": expected}  # through the Python walk


def test_generators_become_lists() -> None:
    assert dumps(i for i in range(2)) == b"[0,1]"
    assert dumps({None: (i for i in range(2))}) == b'{"null":[0,1]}'


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (datetime.datetime(2025, 1, 2, 3, 4, 5, 6), "2025-01-02T03:04:05.000006"),
        (
            datetime.datetime(2025, 1, 2, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))),
            "2025-01-02T00:00:00-03:00",
        ),
        (
            # A UTC offset with seconds (a local mean time): isoformat keeps them.
            datetime.datetime(
                1900, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(minutes=19, seconds=32))
            ),
            "1900-01-01T00:00:00+00:19:32",
        ),
        (datetime.date(2025, 1, 2), "2025-01-02"),
        (datetime.time(1, 2, 3, 400), "01:02:03.000400"),
        (datetime.time(1, 2, tzinfo=datetime.timezone.utc), "01:02:00+00:00"),
    ],
)
def test_datetimes_are_in_isoformat(data: Any, text: str) -> None:
    assert value(dumps(data)) == text
    assert value(dumps_by_alias([data])) == [text]
    assert value(dumps({None: data})) == {"null": text}


def test_a_model_as_the_whole_data_is_its_model_dump_json_elsewhere_by_alias() -> None:
    person = Person(fullName="Ada")
    assert dumps(person) == person.model_dump_json().encode() == b'{"full_name":"Ada"}'
    assert ServerSentEvent(data=person).encode() == b'data: {"full_name":"Ada"}\n\n'
    # Inside containers, as FastAPI's jsonable_encoder: by alias.
    assert dumps([person]) == b'[{"fullName":"Ada"}]'
    assert dumps({None: person}) == b'{"null":{"fullName":"Ada"}}'
    assert ServerSentEvent(data={"p": person}).encode() == b'data: {"p":{"fullName":"Ada"}}\n\n'
    # fastapi.sse's untyped items: by alias at the top too.
    assert dumps_by_alias(person) == b'{"fullName":"Ada"}'
    assert dumps_by_alias({"p": person}) == b'{"p":{"fullName":"Ada"}}'


class Opaque:
    pass


@pytest.mark.parametrize(
    "data",
    [Opaque(), {"a": [Opaque()]}, {None: Opaque()}, Point(1, Opaque())],  # type: ignore[arg-type]
)
def test_unknown_objects_raise_type_error_naming_the_type(data: Any) -> None:
    # FastAPI would send vars(obj); sse-asgi does not read objects' attributes.
    with pytest.raises(TypeError, match="not JSON serializable: object of type 'Opaque'"):
        dumps(data)


def test_lone_surrogates_raise_invalid_event_error_on_every_path() -> None:
    for data in ("\ud800", {None: "\ud800"}, {"\udc00": 1}, [2**70, "\ud800"]):
        with pytest.raises(InvalidEventError, match="lone surrogate"):
            dumps(data)


def test_too_deep_nesting_raises_type_error() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep, {None: 1}]
    with pytest.raises(TypeError, match="nested too deeply"):
        dumps(deep)


def test_invalid_utf8_bytes_raise_type_error() -> None:
    with pytest.raises(TypeError, match="object of type 'bytes'"):
        dumps(b"\xff")


# -- the property: the same decoded JSON as fastapi.sse ---------------------------

# Offsets to the second (old local mean times) and every microsecond: orjson
# itself gets some of them wrong (test_orjson_datetimes_in_event_data).
timezones = st.integers(min_value=-(24 * 3600 - 1), max_value=24 * 3600 - 1).map(
    lambda seconds: datetime.timezone(datetime.timedelta(seconds=seconds))
)
times = st.times(timezones=st.none() | timezones)
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)  # no lone surrogates
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**64, max_value=2**80),
    st.floats(),
    texts,
)
keys = st.one_of(
    scalars,
    st.sampled_from([Color.RED, Color.TWO]),
    st.uuids(),
    st.dates(),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
)
leaves = st.one_of(
    scalars,
    st.decimals(allow_nan=False, places=4),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-0"), Decimal("1E+3")]),
    st.timedeltas(),
    st.datetimes(timezones=st.none() | timezones),
    st.dates(),
    times,
    st.uuids(),
    st.sampled_from(list(Color)),
    st.builds(Person, fullName=texts),
    st.builds(Point, x=st.floats(), owner=st.none() | st.builds(Person, fullName=texts)),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.sets(st.integers(), max_size=3),
        st.dictionaries(keys, inner, max_size=3),
    ),
    max_leaves=10,
)


# orjson (3.13) writes datetime.time(microsecond=10000..99999) as .1xxxx and
# drops a UTC offset's seconds: every orjson call on user data passes
# ORJSON_OPTION, so that datetimes reach json_default instead.
@pytest.mark.parametrize(
    "encode",
    [
        lambda data: ServerSentEvent(data=data).encode(),
        encode_item,  # a plain item of a stream
    ],
    ids=["event", "plain item"],
)
def test_orjson_datetimes_in_event_data(encode: Callable[[Any], bytes]) -> None:
    offset = datetime.timezone(datetime.timedelta(minutes=19, seconds=32))
    data = [datetime.time(0, 0, 0, 10_000), datetime.datetime(1900, 1, 1, tzinfo=offset)]
    assert value(encode(data)[6:]) == [
        "00:00:00.010000",
        "1900-01-01T00:00:00+00:19:32",
    ]


def test_datetimes_in_untyped_items_are_exact() -> None:
    # FastAPI's untyped items go through _json, which writes datetimes itself.
    offset = datetime.timezone(datetime.timedelta(minutes=19, seconds=32))
    data = [datetime.time(0, 0, 0, 10_000), datetime.datetime(1900, 1, 1, tzinfo=offset)]
    assert value(dumps_by_alias(data)) == ["00:00:00.010000", "1900-01-01T00:00:00+00:19:32"]
    assert value(dumps(data)) == ["00:00:00.010000", "1900-01-01T00:00:00+00:19:32"]


CURRENT: list[Any] = [None]


def build_app(response: Any, event: Any, route_class: Any) -> FastAPI:
    app = FastAPI()
    app.router.route_class = route_class

    @app.get("/", response_class=response)
    async def stream():  # type: ignore[no-untyped-def]
        yield CURRENT[0]
        yield event(data=CURRENT[0])

    return app


async def sent(app: FastAPI) -> list[Any]:
    async with connect(app, "/") as stream:
        return [json.loads(event.data) async for event in stream]


# fastapi.sse sends non-finite floats as null from 0.143.3 (NaN and Infinity
# before, which are not JSON); sse-asgi follows the newest.
JSON_AS_NEWEST = tuple(int(x) for x in fastapi.__version__.split(".")[:3]) >= (0, 143, 3)


@pytest.mark.skipif(
    not JSON_AS_NEWEST, reason="fastapi.sse sends non-finite floats as null from 0.143.3"
)
def test_the_same_json_values_as_fastapi_sse() -> None:
    from fastapi.routing import APIRoute
    from fastapi.sse import EventSourceResponse
    from fastapi.sse import ServerSentEvent as TheirEvent

    theirs = build_app(EventSourceResponse, TheirEvent, APIRoute)
    mine = build_app(ours.EventSourceResponse, ours.ServerSentEvent, ours.EventSourceRoute)

    @given(values)
    def check(data: Any) -> None:
        CURRENT[0] = data
        expected = anyio.run(sent, theirs)
        CURRENT[0] = data
        assert anyio.run(sent, mine) == expected

    check()


def test_keys_fastapi_drops_are_kept() -> None:
    # FastAPI's jsonable_encoder drops keys starting with "_sa" (its SQLAlchemy
    # guard); dropping data is not a value to copy (the README's table says so).
    assert dumps({"_sample_rate": 44100, None: 1}) == b'{"_sample_rate":44100,"null":1}'
    assert ServerSentEvent(data={"_sa": 1}).encode() == b'data: {"_sa":1}\n\n'
