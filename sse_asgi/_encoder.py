"""The wire-format encoder: strings in, ``text/event-stream`` bytes out. No IO, no JSON.

This module owns the frame layout: every frame sse-asgi sends is built here
(:func:`event_frame`, :func:`data_event`, :func:`text_event`, and
:func:`frame_with_id` to stamp an id into a frame built earlier), and no
other module writes, searches or splices frame bytes.

Grammar (WHATWG HTML, "Server-sent events", section 9.2.5 "Parsing an event
stream")::

    event         = *( comment / field ) end-of-line
    comment       = colon *any-char end-of-line
    field         = 1*name-char [ colon [ space ] *any-char ] end-of-line
    end-of-line   = ( cr lf / cr / lf )
    any-char      = %x0000-0009 / %x000B-000C / %x000E-10FFFF
                    ; a scalar value other than U+000A LF and U+000D CR

So CR, LF and CRLF -- and only those three -- end a line. Every other
character (NUL, U+2028, U+0085, vertical tab, ...) is an ``any-char`` and may
appear in a value unchanged. We always write LF line endings and ``name: value``
with one space, so that a value that itself starts with a space survives the
decoder's "remove one leading space" rule (section 9.2.6).

Injection safety rests on two rules enforced here: single-line fields
(``event``, ``id``) reject CR and LF, and multi-line text (``data``,
comments) is split on exactly the spec's line breaks, each piece getting its
own field prefix. No value can therefore end a line early, start a new field,
or produce the blank line that dispatches an event.
"""

from __future__ import annotations

from ._errors import InvalidEventError, describe_char

__all__ = [
    "check_single_line",
    "check_str",
    "check_utf8",
    "comment_lines",
    "data_event",
    "data_lines",
    "event_frame",
    "frame_with_id",
    "text_event",
]


def _normalize_breaks(text: str) -> str:
    # CRLF first, so that it becomes one LF rather than two.
    if "\r" in text:
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def data_lines(text: str) -> str:
    r"""``data:`` lines carrying ``text``, one per line of it, each ending in LF.

    A spec decoder joins them back with LF, so it receives ``text`` with every
    CRLF, CR and LF turned into LF.

    Example:

    ```py
    from sse_asgi._encoder import data_lines

    print(repr(data_lines("a\r\nb")))
    #> 'data: a\ndata: b\n'
    ```
    """
    return "data: " + _normalize_breaks(text).replace("\n", "\ndata: ") + "\n"


def comment_lines(text: str) -> str:
    r"""Comment lines (``: ...``) carrying ``text``, one per line of it.

    Example:

    ```py
    from sse_asgi._encoder import comment_lines

    print(repr(comment_lines("keep\nalive")))
    #> ': keep\n: alive\n'
    ```
    """
    return ": " + _normalize_breaks(text).replace("\n", "\n: ") + "\n"


def event_frame(
    comment: str | None,
    event: str | None,
    data_json: bytes | None,
    raw_data: str | None,
    id: str | None,
    retry: int | None,
) -> bytes:
    """One event's bytes, from fields already checked (``ServerSentEvent`` checks them).

    Fields go in ``fastapi.sse``'s order -- comment, event, data, id, retry --
    so that switching changes no byte; ``data_json`` (compact JSON, one line)
    goes on one ``data:`` line, ``raw_data`` and ``comment`` get one line per
    line of them; a blank line ends the event. At most one of ``data_json``
    and ``raw_data`` is given. Raises ``UnicodeEncodeError`` for a lone
    surrogate (the caller names the field).
    """
    head = tail = ""
    if comment is not None:
        head = comment_lines(comment)
    if event is not None:
        head = f"{head}event: {event}\n"
    if id is not None:
        tail = f"id: {id}\n"
    if retry is not None:
        tail = f"{tail}retry: {retry}\n"
    if data_json is not None:
        if head or tail:
            return b"%sdata: %s\n%s\n" % (head.encode(), data_json, tail.encode())
        return b"data: " + data_json + b"\n\n"
    if raw_data is not None:
        if "\n" in raw_data or "\r" in raw_data:
            head += data_lines(raw_data)
        else:
            head = f"{head}data: {raw_data}\n"
    return f"{head}{tail}\n".encode()


#: ``data_event(json)``: the event of one ``data:`` line holding ``json``
#: (compact JSON bytes, no line break) -- a plain item of a stream. A bound
#: ``bytes.__mod__`` rather than a function: it is on every plain item's path.
data_event = b"data: %s\n\n".__mod__


def text_event(text: str) -> bytes:
    """The event whose data is ``text``, one ``data:`` line per line of it (any line breaks)."""
    return data_lines(text).encode() + b"\n"


def frame_with_id(frame: bytes, id: str, retry: int | None) -> bytes:
    """``frame`` (an :func:`event_frame` without id, whose retry is ``retry``) with ``id`` in it.

    The id line goes where :func:`event_frame` puts it -- after the data,
    before ``retry`` -- at the cost of one bytes concatenation: how one
    published event is stamped with ids. ``id`` must be a valid id.
    """
    at = len(frame) - 1  # before the blank line that ends the event
    if retry is not None:
        at -= len(b"retry: %d\n" % retry)
    return b"%sid: %s\n%s" % (frame[:at], id.encode(), frame[at:])


def check_single_line(field: str, value: object, *, forbid_nul: bool = False) -> str:
    """Return ``value`` if it can be the value of a one-line field, else raise.

    ``event`` and ``id`` are one line each: a CR or LF would end the field and
    start whatever the rest of the string says. ``id`` also rejects NUL, since
    the decoder ignores an ``id`` field containing one (section 9.2.6).
    """
    value = check_str(field, value)
    if "\n" in value or "\r" in value or (forbid_nul and "\0" in value):
        bad = "\n\r\0" if forbid_nul else "\n\r"
        index = min(i for i in (value.find(c) for c in bad) if i >= 0)
        raise InvalidEventError(
            field,
            f"must be a single line without {'CR, LF or NUL' if forbid_nul else 'CR or LF'}: "
            f"found {describe_char(value[index])} at index {index}",
        )
    return value


def check_str(field: str, value: object) -> str:
    """Return ``value`` as a plain ``str``, or raise naming the field."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass: keep only the text
    raise InvalidEventError(field, f"must be a str, not {type(value).__name__}")


def check_utf8(field: str, value: str) -> None:
    """Raise :class:`InvalidEventError` if ``value`` cannot be encoded as UTF-8."""
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise InvalidEventError(
            field,
            f"contains {describe_char(value[exc.start])} at index {exc.start}, "
            "which cannot be encoded as UTF-8",
        ) from None
