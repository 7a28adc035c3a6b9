"""The head of an event-stream response: default headers, user headers merged, injection refused."""

from __future__ import annotations

import pytest

from sse_asgi import (
    EventSourceResponse,
)
from sse_asgi.testing import connect

from .asgi_fakes import app_for, counting

pytestmark = pytest.mark.anyio


async def test_default_headers() -> None:
    async with connect(app_for(lambda: counting(1))) as stream:
        assert stream.status == 200
        assert stream.raw_headers == [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        assert "connection" not in stream.headers


async def test_user_headers_override_without_duplicates() -> None:
    headers = {
        "Cache-Control": "no-store",
        "X-Request-Id": "42",
        "Content-Type": "text/event-stream",
    }
    app = app_for(lambda: counting(1), headers=headers, status_code=201)
    async with connect(app) as stream:
        assert stream.status == 201
        names = [name for name, _ in stream.raw_headers]
        assert sorted(names) == sorted(
            [b"content-type", b"cache-control", b"x-accel-buffering", b"x-request-id"]
        )
        assert stream.headers["cache-control"] == "no-store"
        assert stream.headers["content-type"] == "text/event-stream"
        assert stream.headers["x-request-id"] == "42"


async def test_repeated_user_headers_are_kept() -> None:
    app = app_for(lambda: counting(1), headers=[("set-cookie", "a=1"), ("set-cookie", "b=2")])
    async with connect(app) as stream:
        assert stream.headers["set-cookie"] == "a=1, b=2"


def test_header_injection_is_rejected() -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        EventSourceResponse([], headers={"x-a": "1\r\nx-b: 2"})
