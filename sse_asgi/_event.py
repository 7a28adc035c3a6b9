"""The outgoing event: :class:`ServerSentEvent`, chosen from its two twins, and encoding items.

The event type comes from ``sse_asgi._speedups`` (C, built on CPython where
a compiler was found) or its pure-Python twin ``sse_asgi._event_py``, with
the same public names and behaviour. This module chooses, and nothing else
does: the C one when it imports, unless ``SSE_ASGI_NO_EXTENSIONS`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from . import _event_py
from ._encoder import DATA_PREFIX, EVENT_END, data_lines
from ._json import ORJSON_NATIVE, ORJSON_OPTION, dumps, item_serializer, json_default

__all__ = [
    "SPEEDUPS",
    "ServerSentEvent",
    "encode_item",
    "event_with_id",
    "item_encoder",
    "rebuild",
    "restore",
    "stored_event",
]


def _choose() -> tuple[Any, Any, bool]:
    """(the event type, its unchecked constructor, whether they are the C twin's)."""
    if not os.environ.get("SSE_ASGI_NO_EXTENSIONS"):
        try:
            from . import _speedups
        except ImportError:  # built without a C compiler, or not on CPython
            pass
        else:
            return _speedups.ServerSentEvent, _speedups.rebuild, True
    return _event_py.ServerSentEvent, _event_py.rebuild, False


if TYPE_CHECKING:
    # mypy checks against the C twin's stub (sse_asgi/_speedups.pyi), which
    # the tests hold to the compiled module with stubtest; the pure-Python
    # twin has the same names, and the tests compare the two on random input.
    from ._speedups import ServerSentEvent, rebuild

    SPEEDUPS: bool
else:
    ServerSentEvent, rebuild, SPEEDUPS = _choose()

_orjson_dumps = orjson.dumps


def encode_item(item: object) -> bytes:
    r"""The bytes for one item of a stream: an event as it is, any other value as JSON data.

    Example:

    ```py
    from sse_asgi._event import encode_item

    print(encode_item({"n": 1}))
    #> b'data: {"n":1}\n\n'
    ```
    """
    kind = type(item)
    if kind is ServerSentEvent:
        return item._encoded  # type: ignore[attr-defined,no-any-return]
    if kind in ORJSON_NATIVE:
        # The per-item hot path of a plain stream: one call into orjson.
        # (A try block costs nothing until it raises; a context manager would.)
        try:
            return (
                DATA_PREFIX
                + _orjson_dumps(item, default=json_default, option=ORJSON_OPTION)
                + EVENT_END
            )
        except TypeError:
            pass  # big ints, non-str keys, ...: dumps() below knows them
    elif isinstance(item, ServerSentEvent):
        return item.encode()
    return DATA_PREFIX + dumps(item) + EVENT_END


def item_encoder(
    item_type: Any = None, *, serializer: Callable[[Any], bytes] | None = None, **options: Any
) -> Callable[[object], bytes]:
    r"""The per-item encoding function of a stream.

    Events pass through as they are. Plain items go through
    :func:`encode_item`; or, with ``item_type``, are validated against it and
    serialized by pydantic's core in one step (``options``: see
    :func:`item_serializer`); or, with ``serializer``, become whatever JSON
    bytes it returns -- split into several ``data:`` lines if they contain
    line breaks, so that no serializer can break the framing.

    Example:

    ```py
    from sse_asgi._event import item_encoder

    encode = item_encoder(list[int])
    print(encode(("1", 2)))
    #> b'data: [1,2]\n\n'
    ```
    """
    if item_type is not None:
        if serializer is not None:
            raise ValueError("pass item_type or serializer, not both")
        serializer = item_serializer(item_type, **options)
    if serializer is None:
        return encode_item
    serialize = serializer
    if getattr(serialize, "single_line", False):  # compact JSON from item_serializer()

        def encode(item: object) -> bytes:
            if isinstance(item, ServerSentEvent):
                return item.encode()
            return DATA_PREFIX + serialize(item) + EVENT_END

        return encode

    def encode_checked(item: object) -> bytes:
        if isinstance(item, ServerSentEvent):
            return item.encode()
        body = serialize(item)
        if b"\n" in body or b"\r" in body:
            return data_lines(body.decode()).encode() + b"\n"
        return DATA_PREFIX + body + EVENT_END

    return encode_checked


def event_with_id(event: ServerSentEvent, id: str) -> ServerSentEvent:
    r"""A copy of an id-less ``event`` carrying ``id``, built without re-encoding its data.

    The id line goes where the encoder puts it (after the data, before
    ``retry``): this is how one published event is stamped with ids --
    once per publish, or once per subscriber for composite ids -- at the
    cost of a bytes concatenation. ``id`` must be a valid id (the callers
    generate it).

    Example:

    ```py
    from sse_asgi import ServerSentEvent
    from sse_asgi._event import event_with_id

    print(event_with_id(ServerSentEvent(data=1, retry=5), "7").encode())
    #> b'data: 1\nid: 7\nretry: 5\n\n'
    ```
    """
    encoded = event._encoded
    at = len(encoded) - 1  # before the blank line that ends the event
    retry = event.retry
    if retry is not None:
        at -= len(b"retry: %d\n" % retry)
    stamped = b"%sid: %s\n%s" % (encoded[:at], id.encode(), encoded[at:])
    return rebuild(stamped, event.data, event.raw_data, event.event, id, retry, event.comment)


def stored_event(
    encoded: bytes,
    *,
    data: Any = None,
    raw_data: str | None = None,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> ServerSentEvent:
    """An event rebuilt from bytes this library encoded earlier (say, in another worker).

    The fields are only what the event exposes; ``encoded`` is what it
    sends, trusted as is -- callers pass back exactly what ``encode()`` gave.

    Example:

    ```py
    from sse_asgi import ServerSentEvent
    from sse_asgi._event import stored_event

    original = ServerSentEvent(data={"a": 1})
    print(stored_event(original.encode(), data={"a": 1}) == original)
    #> True
    ```
    """
    return rebuild(encoded, data, raw_data, event, id, retry, comment)


def restore(
    encoded: bytes,
    data: Any,
    raw_data: str | None,
    event: str | None,
    id: str | None,
    retry: int | None,
    comment: str | None,
    /,
) -> ServerSentEvent:
    r"""What unpickling an event calls: the event, as the twin that runs here.

    Both twins' ``__reduce__`` name this function, so an event pickled in a
    process with the C extension loads in one without it, and the other way
    round.

    Example:

    ```py
    import pickle

    from sse_asgi import ServerSentEvent

    print(pickle.loads(pickle.dumps(ServerSentEvent(data=1))).encode())
    #> b'data: 1\n\n'
    ```
    """
    return rebuild(encoded, data, raw_data, event, id, retry, comment)
