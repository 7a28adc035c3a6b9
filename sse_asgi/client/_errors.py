"""The client's errors: :class:`EventSourceError` and :class:`LastEventIdError`."""

from __future__ import annotations

from collections.abc import Mapping

from .._errors import SSEError

__all__ = ["EventSourceError", "LastEventIdError"]

# How much of a failed response's body shows in the error message.
_MESSAGE_BODY_CHARS = 200


class EventSourceError(SSEError):
    """The server answered, but not with an event stream: the connection failed.

    Raised for a status other than 200 and 204 (unless it is in
    ``retry_on_status``; then for the last one, once ``max_attempts`` ran
    out), or a 200 whose ``Content-Type`` is not ``text/event-stream``.
    ``status``, ``headers`` and ``url`` describe the response; ``body`` holds
    the start of its content (at most 64 KiB, what arrived within a second),
    often the API's explanation.

    Example::

        try:
            async with AsyncEventSource(url) as source:
                async for event in source:
                    ...
        except EventSourceError as exc:
            print(exc.status, exc.headers.get("content-type"), exc.body[:100])
    """

    def __init__(
        self, reason: str, *, status: int, headers: Mapping[str, str], url: str, body: bytes
    ) -> None:
        self.status = status
        self.headers = headers
        self.url = url
        self.body = body
        message = f"{reason} from {url}"
        if body:
            text = body.decode("utf-8", "replace")
            snippet = text[:_MESSAGE_BODY_CHARS]
            if len(text) > _MESSAGE_BODY_CHARS:
                snippet += "..."
            message += f": {snippet!r}"  # repr: nothing the server sent can forge lines
        super().__init__(message)


class LastEventIdError(SSEError, ValueError):
    """The last event ID cannot be sent: no HTTP header can hold a character of it.

    A field value holds no control character but a tab (RFC 9110 section
    5.5), and UTF-8 has no lone surrogates. Raised by the constructor for
    such a ``last_event_id``, and instead of reconnecting when the server's
    own ``id:`` field held one (the events before were yielded as sent).
    ``last_event_id`` is the ID.

    Example::

        try:
            async with AsyncEventSource(url, last_event_id=saved_id) as source:
                async for event in source:
                    saved_id = event.id
        except LastEventIdError as exc:
            print("cannot resume after", repr(exc.last_event_id))
    """

    def __init__(self, last_event_id: str, char: str) -> None:
        self.last_event_id = last_event_id
        super().__init__(
            f"cannot send Last-Event-ID {last_event_id!r}: an HTTP header cannot hold {char}"
        )
