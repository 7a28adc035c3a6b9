"""FastAPI integration: the guide's ``yield`` style, served by sse-asgi.

Switching from ``fastapi.sse`` takes the import line, plus one line per app
(or router) that enables the route class::

    from fastapi import FastAPI
    from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute, ServerSentEvent

    app = FastAPI()
    app.router.route_class = EventSourceRoute  # every route added after this line

    @app.get("/items/stream", response_class=EventSourceResponse)
    async def sse_items() -> AsyncIterable[Item]:
        for item in items:
            yield item

A generator path operation (async or sync) declared with
``response_class=EventSourceResponse`` -- or a class made with
``EventSourceResponse.with_options(...)`` -- is then served by sse-asgi:
dependencies, parameters, bodies, ``status_code`` and background tasks work
as usual; a declared item type (``AsyncIterable[Item]``, ``Iterable[Item]``,
``AsyncGenerator[Item, None]``, ...) validates each plain item and
serializes it with pydantic's core, honouring ``response_model_*`` options;
and OpenAPI documents the route as ``text/event-stream`` with an
``itemSchema`` like FastAPI's own. Returning ``EventSourceResponse(gen())``
from any path operation works without the route class, on every FastAPI
release from 0.100.

Routers keep their own route class: create them with
``APIRouter(route_class=EventSourceRoute)``.
"""

from __future__ import annotations

import collections.abc
import copy
import inspect
import typing
from collections.abc import Callable
from typing import Any

from fastapi import Depends
from fastapi.datastructures import Default, DefaultPlaceholder
from fastapi.dependencies.utils import get_typed_return_annotation, get_typed_signature
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.responses import Response

from ._event import ServerSentEvent
from ._json import item_serializer
from .starlette import EventSourceResponse

__all__ = ["EventSourceResponse", "EventSourceRoute", "ServerSentEvent"]

# The iterable types whose argument is the item type of a generator endpoint.
_STREAM_ORIGINS = {
    collections.abc.AsyncIterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
    collections.abc.Iterable,
    collections.abc.Iterator,
    collections.abc.Generator,
}

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

_SUB_RESPONSE = "_sse_asgi_sub_response"


