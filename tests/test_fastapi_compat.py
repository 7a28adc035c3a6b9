"""sse_asgi.fastapi against fastapi.sse: the same events and the same OpenAPI, app shape by app shape.

:func:`build_apps` builds the same four apps for each flavour -- ``fastapi.sse``
(its classes, FastAPI's own ``APIRoute``) and ``sse_asgi.fastapi`` (ours, with
``EventSourceRoute``) -- from one piece of code. The apps cover how the
response class reaches a route (the decorator; the app's, a router's or a
parent router's ``default_response_class``, through one to three
``include_router`` levels with prefixes, tags and dependencies), typed and
untyped items, sync and async generators, events, every ``response_model_*``
option, bodies, path/query/header parameters, status codes and dependencies.
:data:`REQUESTS` is what each app is asked; each answer is recorded as status,
headers, decoded events (data parsed as JSON) and comment lines.

On FastAPI >= 0.135 both flavours run: every answer and the whole OpenAPI
document of each app must be identical, except :data:`DIFFERENCES` (the ones
the README's migration table states), and fastapi.sse's must equal the
recording. On older FastAPI (no ``fastapi.sse``, e.g. the ``fastapi_oldest``
nox session) only sse-asgi runs, against the recording; its OpenAPI document
must have the recorded shape (see :func:`test_openapi_on_fastapi_without_sse`).

The recording, ``fastapi_compat_expected.json``, comes from fastapi.sse on
the newest FastAPI; regenerate it with ``python -m tests.test_fastapi_compat``
(FastAPI >= 0.135). A missing recording fails the tests.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import importlib.util
import json
import re
import sys
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import anyio
import fastapi
import pydantic
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from sse_asgi import fastapi as ours
from sse_asgi.testing import SSETestStream, connect

HAS_FASTAPI_SSE = importlib.util.find_spec("fastapi.sse") is not None
NO_FASTAPI_SSE = "fastapi.sse does not exist before FastAPI 0.135: only sse-asgi runs"
FASTAPI_VERSION = tuple(int(part) for part in fastapi.__version__.split(".")[:2])
EXPECTED_FILE = Path(__file__).with_name("fastapi_compat_expected.json")
REGENERATE = "python -m tests.test_fastapi_compat (on FastAPI >= 0.135)"
SECRET = "s3cr3t"


# -- the models and values the apps send ----------------------------------------


class Item(BaseModel):
    name: str
    price: float = 0.0
    note: str | None = None


class Person(BaseModel):
    full_name: str = Field(alias="fullName")
    email: str | None = None


class Defaults(BaseModel):
    a: int
    b: int = 2
    c: str | None = None


class Prompt(BaseModel):
    text: str


class Color(enum.Enum):
    RED = "red"
    GREEN = 2


@dataclasses.dataclass
class Point:
    x: int
    y: float
    owner: Person | None = None


class ItemRecord:
    """Not a model: an object read through its attributes, as FastAPI validates items."""

    def __init__(self, name: str, price: float) -> None:
        self.name = name
        self.price = price


LEAKY = {"name": "leaky", "price": 1, "secret": SECRET}
UTC_PLUS_0530 = datetime.timezone(datetime.timedelta(hours=5, minutes=30))

# Values an untyped stream sends: JSON's corner cases as FastAPI's
# jsonable_encoder and json.dumps treat them.
UNTYPED_VALUES: list[Any] = [
    {
        None: "none",
        float("inf"): "inf",
        float("-inf"): "-inf",
        float("nan"): "nan",
        True: "true",
        False: "false",
        1.5: "float",
        10**20: "big int",
        7: "int",
        "": "empty",
    },
    {"floats": [float("inf"), float("-inf"), float("nan"), -0.0, 1e16, 2.5e-8, 2**70]},
    {
        "decimals": [Decimal("1.10"), Decimal("10"), Decimal("1E+2"), Decimal("-0.5")],
        "timedelta": datetime.timedelta(days=1, seconds=90, microseconds=5),
    },
    {
        "datetime": datetime.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC_PLUS_0530),
        "naive": datetime.datetime(2025, 1, 2, 3, 4, 5),
        "date": datetime.date(2025, 1, 2),
        "time": datetime.time(1, 2, 3, 400),
    },
    {"uuid": uuid.UUID(int=1), "enums": [Color.RED, Color.GREEN], "set": {3}, "tuple": (1, "a")},
    {"point": Point(1, 2.5, Person(fullName="Ada")), "person": Person(fullName="Bob")},
    {Color.RED: 1, uuid.UUID(int=2): 2, Decimal("2.5"): 3, datetime.date(2025, 1, 1): 4},
    Person(fullName="top level"),
    Point(3, float("inf")),
    [Item(name="in a list"), None, "text"],
    "plain text",
    42,
    None,
]


def events_values(event: Callable[..., Any]) -> list[Any]:
    """The ServerSentEvents a stream sends (built with the flavour's class)."""
    return [
        event(comment="starting"),
        event(data=Person(fullName="Ada"), event="person", id="1"),
        event(data={"person": Person(fullName="Ada"), None: 1, "f": float("inf")}, retry=1500),
        event(data=[Decimal("1.5"), datetime.timedelta(seconds=2), Color.RED]),
        event(raw_data="line 1\r\nline 2\rline 3\n", event="raw"),
        event(data="text", id=""),
        event(data=UNTYPED_VALUES[0], comment="two\nlines"),
    ]


# -- the apps, one builder for both flavours ------------------------------------


@dataclasses.dataclass(frozen=True)
class Flavour:
    name: str
    response: Any  # the EventSourceResponse class
    event: Callable[..., Any]  # the ServerSentEvent class
    route_class: type[APIRoute]


def our_flavour() -> Flavour:
    return Flavour(
        "sse_asgi", ours.EventSourceResponse, ours.ServerSentEvent, ours.EventSourceRoute
    )


def their_flavour() -> Flavour:
    from fastapi.sse import EventSourceResponse, ServerSentEvent

    return Flavour("fastapi.sse", EventSourceResponse, ServerSentEvent, APIRoute)


def mark(name: str) -> Callable[[Response], None]:
    """A dependency that adds its name to the ``x-from-dependency`` header."""

    def dependency(response: Response) -> None:
        previous = response.headers.get("x-from-dependency")
        response.headers["x-from-dependency"] = f"{previous},{name}" if previous else name

    dependency.__name__ = f"mark_{name}"
    return dependency


def set_status(response: Response) -> None:
    response.status_code = 203


def deny() -> None:
    raise HTTPException(status_code=403, detail="no entry")


def add_typed_routes(router: APIRouter, esr: Any, event: Callable[..., Any]) -> None:
    """The routes every router level of the inherited-class apps gets (no response_class)."""

    @router.get("/typed")
    async def typed() -> AsyncIterable[Item]:
        yield Item(name="model", price=1)
        yield LEAKY  # type: ignore[misc]  # validated and filtered into Item

    @router.get("/sync")
    def sync_typed() -> Iterator[Item]:
        yield ItemRecord("record", 2)  # type: ignore[misc]  # read through its attributes
        yield LEAKY  # type: ignore[misc]

    @router.get("/untyped")
    async def untyped():  # type: ignore[no-untyped-def]
        yield LEAKY
        yield UNTYPED_VALUES[0]

    @router.get("/events")
    async def events() -> AsyncIterable[Any]:
        for value in events_values(event):
            yield value

    @router.get("/people", response_model_by_alias=False)
    async def people() -> AsyncIterable[Person]:
        yield Person(fullName="No Alias")

    @router.get("/plain-json", response_class=JSONResponse)
    async def plain_json() -> dict[str, int]:
        return {"still": 1}


def build_direct(f: Flavour) -> FastAPI:
    """The response class on each decorator; routes on the app and on two router levels."""
    esr, event = f.response, f.event
    app = FastAPI()
    app.router.route_class = f.route_class

    @app.get("/typed", response_class=esr)
    async def typed() -> AsyncIterable[Item]:
        yield Item(name="model", price=1)
        yield {"name": "from dict", "price": "2.5"}  # type: ignore[misc]
        yield LEAKY  # type: ignore[misc]
        yield ItemRecord("record", 3)  # type: ignore[misc]

    @app.get("/sync", response_class=esr)
    def sync_typed() -> Iterable[Item]:
        yield Item(name="sync")
        yield LEAKY  # type: ignore[misc]

    @app.get("/untyped", response_class=esr)
    async def untyped():  # type: ignore[no-untyped-def]
        for value in UNTYPED_VALUES:
            yield value

    @app.get("/untyped-sync", response_class=esr)
    def untyped_sync():  # type: ignore[no-untyped-def]
        yield from UNTYPED_VALUES[:3]

    @app.get("/events", response_class=esr)
    async def events() -> AsyncIterable[Any]:
        for value in events_values(event):
            yield value

    @app.get("/any", response_class=esr)
    async def any_items() -> AsyncIterator[Any]:
        # A declared Any: validated (as anything) and serialized by pydantic.
        for value in UNTYPED_VALUES[:4]:
            yield value

    @app.get("/dicts", response_class=esr)
    async def dicts() -> AsyncIterable[dict[str, str]]:
        yield {"a": "b"}

    @app.get("/lists", response_class=esr)
    async def lists() -> AsyncIterable[list[Item]]:
        yield [Item(name="a"), LEAKY]  # type: ignore[list-item]

    @app.get("/people", response_class=esr)
    async def people() -> AsyncIterable[Person]:
        yield Person(fullName="Ada", email=None)
        yield {"fullName": "From Dict"}  # type: ignore[misc]

    @app.get("/people-no-alias", response_class=esr, response_model_by_alias=False)
    async def people_no_alias() -> AsyncIterable[Person]:
        yield Person(fullName="Ada")

    options: dict[str, dict[str, Any]] = {
        "include": {"response_model_include": {"a"}},
        "exclude": {"response_model_exclude": {"a"}},
        "exclude-unset": {"response_model_exclude_unset": True},
        "exclude-defaults": {"response_model_exclude_defaults": True},
        "exclude-none": {"response_model_exclude_none": True},
    }
    for suffix, option in options.items():

        async def defaults() -> AsyncIterable[Defaults]:
            yield Defaults(a=1)
            yield Defaults(a=1, b=3, c="set")
            yield Defaults(a=1, b=2, c=None)

        app.get(f"/options/{suffix}", response_class=esr, name=f"options_{suffix}", **option)(
            defaults
        )

    @app.get("/mixed", response_class=esr)
    async def mixed() -> AsyncIterable[Item]:
        yield Item(name="item")
        yield event(data={"not": "an item"}, event="other")

    @app.get("/declared-none", response_class=esr, response_model=None)
    async def declared_none() -> AsyncIterable[Item]:
        # response_model=None turns the item type off: items go out untyped.
        yield {"name": "untyped", "extra": True}  # type: ignore[misc]

    @app.post("/chat", response_class=esr, status_code=201)
    async def chat(prompt: Prompt) -> AsyncIterable[str]:
        for word in prompt.text.split():
            yield word

    @app.get("/status", response_class=esr, status_code=202)
    async def status() -> AsyncIterable[int]:
        yield 1

    @app.get(
        "/from-dependency",
        response_class=esr,
        dependencies=[Depends(set_status), Depends(mark("route"))],
    )
    async def from_dependency() -> AsyncIterable[int]:
        yield 1

    @app.get("/denied", response_class=esr, dependencies=[Depends(deny)])
    async def denied() -> AsyncIterable[int]:
        yield 1  # pragma: no cover

    @app.get("/not-found", response_class=esr)
    async def not_found() -> AsyncIterable[int]:
        raise HTTPException(status_code=404, detail="no such stream")
        yield 1  # pragma: no cover

    @app.get("/invalid", response_class=esr)
    async def invalid() -> AsyncIterable[Item]:
        yield Item(name="valid")
        yield {"price": "no name"}  # type: ignore[misc]

    @app.get("/resume", response_class=esr)
    async def resume(last_event_id: Annotated[int | None, Header()] = None) -> AsyncIterable[Any]:
        start = 0 if last_event_id is None else last_event_id + 1
        for i in range(start, 3):
            yield event(data={"n": i}, id=str(i))

    @app.get("/items/{item_id}", response_class=esr)
    async def item_updates(item_id: int, limit: int = 2) -> AsyncIterable[Item]:
        for i in range(limit):
            yield Item(name=f"item {item_id}", price=i)

    @app.get("/json")
    async def plain_json() -> dict[str, int]:
        return {"still": 1}

    router = APIRouter(prefix="/router", tags=["router"], route_class=f.route_class)

    @router.get("/typed", response_class=esr)
    async def router_typed() -> AsyncIterable[Item]:
        yield LEAKY  # type: ignore[misc]

    inner = APIRouter(prefix="/inner", route_class=f.route_class)

    @inner.get("/typed", response_class=esr, dependencies=[Depends(mark("inner-route"))])
    def inner_typed() -> Iterator[Item]:
        yield LEAKY  # type: ignore[misc]

    router.include_router(inner, dependencies=[Depends(mark("inner"))])
    app.include_router(router, prefix="/api", dependencies=[Depends(mark("api"))])
    return app


def build_app_default(f: Flavour) -> FastAPI:
    """``FastAPI(default_response_class=...)``: routes on the app and three router levels inherit it."""
    app = FastAPI(default_response_class=f.response)
    app.router.route_class = f.route_class
    add_typed_routes(app.router, f.response, f.event)
    child = APIRouter(
        prefix="/child",
        tags=["child"],
        dependencies=[Depends(mark("child"))],
        route_class=f.route_class,
    )
    add_typed_routes(child, f.response, f.event)
    grandchild = APIRouter(prefix="/grand", route_class=f.route_class)
    add_typed_routes(grandchild, f.response, f.event)
    great = APIRouter(prefix="/great", tags=["great"], route_class=f.route_class)
    add_typed_routes(great, f.response, f.event)
    grandchild.include_router(great, dependencies=[Depends(mark("great"))])
    child.include_router(grandchild, prefix="/v2", dependencies=[Depends(mark("grand"))])
    app.include_router(child, prefix="/api", tags=["api"], dependencies=[Depends(mark("api"))])
    return app


def build_router_default(f: Flavour) -> FastAPI:
    """A router's ``default_response_class``: its routes, and a router included into it, inherit it."""
    app = FastAPI()
    app.router.route_class = f.route_class
    streams = APIRouter(
        prefix="/streams", default_response_class=f.response, route_class=f.route_class
    )
    add_typed_routes(streams, f.response, f.event)
    sub = APIRouter(prefix="/sub", dependencies=[Depends(mark("sub"))], route_class=f.route_class)
    add_typed_routes(sub, f.response, f.event)
    streams.include_router(sub)
    app.include_router(streams, dependencies=[Depends(set_status)])
    return app


def build_include_default(f: Flavour) -> FastAPI:
    """``include_router(..., default_response_class=...)`` at the first and at the second level."""
    app = FastAPI()
    app.router.route_class = f.route_class
    first = APIRouter(route_class=f.route_class)
    add_typed_routes(first, f.response, f.event)
    app.include_router(first, prefix="/first", default_response_class=f.response)
    parent = APIRouter(prefix="/parent", route_class=f.route_class)
    child = APIRouter(prefix="/child", route_class=f.route_class)
    add_typed_routes(child, f.response, f.event)
    parent.include_router(child, default_response_class=f.response)
    app.include_router(parent, tags=["second"], dependencies=[Depends(mark("app"))])
    return app


BUILDERS = {
    "direct": build_direct,
    "app_default": build_app_default,
    "router_default": build_router_default,
    "include_default": build_include_default,
}


def build_apps(f: Flavour) -> dict[str, FastAPI]:
    return {name: build(f) for name, build in BUILDERS.items()}


# -- the requests ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Request:
    app: str
    path: str
    method: str = "GET"
    json: Any = None
    last_event_id: str | None = None

    @property
    def key(self) -> str:
        extra = "" if self.json is None else f" {json.dumps(self.json)}"
        extra += "" if self.last_event_id is None else f" Last-Event-ID: {self.last_event_id}"
        return f"{self.app}: {self.method} {self.path}{extra}"


INHERITED_PATHS = ["/typed", "/sync", "/untyped", "/events", "/people", "/plain-json"]
INHERITED_PREFIXES = {
    "app_default": ["", "/api/child", "/api/child/v2/grand", "/api/child/v2/grand/great"],
    "router_default": ["/streams", "/streams/sub"],
    "include_default": ["/first", "/parent/child"],
}
DIRECT_PATHS = [
    "/typed",
    "/sync",
    "/untyped",
    "/untyped-sync",
    "/events",
    "/any",
    "/dicts",
    "/lists",
    "/people",
    "/people-no-alias",
    *(f"/options/{suffix}" for suffix in ("include", "exclude", "exclude-unset")),
    *(f"/options/{suffix}" for suffix in ("exclude-defaults", "exclude-none")),
    "/mixed",
    "/declared-none",
    "/status",
    "/from-dependency",
    "/denied",
    "/not-found",
    "/invalid",
    "/resume",
    "/items/7?limit=3",
    "/items/x",
    "/json",
    "/api/router/typed",
    "/api/router/inner/typed",
]
REQUESTS = [
    *(Request("direct", path) for path in DIRECT_PATHS),
    Request("direct", "/resume", last_event_id="0"),
    Request("direct", "/resume", last_event_id="not a number"),
    Request("direct", "/chat", method="POST", json={"text": "hello big world"}),
    Request("direct", "/chat", method="POST", json={"wrong": 1}),
    *(
        Request(app, prefix + path)
        for app, prefixes in INHERITED_PREFIXES.items()
        for prefix in prefixes
        for path in INHERITED_PATHS
    ),
]

# Where sse-asgi answers differently on purpose (the README's migration
# table), and what it answers. fastapi.sse sends the 200 head, then neither
# events nor an end (its producer task failed; the exception reaches the
# server), so it is not asked these: an exception before the first item is a
# real HTTP error here, and an invalid item ends the stream cleanly after the
# events before it.
DIFFERENCES: dict[str, dict[str, Any]] = {
    "direct: GET /not-found": {
        "status": 404,
        "content_type": "application/json",
        "body": {"detail": "no such stream"},
    },
    "direct: GET /invalid": {
        "status": 200,
        "content_type": "text/event-stream; charset=utf-8",
        "headers": {"cache-control": "no-cache", "x-accel-buffering": "no"},
        "events": [
            {
                "event": "message",
                "id": "",
                "retry": None,
                "data": {"json": {"name": "valid", "price": 0.0, "note": None}},
            }
        ],
        "comments": [],
    },
}

Record = dict[str, Any]
HEADERS = ("cache-control", "x-accel-buffering", "x-from-dependency")


def data_value(data: str) -> dict[str, Any]:
    try:
        return {"json": json.loads(data)}
    except ValueError:
        return {"raw": data}


def error_names(exc: BaseException) -> list[str]:
    inner: list[BaseException] = getattr(exc, "exceptions", [])  # an exception group
    if inner:
        return sorted(name for each in inner for name in error_names(each))
    return [type(exc).__name__]


async def ask(app: FastAPI, request: Request) -> Record:
    """One request, recorded: status, content type, headers, events, comments; or the app's error."""
    record: Record = {}
    stream: SSETestStream | None = None
    try:
        with anyio.fail_after(10):
            async with connect(
                app,
                request.path,
                method=request.method,
                **({} if request.json is None else {"json": request.json}),
                last_event_id=request.last_event_id,
            ) as stream:
                events = [event async for event in stream]
                await stream.wait_complete()
    except Exception as exc:  # what a server would log after the head went out
        record["app_error"] = error_names(exc)
        events = []
    if stream is None:
        return record
    record["status"] = stream.status
    record["content_type"] = content_type = stream.headers.get("content-type")
    if content_type == "application/json":
        record["body"] = json.loads(stream.received)
        return record
    record["headers"] = {name: stream.headers[name] for name in HEADERS if name in stream.headers}
    record["events"] = [
        {"event": e.event, "id": e.id, "retry": e.retry, "data": data_value(e.data)} for e in events
    ]
    text = stream.received.decode()
    record["comments"] = [line[2:] for line in re.split(r"\r\n|\r|\n", text) if line[:1] == ":"]
    return record


async def answers(f: Flavour) -> dict[str, Record]:
    """Every answer of the flavour's apps (fastapi.sse is not asked DIFFERENCES)."""
    apps = build_apps(f)
    return {
        request.key: await ask(apps[request.app], request)
        for request in REQUESTS
        if f.name == "sse_asgi" or request.key not in DIFFERENCES
    }


def openapi_documents(f: Flavour) -> dict[str, Any]:
    return {name: app.openapi() for name, app in build_apps(f).items()}


def recording() -> dict[str, Any]:
    assert EXPECTED_FILE.is_file(), f"{EXPECTED_FILE.name} is missing: {REGENERATE}"
    data: dict[str, Any] = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    return data


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3])


