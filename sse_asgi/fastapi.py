"""FastAPI integration: ``fastapi.sse``'s API, served by sse-asgi.

Switching from ``fastapi.sse`` takes the import line, plus one line per
router that declares SSE path operations -- the app's own router included
-- which enables the route class:

```py
from collections.abc import AsyncIterable

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute


class Item(BaseModel):
    name: str


app = FastAPI()
app.router.route_class = EventSourceRoute  # every route added after this line

router = APIRouter(route_class=EventSourceRoute)


@router.get("/items/stream", response_class=EventSourceResponse)
async def sse_items() -> AsyncIterable[Item]:
    yield Item(name="Plumbus")


app.include_router(router)
```

A generator path operation (async or sync) whose response class is
:class:`EventSourceResponse` -- or a class made with
``EventSourceResponse.with_options(...)`` -- is then served by sse-asgi,
wherever the class comes from: ``response_class=`` on the decorator, or
``default_response_class=`` on the app, on the router, or on a router it is
included into, through any number of ``include_router`` levels. Everything
else is ``fastapi.sse``'s: dependencies, parameters, bodies, ``status_code``
and background tasks work as usual; a declared item type
(``AsyncIterable[Item]``, ``Iterable[Item]``, ``AsyncGenerator[Item, None]``,
...) validates and filters each plain item, honouring the
``response_model_*`` options; undeclared items and ``ServerSentEvent.data``
get the JSON values ``fastapi.sse`` sends; and the OpenAPI document is
``fastapi.sse``'s. ``format_sse_event`` and ``KEEPALIVE_COMMENT`` are
``fastapi.sse``'s too. Returning ``EventSourceResponse(gen())`` from any path
operation works without the route class.

Supported: FastAPI 0.100 and newer. On releases without ``fastapi.sse``
(before 0.135) the route class writes the OpenAPI document ``fastapi.sse``
would write.
"""

from __future__ import annotations

import collections.abc
import copy
import functools
import inspect
import typing
from collections.abc import Callable, Coroutine
from typing import Any

import fastapi.dependencies.utils
import fastapi.routing
from fastapi import Depends
from fastapi.datastructures import Default, DefaultPlaceholder
from fastapi.dependencies.utils import get_typed_return_annotation, get_typed_signature
from fastapi.routing import APIRoute
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from starlette.requests import Request
from starlette.responses import Response

from ._event import ServerSentEvent
from ._json import dumps_by_alias, item_serializer
from ._options import DEFAULT_SETTINGS, StreamOptions
from .starlette import EventSourceResponse as _StarletteResponse

try:
    from fastapi.sse import EventSourceResponse as _NativeResponse
    from fastapi.sse import ServerSentEvent as _NativeEvent
except ImportError:  # FastAPI < 0.135: no fastapi.sse
    _NATIVE_BASES: tuple[type, ...] = ()
    _NATIVE_EVENTS: tuple[type, ...] = ()
else:
    _NATIVE_BASES = (_NativeResponse,)
    _NATIVE_EVENTS = (_NativeEvent,)

__all__ = [
    "KEEPALIVE_COMMENT",
    "EventSourceResponse",
    "EventSourceRoute",
    "ServerSentEvent",
    "format_sse_event",
]

_UNSET: Any = object()  # "not given", where None means something

#: The keep-alive comment sent after 15 s without an event (``fastapi.sse``'s,
#: and the default of :class:`EventSourceResponse`'s ``ping_interval`` and
#: ``ping_comment``).
KEEPALIVE_COMMENT = DEFAULT_SETTINGS.ping_bytes  # b": ping\n\n"


