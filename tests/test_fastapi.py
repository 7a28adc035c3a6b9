"""sse_asgi.fastapi: EventSourceRoute and EventSourceResponse inside FastAPI.

Runs on every FastAPI we support (nox session ``fastapi_oldest`` runs it on 0.100).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Annotated, Any

import anyio
import fastapi
import pytest
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, HTTPException, Response
from pydantic import BaseModel, Field

from sse_asgi import ReceivedEvent
from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute, ServerSentEvent
from sse_asgi.testing import connect

pytestmark = pytest.mark.anyio

FASTAPI_VERSION = tuple(int(x) for x in fastapi.__version__.split(".")[:2])


class Item(BaseModel):
    name: str
    price: float
    note: str | None = None


class Aliased(BaseModel):
    full_name: str = Field(alias="fullName")


ITEMS = [Item(name="Plumbus", price=32.99), Item(name="Portal Gun", price=999.99)]
log: list[str] = []

app = FastAPI()
app.router.route_class = EventSourceRoute


@app.get("/typed", response_class=EventSourceResponse)
async def typed() -> AsyncIterable[Item]:
    for item in ITEMS:
        yield item


@app.get("/typed-dicts", response_class=EventSourceResponse)
async def typed_dicts() -> AsyncIterator[Item]:
    yield {"name": "From dict", "price": "1.5"}  # type: ignore[misc]  # validated into Item


@app.get("/typed-sync", response_class=EventSourceResponse)
def typed_sync() -> Iterable[Item]:
    yield from ITEMS


@app.get("/untyped", response_class=EventSourceResponse)
async def untyped():  # type: ignore[no-untyped-def]
    yield {"a": 1}
    yield ITEMS[0]


@app.get("/untyped-sync", response_class=EventSourceResponse)
def untyped_sync():  # type: ignore[no-untyped-def]
    yield "one"
    yield "two"


@app.get("/events", response_class=EventSourceResponse)
async def events() -> AsyncIterable[ServerSentEvent]:
    yield ServerSentEvent(comment="starting")
    yield ServerSentEvent(data=ITEMS[0], event="item", id="1", retry=5000)
    yield ServerSentEvent(raw_data="[DONE]", event="done")


@app.get("/mixed", response_class=EventSourceResponse)
async def mixed() -> AsyncIterable[Item]:
    yield ITEMS[0]
    yield ServerSentEvent(data={"not": "an item"}, event="other")  # type: ignore[misc]


@app.get("/aliased", response_class=EventSourceResponse)
async def aliased() -> AsyncIterable[Aliased]:
    yield Aliased(fullName="Ada Lovelace")


class Defaults(BaseModel):
    a: int
    b: int = 2
    c: str | None = None


@app.get("/generator-annotation", response_class=EventSourceResponse)
async def generator_annotation() -> AsyncGenerator[Item, None]:
    yield {"name": "from AsyncGenerator", "price": "3"}  # type: ignore[misc]


@app.get("/include", response_class=EventSourceResponse, response_model_include={"a"})
async def include() -> AsyncIterable[Defaults]:
    yield Defaults(a=1)


@app.get("/exclude", response_class=EventSourceResponse, response_model_exclude={"a"})
async def exclude() -> AsyncIterable[Defaults]:
    yield Defaults(a=1)


@app.get("/exclude-unset", response_class=EventSourceResponse, response_model_exclude_unset=True)
async def exclude_unset() -> AsyncIterable[Defaults]:
    yield Defaults(a=1, c="set")


@app.get(
    "/exclude-defaults", response_class=EventSourceResponse, response_model_exclude_defaults=True
)
async def exclude_defaults() -> AsyncIterable[Defaults]:
    yield Defaults(a=1, b=2, c="x")


@app.get("/exclude-none", response_class=EventSourceResponse, response_model_exclude_none=True)
async def exclude_none() -> AsyncIterable[Item]:
    yield Item(name="x", price=1)


@app.get("/resume", response_class=EventSourceResponse)
async def resume(
    last_event_id: Annotated[int | None, Header()] = None,
) -> AsyncIterable[ServerSentEvent]:
    start = last_event_id + 1 if last_event_id is not None else 0
    for i in range(start, 5):
        yield ServerSentEvent(data=i, id=str(i))


class Prompt(BaseModel):
    text: str


@app.post("/chat", response_class=EventSourceResponse)
async def chat(prompt: Prompt) -> AsyncIterable[ServerSentEvent]:
    for word in prompt.text.split():
        yield ServerSentEvent(data=word, event="token")
    yield ServerSentEvent(raw_data="[DONE]", event="done")


def set_status_and_header(response: Response) -> None:
    response.status_code = 203
    response.headers["x-from-dependency"] = "yes"


@app.get("/created", response_class=EventSourceResponse, status_code=201)
async def created() -> AsyncIterable[int]:
    yield 1


@app.get(
    "/from-dependency",
    response_class=EventSourceResponse,
    status_code=201,
    dependencies=[Depends(set_status_and_header)],
)
async def from_dependency() -> AsyncIterable[int]:
    yield 1


def deny() -> None:
    raise HTTPException(status_code=403, detail="no entry")


@app.get("/denied", response_class=EventSourceResponse, dependencies=[Depends(deny)])
async def denied() -> AsyncIterable[int]:
    yield 1  # pragma: no cover


@app.get("/not-found", response_class=EventSourceResponse)
async def not_found(job: int = 0) -> AsyncIterable[int]:
    if job != 42:
        raise HTTPException(status_code=404, detail="no such job")
    yield 1


@app.get("/invalid-item", response_class=EventSourceResponse)
async def invalid_item() -> AsyncIterable[Item]:
    yield ITEMS[0]
    yield {"name": "no price"}  # type: ignore[misc]


def record_background(what: str) -> None:
    log.append(what)


@app.get("/background", response_class=EventSourceResponse)
async def background(tasks: BackgroundTasks) -> AsyncIterable[int]:
    tasks.add_task(record_background, "after stream")
    yield 1


async def tracked() -> AsyncIterator[str]:
    log.append("dependency enter")
    yield "value"
    log.append("dependency exit")


@app.get("/with-yield-dependency", response_class=EventSourceResponse)
async def with_yield_dependency(value: Annotated[str, Depends(tracked)]) -> AsyncIterable[str]:
    log.append("stream")
    yield value


@app.get("/pinging", response_class=EventSourceResponse.with_options(ping_interval=0.05))
async def pinging() -> AsyncIterable[int]:
    yield 1
    await anyio.sleep(10)


@app.get("/explicit")
async def explicit() -> EventSourceResponse:
    async def gen() -> AsyncIterator[ServerSentEvent]:
        yield ServerSentEvent(data="returned explicitly")

    return EventSourceResponse(gen(), ping_interval=5)


@app.get("/json")
async def plain_json() -> dict[str, int]:
    return {"still": 1}


router = APIRouter(prefix="/inner", route_class=EventSourceRoute)


@router.get("/items", response_class=EventSourceResponse)
async def router_items() -> AsyncIterable[Item]:
    yield ITEMS[1]


outer = APIRouter(prefix="/outer", route_class=EventSourceRoute)
outer.include_router(router)
app.include_router(outer, prefix="/api", dependencies=[Depends(set_status_and_header)])


async def collect(path: str, **kwargs: Any) -> tuple[int, dict[str, str], list[ReceivedEvent]]:
    with anyio.fail_after(10):
        async with connect(app, path, **kwargs) as stream:
            events = [event async for event in stream]
            return stream.status, stream.headers, events


async def test_typed_items_are_validated_and_serialized() -> None:
    status, headers, events = await collect("/typed")
    assert status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    assert headers["x-accel-buffering"] == "no"
    assert [e.json() for e in events] == [i.model_dump() for i in ITEMS]
    _, _, events = await collect("/typed-dicts")
    assert events[0].json() == {"name": "From dict", "price": 1.5, "note": None}


async def test_sync_generators_work() -> None:
    assert [e.json() for e in (await collect("/typed-sync"))[2]] == [i.model_dump() for i in ITEMS]
    assert [e.json() for e in (await collect("/untyped-sync"))[2]] == ["one", "two"]


async def test_untyped_items_use_the_json_encoder() -> None:
    _, _, events = await collect("/untyped")
    assert [e.json() for e in events] == [{"a": 1}, ITEMS[0].model_dump()]


async def test_server_sent_events_pass_through() -> None:
    _, _, events = await collect("/events")
    assert events == [
        ReceivedEvent(
            data='{"name":"Plumbus","price":32.99,"note":null}', event="item", id="1", retry=5000
        ),
        ReceivedEvent(data="[DONE]", event="done", id="1"),
    ]
    _, _, events = await collect("/mixed")
    assert [(e.event, e.json()) for e in events] == [
        ("message", ITEMS[0].model_dump()),
        ("other", {"not": "an item"}),
    ]


async def test_response_model_options() -> None:
    assert (await collect("/aliased"))[2][0].json() == {"fullName": "Ada Lovelace"}  # by_alias
    assert (await collect("/exclude-none"))[2][0].json() == {"name": "x", "price": 1.0}
    assert (await collect("/include"))[2][0].json() == {"a": 1}
    assert (await collect("/exclude"))[2][0].json() == {"b": 2, "c": None}
    assert (await collect("/exclude-unset"))[2][0].json() == {"a": 1, "c": "set"}
    assert (await collect("/exclude-defaults"))[2][0].json() == {"a": 1, "c": "x"}


async def test_async_generator_annotation_is_an_item_type() -> None:
    [event] = (await collect("/generator-annotation"))[2]
    assert event.json() == {"name": "from AsyncGenerator", "price": 3.0, "note": None}


async def test_last_event_id_header_resumes() -> None:
    _, _, events = await collect("/resume", last_event_id="2")
    assert [e.data for e in events] == ["3", "4"]
    _, _, events = await collect("/resume")
    assert [e.data for e in events] == ["0", "1", "2", "3", "4"]


async def test_post_body() -> None:
    _, _, events = await collect("/chat", method="POST", json={"text": "hello big world"})
    assert [(e.event, e.data) for e in events] == [
        ("token", '"hello"'),
        ("token", '"big"'),
        ("token", '"world"'),
        ("done", "[DONE]"),
    ]
    async with connect(app, "/chat", method="POST", json={"wrong": 1}) as stream:
        assert stream.status == 422


async def test_status_code_and_dependency_headers() -> None:
    assert (await collect("/created"))[0] == 201
    status, headers, events = await collect("/from-dependency")
    assert status == 203
    assert headers["x-from-dependency"] == "yes"
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert [e.data for e in events] == ["1"]


async def test_errors_before_the_stream_get_proper_statuses() -> None:
    async with connect(app, "/denied") as stream:
        assert stream.status == 403
        assert stream.headers["content-type"] == "application/json"
    async with connect(app, "/not-found") as stream:  # raised inside the generator
        assert stream.status == 404
    assert (await collect("/not-found?job=42"))[0] == 200


async def test_invalid_item_mid_stream_is_logged_and_ends_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    status, _, events = await collect("/invalid-item")
    assert status == 200
    assert [e.json()["name"] for e in events] == ["Plumbus"]
    assert any(r.name == "sse_asgi" and r.levelno == logging.ERROR for r in caplog.records)


async def test_background_tasks_run_after_the_stream() -> None:
    log.clear()
    await collect("/background")
    assert log == ["after stream"]


async def test_yield_dependencies_wrap_the_stream() -> None:
    log.clear()
    _, _, events = await collect("/with-yield-dependency")
    assert [e.json() for e in events] == ["value"]
    if (0, 106) <= FASTAPI_VERSION < (0, 118):
        # FastAPI's own behaviour for every streaming response in these releases.
        assert log == ["dependency enter", "dependency exit", "stream"]
    else:
        assert log == ["dependency enter", "stream", "dependency exit"]


async def test_per_route_options_with_the_yield_style() -> None:
    with anyio.fail_after(5):
        async with connect(app, "/pinging") as stream:
            await stream.wait_received(b": ping\n\n")


async def test_returning_the_response_explicitly() -> None:
    status, headers, events = await collect("/explicit")
    assert status == 200
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert [e.json() for e in events] == ["returned explicitly"]


async def test_returning_the_response_works_without_the_route_class() -> None:
    plain = FastAPI()

    @plain.get("/explicit")
    async def explicit_plain() -> EventSourceResponse:
        return EventSourceResponse(iter([ServerSentEvent(data=1), ServerSentEvent(data=2)]))

    async with connect(plain, "/explicit") as stream:
        assert [e.data async for e in stream] == ["1", "2"]


async def test_other_routes_are_untouched() -> None:
    async with connect(app, "/json") as stream:
        assert stream.status == 200
        assert stream.received == b'{"still":1}'


async def test_nested_routers_with_prefixes_and_dependencies() -> None:
    status, headers, events = await collect("/api/outer/inner/items")
    assert status == 203  # the include-level dependency ran
    assert headers["x-from-dependency"] == "yes"
    assert [e.json() for e in events] == [ITEMS[1].model_dump()]


async def test_sync_generator_is_closed_on_disconnect() -> None:
    closed: list[str] = []
    local = FastAPI()
    local.router.route_class = EventSourceRoute

    @local.get("/forever", response_class=EventSourceResponse)
    def forever() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
                time.sleep(0.01)
        finally:
            closed.append("closed")

    async with connect(local, "/forever") as stream:
        await stream.events(3)
    assert closed == ["closed"]


def test_route_names_and_operation_ids_are_kept() -> None:
    routes = {getattr(r, "name", None): r for r in app.routes}
    assert "typed" in routes
    assert app.url_path_for("router_items") == "/api/outer/inner/items"
    operation = app.openapi()["paths"]["/typed"]["get"]
    assert operation["operationId"] == "typed_typed_get"


def test_openapi_documents_the_item_schema() -> None:
    paths = app.openapi()["paths"]
    content = paths["/typed"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/event-stream"]
    schema = content["text/event-stream"]["itemSchema"]
    assert schema["required"] == ["data"]
    data = schema["properties"]["data"]
    assert data["contentMediaType"] == "application/json"
    assert data["contentSchema"]["properties"]["name"] == {"title": "Name", "type": "string"}
    assert schema["properties"]["retry"] == {"type": "integer", "minimum": 0}
    untyped_schema = paths["/untyped"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert untyped_schema["itemSchema"]["properties"]["data"] == {"type": "string"}
    assert "required" not in untyped_schema["itemSchema"]
    assert "201" in paths["/created"]["get"]["responses"]
    assert paths["/chat"]["post"]["requestBody"]["content"]["application/json"]


@pytest.mark.skipif(FASTAPI_VERSION < (0, 135), reason="fastapi.sse exists from FastAPI 0.135")
def test_openapi_matches_fastapi_sse() -> None:
    from fastapi.sse import EventSourceResponse as TheirResponse

    theirs = FastAPI()
    ours = FastAPI()
    ours.router.route_class = EventSourceRoute
    for target, response_class in ((theirs, TheirResponse), (ours, EventSourceResponse)):

        @target.get("/typed", response_class=response_class)
        async def typed_route(q: int = 0) -> AsyncIterable[Item]:
            yield ITEMS[0]  # pragma: no cover

        @target.post("/untyped", response_class=response_class, status_code=201)
        async def untyped_route(prompt: Prompt):  # type: ignore[no-untyped-def]
            yield 1  # pragma: no cover

    their_doc, our_doc = theirs.openapi(), ours.openapi()
    for path, method in (("/typed", "get"), ("/untyped", "post")):
        theirs_op = their_doc["paths"][path][method]
        ours_op = our_doc["paths"][path][method]
        assert resolve(theirs_op, their_doc) == resolve(ours_op, our_doc)


def resolve(node: Any, document: dict[str, Any]) -> Any:
    """Replace every $ref with what it points to (FastAPI refs components; we inline)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(target, document)
        return {k: resolve(v, document) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, document) for v in node]
    return node
