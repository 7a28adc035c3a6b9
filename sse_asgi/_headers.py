"""The head of an event-stream response: its default headers, and the user's merged in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = ["DEFAULT_HEADERS", "EVENT_STREAM_HEADERS", "HeadersLike", "merge_headers"]

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]

#: Every event-stream response's headers, unless the user replaces one.
DEFAULT_HEADERS = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # nginx buffers proxied responses unless told not to.
    (b"x-accel-buffering", b"no"),
)

#: The response headers of :class:`EventSourceResponse`, for the framework's response.
EVENT_STREAM_HEADERS: Mapping[str, str] = MappingProxyType(
    {name.decode("latin-1"): value.decode("latin-1") for name, value in DEFAULT_HEADERS}
)


def merge_headers(headers: HeadersLike | None) -> list[tuple[bytes, bytes]]:
    """The raw header list: the defaults, each replaced by a user header of the same name.

    Raises ``ValueError`` for a name or value with CR or LF (header injection).
    """
    if headers is None:
        return list(DEFAULT_HEADERS)
    items = headers.items() if isinstance(headers, Mapping) else headers
    user = [(_header_bytes(name).lower(), _header_bytes(value)) for name, value in items]
    overridden = {name for name, _ in user}
    return [pair for pair in DEFAULT_HEADERS if pair[0] not in overridden] + user


def _header_bytes(text: str) -> bytes:
    if "\r" in text or "\n" in text:
        raise ValueError(f"header names and values must not contain CR or LF: {text!r}")
    return text.encode("latin-1")
