"""ServerSentEvent: exact bytes, validation at construction, immutability, pickling, subclasses."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import decimal
import enum
import importlib
import pickle
import uuid
from typing import Any

import pytest
from pydantic import BaseModel, Field

from sse_asgi import EventDecoder, InvalidEventError, ServerSentEvent, SSEError
from sse_asgi._event import event_with_id, rebuild
from sse_asgi._item_encoder import encode_item


class Item(BaseModel):
    name: str
    price: float


class Aliased(BaseModel):
    full_name: str = Field(alias="fullName")


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3000


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"data": {"a": 1}}, b'data: {"a":1}\n\n'),
        ({"data": "hello"}, b'data: "hello"\n\n'),
        ({"data": 0}, b"data: 0\n\n"),
        ({"data": False}, b"data: false\n\n"),
        ({"data": []}, b"data: []\n\n"),
        ({"raw_data": "hello"}, b"data: hello\n\n"),
        ({"raw_data": ""}, b"data: \n\n"),
        ({"raw_data": "[DONE]", "event": "done"}, b"event: done\ndata: [DONE]\n\n"),
        ({"event": "tick"}, b"event: tick\n\n"),
        ({"id": "7"}, b"id: 7\n\n"),
        ({"id": ""}, b"id: \n\n"),
        ({"retry": 0}, b"retry: 0\n\n"),
        ({"retry": Level.HIGH}, b"retry: 3000\n\n"),
        ({"comment": "ping"}, b": ping\n\n"),
        ({"comment": ""}, b": \n\n"),
        ({}, b"\n"),
        (
            {"data": {"n": 1}, "event": "e", "id": "1", "retry": 5, "comment": "c"},
            b': c\nevent: e\ndata: {"n":1}\nid: 1\nretry: 5\n\n',
        ),
        (
            {"raw_data": "a\nb", "event": "e", "id": "1", "retry": 5, "comment": "c\nd"},
            b": c\n: d\nevent: e\ndata: a\ndata: b\nid: 1\nretry: 5\n\n",
        ),
    ],
)
def test_exact_bytes(kwargs: dict[str, Any], expected: bytes) -> None:
    assert ServerSentEvent(**kwargs).encode() == expected


def test_same_bytes_as_fastapi_sse_for_the_guide_shapes() -> None:
    fastapi_sse = pytest.importorskip("fastapi.sse")
    cases: list[dict[str, Any]] = [
        {"raw_data": "2025-01-01 INFO  Application started"},
        {"raw_data": "[DONE]", "event": "done"},
        {"raw_data": "a\r\nb\rc\nd", "event": "e", "id": "9", "retry": 1, "comment": "x\ny"},
        {"comment": "stream of item updates"},
    ]
    for kwargs in cases:
        theirs = fastapi_sse.ServerSentEvent(**kwargs)
        expected = fastapi_sse.format_sse_event(
            data_str=theirs.raw_data,
            event=theirs.event,
            id=theirs.id,
            retry=theirs.retry,
            comment=theirs.comment,
        )
        assert ServerSentEvent(**kwargs).encode() == expected


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("a\r\nb", ["a", "b"]),
        ("a\rb", ["a", "b"]),
        ("a\nb", ["a", "b"]),
        ("a\r\rb", ["a", "", "b"]),
        ("a\n\r\nb", ["a", "", "b"]),
        ("\n", ["", ""]),
        ("a\r", ["a", ""]),
    ],
)
def test_raw_data_splits_on_the_three_spec_line_breaks(text: str, lines: list[str]) -> None:
    encoded = ServerSentEvent(raw_data=text).encode()
    assert encoded == b"".join(b"data: " + line.encode() + b"\n" for line in lines) + b"\n"
    [event] = EventDecoder().feed(encoded)
    assert event.data == "\n".join(lines)


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x0b", "\x0c", "\x85", "\x1c", "\x00", "\t"])
def test_other_characters_pass_through_unchanged(char: str) -> None:
    text = f"a{char}b"
    encoded = ServerSentEvent(raw_data=text, comment=text).encode()
    assert encoded == f": {text}\ndata: {text}\n\n".encode()
    [event] = EventDecoder().feed(encoded)
    assert event.data == text


def test_data_is_compact_utf8_json_not_ascii_escaped() -> None:
    event = ServerSentEvent(data={"msg": "héllo 世界 \u2028", "list": [1, 2]})
    assert event.encode() == 'data: {"msg":"héllo 世界 \u2028","list":[1,2]}\n\n'.encode()


def test_data_newlines_stay_inside_the_json_string() -> None:
    encoded = ServerSentEvent(data="line1\nline2\r\n\n\nevent: x").encode()
    assert encoded == b'data: "line1\\nline2\\r\\n\\n\\nevent: x"\n\n'
    [event] = EventDecoder().feed(encoded)
    assert event.json() == "line1\nline2\r\n\n\nevent: x"
    assert event.event == "message"


@pytest.mark.parametrize(
    ("value", "json"),
    [
        (Item(name="Plumbus", price=32.99), b'{"name":"Plumbus","price":32.99}'),
        ({"items": [Item(name="a", price=1)]}, b'{"items":[{"name":"a","price":1.0}]}'),
        (Point(1, 2), b'{"x":1,"y":2}'),
        (datetime.datetime(2025, 1, 2, 3, 4, 5), b'"2025-01-02T03:04:05"'),
        (datetime.date(2025, 1, 2), b'"2025-01-02"'),
        (uuid.UUID(int=1), b'"00000000-0000-0000-0000-000000000001"'),
        (Color.RED, b'"red"'),
        ((1, "a"), b'[1,"a"]'),
        (decimal.Decimal("1.50"), b"1.5"),  # FastAPI's jsonable_encoder: a number
        (decimal.Decimal("10"), b"10"),
        (2**70, b"1180591620717411303424"),
        ({1: "int key"}, b'{"1":"int key"}'),
        ({"nested": {decimal.Decimal("1")}}, b'{"nested":[1]}'),
        ({None: 1, True: 2, float("inf"): 3, 1.5: 4}, b'{"null":1,"true":2,"Infinity":3,"1.5":4}'),
        (datetime.timedelta(seconds=1.5), b"1.5"),
        (float("nan"), b"null"),
        (Aliased(fullName="Ada"), b'{"full_name":"Ada"}'),
    ],
)
def test_data_serializes_common_types(value: object, json: bytes) -> None:
    assert ServerSentEvent(data=value).encode() == b"data: " + json + b"\n\n"


def test_model_is_serialized_like_model_dump_json() -> None:
    item = Aliased(fullName="Ada")
    assert (
        ServerSentEvent(data=item).encode() == b"data: " + item.model_dump_json().encode() + b"\n\n"
    )


class NotJSON:
    pass


@pytest.mark.parametrize(
    ("value", "kind"),
    [(NotJSON(), "NotJSON"), ({"a": [NotJSON()]}, "NotJSON"), ({"a": Item}, "ModelMetaclass")],
)
def test_non_serializable_data_raises_type_error_naming_the_type(value: object, kind: str) -> None:
    with pytest.raises(TypeError) as info:
        ServerSentEvent(data=value)
    assert not isinstance(info.value, InvalidEventError)
    assert str(info.value) == (
        f"ServerSentEvent.data is not JSON serializable: object of type {kind!r}"
    )


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"event": "a\nb"}, "event", "U+000A LINE FEED"),
        ({"event": "a\rb"}, "event", "U+000D CARRIAGE RETURN"),
        ({"id": "a\r\nb"}, "id", "U+000D CARRIAGE RETURN"),
        ({"id": "1\x002"}, "id", "U+0000 NULL"),
        ({"id": 5}, "id", "must be a str, not int"),
        ({"event": b"x"}, "event", "must be a str, not bytes"),
        ({"raw_data": 1}, "raw_data", "must be a str, not int"),
        ({"comment": None, "raw_data": ["a"]}, "raw_data", "must be a str, not list"),
        ({"comment": 3}, "comment", "must be a str, not int"),
        ({"retry": True}, "retry", "not bool"),
        ({"retry": -1}, "retry", ">= 0"),
        ({"retry": 1.5}, "retry", "not float"),
        ({"retry": "5"}, "retry", "not str"),
        ({"data": 1, "raw_data": "1"}, "raw_data", "together with data"),
        ({"raw_data": "ok\ud800"}, "raw_data", "U+D800 lone surrogate"),
        ({"event": "\udfff"}, "event", "U+DFFF lone surrogate"),
        ({"id": "x\udc00"}, "id", "U+DC00 lone surrogate"),
        ({"comment": "\ud83d"}, "comment", "U+D83D lone surrogate"),
        ({"data": "\ud800"}, "data", "U+D800 lone surrogate"),
        ({"data": {"k": ["\udc00"]}}, "data", "U+DC00 lone surrogate"),
        ({"data": 1, "event": "ok", "id": "\ud800"}, "id", "U+D800 lone surrogate"),
    ],
)
def test_invalid_fields_raise_at_construction(
    kwargs: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(InvalidEventError) as info:
        ServerSentEvent(**kwargs)
    assert info.value.field == field
    assert f"ServerSentEvent.{field}" in str(info.value)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SSEError)


def test_nul_is_allowed_where_the_spec_allows_it() -> None:
    encoded = ServerSentEvent(event="a\0b", raw_data="\0").encode()
    [event] = EventDecoder().feed(encoded)
    assert (event.event, event.data) == ("a\0b", "\0")


def test_error_message_names_the_position() -> None:
    with pytest.raises(InvalidEventError, match="at index 3"):
        ServerSentEvent(id="abc\ndef")


def test_positional_arguments_are_rejected() -> None:
    with pytest.raises(TypeError):
        ServerSentEvent("data")  # type: ignore[call-arg]


def test_events_are_immutable() -> None:
    event = ServerSentEvent(data={"a": 1}, id="1")
    with pytest.raises(AttributeError):
        event.id = "2"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(event, "__dict__")


def test_bytes_are_a_snapshot_of_data() -> None:
    payload = {"n": 1}
    event = ServerSentEvent(data=payload)
    payload["n"] = 2
    assert event.encode() == b'data: {"n":1}\n\n'


def test_fields_equality_hash_and_repr() -> None:
    a = ServerSentEvent(data={"a": 1}, event="e", id="1", retry=3, comment="c")
    b = ServerSentEvent(data={"a": 1}, event="e", id="1", retry=3, comment="c")
    assert (a.data, a.raw_data, a.event, a.id, a.retry, a.comment) == (
        {"a": 1},
        None,
        "e",
        "1",
        3,
        "c",
    )
    assert a == b
    assert hash(a) == hash(b)
    assert a != ServerSentEvent(data={"a": 2}, event="e", id="1", retry=3, comment="c")
    assert a != "not an event"
    assert repr(ServerSentEvent(raw_data="x", id="1")) == "ServerSentEvent(raw_data='x', id='1')"


def test_str_subclasses_are_stored_as_plain_str() -> None:
    class Tag(str):
        pass

    event = ServerSentEvent(event=Tag("t"), id=Tag("i"), raw_data=Tag("r"), comment=Tag("c"))
    assert type(event.event) is str
    assert type(event.raw_data) is str
    assert event.encode() == b": c\nevent: t\ndata: r\nid: i\n\n"


def test_the_class_names_its_own_module() -> None:
    # What a traceback, a repr of the class and pickle's lookup by name see.
    assert ServerSentEvent.__module__ == "sse_asgi._event"
    assert ServerSentEvent.__qualname__ == "ServerSentEvent"
    module = importlib.import_module(ServerSentEvent.__module__)
    assert getattr(module, ServerSentEvent.__qualname__) is ServerSentEvent


class _CountingSerializer:
    """A hand-made ``__pydantic_serializer__``: counts calls, returns or raises in turn."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def to_json(self, value: Any, **options: Any) -> Any:
        self.calls += 1
        outcome = self.outcomes[min(self.calls, len(self.outcomes)) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def test_pickle_and_copy_round_trip_without_encoding_again() -> None:
    event = ServerSentEvent(data={"a": [1, 2]}, event="tick", id="7", retry=10, comment="c")
    for clone in (pickle.loads(pickle.dumps(event)), copy.copy(event), copy.deepcopy(event)):
        assert type(clone) is ServerSentEvent
        assert clone == event
        assert clone.encode() == event.encode()
    # A pickle holds the bytes and the fields: loading it calls no serializer.
    counting = _CountingSerializer(b'"model"')
    payload = type("Payload", (), {"__pydantic_serializer__": counting})()
    pickled = pickle.dumps(ServerSentEvent(raw_data="a\nb", id="1", comment="c"))
    assert pickle.loads(pickled).encode() == b": c\ndata: a\ndata: b\nid: 1\n\n"
    with_model = ServerSentEvent(data=payload)
    assert counting.calls == 1
    assert copy.copy(with_model).encode() == b'data: "model"\n\n'
    assert counting.calls == 1


def test_rebuilt_events_are_events_with_the_bytes_given() -> None:
    event = ServerSentEvent(data=1, retry=5)
    stamped = event_with_id(event, "9")
    assert type(stamped) is ServerSentEvent
    assert stamped.encode() == b"data: 1\nid: 9\nretry: 5\n\n"
    assert (stamped.data, stamped.id, stamped.retry) == (1, "9", 5)
    assert stamped == ServerSentEvent(data=1, id="9", retry=5)
    rebuilt = rebuild(b"data: 1\n\n", 1, None, None, None, None, None)
    assert type(rebuilt) is ServerSentEvent
    assert rebuilt == ServerSentEvent(data=1)


def test_subclasses_work() -> None:
    class Tagged(ServerSentEvent):
        def tag(self) -> str:
            return f"<{self.event}>"

    event = Tagged(raw_data="x", event="e")
    assert isinstance(event, ServerSentEvent)
    assert event.tag() == "<e>"
    assert event.encode() == b"event: e\ndata: x\n\n"
    assert encode_item(event) == event.encode()
    event.note = "instances of subclasses have a __dict__"  # type: ignore[attr-defined]
    with pytest.raises(InvalidEventError):
        Tagged(event="a\nb")


def test_subclasses_with_their_own_init() -> None:
    class Named(ServerSentEvent):
        def __init__(self, message: str) -> None:
            super().__init__(data=message, event="named")

    class Defaulted(ServerSentEvent):
        def __init__(self, **fields: Any) -> None:
            fields.setdefault("event", "default")
            super().__init__(**fields)

    assert Named("hi").encode() == b'event: named\ndata: "hi"\n\n'
    assert Defaulted(data=1).encode() == b"event: default\ndata: 1\n\n"
    assert Defaulted(data=1, event="x").event == "x"
    with pytest.raises(InvalidEventError, match="event"):
        Defaulted(event="a\nb")


@pytest.mark.parametrize(
    "error", [KeyboardInterrupt(), RuntimeError("custom")], ids=["interrupt", "error"]
)
def test_a_model_serializer_error_comes_through_as_raised(error: BaseException) -> None:
    # Called once, and what it raises is not retried, wrapped or swallowed.
    serializer = _CountingSerializer(error, b'"never"')
    payload = type("Payload", (), {"__pydantic_serializer__": serializer})()
    with pytest.raises(type(error)) as info:
        ServerSentEvent(data=payload, event="e")
    assert info.value is error
    assert serializer.calls == 1
