"""sse_asgi.starlette.EventSourceResponse: a real Starlette Response."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from sse_asgi import EventDecoder, ReceivedEvent
from sse_asgi.starlette import EventSourceResponse, ServerSentEvent
from sse_asgi.testing import connect


async def numbers(n: int) -> AsyncIterator[ServerSentEvent]:
    for i in range(n):
        yield ServerSentEvent(data={"i": i}, id=str(i))


def sync_numbers(n: int) -> Iterator[dict[str, int]]:
    for i in range(n):
        yield {"i": i}


background_ran: list[str] = []


async def stream(request: Request) -> Response:
    n = int(request.query_params.get("n", "3"))
    response = EventSourceResponse(
        numbers(n), background=BackgroundTask(background_ran.append, "done"), ping_interval=5
    )
    response.headers["x-custom"] = "yes"
    response.set_cookie("session", "abc")
    return response


async def sync_stream(request: Request) -> Response:
    return EventSourceResponse(sync_numbers(3), status_code=201)


async def failing(request: Request) -> Response:
    async def gen() -> AsyncIterator[int]:
        raise LookupError("no such feed")
        yield 0  # pragma: no cover

    return EventSourceResponse(gen())


app = Starlette(
    routes=[
        Route("/stream", stream),
        Route("/sync", sync_stream),
        Route("/failing", failing),
    ]
)


def test_is_a_starlette_response() -> None:
    response = EventSourceResponse([])
    assert isinstance(response, Response)
    assert response.media_type == "text/event-stream"
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"


def test_with_starlettes_test_client() -> None:
    background_ran.clear()
    with TestClient(app) as client:
        response = client.get("/stream?n=4")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["x-custom"] == "yes"
    assert "session=abc" in response.headers["set-cookie"]
    events = EventDecoder().feed(response.content)
    assert [(e.id, e.json()) for e in events] == [(str(i), {"i": i}) for i in range(4)]
    assert background_ran == ["done"]


def test_sync_generator_and_status_code() -> None:
    with TestClient(app) as client:
        response = client.get("/sync")
    assert response.status_code == 201
    assert [e.json() for e in EventDecoder().feed(response.content)] == [{"i": i} for i in range(3)]


def test_error_before_the_first_event_is_a_500() -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/failing")
    assert response.status_code == 500


@pytest.mark.anyio
async def test_with_sse_asgi_testing_client() -> None:
    async with connect(app, "/stream?n=2") as client:
        assert client.status == 200
        assert client.headers["x-custom"] == "yes"
        events = [event async for event in client]
    assert events == [ReceivedEvent(data='{"i":0}', id="0"), ReceivedEvent(data='{"i":1}', id="1")]


def test_media_type_argument_replaces_the_content_type() -> None:
    response = EventSourceResponse([], media_type="text/event-stream; charset=latin-1")
    assert response.headers["content-type"] == "text/event-stream; charset=latin-1"
    assert [k for k, _ in response.raw_headers].count(b"content-type") == 1


def test_with_options_makes_a_configured_subclass() -> None:
    Configured = EventSourceResponse.with_options(ping_interval=2.5, send_timeout=10)
    assert issubclass(Configured, EventSourceResponse)
    response = Configured([1])
    assert response._stream.settings.ping_interval == 2.5
    assert response._stream.settings.send_timeout == 10
    assert Configured([1], ping_interval=1)._stream.settings.ping_interval == 1  # explicit wins
    assert EventSourceResponse([1])._stream.settings.ping_interval == 15.0  # the base is untouched
    with pytest.raises(ValueError, match="ping_interval"):
        EventSourceResponse.with_options(ping_interval=0)


@pytest.mark.anyio
async def test_options_reach_the_stream() -> None:
    async def idle() -> AsyncIterator[int]:
        yield 1
        await anyio.sleep_forever()

    async def endpoint(request: Request) -> Response:
        return EventSourceResponse(idle(), ping_interval=0.05, ping_comment="still here")

    pinging = Starlette(routes=[Route("/", endpoint)])
    async with connect(pinging, "/") as client:
        await client.wait_received(b": still here\n\n")