class EventSourceResponse(_StarletteResponse, *_NATIVE_BASES):  # type: ignore[misc]
    """The response class of SSE path operations, served by sse-asgi.

    Name it where FastAPI takes a response class (``response_class=``,
    ``default_response_class=``) for generator path operations of a router
    with :class:`EventSourceRoute`, or return an instance from any path
    operation. It is :class:`sse_asgi.starlette.EventSourceResponse` (same
    arguments and options, ``with_options()`` included), a Starlette
    ``Response`` -- not the framework-free ASGI application
    :class:`sse_asgi.EventSourceResponse` it runs inside; on FastAPI >= 0.135
    it also subclasses ``fastapi.sse.EventSourceResponse``, so that FastAPI
    treats the path operation as the SSE stream it is -- the same item
    validation and OpenAPI document.

    Example (with the route class on the app's router, as every ``yield`` route needs):

    ```py
    from collections.abc import AsyncIterable

    import anyio
    from fastapi import FastAPI

    from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute
    from sse_asgi.testing import connect

    app = FastAPI()
    app.router.route_class = EventSourceRoute


    @app.get("/ticks", response_class=EventSourceResponse.with_options(ping_interval=5))
    async def ticks() -> AsyncIterable[int]:
        for i in range(3):
            yield i


    async def main():
        async with connect(app, "/ticks") as stream:
            print([event.data async for event in stream])
            #> ['0', '1', '2']


    anyio.run(main)
    ```
    """


