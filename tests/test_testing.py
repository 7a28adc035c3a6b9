"""sse_asgi.testing: the in-process client's ASGI behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from sse_asgi import (
    EventSourceResponse,
)
from sse_asgi.testing import connect

from .asgi_fakes import idle_after

pytestmark = pytest.mark.anyio


async def test_testing_client_announces_asgi_2_3_and_can_do_2_4() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["asgi"]["spec_version"])
        await EventSourceResponse(idle_after(1))(scope, receive, send)

    async with connect(app) as stream:
        await anext(stream)
    async with connect(app, spec_version="2.4") as stream:
        await anext(stream)
    assert seen == ["2.3", "2.4"]


async def test_testing_client_send_raises_oserror_after_disconnect_on_2_4() -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        try:
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
        except OSError as exc:
            errors.append(exc)

    async with connect(app, spec_version="2.4") as stream:
        await anext(stream)
    assert len(errors) == 1
