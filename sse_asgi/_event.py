"""The outgoing event: :class:`ServerSentEvent`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
import pydantic_core

from ._encoder import (
    DATA_PREFIX,
    EVENT_END,
    check_single_line,
    check_str,
    check_utf8,
    comment_lines,
    data_lines,
)
from ._errors import InvalidEventError
from ._json import MODEL_OPTIONS, ORJSON_NATIVE, dumps, item_serializer, json_default, json_fallback

__all__ = ["ServerSentEvent", "encode_item", "event_with_id", "item_encoder", "stored_event"]

_orjson_dumps = orjson.dumps

_FIELDS = ("data", "raw_data", "event", "id", "retry", "comment")


class ServerSentEvent:
    """One event to send, validated and encoded when it is created.

    Fields have the names and meaning of ``fastapi.sse.ServerSentEvent``:

    - ``data``: any JSON-serializable value (dict, list, str, number, pydantic
      model, dataclass, datetime, UUID, Enum, ...), always sent as compact
      UTF-8 JSON on one ``data:`` line. ``None`` means no data field.
    - ``raw_data``: a string sent as is, without JSON encoding; each CRLF, CR
      or LF in it starts a new ``data:`` line, so the client receives the same
      text with LF line breaks. Mutually exclusive with ``data``.
    - ``event``: the event type (a browser's ``addEventListener`` name), one line.
    - ``id``: the event id the browser sends back as ``Last-Event-ID``; one
      line, no NUL.
    - ``retry``: the client's reconnection delay in milliseconds, an int >= 0.
    - ``comment``: text the client ignores, one ``:`` line per line of it.

    The event is immutable, and it is encoded once, at construction: invalid
    fields raise :class:`InvalidEventError` right here (never when streaming),
    and sending the same event to many clients costs no re-encoding. The event
    keeps a reference to ``data`` but its bytes are a snapshot: mutating
    ``data`` afterwards does not change what is sent.

    Example::

        >>> ServerSentEvent(data={"msg": "hi"}, event="greeting", id="1").encode()
        b'event: greeting\\nid: 1\\ndata: {"msg":"hi"}\\n\\n'
    """

    __slots__ = ("_comment", "_data", "_encoded", "_event", "_id", "_raw_data", "_retry")

    _data: Any
    _raw_data: str | None
    _event: str | None
    _id: str | None
    _retry: int | None
    _comment: str | None
    _encoded: bytes

    def __init__(
        self,
        *,
        data: Any = None,
        raw_data: str | None = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        # Field order follows fastapi.sse (comment, event, data, id, retry) so
        # switching changes no bytes. This runs once per event, so the common
        # shapes (data or one-line raw_data, plain str event and id) are
        # checked inline; anything unusual goes to the helpers.
        head = tail = ""
        if comment is not None:
            comment = check_str("comment", comment)
            head = comment_lines(comment)
        if event is not None:
            if type(event) is not str or "\n" in event or "\r" in event:
                event = check_single_line("event", event)
            head = f"{head}event: {event}\n"
        if id is not None:
            if type(id) is not str or "\n" in id or "\r" in id or "\0" in id:
                id = check_single_line("id", id, forbid_nul=True)
            tail = f"id: {id}\n"
        if retry is not None:
            retry = _check_retry(retry)
            tail = f"{tail}retry: {retry}\n"
        if data is not None:
            if raw_data is not None:
                raise InvalidEventError(
                    "raw_data", "cannot be set together with data: choose one of them"
                )
            if type(data) in ORJSON_NATIVE:  # the common case, without a call to dumps()
                try:
                    body = _orjson_dumps(data, default=json_default)
                except TypeError:
                    body = dumps(data)  # big ints, non-str keys, ...
            else:
                body = dumps(data)
            if head or tail:
                try:
                    self._encoded = b"%sdata: %s\n%s\n" % (head.encode(), body, tail.encode())
                except UnicodeEncodeError:
                    _raise_for_surrogate(comment=comment, event=event, id=id)
                    raise
            else:
                self._encoded = b"data: " + body + b"\n\n"
        else:
            if raw_data is not None:
                if type(raw_data) is not str:
                    raw_data = check_str("raw_data", raw_data)
                if "\n" in raw_data or "\r" in raw_data:
                    head += data_lines(raw_data)
                else:
                    head = f"{head}data: {raw_data}\n"
            try:
                self._encoded = f"{head}{tail}\n".encode()
            except UnicodeEncodeError:
                _raise_for_surrogate(comment=comment, event=event, id=id, raw_data=raw_data)
                raise
        self._data = data
        self._raw_data = raw_data
        self._event = event
        self._id = id
        self._retry = retry
        self._comment = comment

    @property
    def data(self) -> Any:
        """The value sent JSON-encoded in the ``data`` field, or ``None``."""
        return self._data

    @property
    def raw_data(self) -> str | None:
        """The text sent unencoded in ``data`` fields, or ``None``."""
        return self._raw_data

    @property
    def event(self) -> str | None:
        """The event type, or ``None`` (the client then sees ``"message"``)."""
        return self._event

    @property
    def id(self) -> str | None:
        """The event id, or ``None`` (the client keeps its previous last event id)."""
        return self._id

    @property
    def retry(self) -> int | None:
        """The reconnection delay in milliseconds, or ``None``."""
        return self._retry

    @property
    def comment(self) -> str | None:
        """The comment text, or ``None``."""
        return self._comment

    def encode(self) -> bytes:
        """The event as ``text/event-stream`` bytes: LF line endings, ending in a blank line.

        Example::

            >>> ServerSentEvent(raw_data="a\\nb").encode()
            b'data: a\\ndata: b\\n\\n'
        """
        return self._encoded

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return _fields(self) == _fields(other)

    def __hash__(self) -> int:
        # Equal events have equal bytes, and bytes are hashable even when data is not.
        return hash(self._encoded)

    def __repr__(self) -> str:
        return _repr(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (self._encoded, *_fields(self))


def _fields(event: ServerSentEvent) -> tuple[Any, ...]:
    return (event.data, event.raw_data, event.event, event.id, event.retry, event.comment)


def _repr(event: ServerSentEvent) -> str:
    fields = zip(_FIELDS, _fields(event), strict=True)
    parts = [f"{name}={value!r}" for name, value in fields if value is not None]
    return f"{type(event).__name__}({', '.join(parts)})"


def _check_retry(retry: object) -> int:
    if type(retry) is bool or not isinstance(retry, int):
        raise InvalidEventError(
            "retry", f"must be an int of milliseconds, not {type(retry).__name__}"
        )
    if retry < 0:
        raise InvalidEventError("retry", f"must be >= 0, got {retry}")
    return int(retry)  # an IntEnum member would otherwise print its name


def _raise_for_surrogate(**fields: str | None) -> None:
    for name, value in fields.items():
        if value is not None:
            check_utf8(name, value)


def encode_item(item: object) -> bytes:
    """The bytes for one item of a stream: an event as it is, any other value as JSON data.

    Example::

        >>> encode_item({"n": 1})
        b'data: {"n":1}\\n\\n'
    """
    kind = type(item)
    if kind is ServerSentEvent:
        return item._encoded  # type: ignore[attr-defined,no-any-return]
    if kind in ORJSON_NATIVE:
        # The per-item hot path of a plain stream: one call into orjson.
        # (A try block costs nothing until it raises; a context manager would.)
        try:
            return DATA_PREFIX + _orjson_dumps(item, default=json_default) + EVENT_END
        except TypeError:
            pass  # big ints, non-str keys, ...: dumps() below knows them
    elif isinstance(item, ServerSentEvent):
        return item.encode()
    return DATA_PREFIX + dumps(item) + EVENT_END


def item_encoder(
    item_type: Any = None, *, serializer: Callable[[Any], bytes] | None = None, **options: Any
) -> Callable[[object], bytes]:
    """The per-item encoding function of a stream.

    Events pass through as they are. Plain items go through
    :func:`encode_item`; or, with ``item_type``, are validated against it and
    serialized by pydantic's core in one step (``options``: see
    :func:`item_serializer`); or, with ``serializer``, become whatever JSON
    bytes it returns -- split into several ``data:`` lines if they contain
    line breaks, so that no serializer can break the framing.

    Example::

        >>> encode = item_encoder(list[int])
        >>> encode(("1", 2))
        b'data: [1,2]\\n\\n'
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
    """A copy of an id-less ``event`` carrying ``id``, built without re-encoding its data.

    The id line goes where the encoder puts it (after the data, before
    ``retry``): this is how one published event is stamped with ids --
    once per publish, or once per subscriber for composite ids -- at the
    cost of a bytes concatenation. ``id`` must be a valid id (the callers
    generate it).

    Example::

        >>> event_with_id(ServerSentEvent(data=1, retry=5), "7").encode()
        b'data: 1\\nid: 7\\nretry: 5\\n\\n'
    """
    encoded = event._encoded
    at = len(encoded) - 1  # before the blank line that ends the event
    retry = event.retry
    if retry is not None:
        at -= len(b"retry: %d\n" % retry)
    stamped = b"%sid: %s\n%s" % (encoded[:at], id.encode(), encoded[at:])
    return _rebuild(stamped, event.data, event.raw_data, event.event, id, retry, event.comment)


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

    Example::

        >>> original = ServerSentEvent(data={"a": 1})
        >>> stored_event(original.encode(), data={"a": 1}) == original
        True
    """
    return _rebuild(encoded, data, raw_data, event, id, retry, comment)


def _rebuild(
    encoded: bytes,
    data: Any,
    raw_data: str | None,
    event: str | None,
    id: str | None,
    retry: int | None,
    comment: str | None,
) -> ServerSentEvent:
    # The one way to make an event without checks (also what pickle calls).
    if _stored is not None:
        return _stored(encoded, data, raw_data, event, id, retry, comment)
    rebuilt = object.__new__(PyServerSentEvent)
    rebuilt._data = data
    rebuilt._raw_data = raw_data
    rebuilt._event = event
    rebuilt._id = id
    rebuilt._retry = retry
    rebuilt._comment = comment
    rebuilt._encoded = encoded
    return rebuilt


# The C speedups (sse_asgi/_speedups.c): a ServerSentEvent type built by
# vectorcall, which defers every unusual call to the pure-Python class above,
# so behaviour is identical. SSE_ASGI_NO_EXTENSIONS=1 turns them off.
PyServerSentEvent = ServerSentEvent
_stored: Callable[..., ServerSentEvent] | None = None
SPEEDUPS = False
if not os.environ.get("SSE_ASGI_NO_EXTENSIONS"):
    try:
        from . import _speedups
    except ImportError:  # built without a compiler, or another Python implementation
        pass
    else:
        if not TYPE_CHECKING:
            ServerSentEvent = _speedups.configure(
                PyServerSentEvent,
                _orjson_dumps,
                json_default,
                dumps,
                json_fallback,
                pydantic_core.PydanticSerializationError,
                MODEL_OPTIONS,
                _repr,
                _rebuild,
            )
        _stored = _speedups.stored
        SPEEDUPS = True
