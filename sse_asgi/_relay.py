"""Relaying: a received event back into the same event on the wire."""

from __future__ import annotations

from ._decoder import ReceivedEvent
from ._event import ServerSentEvent

__all__ = ["event_from_received"]


def event_from_received(
    received: ReceivedEvent, *, last_event_id: str | None = None
) -> ServerSentEvent:
    r"""The :class:`ServerSentEvent` that a client decodes into ``received`` again.

    For relays: a proxy reading an upstream stream (an LLM provider, another
    service) and forwarding it through :class:`EventSourceResponse`.

    - ``data`` is sent as ``raw_data``, unencoded, one ``data:`` line per
      line: the decoder joined lines with LF and left no CR, so every line,
      empty ones included, arrives as it was.
    - ``event`` is omitted when it is ``"message"``: a browser dispatches an
      event without type and one typed ``message`` alike, and a
      ``ReceivedEvent`` cannot tell them apart.
    - ``retry`` is sent when the event's own block carried one.
    - ``id``: ``received.id`` is the last event ID in effect when the event
      was dispatched, not necessarily an ``id`` field of its block. Sending
      it makes the receiver's last event ID equal the sender's after every
      event, whatever the receiver had before. Pass ``last_event_id`` -- the
      id the receiver already has: the previous relayed event's id, or the
      ``Last-Event-ID`` it connected with -- and the field is left out when
      it would not change anything (an empty id that clears it is still
      sent). What a relay cannot forward: blocks that dispatch no event (an
      ``id`` or ``retry`` alone) and comments; the next event carries the id.

    Example:

    ```py
    from sse_asgi import EventDecoder, event_from_received

    [received] = EventDecoder().feed(b"id: 7\ndata: a\ndata:\ndata: b\n\n")
    print(event_from_received(received).encode())
    #> b'data: a\ndata: \ndata: b\nid: 7\n\n'
    print(event_from_received(received, last_event_id="7").encode())
    #> b'data: a\ndata: \ndata: b\n\n'
    ```
    """
    event_id: str | None = received.id
    if last_event_id is not None and event_id == last_event_id:
        event_id = None
    return ServerSentEvent(
        raw_data=received.data,
        event=None if received.event == "message" else received.event,
        id=event_id,
        retry=received.retry,
    )
