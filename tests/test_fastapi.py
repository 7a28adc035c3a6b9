"""sse_asgi.fastapi: EventSourceRoute and EventSourceResponse inside FastAPI.

Runs on every FastAPI we support (nox session ``fastapi_oldest`` runs it on 0.100).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
)
from typing import Annotated, Any

import anyio
import fastapi
import pytest
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, HTTPException, Response
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, create_model

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
    document = app.openapi()
    paths = document["paths"]
    content = paths["/typed"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/event-stream"]
    schema = content["text/event-stream"]["itemSchema"]
    assert schema["required"] == ["data"]
    assert schema["properties"]["data"] == {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"$ref": "#/components/schemas/Item"},
    }
    assert document["components"]["schemas"]["Item"]["title"] == "Item"
    assert schema["properties"]["retry"] == {"type": "integer", "minimum": 0}
    untyped_schema = paths["/untyped"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert untyped_schema["itemSchema"]["properties"]["data"] == {"type": "string"}
    assert "required" not in untyped_schema["itemSchema"]
    assert "201" in paths["/created"]["get"]["responses"]
    assert paths["/chat"]["post"]["requestBody"]["content"]["application/json"]


HAS_FASTAPI_SSE = FASTAPI_VERSION >= (0, 135)
NO_FASTAPI_SSE = "fastapi.sse exists from FastAPI 0.135"


def fastapi_sse_exports() -> set[str]:
    """The public names fastapi.sse defines (not the ones it imports)."""
    import fastapi.sse

    return {
        name
        for name, value in vars(fastapi.sse).items()
        if not name.startswith("_")
        and not isinstance(value, type(fastapi.sse))
        and getattr(value, "__module__", "fastapi.sse") == "fastapi.sse"
    }


@pytest.mark.skipif(not HAS_FASTAPI_SSE, reason=NO_FASTAPI_SSE)
def test_everything_fastapi_sse_exports_is_here() -> None:
    import sse_asgi.fastapi

    exports = fastapi_sse_exports()
    assert exports == {
        "EventSourceResponse",
        "ServerSentEvent",
        "format_sse_event",
        "KEEPALIVE_COMMENT",
    }
    assert exports <= set(sse_asgi.fastapi.__all__)
    assert all(hasattr(sse_asgi.fastapi, name) for name in exports)


def test_keepalive_comment_is_what_the_default_keep_alive_sends() -> None:
    from sse_asgi.fastapi import KEEPALIVE_COMMENT

    assert KEEPALIVE_COMMENT == b": ping\n\n"
    settings = EventSourceResponse(iter(()))._stream.settings  # the core response's
    assert (settings.ping_bytes, settings.ping_interval) == (KEEPALIVE_COMMENT, 15.0)
    if HAS_FASTAPI_SSE:
        import fastapi.sse

        assert fastapi.sse.KEEPALIVE_COMMENT == KEEPALIVE_COMMENT
        assert settings.ping_interval == fastapi.sse._PING_INTERVAL


sse_text = st.lists(
    st.one_of(st.sampled_from(["\n", "\r", "\r\n", " ", ":", "\0", "é"]), st.text(max_size=4)),
    max_size=5,
).map("".join)
single_line = st.text(st.characters(exclude_characters="\r\n\0", exclude_categories=["Cs"]))


# fastapi.sse splits lines as the spec does (CR, LF, CRLF only) from 0.140.12;
# before, with str.splitlines(), which sse-asgi does not follow.
FASTAPI_RELEASE = tuple(int(x) for x in fastapi.__version__.split(".")[:3])


@pytest.mark.skipif(
    FASTAPI_RELEASE < (0, 140, 12), reason="fastapi.sse splits lines as the spec does from 0.140.12"
)
@given(
    data_str=st.none() | sse_text.filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
    event=st.none() | single_line,
    id=st.none() | single_line,
    retry=st.none() | st.integers(min_value=0, max_value=2**70),
    comment=st.none() | sse_text.filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
)
def test_format_sse_event_gives_fastapi_sse_bytes(**fields: Any) -> None:
    from fastapi.sse import format_sse_event as theirs

    from sse_asgi.fastapi import format_sse_event

    assert format_sse_event(**fields) == theirs(**fields)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, b"\n"),
        ({"data_str": ""}, b"data: \n\n"),
        ({"comment": ""}, b": \n\n"),
        ({"data_str": "a\r\nb\rc\n"}, b"data: a\ndata: b\ndata: c\ndata: \n\n"),
        (
            {"data_str": "d", "event": "e", "id": "1", "retry": 5, "comment": "c"},
            b": c\nevent: e\ndata: d\nid: 1\nretry: 5\n\n",
        ),
    ],
)
def test_format_sse_event_bytes(fields: dict[str, Any], expected: bytes) -> None:
    from sse_asgi.fastapi import format_sse_event

    assert format_sse_event(**fields) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"event": "a\nb"},
        {"id": "1\r2"},
        {"id": "a\0b"},
        {"retry": -1},
        {"retry": True},
        {"data_str": "\ud800"},
    ],
)
def test_format_sse_event_rejects_what_would_break_the_framing(fields: dict[str, Any]) -> None:
    from sse_asgi import InvalidEventError
    from sse_asgi.fastapi import format_sse_event

    with pytest.raises(InvalidEventError):
        format_sse_event(**fields)


async def test_a_route_included_twice_is_decided_per_inclusion() -> None:
    router = APIRouter(route_class=EventSourceRoute)

    @router.get("/items")
    async def items() -> AsyncIterable[Item]:
        yield {"name": "a", "price": 1, "secret": "s3cr3t"}  # type: ignore[misc]
        await anyio.sleep(10)

    local = FastAPI()
    local.include_router(router, prefix="/sse", default_response_class=EventSourceResponse)
    pinging = EventSourceResponse.with_options(ping_interval=0.05)
    local.include_router(router, prefix="/pinging", default_response_class=pinging)
    if FASTAPI_VERSION >= (0, 134):
        local.include_router(router, prefix="/lines")  # FastAPI's JSON Lines
    with anyio.fail_after(5):
        for prefix in ("/sse", "/pinging"):
            async with connect(local, f"{prefix}/items") as stream:
                [event] = await stream.events(1)
                assert event.json() == {"name": "a", "price": 1.0, "note": None}
                if prefix == "/pinging":
                    await stream.wait_received(b": ping\n\n")
        if FASTAPI_VERSION >= (0, 134):
            async with connect(local, "/lines/items") as stream:
                assert stream.headers["content-type"] == "application/jsonl"
                await stream.wait_received(b"\n")
                assert json.loads(stream.received) == {"name": "a", "price": 1.0, "note": None}


async def test_options_reach_routes_that_inherit_the_class() -> None:
    local = FastAPI(default_response_class=EventSourceResponse.with_options(ping_interval=0.05))
    local.router.route_class = EventSourceRoute
    child = APIRouter(route_class=EventSourceRoute)

    @child.get("/waiting")
    async def waiting() -> AsyncIterable[int]:
        yield 1
        await anyio.sleep(10)

    local.include_router(child, prefix="/child")
    with anyio.fail_after(5):
        async with connect(local, "/child/waiting") as stream:
            await stream.wait_received(b": ping\n\n")


@pytest.mark.skipif(FASTAPI_VERSION < (0, 134), reason="FastAPI streams JSON Lines from 0.134")
async def test_json_lines_routes_stay_fastapis() -> None:
    local = FastAPI()
    local.router.route_class = EventSourceRoute

    @local.get("/lines")
    async def lines() -> AsyncIterable[Item]:
        yield {"name": "a", "price": 1, "secret": "s3cr3t"}  # type: ignore[misc]

    async with connect(local, "/lines") as stream:
        await stream.wait_complete()
        assert stream.headers["content-type"] == "application/jsonl"
        assert json.loads(stream.received) == {"name": "a", "price": 1.0, "note": None}
    content = local.openapi()["paths"]["/lines"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["application/jsonl"]


@pytest.mark.skipif(not HAS_FASTAPI_SSE, reason=NO_FASTAPI_SSE)
async def test_a_router_without_the_route_class_is_served_by_fastapi_sse() -> None:
    # FastAPI's own engine takes the route, as the README says: fastapi.sse's
    # format, without sse-asgi's options and events.
    local = FastAPI()
    local.router.route_class = EventSourceRoute
    plain = APIRouter()

    @plain.get("/untyped", response_class=EventSourceResponse)
    async def untyped():  # type: ignore[no-untyped-def]
        yield {"a": 1}

    local.include_router(plain)
    async with connect(local, "/untyped") as stream:
        await stream.wait_complete()
        assert stream.received == b'data: {"a": 1}\n\n'  # json.dumps spacing: fastapi.sse's


@pytest.mark.skipif(not HAS_FASTAPI_SSE, reason=NO_FASTAPI_SSE)
def test_fastapi_knows_the_response_class_as_its_own() -> None:
    import fastapi.sse
    from starlette.responses import StreamingResponse

    from sse_asgi.starlette import EventSourceResponse as StarletteResponse

    assert issubclass(EventSourceResponse, fastapi.sse.EventSourceResponse)
    assert issubclass(EventSourceResponse, StarletteResponse)
    assert issubclass(
        EventSourceResponse.with_options(ping_interval=5), fastapi.sse.EventSourceResponse
    )
    # fastapi.sse's own class, returned, is a StreamingResponse: chunks go out as they are.
    assert issubclass(fastapi.sse.EventSourceResponse, StreamingResponse)


@pytest.mark.skipif(not HAS_FASTAPI_SSE, reason=NO_FASTAPI_SSE)
async def test_fastapi_sse_returned_sends_chunks_as_they_are() -> None:
    import fastapi.sse

    local = FastAPI()

    @local.get("/raw")
    async def raw() -> fastapi.sse.EventSourceResponse:
        chunks: list[str | bytes] = [b"data: as is\n\n", "event: x\n"]
        return fastapi.sse.EventSourceResponse(iter(chunks))

    async with connect(local, "/raw") as stream:
        await stream.wait_complete()
        assert stream.received == b"data: as is\n\nevent: x\n"


@pytest.mark.skipif(not HAS_FASTAPI_SSE, reason=NO_FASTAPI_SSE)
def test_except_value_error_catches_both_libraries_invalid_fields() -> None:
    import fastapi.sse
    import pydantic

    from sse_asgi import InvalidEventError

    with pytest.raises(ValueError) as theirs:
        fastapi.sse.ServerSentEvent(retry=-1)
    assert isinstance(theirs.value, pydantic.ValidationError)
    with pytest.raises(ValueError) as mine:
        ServerSentEvent(retry=-1)
    assert isinstance(mine.value, InvalidEventError)
    assert mine.value.field == "retry"


@pytest.mark.skipif(not HAS_FASTAPI_SSE, reason=NO_FASTAPI_SSE)
@pytest.mark.filterwarnings("ignore::ResourceWarning")  # fastapi.sse's streams left unclosed
@pytest.mark.parametrize("raised", ["HTTPException", "ResponseValidationError"])
async def test_fastapi_sse_stops_its_stream_after_a_200_head(raised: str) -> None:
    # What the migration table says fastapi.sse does where sse-asgi differs
    # (sse-asgi's side: DIFFERENCES in test_fastapi_compat.py).
    import fastapi.sse

    local = FastAPI()

    @local.get("/stream", response_class=fastapi.sse.EventSourceResponse)
    async def stream_route() -> AsyncIterable[Item]:
        if raised == "HTTPException":
            raise HTTPException(status_code=404)
        yield {"name": "no price"}  # type: ignore[misc]

    streams = []
    with pytest.raises(Exception) as info:  # an exception group, from fastapi.sse's task group
        async with connect(local, "/stream") as stream:
            streams.append(stream)
    assert raised in repr(info.value)
    [stream] = streams
    assert (stream.status, stream.received, stream.complete) == (200, b"", False)


@pytest.mark.skipif(
    not (0, 135) <= FASTAPI_RELEASE < (0, 140, 8),
    reason="fastapi.sse drops an included route's item type in 0.135 to 0.140.7",
)
async def test_fastapi_sse_drops_the_item_type_through_include_router_in_some_releases() -> None:
    # The README's note: sse-asgi validates there (test_fastapi_compat runs on these releases).
    import fastapi.sse

    local = FastAPI()
    router = APIRouter()

    @router.get("/items", response_class=fastapi.sse.EventSourceResponse)
    async def items() -> AsyncIterable[Item]:
        yield {"name": "a", "price": 1, "secret": "s3cr3t"}  # type: ignore[misc]

    local.include_router(router)
    async with connect(local, "/items") as stream:
        await stream.wait_complete()
    assert b"s3cr3t" in stream.received
    content = local.openapi()["paths"]["/items"]["get"]["responses"]["200"]["content"]
    assert "contentSchema" not in content["text/event-stream"]["itemSchema"]["properties"]["data"]


@pytest.mark.skipif(
    FASTAPI_VERSION < (0, 137), reason="FastAPI includes routers by context from 0.137"
)
def test_the_inclusion_context_is_found() -> None:
    # Without it, an included route that inherits the response class would
    # be served by fastapi.sse's engine (correctly, but not by sse-asgi):
    # a FastAPI that renames it must fail here, not go unnoticed.
    import sse_asgi.fastapi

    assert sse_asgi.fastapi._INCLUSION is not None


async def test_inherited_routes_are_served_by_sse_asgi_at_every_level() -> None:
    local = FastAPI(default_response_class=EventSourceResponse.with_options(ping_interval=0.05))
    local.router.route_class = EventSourceRoute
    parent = APIRouter(prefix="/parent", route_class=EventSourceRoute)
    child = APIRouter(prefix="/child", route_class=EventSourceRoute)

    @child.get("/untyped")
    async def untyped():  # type: ignore[no-untyped-def]
        yield {"a": [1, 2]}
        await anyio.sleep(10)

    parent.include_router(child)
    local.include_router(parent, prefix="/api")
    with anyio.fail_after(5):
        async with connect(local, "/api/parent/child/untyped") as stream:
            await stream.wait_received(b": ping\n\n")  # sse-asgi's option
            assert stream.received.startswith(b'data: {"a":[1,2]}\n\n')  # compact: sse-asgi's


def streaming(model: type[BaseModel]) -> Callable[[], AsyncIterator[Any]]:
    async def stream() -> AsyncIterator[Any]:
        yield model()  # pragma: no cover

    stream.__annotations__["return"] = AsyncIterable[model]  # type: ignore[valid-type]
    return stream


@pytest.mark.skipif(HAS_FASTAPI_SSE, reason="a limit of FastAPI < 0.135 only")
def test_item_models_are_referred_to_by_class_name_before_fastapi_0_135() -> None:
    # The README's caveat: two different item models named alike in one app
    # are renamed by FastAPI, and the refs keep the class name.
    first = create_model("Same", a=(int, 1), __module__="one")
    second = create_model("Same", b=(int, 1), __module__="two")
    local = FastAPI()
    local.router.route_class = EventSourceRoute
    local.get("/one", response_class=EventSourceResponse, name="one")(streaming(first))
    local.get("/two", response_class=EventSourceResponse, name="two")(streaming(second))
    document = local.openapi()
    for path in ("/one", "/two"):
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        data = content["text/event-stream"]["itemSchema"]["properties"]["data"]
        assert data["contentSchema"] == {"$ref": "#/components/schemas/Same"}
    assert "Same" not in document["components"]["schemas"]
