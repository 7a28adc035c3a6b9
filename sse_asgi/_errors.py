"""The exception hierarchy, rooted at :class:`SSEError`."""

from __future__ import annotations

import unicodedata

__all__ = ["InvalidEventError", "SSEError", "describe_char"]


class SSEError(Exception):
    """Base class of every error sse-asgi raises on purpose.

    Example::

        try:
            ServerSentEvent(id="a\\nb")
        except SSEError as exc:
            print(exc)
    """


class InvalidEventError(SSEError, ValueError):
    """A field of an outgoing event holds a value that cannot go on the wire.

    Raised when the event is constructed, never later, so an invalid event
    never reaches a client. ``field`` names the offending field.

    Example::

        >>> ServerSentEvent(event="a\\rb")
        Traceback (most recent call last):
        InvalidEventError: ServerSentEvent.event must be a single line: ...
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
