"""The outgoing event: :class:`ServerSentEvent`, chosen from its two twins, and events rebuilt.

The event type comes from ``sse_asgi._speedups`` (C, built on CPython where
a compiler was found) or its pure-Python twin ``sse_asgi._event_py``, with
the same public names and behaviour. This module chooses, and nothing else
does: the C one when it imports, unless ``SSE_ASGI_NO_EXTENSIONS`` is set.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import orjson

from . import _event_py
from ._encoder import frame_with_id
from ._pickling import unpickle_as

__all__ = [
    "SPEEDUPS",
    "ServerSentEvent",
    "event_from_json",
    "event_with_id",
    "rebuild",
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

# Unpickled events are built as the chosen twin.
unpickle_as(rebuild)


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
