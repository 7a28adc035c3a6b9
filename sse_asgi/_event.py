"""The outgoing event: :class:`ServerSentEvent`, and events rebuilt from bytes encoded earlier.

:class:`ServerSentEvent` validates and encodes its fields once, when it is
created; :func:`rebuild`, :func:`event_with_id` and :func:`event_from_json`
make events from bytes this library encoded (a stored event, an id stamped
in, a pickle) without encoding them again.
"""

from __future__ import annotations

from typing import Any

import orjson

from ._encoder import check_single_line, check_str, check_utf8, event_frame, frame_with_id
from ._errors import InvalidEventError
from ._json import ORJSON_NATIVE, ORJSON_OPTION, dumps, json_default

__all__ = [
    "ServerSentEvent",
    "event_from_json",
    "event_with_id",
    "rebuild",
]

_orjson_dumps = orjson.dumps

_FIELDS = ("data", "raw_data", "event", "id", "retry", "comment")


class ServerSentEvent:
    r"""One event to send, validated and encoded when it is created.

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

    Example:

    ```py
    from sse_asgi import ServerSentEvent

    print(ServerSentEvent(data={"msg": "hi"}, event="greeting", id="1").encode())
    #> b'event: greeting\ndata: {"msg":"hi"}\nid: 1\n\n'
    ```
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
        # This runs once per event, so the common shapes (data or one-line
        # raw_data, plain str event and id) are checked inline; anything
        # unusual goes to the helpers. The bytes come from the encoder.
        if comment is not None:
            comment = check_str("comment", comment)
        if event is not None and (type(event) is not str or "\n" in event or "\r" in event):
            event = check_single_line("event", event)
        if id is not None and (type(id) is not str or "\n" in id or "\r" in id or "\0" in id):
            id = check_single_line("id", id, forbid_nul=True)
        if retry is not None:
            retry = _check_retry(retry)
        body = None
        if data is not None:
            if raw_data is not None:
                raise InvalidEventError(
                    "raw_data", "cannot be set together with data: choose one of them"
                )
            if type(data) in ORJSON_NATIVE:  # the common case, without a call to dumps()
                try:
                    body = _orjson_dumps(data, default=json_default, option=ORJSON_OPTION)
                except TypeError:
                    body = dumps(data)  # big ints, non-str keys, ...
            else:
                body = dumps(data)
        elif raw_data is not None and type(raw_data) is not str:
            raw_data = check_str("raw_data", raw_data)
        try:
            self._encoded = event_frame(comment, event, body, raw_data, id, retry)
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
        r"""The event as ``text/event-stream`` bytes: LF line endings, ending in a blank line.

        Example:

        ```py
        from sse_asgi import ServerSentEvent

        print(ServerSentEvent(raw_data="a\nb").encode())
        #> b'data: a\ndata: b\n\n'
        ```
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
        # Pickled (and copied) as its bytes and fields: loading it encodes nothing again.
        return rebuild, (self._encoded, *_fields(self))


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


def rebuild(
    encoded: bytes,
    data: Any,
    raw_data: str | None,
    event: str | None,
    id: str | None,
    retry: int | None,
    comment: str | None,
    /,
) -> ServerSentEvent:
    r"""An event from bytes this library encoded and the fields they came from, unchecked.

    The one way to make an event without validating and encoding it: for
    bytes encoded earlier (a stored event, an id stamped in, a pickle --
    unpickling or copying an event calls this).

    Example:

    ```py
    import pickle

    from sse_asgi import ServerSentEvent
    from sse_asgi._event import rebuild

    print(rebuild(b"data: 1\n\n", 1, None, None, None, None, None).data)
    #> 1
    print(pickle.loads(pickle.dumps(ServerSentEvent(data=1, id="7"))).encode())
    #> b'data: 1\nid: 7\n\n'
    ```
    """
    rebuilt = object.__new__(ServerSentEvent)
    rebuilt._data = data
    rebuilt._raw_data = raw_data
    rebuilt._event = event
    rebuilt._id = id
    rebuilt._retry = retry
    rebuilt._comment = comment
    rebuilt._encoded = encoded
    return rebuilt


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
    stamped = frame_with_id(event._encoded, id, event.retry)
    return rebuild(stamped, event.data, event.raw_data, event.event, id, event.retry, event.comment)


def event_from_json(
    data_json: str,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> ServerSentEvent:
    r"""The event whose ``data`` is the value of ``data_json`` -- an event stored as its fields.

    ``data_json`` is the JSON text an event's data was sent as (a broadcast
    backend stores it); the event sends exactly that text, and its ``data`` is
    the parsed value. Every field is checked as by :class:`ServerSentEvent`
    (stored fields may not be ours): raises :class:`InvalidEventError`, or
    ``ValueError`` for text that is not JSON.

    Example:

    ```py
    from sse_asgi._event import event_from_json

    stored = event_from_json('{"a":1}', id="7")
    print(stored.encode(), stored.data)
    #> b'data: {"a":1}\nid: 7\n\n' {'a': 1}
    ```
    """
    data = orjson.loads(data_json)
    # Sent as stored, through the checks and line splitting of raw_data (no
    # stored text can break the framing); then the same bytes with data set.
    framed = ServerSentEvent(raw_data=data_json, event=event, id=id, retry=retry, comment=comment)
    return rebuild(
        framed.encode(), data, None, framed.event, framed.id, framed.retry, framed.comment
    )
