"""The ASGI application EventSourceResponse: what it does before and around its send loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from sse_asgi import (
    EventSourceResponse,
    last_event_id,
)
from sse_asgi.testing import connect

from .asgi_fakes import FakeClient, http_scope, run_response

pytestmark = pytest.mark.anyio


async def test_head_sends_headers_and_never_starts_the_iterator() -> None:
    started = False

    async def gen() -> AsyncIterator[int]:
        nonlocal started
        started = True
        yield 1

    client = FakeClient()
    await run_response(EventSourceResponse(gen()), client, method="HEAD")
    assert [m["type"] for m in client.messages] == ["http.response.start", "http.response.body"]
    assert client.body == b""
    assert client.completed
    assert not started


async def test_non_http_scope_is_refused() -> None:
    client = FakeClient()
    with pytest.raises(RuntimeError, match="HTTP only"):
        await EventSourceResponse([])({"type": "websocket"}, client.receive, client.send)


def test_last_event_id_reads_the_header() -> None:
    assert last_event_id(http_scope()) is None
    assert last_event_id(http_scope(headers=[(b"Last-Event-ID", b"41")])) == "41"
    assert last_event_id(http_scope(headers=[(b"last-event-id", "é".encode())])) == "é"


async def test_last_event_id_through_the_test_client() -> None:
    seen: list[str | None] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(last_event_id(scope))
        await EventSourceResponse([1])(scope, receive, send)

    async with connect(app, last_event_id="9") as stream:
        await stream.wait_complete()
    assert seen == ["9"]