def format_sse_event(
    *,
    data_str: str | None = None,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    r"""One event's bytes from **pre-serialized** data, as in ``fastapi.sse.format_sse_event``.

    Fields come in ``fastapi.sse``'s order (comment, event, data, id, retry);
    ``data_str`` and ``comment`` get one line per line of them (CRLF, CR and
    LF all break lines); the result ends with the blank line that ends an
    event (all arguments ``None`` give ``b"\n"``). A field that would break
    the framing -- a CR or LF in ``event`` or ``id``, a NUL in ``id`` -- or a
    ``retry`` that is not an int >= 0 raises :class:`sse_asgi.InvalidEventError`
    (a ``ValueError``), where ``fastapi.sse`` writes it out.

    Example:

    ```py
    from sse_asgi.fastapi import format_sse_event

    print(format_sse_event(data_str='{"n":1}', event="tick", id="7"))
    #> b'event: tick\ndata: {"n":1}\nid: 7\n\n'
    ```
    """
    fields = ServerSentEvent(raw_data=data_str, event=event, id=id, retry=retry, comment=comment)
    return fields.encode()


class EventSourceRoute(APIRoute):
    """An ``APIRoute`` that serves SSE generator path operations with sse-asgi.

    Enable it on every router that declares them: ``app.router.route_class =
    EventSourceRoute`` right after ``app = FastAPI()``, and
    ``APIRouter(route_class=EventSourceRoute)``. A path operation is served
    by sse-asgi when it is a generator (async or sync) and its response
    class -- from the decorator, the app, its router or a router it is
    included into -- is :class:`EventSourceResponse`; the route class
    decides when FastAPI builds the request handler, once per inclusion, with
    the response class that inclusion resolves. Other routes are left
    exactly as FastAPI makes them.

    Example:

    ```py
    from typing import Annotated

    import anyio
    from fastapi import APIRouter, FastAPI, Header

    from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute, ServerSentEvent
    from sse_asgi.testing import connect

    router = APIRouter(prefix="/events", route_class=EventSourceRoute)


    @router.get("/ticks", response_class=EventSourceResponse.with_options(ping_interval=5))
    async def ticks(last_event_id: Annotated[int | None, Header()] = None):
        first = 0 if last_event_id is None else last_event_id + 1  # resume after it
        for i in range(first, 3):
            yield ServerSentEvent(data=i, id=str(i))


    app = FastAPI()
    app.include_router(router)


    async def main():
        async with connect(app, "/events/ticks", last_event_id="0") as stream:
            print([event.id async for event in stream])
            #> ['1', '2']


    anyio.run(main)
    ```
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        declared = kwargs.get("response_model", Default(None))
        # Whether the item type comes from the annotation: set before
        # APIRoute.__init__, which builds the request handler.
        self._sse_declared_model = not isinstance(declared, DefaultPlaceholder)
        item_type = _UNSET
        if not self._sse_declared_model and _is_generator_function(endpoint):
            annotated = _annotated_item_type(endpoint)
            if annotated is not _UNSET:
                item_type = _stream_item_type(annotated)
                if item_type is None or not _FASTAPI_KNOWS_STREAMS:
                    # FastAPI must not make a model of the annotation: before
                    # 0.134 it fails on AsyncIterable[...], and no release
                    # has a schema for sse-asgi's ServerSentEvent.
                    kwargs["response_model"] = None
        response_class = _unmarked(_resolve(kwargs.get("response_class", Default(None))))
        emulate = _serves(response_class, endpoint) and not _is_subclass(
            response_class, _NATIVE_BASES
        )
        if emulate:
            kwargs = _emulated_openapi_kwargs(kwargs, response_class, item_type)
        super().__init__(path, endpoint, **kwargs)
        if emulate:
            self.openapi_extra = _emulated_openapi_extra(self, self.openapi_extra, item_type)
        if item_type is not _UNSET and item_type is not None:
            # Keep the model undeclared, so that every inclusion of this
            # route (a new route before FastAPI 0.137, an inclusion context
            # after) derives the item type again with its own response class.
            self.response_model = Default(None)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The request handler, for this route or for one inclusion of it.

        FastAPI calls this once per route -- and, from FastAPI 0.137, once
        per ``include_router`` inclusion, while it names that inclusion's
        view of the route (prefix, dependencies, the response class it
        resolves). Served by sse-asgi when that response class is an
        :class:`EventSourceResponse` and the endpoint a generator;
        FastAPI's own handler otherwise.
        """
        route = _effective_route(self)
        response_class = _unmarked(_resolve(route.response_class))
        if not _serves(response_class, route.endpoint):
            return super().get_route_handler()
        item_type = None if self._sse_declared_model else _item_type_of(route.endpoint)
        endpoint = _sse_endpoint(
            route.endpoint,
            response_class,
            _options(route, response_class, item_type),
            route.status_code,
        )
        # FastAPI builds the handler (body, dependencies, errors, background
        # tasks) for the endpoint that returns our response.
        options = {
            "methods": route.methods,
            "dependencies": route.dependencies,
            "status_code": route.status_code,
            "response_model": None,
            "response_class": Response,
            "name": route.name,
            "operation_id": route.unique_id,
            "include_in_schema": False,
            "dependency_overrides_provider": route.dependency_overrides_provider,
            "strict_content_type": getattr(route, "strict_content_type", None),
            "form_limits": getattr(self, "form_limits", None),
        }
        # Only what this FastAPI's APIRoute takes (strict_content_type and
        # form_limits are newer than 0.100).
        handler = APIRoute(
            route.path,
            endpoint,
            **{key: value for key, value in options.items() if key in _ROUTE_PARAMETERS},
        )
        return handler.get_route_handler()


_ROUTE_PARAMETERS = frozenset(inspect.signature(APIRoute.__init__).parameters)

# FastAPI >= 0.137 keeps an included router's route objects and builds a
# handler per inclusion, with this context variable naming the route as that
# inclusion sees it (prefix, dependencies, response class...) while it calls
# get_route_handler(). Read, never set.
_INCLUSION = getattr(fastapi.routing, "_effective_route_context_var", None)


def _effective_route(route: APIRoute) -> Any:
    """``route`` as FastAPI is building a handler for it: itself, or one inclusion of it."""
    context = _INCLUSION.get() if _INCLUSION is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        return context
    return route


def _resolve(response_class: Any) -> Any:
    if isinstance(response_class, DefaultPlaceholder):
        return response_class.value
    return response_class


def _is_subclass(value: Any, bases: type | tuple[type, ...]) -> bool:
    return isinstance(value, type) and bool(bases) and issubclass(value, bases)


def _serves(response_class: Any, endpoint: Callable[..., Any]) -> bool:
    """Whether sse-asgi serves this path operation."""
    return _is_subclass(response_class, _StarletteResponse) and _is_generator_function(endpoint)


def _is_generator_function(endpoint: Callable[..., Any]) -> bool:
    # As FastAPI tells: through functools.partial and decorators, or a
    # callable object's __call__.
    for call in (endpoint, getattr(endpoint, "__call__", None)):  # noqa: B004
        if call is None:
            continue
        while isinstance(call, functools.partial):
            call = call.func
        for target in (call, inspect.unwrap(call)):
            if inspect.isasyncgenfunction(target) or inspect.isgeneratorfunction(target):
                return True
        if inspect.isclass(inspect.unwrap(call)):
            return False
    return False


# The iterable types whose argument is the item type of a generator endpoint
# (fastapi.sse's list).
_STREAM_ORIGINS = {
    collections.abc.AsyncIterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
    collections.abc.Iterable,
    collections.abc.Iterator,
    collections.abc.Generator,
}
# FastAPI >= 0.134 reads stream annotations itself (JSON Lines, then SSE).
_FASTAPI_KNOWS_STREAMS = hasattr(fastapi.dependencies.utils, "get_stream_item_type")


def _annotated_item_type(endpoint: Callable[..., Any]) -> Any:
    """``Item`` for ``-> AsyncIterable[Item]`` and friends (``Any`` when bare); else _UNSET."""
    annotation = get_typed_return_annotation(endpoint)
    if typing.get_origin(annotation) not in _STREAM_ORIGINS:
        return _UNSET
    arguments = typing.get_args(annotation)
    return arguments[0] if arguments else Any


def _stream_item_type(annotated: Any) -> Any:
    """The type items are validated against; None for events, which pass through."""
    if _is_subclass(annotated, (ServerSentEvent, *_NATIVE_EVENTS)):
        return None
    return annotated


def _item_type_of(endpoint: Callable[..., Any]) -> Any:
    annotated = _annotated_item_type(endpoint)
    return None if annotated is _UNSET else _stream_item_type(annotated)


def _options(route: Any, response_class: type[Any], item_type: Any) -> StreamOptions:
    """The response's serialization options for this route."""
    if item_type is not None:
        serializer = item_serializer(
            item_type,
            from_attributes=True,  # as FastAPI validates response items
            by_alias=route.response_model_by_alias,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
        )
        # The declared type decides, whatever with_options() said.
        return {"serializer": serializer, "item_type": None}
    defaults = getattr(response_class, "default_options", {})
    if "serializer" in defaults or "item_type" in defaults:
        return {}  # the class's own choice
    # fastapi.sse's undeclared items: jsonable_encoder's values, models by alias.
    return {"serializer": dumps_by_alias}


_SUB_RESPONSE = "_sse_asgi_sub_response"


def _sub_response(response: Response) -> Response:
    # A dependency that receives FastAPI's per-request "sub-response": the one
    # `response: Response` parameter every dependency shares, which carries
    # the status code and headers they set.
    return response


def _sse_endpoint(
    endpoint: Callable[..., Any],
    response_class: type[_StarletteResponse],
    options: StreamOptions,
    status_code: int | None,
) -> Callable[..., Any]:
    # A real coroutine function: FastAPI 0.100 checks with iscoroutinefunction.
    async def sse_endpoint(*args: Any, **kwargs: Any) -> Response:
        sub_response: Response = kwargs.pop(_SUB_RESPONSE)
        # Calling a generator function runs none of its code yet.
        content = endpoint(*args, **kwargs)
        status = sub_response.status_code or status_code or 200
        response = response_class(content, status_code=status, **options)
        response.raw_headers.extend(
            pair for pair in sub_response.raw_headers if pair[0] != b"content-length"
        )
        return response

    # The user's parameters (string annotations resolved in the user's module),
    # plus the hidden sub-response dependency.
    signature = get_typed_signature(endpoint)
    parameters = list(signature.parameters.values())
    hidden = inspect.Parameter(
        _SUB_RESPONSE, inspect.Parameter.KEYWORD_ONLY, default=Depends(_sub_response)
    )
    at = next(
        (i for i, p in enumerate(parameters) if p.kind is inspect.Parameter.VAR_KEYWORD),
        len(parameters),
    )
    parameters.insert(at, hidden)
    sse_endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=response_class
    )
    # Never set __wrapped__: FastAPI >= 0.134 would unwrap it and treat this
    # coroutine function as the generator it wraps.
    for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
        if hasattr(endpoint, attribute):
            setattr(sse_endpoint, attribute, getattr(endpoint, attribute))
    return sse_endpoint


