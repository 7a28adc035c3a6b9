"""The client's error: :class:`EventSourceError`."""

from __future__ import annotations

from collections.abc import Mapping

from .._errors import SSEError

__all__ = ["EventSourceError"]

# How much of a failed response's body shows in the error message.
_MESSAGE_BODY_CHARS = 200


class EventSourceError(SSEError):
    """The server answered, but not with an event stream: the connection failed.

    Raised for a status other than 200 and 204 (unless it is in
    ``retry_on_status``; then for the last one, once ``max_attempts`` ran
    out), or a 200 whose ``Content-Type`` is not ``text/event-stream``.
    ``status``, ``headers`` and ``url`` describe the response; ``body`` holds
    its first bytes (at most 64 KiB), often the API's explanation.

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