def as_recorded_fastapi() -> bool:
    """Whether this FastAPI is the recorded release or newer.

    Older releases' fastapi.sse differs from the recording where it had bugs
    since fixed (0.135 to 0.140.7 send undeclared fields of items through
    include_router, for one): there, sse-asgi is checked against the
    recording only.
    """
    return release(fastapi.__version__) >= release(recording()["fastapi"])


# Answers whose values come from pydantic's own serializer for unusual values
# (a declared Any: dict keys, time, timedelta), which older pydantic releases
# write differently; on both sides of the comparison alike.
PYDANTIC_DEPENDENT = {"direct: GET /any"}


def comparable(key: str, record: Record) -> Record:
    """``record`` without what depends on the FastAPI/pydantic release rather than on us."""
    same_pydantic = pydantic.VERSION.split(".")[:2] == recording()["pydantic"].split(".")[:2]
    if key in PYDANTIC_DEPENDENT and not same_pydantic:
        return {}
    body = record.get("body")
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        # Older pydantic adds a documentation "url" to each validation error.
        details = [{k: v for k, v in error.items() if k != "url"} for error in body["detail"]]
        record = {**record, "body": {**body, "detail": details}}
    return record


# -- the tests ------------------------------------------------------------------


def test_the_recording_covers_every_request() -> None:
    recorded = recording()
    keys = {request.key for request in REQUESTS}
    assert set(DIFFERENCES) <= keys
    assert set(recorded["answers"]) == keys - set(DIFFERENCES)
    assert sorted(recorded["openapi"]) == sorted(BUILDERS)


