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

    Example (the server answers in-process here):

    ```py
    import httpx

    from sse_asgi.client import EventSource, EventSourceError


    def server(request):
        headers = {"content-type": "text/plain"}
        return httpx.Response(503, headers=headers, stream=httpx.ByteStream(b"busy"))


    client = httpx.Client(transport=httpx.MockTransport(server))
    try:
        with EventSource("http://127.0.0.1:8000/", client=client) as source:
            for event in source:
                print(event.data)
    except EventSourceError as exc:
        print(exc.status, exc.headers.get("content-type"), exc.body[:100])
        #> 503 text/plain b'busy'
    ```
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
    r"""The last event ID cannot be sent: no HTTP header can hold a character of it.

    A field value holds no control character but a tab (RFC 9110 section
    5.5), and UTF-8 has no lone surrogates. Raised by the constructor for
    such a ``last_event_id``, and instead of reconnecting when the server's
    own ``id:`` field held one (the events before were yielded as sent).
    ``last_event_id`` is the ID.

    Example:

    ```py
    from sse_asgi.client import EventSource, LastEventIdError

    try:
        EventSource("http://127.0.0.1:8000/ticks", last_event_id="a\nb")
    except LastEventIdError as exc:
        print("cannot resume after", repr(exc.last_event_id))
        #> cannot resume after 'a\nb'
    ```
    """

    def __init__(self, last_event_id: str, char: str) -> None:
        self.last_event_id = last_event_id
        super().__init__(
            f"cannot send Last-Event-ID {last_event_id!r}: an HTTP header cannot hold {char}"
        )
