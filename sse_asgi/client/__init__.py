r"""A browser's ``EventSource`` for Python, on httpx: ``pip install "sse-asgi[client]"``.

:class:`AsyncEventSource` (asyncio and trio) and :class:`EventSource` (sync)
read a ``text/event-stream`` as a browser does: they reconnect after the
stream ends or the connection drops, sending ``Last-Event-ID``, honour the
server's ``retry:``, stop on 204 and raise :class:`EventSourceError` on any
other failed response. ``ReadyState`` is the type of ``ready_state``:
``"connecting"``, ``"open"`` or ``"closed"``.

Example (the server answers in-process here, with one event, then 204 to end the stream):

```py
import httpx

from sse_asgi.client import EventSource


def server(request):
    if "last-event-id" in request.headers:  # the reconnection
        return httpx.Response(204)
    body = b"retry: 0\nevent: tick\nid: 1\ndata: one\n\n"
    headers = {"content-type": "text/event-stream"}
    return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))


client = httpx.Client(transport=httpx.MockTransport(server))
with EventSource("http://127.0.0.1:8000/ticks", client=client) as source:
    for event in source:
        print(event.event, event.id, event.data)
        #> tick 1 one
```

``python -m sse_asgi URL`` prints a stream from the command line.
"""

from __future__ import annotations

from ._async import AsyncEventSource
from ._errors import EventSourceError, LastEventIdError
from ._state import ReadyState
from ._sync import EventSource

__all__ = ["AsyncEventSource", "EventSource", "EventSourceError", "LastEventIdError", "ReadyState"]