@pytest.mark.anyio
async def test_sse_asgi_gives_the_recorded_answers(anyio_backend: str) -> None:
    recorded = recording()["answers"]
    got = await answers(our_flavour())
    assert set(got) == set(recorded) | set(DIFFERENCES)
    for key, record in got.items():
        expected = DIFFERENCES[key] if key in DIFFERENCES else recorded[key]
        assert comparable(key, record) == comparable(key, expected), key


@pytest.mark.anyio
async def test_nothing_undeclared_reaches_the_wire(anyio_backend: str) -> None:
    apps = build_apps(our_flavour())
    for request in REQUESTS:
        if not request.path.endswith("/untyped") and "declared-none" not in request.path:
            record = await ask(apps[request.app], request)
            assert SECRET not in json.dumps(record), request.key


@pytest.mark.skipif(not HAS_FASTAPI_SSE, reason=NO_FASTAPI_SSE)
@pytest.mark.anyio
async def test_the_same_answers_as_fastapi_sse(anyio_backend: str) -> None:
    if not as_recorded_fastapi():
        pytest.skip("this fastapi.sse predates the recording's: sse-asgi is checked against it")
    theirs = await answers(their_flavour())
    got = await answers(our_flavour())
    assert theirs == recording()["answers"], f"the recording is stale: {REGENERATE}"
    for key in theirs:
        assert got[key] == theirs[key], key


