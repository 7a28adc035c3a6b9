"""The framework examples as ``test_frameworks.py`` serves them on uvicorn, instrumented.

``tests.framework_apps:litestar`` (``quart``, ``django``) is that example's
``app`` with: ticks every 50 ms; keep-alive pings after 0.2 s of silence;
Quart's ``RESPONSE_TIMEOUT`` at 0.3 s;
every ``ticks()`` generator leaving a marker file when it is closed
(``tests.e2e_app.mark``, in ``$SSE_ASGI_MARKERS``); and
``/_test/subscribers``, the broadcast's subscriber count. The examples look
these names up when a request comes, so patching the module is enough.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import AsyncIterator
from contextlib import aclosing
from types import ModuleType
from typing import Any

from sse_asgi import EventSourceResponse, ServerSentEvent, event_stream
from sse_asgi.types import ASGIApp, Receive, Scope, Send
from tests.e2e_app import mark

TICK_INTERVAL = 0.05
PING_INTERVAL = 0.2
QUART_RESPONSE_TIMEOUT = 0.3


def instrumented(module: ModuleType) -> ASGIApp:
    namespace = vars(module)
    namespace["TICK_INTERVAL"] = TICK_INTERVAL
    namespace["event_stream"] = functools.partial(event_stream, ping_interval=PING_INTERVAL)
    namespace["EventSourceResponse"] = functools.partial(
        EventSourceResponse, ping_interval=PING_INTERVAL
    )
    example_ticks = namespace["ticks"]

    async def ticks() -> AsyncIterator[ServerSentEvent]:
        try:
            async with aclosing(example_ticks()) as events:
                async for event in events:
                    yield event
        finally:
            mark("ticks")

    namespace["ticks"] = ticks
    if "quart_app" in namespace:
        # Short enough for a test to outlast: the example's streams must not end.
        namespace["quart_app"].config["RESPONSE_TIMEOUT"] = QUART_RESPONSE_TIMEOUT
    app: ASGIApp = namespace["app"]

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/_test/subscribers":
            body = str(namespace["broadcast"].subscriber_count()).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await app(scope, receive, send)

    return with_state


def __getattr__(name: str) -> Any:
    # Only the framework asked for is imported into the server process (once).
    if name in ("litestar", "quart", "django"):
        app = globals()[name] = instrumented(importlib.import_module(f"examples.{name}_app"))
        return app
    raise AttributeError(name)
