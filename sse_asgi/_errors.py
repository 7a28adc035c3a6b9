"""The exception hierarchy, rooted at :class:`SSEError`."""

from __future__ import annotations

import unicodedata

__all__ = ["InvalidEventError", "SSEError", "describe_char"]


class SSEError(Exception):
    r"""Base class of every error sse-asgi raises on purpose.

    Example:

    ```py
    from sse_asgi import ServerSentEvent, SSEError

    try:
        ServerSentEvent(retry=-1)
    except SSEError as exc:
        print(exc)
        #> ServerSentEvent.retry must be >= 0, got -1
    ```
    """


class InvalidEventError(SSEError, ValueError):
    r"""A field of an outgoing event holds a value that cannot go on the wire.

    Raised when the event is constructed, never later, so an invalid event
    never reaches a client. ``field`` names the offending field.

    Example:

    ```py
    from sse_asgi import InvalidEventError, ServerSentEvent

    try:
        ServerSentEvent(event="a\rb")
    except InvalidEventError as exc:
        print(exc.field, isinstance(exc, ValueError))
        #> event True
    ```
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"ServerSentEvent.{field} {message}")


def describe_char(char: str) -> str:
    """``'\\n' (U+000A LINE FEED)``: a character as error messages show it."""
    name = unicodedata.name(char, None)
    if name is None:
        # Control characters and surrogates have no name in the database;
        # their aliases are what people search for.
        surrogate = 0xD800 <= ord(char) <= 0xDFFF
        name = "lone surrogate" if surrogate else _ALIASES.get(char, "unnamed character")
    return f"{char!r} (U+{ord(char):04X} {name})"


_ALIASES = {
    "\x00": "NULL",
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\t": "CHARACTER TABULATION",
    "\x0b": "LINE TABULATION",
    "\x0c": "FORM FEED",
    "\x85": "NEXT LINE",
}
