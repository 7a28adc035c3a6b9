"""The ASGI apps the stream and idle benchmarks serve: ours, the peers', and the floor.

Every app streams the same events with LF line endings, so their bytes on
the wire are the same: ``/?n=N&payload=small|model`` streams N events of
the shape ``event: tick``, ``data: <payload>``, ``id: <i>`` (each library's
event object) and ends; ``&shape=plain`` streams plain items instead
(``data: <payload>`` only: what bulk streams yield). ``/idle`` sends one
event and then waits for the client to leave. ``/tasks`` answers how many
asyncio tasks the process has (for the idle benchmark).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel

from sse_asgi import EventSourceResponse, ServerSentEvent
from sse_asgi.types import Receive, Scope, Send

App = Callable[[Scope, Receive, Send], Awaitable[None]]


class Model(BaseModel):
    id: int
    name: str
    price: float
    in_stock: bool
    tags: list[str]
    note: str | None


def small(i: int) -> dict[str, Any]:
    return {"i": i, "msg": "hello"}


def model(i: int) -> Model:
    return Model(id=i, name="Plumbus", price=32.99, in_stock=True, tags=["a", "b"], note=None)


PAYLOADS = {"small": small, "model": model}


_prepared: dict[tuple[int, str], list[Any]] = {}


def payloads(n: int, kind: str) -> list[Any]:
    """The n payload objects of a request, built once and kept.

    Building a pydantic model is the app's work, not the SSE library's: every
    app iterates over the same prepared objects, so the table measures only
    what each library does with them.
    """
    key = (n, kind)
    if key not in _prepared:
        _prepared[key] = [PAYLOADS[kind](i) for i in range(n)]
    return _prepared[key]


# Idle streams wait on one shared event, as subscribers of one feed would: the
# app's own cost per connection is then the same (and minimal) for every library.
_never: asyncio.Event | None = None


async def wait_forever() -> None:
    global _never
    if _never is None:
        _never = asyncio.Event()
    await _never.wait()


def _query(scope: Scope) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}


def _params(scope: Scope) -> tuple[int, str]:
    query = _query(scope)
    return int(query.get("n", "1000")), query.get("payload", "small")


def _plain(scope: Scope) -> bool:
    return _query(scope).get("shape") == "plain"


def instrumented(app: App) -> App:
    """Add the /tasks endpoint and a minimal lifespan to ``app``."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message: Any = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                lifespan_send: Any = send  # lifespan messages are not HTTP messages
                await lifespan_send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["path"] == "/tasks":
            body = str(len(asyncio.all_tasks())).encode()
            headers = [(b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return wrapper


# -- the floor: events pre-encoded, one send per event, nothing else ---------------------


_encoded: dict[tuple[int, str, bool], list[bytes]] = {}


def _pre_encode(n: int, kind: str, plain: bool = False) -> list[bytes]:
    # Encoded once per request shape and kept: the warm-up request pays for it.
    key = (n, kind, plain)
    if key not in _encoded:
        _encoded[key] = [
            ServerSentEvent(data=p).encode()
            if plain
            else ServerSentEvent(data=p, event="tick", id=str(i)).encode()
            for i, p in enumerate(payloads(n, kind))
        ]
    return _encoded[key]


async def _floor(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"] == "/idle":
        events = _pre_encode(1, "small")
    else:
        events = _pre_encode(*_params(scope), _plain(scope))
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    for body in events:
        await send({"type": "http.response.body", "body": body, "more_body": True})
    if scope["path"] == "/idle":
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    await send({"type": "http.response.body", "body": b"", "more_body": False})


floor = instrumented(_floor)


# -- sse-asgi ---------------------------------------------------------------------------------


async def _ours_events(scope: Scope) -> AsyncIterator[Any]:
    if scope["path"] == "/idle":
        yield ServerSentEvent(data=small(0), event="tick", id="0")
        await wait_forever()
    if _plain(scope):
        for data in payloads(*_params(scope)):
            yield data
        return
    for i, data in enumerate(payloads(*_params(scope))):
        yield ServerSentEvent(data=data, event="tick", id=str(i))


def _item_type(scope: Scope) -> Any:
    # A stream of plain models is typed, as `-> AsyncIterable[Model]` makes it in FastAPI.
    return Model if _plain(scope) and _params(scope)[1] == "model" else None


async def _ours(scope: Scope, receive: Receive, send: Send) -> None:
    response = EventSourceResponse(_ours_events(scope), item_type=_item_type(scope))
    await response(scope, receive, send)


async def _ours_coalesced(scope: Scope, receive: Receive, send: Send) -> None:
    response = EventSourceResponse(_ours_events(scope), item_type=_item_type(scope), coalesce=0.01)
    await response(scope, receive, send)


ours = instrumented(_ours)
ours_coalesced = instrumented(_ours_coalesced)


# -- sse-starlette ------------------------------------------------------------------------------


def _sse_starlette() -> App:
    from sse_starlette import EventSourceResponse as SSEResponse
    from sse_starlette import ServerSentEvent as SSEEvent

    def encode_data(value: Any) -> str:
        if isinstance(value, BaseModel):
            return value.model_dump_json()
        import json

        return json.dumps(value, separators=(",", ":"))

    async def events(scope: Scope) -> AsyncIterator[Any]:
        if scope["path"] == "/idle":
            yield SSEEvent(encode_data(small(0)), event="tick", id="0", sep="\n")
            await wait_forever()
        if _plain(scope):
            for data in payloads(*_params(scope)):
                yield encode_data(data)  # sse-starlette sends a plain str as data
            return
        for i, data in enumerate(payloads(*_params(scope))):
            yield SSEEvent(encode_data(data), event="tick", id=str(i), sep="\n")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await SSEResponse(events(scope), sep="\n")(scope, receive, send)  # type: ignore[arg-type]

    return instrumented(app)


# -- fastapi.sse ---------------------------------------------------------------------------------


def _fastapi_sse() -> App:
    from fastapi import FastAPI
    from fastapi.sse import EventSourceResponse as FastAPIResponse
    from fastapi.sse import ServerSentEvent as FastAPIEvent

    api = FastAPI()

    @api.get("/", response_class=FastAPIResponse)
    async def stream(
        n: int = 1000, payload: str = "small", shape: str = "event"
    ) -> AsyncIterator[Any]:
        if shape == "plain":
            for data in payloads(n, payload):
                yield data
            return
        for i, data in enumerate(payloads(n, payload)):
            yield FastAPIEvent(data=data, event="tick", id=str(i))

    @api.get("/models", response_class=FastAPIResponse)
    async def models(n: int = 1000) -> AsyncIterator[Model]:
        for data in payloads(n, "model"):
            yield data

    @api.get("/idle", response_class=FastAPIResponse)
    async def idle() -> AsyncIterator[FastAPIEvent]:
        yield FastAPIEvent(data=small(0), event="tick", id="0")
        await wait_forever()

    return instrumented(api)  # type: ignore[arg-type]


def __getattr__(name: str) -> App:
    # The peers are imported only when a benchmark asks for them.
    if name == "sse_starlette":
        return _sse_starlette()
    if name == "fastapi_sse":
        return _fastapi_sse()
    raise AttributeError(name)