class EventSourceRoute(APIRoute):
    """An ``APIRoute`` that serves generator path operations with sse-asgi.

    Enable it once per app or router: ``app.router.route_class =
    EventSourceRoute`` right after ``app = FastAPI()``, or
    ``APIRouter(route_class=EventSourceRoute)``. Routes that are not
    generators declared with ``response_class=EventSourceResponse`` are
    left exactly as FastAPI makes them.

    Example::

        router = APIRouter(prefix="/events", route_class=EventSourceRoute)

        @router.get("/ticks", response_class=EventSourceResponse.with_options(ping_interval=5))
        async def ticks(last_event_id: Annotated[int | None, Header()] = None):
            ...
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        response_class = kwargs.get("response_class", Default(None))
        if isinstance(response_class, DefaultPlaceholder):
            response_class = response_class.value
        if (
            _is_generator_function(endpoint)
            and isinstance(response_class, type)
            and issubclass(response_class, EventSourceResponse)
        ):
            endpoint, kwargs = _serve_with_sse_asgi(endpoint, response_class, kwargs)
        super().__init__(path, endpoint, **kwargs)


def _is_generator_function(endpoint: Callable[..., Any]) -> bool:
    target = inspect.unwrap(endpoint)
    while hasattr(target, "func") and hasattr(target, "args"):  # functools.partial
        target = target.func
    return inspect.isasyncgenfunction(target) or inspect.isgeneratorfunction(target)


def _is_subclass(value: Any, base: type) -> bool:
    return isinstance(value, type) and issubclass(value, base)


def _stream_item_type(annotation: Any) -> Any:
    """``Item`` for ``AsyncIterable[Item]`` and friends; None when not declared."""
    if typing.get_origin(annotation) in _STREAM_ORIGINS:
        args = typing.get_args(annotation)
        if args and args[0] is not Any and not _is_subclass(args[0], ServerSentEvent):
            return args[0]
    return None


def _serve_with_sse_asgi(
    endpoint: Callable[..., Any], response_class: type[EventSourceResponse], kwargs: dict[str, Any]
) -> tuple[Callable[..., Any], dict[str, Any]]:
    item_type = None
    if isinstance(kwargs.get("response_model", Default(None)), DefaultPlaceholder):
        item_type = _stream_item_type(get_typed_return_annotation(endpoint))
    serializer = None
    if item_type is not None:
        serializer = item_serializer(
            item_type,
            from_attributes=True,  # as FastAPI validates response items
            by_alias=kwargs.get("response_model_by_alias", True),
            include=kwargs.get("response_model_include"),
            exclude=kwargs.get("response_model_exclude"),
            exclude_unset=kwargs.get("response_model_exclude_unset", False),
            exclude_defaults=kwargs.get("response_model_exclude_defaults", False),
            exclude_none=kwargs.get("response_model_exclude_none", False),
        )
    kwargs = dict(kwargs)
    # FastAPI <= 0.133 would turn the AsyncIterable[...] annotation into a
    # response model and fail at import time: the wrapper returns a Response.
    kwargs["response_model"] = None
    kwargs["openapi_extra"] = _merge(
        kwargs.get("openapi_extra") or {},
        {
            "responses": {
                str(kwargs.get("status_code") or 200): {
                    "content": {"text/event-stream": {"itemSchema": _item_schema(item_type)}}
                }
            }
        },
    )
    kwargs["response_class"] = _openapi_marker(response_class)
    wrapper = _sse_endpoint(endpoint, response_class, serializer, kwargs.get("status_code"))
    return wrapper, kwargs


def _sub_response(response: Response) -> Response:
    # A dependency that receives FastAPI's per-request "sub-response": the one
    # `response: Response` parameter every dependency shares, which carries
    # the status code and headers they set.
    return response


def _sse_endpoint(
    endpoint: Callable[..., Any],
    response_class: type[EventSourceResponse],
    serializer: Callable[[Any], bytes] | None,
    status_code: int | None,
) -> Callable[..., Any]:
    options: dict[str, Any] = {} if serializer is None else {"serializer": serializer}

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
    # Keep the route's name, summary, description and operationId. Never set
    # __wrapped__: FastAPI >= 0.134 would unwrap it and treat this coroutine
    # function as the generator it wraps.
    for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
        if hasattr(endpoint, attribute):
            setattr(sse_endpoint, attribute, getattr(endpoint, attribute))
    return sse_endpoint


def _item_schema(item_type: Any) -> dict[str, Any]:
    """The route's ``text/event-stream`` ``itemSchema``, as FastAPI >= 0.135 writes it."""
    schema = copy.deepcopy(_EVENT_SCHEMA)
    if item_type is not None:
        schema["properties"]["data"] = {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": _inline_schema(item_type),
        }
        schema["required"] = ["data"]
    return schema


def _inline_schema(item_type: Any) -> dict[str, Any]:
    """The item's JSON schema with its ``$defs`` inlined.

    FastAPI names components app-wide (two models called ``Item`` become
    ``a__Item`` and ``b__Item``), so a ``$ref`` we predict could dangle;
    and pydantic's ``#/$defs/...`` refs would resolve against the OpenAPI
    document's root. A self-contained schema is right in every version.
    Recursive models fall back to a plain object.
    """
    schema = TypeAdapter(item_type).json_schema(mode="serialization")
    definitions = schema.pop("$defs", {})

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref[len("#/$defs/") :]
                if name in seen:
                    return {"type": "object"}
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**inline(definitions[name], (*seen, name)), **inline(rest, seen)}
            return {k: inline(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v, seen) for v in node]
        return node

    result: dict[str, Any] = inline(schema, ())
    return result


_MARKERS: dict[type[EventSourceResponse], type[EventSourceResponse]] = {}


def _openapi_marker(response_class: type[EventSourceResponse]) -> type[EventSourceResponse]:
    """The response class with ``media_type = None``, for FastAPI's OpenAPI only.

    FastAPI would otherwise add a ``{"schema": {"type": "string"}}`` next to
    our ``itemSchema``; with no media type it adds nothing and the document
    matches FastAPI's own SSE routes. It is never instantiated: the wrapper
    endpoint builds the real class.
    """
    if response_class not in _MARKERS:
        _MARKERS[response_class] = type(
            response_class.__name__,
            (response_class,),
            {"media_type": None, "__module__": response_class.__module__},
        )
    return _MARKERS[response_class]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
