"""How a stream's items become bytes: events as they are, plain values as JSON data,
typed items through pydantic, and serializers that cannot break the framing."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

from sse_asgi import (
    EventSourceResponse,
    ReceivedEvent,
    ServerSentEvent,
)
from sse_asgi._item_encoder import encode_item, item_encoder
from sse_asgi._json import item_serializer

from .asgi_fakes import FakeClient, run_response

pytestmark = pytest.mark.anyio


class Item(BaseModel):
    name: str
    price: float


async def test_plain_values_become_json_data_and_events_pass_through() -> None:
    items: list[Any] = [
        {"a": 1},
        "text",
        3,
        Item(name="x", price=1),
        ServerSentEvent(raw_data="raw", event="e", id="7"),
    ]
    client = FakeClient()
    await run_response(EventSourceResponse(items), client)
    assert client.events == [
        ReceivedEvent(data='{"a":1}'),
        ReceivedEvent(data='"text"'),
        ReceivedEvent(data="3"),
        ReceivedEvent(data='{"name":"x","price":1.0}'),
        ReceivedEvent(data="raw", event="e", id="7"),
    ]
    # one send per event, then the end of the body
    assert len(client.bodies) == 6
    assert client.bodies[1:3] == [b'data: "text"\n\n', b"data: 3\n\n"]
    assert client.bodies[-1] == b""
    assert client.completed


async def test_item_type_validates_and_serializes() -> None:
    client = FakeClient()
    content = [{"name": "a", "price": "2.5"}, ServerSentEvent(data={"free": 1})]
    await run_response(EventSourceResponse(content, item_type=Item), client)
    assert [e.data for e in client.events] == ['{"name":"a","price":2.5}', '{"free":1}']


async def test_item_type_violation_is_a_mid_stream_error(caplog: pytest.LogCaptureFixture) -> None:
    client = FakeClient()
    content = [Item(name="ok", price=1), {"name": "bad"}]
    await run_response(EventSourceResponse(content, item_type=Item), client)
    assert [e.json()["name"] for e in client.events] == ["ok"]
    assert client.completed
    assert "price" in caplog.text


async def test_custom_serializer_cannot_break_framing() -> None:
    import json

    client = FakeClient()
    serializer = lambda item: json.dumps(item, indent=2).encode()  # noqa: E731
    await run_response(EventSourceResponse([{"a": 1, "event": "x"}], serializer=serializer), client)
    [event] = client.events
    assert json.loads(event.data) == {"a": 1, "event": "x"}
    assert event.event == "message"


def test_item_type_and_serializer_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        EventSourceResponse([], item_type=Item, serializer=bytes)


class Aliased(BaseModel):
    full_name: str = Field(alias="fullName")


def test_plain_items_encode_like_data_events() -> None:
    assert encode_item({"a": 1}) == ServerSentEvent(data={"a": 1}).encode()
    event = ServerSentEvent(raw_data="x", id="1")
    assert encode_item(event) is event.encode()


def test_typed_items_are_validated_and_serialized_by_pydantic() -> None:
    encode = item_encoder(Item)
    assert encode({"name": "a", "price": "1.5"}) == b'data: {"name":"a","price":1.5}\n\n'
    assert encode(Item(name="b", price=2)) == b'data: {"name":"b","price":2.0}\n\n'
    event = ServerSentEvent(data={"free": "form"})
    assert encode(event) == event.encode()
    with pytest.raises(ValueError, match="price"):
        encode({"name": "a"})


def test_typed_items_by_alias() -> None:
    serializer = item_serializer(Aliased, by_alias=True)
    assert item_encoder(serializer=serializer)(Aliased(fullName="A")) == (
        b'data: {"fullName":"A"}\n\n'
    )