# -- OpenAPI where FastAPI does not know the class is SSE (FastAPI < 0.135) ------

# The event object FastAPI documents for every SSE route (fastapi.sse's own).
_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "data": {"type": "string"},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}
_REF_TEMPLATE = "#/components/schemas/{model}"


def _emulated_openapi_kwargs(
    kwargs: dict[str, Any], response_class: type[Any], item_type: Any
) -> dict[str, Any]:
    kwargs = dict(kwargs)
    # No media type: FastAPI adds no plain response schema beside our itemSchema.
    kwargs["response_class"] = _openapi_marker(response_class)
    if item_type not in (_UNSET, None) and is_body_allowed_for_status_code(
        kwargs.get("status_code")
    ):
        # A response model only so that FastAPI puts the item's models into
        # components.schemas, where the itemSchema refers to them: the
        # request handler is ours and never reads it.
        kwargs["response_model"] = item_type
    return kwargs


def _emulated_openapi_extra(
    route: APIRoute, extra: dict[str, Any] | None, item_type: Any
) -> dict[str, Any] | None:
    """``extra`` with the ``text/event-stream`` response fastapi.sse documents."""
    status_code = route.status_code
    if not is_body_allowed_for_status_code(status_code):
        return extra
    item_schema = copy.deepcopy(_EVENT_SCHEMA)
    if item_type not in (_UNSET, None):
        item_schema["properties"]["data"] = {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": _content_schema(item_type, route.unique_id),
        }
        item_schema["required"] = ["data"]
    # Replaced, not merged: a route FastAPI copies (include_router before
    # 0.137) brings the extra it read here.
    merged = copy.deepcopy(extra or {})
    response = merged.setdefault("responses", {}).setdefault(str(status_code or 200), {})
    response.setdefault("content", {}).setdefault("text/event-stream", {})["itemSchema"] = (
        item_schema
    )
    return merged