@pytest.mark.skipif(not HAS_FASTAPI_SSE, reason=NO_FASTAPI_SSE)
def test_the_same_openapi_documents_as_fastapi_sse() -> None:
    if not as_recorded_fastapi():
        pytest.skip("this fastapi.sse predates the recording's: sse-asgi is checked against it")
    theirs = openapi_documents(their_flavour())
    assert openapi_documents(our_flavour()) == theirs
    assert theirs == recording()["openapi"], f"the recording is stale: {REGENERATE}"


def test_openapi_on_fastapi_without_sse() -> None:
    """Where FastAPI knows no SSE, the route class documents SSE routes as fastapi.sse does.

    Compared with the recording: every SSE response (status code,
    description, ``itemSchema`` with its ``$ref``s and titles) and every
    schema those refer to. The rest of the document is FastAPI's own and
    differs between releases (the validation error schema, for one).
    """
    recorded = recording()["openapi"]
    documents = openapi_documents(our_flavour())
    for name, expected in recorded.items():
        got = documents[name]
        assert sse_parts(got) == sse_parts(expected), name


def sse_parts(document: dict[str, Any]) -> dict[str, Any]:
    """The SSE responses of a document, with every component schema they refer to."""
    responses = {
        f"{method.upper()} {path} {status}": response
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if "text/event-stream" in response.get("content", {})
    }
    schemas = document.get("components", {}).get("schemas", {})
    referred: dict[str, Any] = {}
    pending = refs(responses)
    while pending:
        name = pending.pop()
        if name not in referred:
            referred[name] = schemas[name]
            pending |= refs(schemas[name])
    return {"responses": responses, "schemas": referred}


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rpartition("/")[2]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(value) for value in node))
    return set()


def generate() -> dict[str, Any]:
    f = their_flavour()
    return {
        "fastapi": fastapi.__version__,
        "pydantic": pydantic.VERSION,
        "answers": anyio.run(answers, f, backend="asyncio"),
        "openapi": openapi_documents(f),
    }


if __name__ == "__main__":
    if not HAS_FASTAPI_SSE:
        sys.exit(NO_FASTAPI_SSE)
    EXPECTED_FILE.write_text(json.dumps(generate(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {EXPECTED_FILE}")
