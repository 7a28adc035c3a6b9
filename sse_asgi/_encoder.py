"""The wire-format encoder: strings in, ``text/event-stream`` bytes out. No IO, no JSON.

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
    "DATA_PREFIX",
    "EVENT_END",
    "check_single_line",
    "check_str",
    "check_utf8",
    "comment_lines",
    "data_lines",
]

#: What precedes a JSON payload, and what ends an event after its last field.
DATA_PREFIX = b"data: "
EVENT_END = b"\n\n"


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