def _content_schema(item_type: Any, unique_id: str) -> dict[str, Any]:
    """The item's schema as FastAPI >= 0.135 writes it: models as $refs into components.

    A model's name in components is the one pydantic gives it (its class
    name): FastAPI renames two different models of the same name in one
    app, which this cannot see (FastAPI < 0.135 only; see the README).
    """
    generator = GenerateJsonSchema(ref_template=_REF_TEMPLATE)
    mapping, _ = generator.generate_definitions(
        [("item", "serialization", TypeAdapter(item_type).core_schema)]
    )
    schema = dict(mapping["item", "serialization"])
    if "$ref" not in schema:
        # FastAPI titles an inline schema after the field it makes for the item.
        schema["title"] = f"StreamItem_{unique_id}".title().replace("_", " ")
    return schema


_MARKERS: dict[type[Any], type[Any]] = {}


def _openapi_marker(response_class: type[Any]) -> type[Any]:
    """The response class with ``media_type = None``, for FastAPI's OpenAPI only.

    FastAPI would otherwise add a ``{"schema": {"type": "string"}}`` next to
    the ``itemSchema``. It is never instantiated: the request handler builds
    the real class (see :func:`_unmarked`).
    """
    if response_class not in _MARKERS:
        _MARKERS[response_class] = type(
            response_class.__name__,
            (response_class,),
            {"media_type": None, "__module__": response_class.__module__},
        )
    return _MARKERS[response_class]


def _unmarked(response_class: Any) -> Any:
    for original, marker in _MARKERS.items():
        if marker is response_class:
            return original
    return response_class
