"""How a stream's items become bytes: events as they are, plain values as JSON data.

The stream policy for items, shared by :class:`~sse_asgi.EventSourceResponse`
and :func:`~sse_asgi.event_stream`: :func:`item_encoder` picks the encoding
function a stream calls once per item (serialization comes from
``sse_asgi._json``, every frame from ``sse_asgi._encoder``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ._encoder import data_event, text_event
from ._event import ServerSentEvent
from ._json import ORJSON_NATIVE, ORJSON_OPTION, dumps, item_serializer, json_default

__all__ = ["encode_item", "item_encoder"]

_orjson_dumps = orjson.dumps


def encode_item(item: object) -> bytes:
    r"""The bytes for one item of a stream: an event as it is, any other value as JSON data.

    Example:

    ```py
    from sse_asgi._item_encoder import encode_item

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
            return data_event(_orjson_dumps(item, default=json_default, option=ORJSON_OPTION))
        except TypeError:
            pass  # big ints, non-str keys, ...: dumps() below knows them
    elif isinstance(item, ServerSentEvent):
        return item.encode()
    return data_event(dumps(item))


def item_encoder(
    item_type: Any = None, *, serializer: Callable[[Any], bytes] | None = None
) -> Callable[[object], bytes]:
    r"""The per-item encoding function of a stream.

    Events pass through as they are. Plain items go through
    :func:`encode_item`; or, with ``item_type``, are validated against it and
    serialized by pydantic's core in one step (:func:`~sse_asgi._json.item_serializer`
    with its defaults; pass ``serializer=item_serializer(item_type, ...)`` for
    its options); or, with ``serializer``, become whatever JSON bytes it
    returns -- split into several ``data:`` lines if they contain line
    breaks, so that no serializer can break the framing.

    Example:

    ```py
    from sse_asgi._item_encoder import item_encoder

    encode = item_encoder(list[int])
    print(encode(("1", 2)))
    #> b'data: [1,2]\n\n'
    ```
    """
    if item_type is not None:
        if serializer is not None:
            raise ValueError("pass item_type or serializer, not both")
        serializer = item_serializer(item_type)
    if serializer is None:
        return encode_item
    serialize = serializer
    if getattr(serialize, "single_line", False):  # compact JSON from item_serializer()

        def encode(item: object) -> bytes:
            if isinstance(item, ServerSentEvent):
                return item.encode()
            return data_event(serialize(item))

        return encode

    def encode_checked(item: object) -> bytes:
        if isinstance(item, ServerSentEvent):
            return item.encode()
        body = serialize(item)
        if b"\n" in body or b"\r" in body:
            return text_event(body.decode())
        return data_event(body)

    return encode_checked
