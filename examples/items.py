"""A typed stream of items with FastAPI: the guide's first example, served by sse-asgi.

Shows ``EventSourceRoute`` with a generator path operation declared
``-> AsyncIterable[Item]``: every item is validated against ``Item`` and
serialized by pydantic's core, and OpenAPI documents the route as
``text/event-stream`` with the item's schema. Also: the same stream from a
plain ``def`` generator, and ``ServerSentEvent`` for ``event``/``id``/``retry``.

Run it with ``python examples/items.py``, then
``curl -N http://127.0.0.1:8000/items/stream`` (or ``/items/stream-sync``,
``/items/updates``); the schema is at http://127.0.0.1:8000/docs.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable

from fastapi import FastAPI
from pydantic import BaseModel

from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute, ServerSentEvent


class Item(BaseModel):
    name: str
    price: float
    description: str | None = None


ITEMS = [
    Item(name="Plumbus", price=32.99, description="A multi-purpose household device."),
    Item(name="Portal Gun", price=999.99, description="A portal opening device."),
    Item(name="Meeseeks Box", price=49.99),
]

app = FastAPI(title="sse-asgi: items")
# The only line that differs from a `fastapi.sse` app (besides the import):
# generator routes added after it are served by sse-asgi.
app.router.route_class = EventSourceRoute


@app.get("/items/stream", response_class=EventSourceResponse)
async def stream_items() -> AsyncIterable[Item]:
    # The return annotation is the contract: a yielded dict or ORM object would
    # be validated into an Item, and anything else fails before it is sent.
    for item in ITEMS:
        yield item


@app.get("/items/stream-sync", response_class=EventSourceResponse)
def stream_items_sync() -> Iterable[Item]:
    # A plain generator may block (a database cursor, say): it runs in a
    # worker thread, never on the event loop.
    yield from ITEMS


@app.get("/items/updates", response_class=EventSourceResponse)
async def item_updates() -> AsyncIterable[ServerSentEvent]:
    # Yield ServerSentEvent to set the other fields; `data` is still JSON.
    yield ServerSentEvent(comment="stream of item updates")
    for number, item in enumerate(ITEMS, start=1):
        yield ServerSentEvent(data=item, event="item_update", id=str(number), retry=5000)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
