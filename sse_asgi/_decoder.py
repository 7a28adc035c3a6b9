"""The wire-format decoder: ``text/event-stream`` bytes in, events out. No IO.

It implements WHATWG HTML section 9.2.6 "Interpreting an event stream" exactly,
in two layers (like httpx-sse, without its departures from the spec):

1. Line splitting. The stream is decoded with the UTF-8 decode algorithm
   (one leading BOM stripped, invalid bytes replaced by U+FFFD), then split
   on CRLF, CR and LF -- nothing else. Chunks may split anywhere, including
   inside a UTF-8 sequence or between the CR and LF of a CRLF.
2. Field interpretation, one line at a time::

       empty line          -> dispatch the event
       starts with ":"     -> comment, ignored
       "name:value"        -> field `name`, value after the first colon,
                              minus one leading U+0020 SPACE if present
       "name"              -> field `name`, empty value

   Fields: ``event`` sets the event type buffer; ``data`` appends the value
   and a LF to the data buffer; ``id`` sets the last event ID buffer unless
   the value contains NUL; ``retry`` sets the reconnection time if the value
   is all ASCII digits; any other name is ignored. Names are case-sensitive.

   Dispatch: the last event ID string becomes the ID buffer (even when
   nothing is dispatched); an empty data buffer dispatches nothing; otherwise
   one trailing LF is removed and an event is dispatched with the type buffer
   (or ``"message"``). The data and type buffers are then cleared.

At the end of the stream an unfinished event is discarded (it never had its
blank line), so there is nothing to flush.
"""

from __future__ import annotations

import codecs
import collections
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "AsyncEventIterator",
    "EventDecoder",
    "ReceivedEvent",
    "aiter_events",
    "iter_events",
]

#: Default cap, in characters, on one line and on one event's data.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One event as a spec-compliant client (a browser's ``EventSource``) sees it.

    - ``event``: the type, ``"message"`` when the stream set none.
    - ``data``: the data lines joined with LF.
    - ``id``: the last event ID in effect when it was dispatched (``""`` if none).
    - ``retry``: the reconnection time a valid ``retry`` field in this event's
      block set, else ``None``.

    Example::

        >>> [ev] = EventDecoder().feed(b'event: tick\\ndata: {"n": 1}\\n\\n')
        >>> ev.event, ev.json()
        ('tick', {'n': 1})
    """

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None

    def json(self) -> Any:
        """``data`` parsed as JSON."""
        return orjson.loads(self.data)


class EventDecoder:
    """An incremental, sans-IO ``text/event-stream`` decoder.

    Feed it bytes as they arrive; it returns the events each chunk completed.
    It never raises on any input.

    ``last_event_id`` seeds the last event ID (pass the previous decoder's
    :attr:`last_event_id` when reconnecting). ``max_event_size`` bounds memory:
    when a single line, or the data of one event, grows beyond that many
    characters, that event is dropped -- its buffered data is freed and every
    line up to its closing blank line is ignored -- and :attr:`dropped_events`
    is incremented. ``id`` and ``retry`` fields that came before the overflow
    in the same block keep the effect the spec gives them.

    Example::

        >>> decoder = EventDecoder()
        >>> decoder.feed(b"id: 7\\ndata: hel")
        []
        >>> decoder.feed(b"lo\\n\\n")
        [ReceivedEvent(data='hello', event='message', id='7', retry=None)]
        >>> decoder.last_event_id
        '7'
    """

    __slots__ = (
        "_block_retry",
        "_bom_pending",
        "_cr_pending",
        "_data",
        "_data_size",
        "_dropping",
        "_event_type",
        "_id_buffer",
        "_last_event_id",
        "_line",
        "_max",
        "_skip_line",
        "_text",
        "dropped_events",
        "retry",
    )

    def __init__(
        self, last_event_id: str = "", *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    ) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")("replace")
        self._bom_pending = True
        self._cr_pending = False
        self._line = ""
        self._skip_line = False
        self._max = max_event_size
        self._data: list[str] = []
        self._data_size = 0
        self._event_type = ""
        self._id_buffer = last_event_id
        self._last_event_id = last_event_id
        self._block_retry: int | None = None
        self._dropping = False
        #: Latest valid reconnection time (ms) the stream set, or ``None``.
        self.retry: int | None = None
        #: How many events were dropped for exceeding ``max_event_size``.
        self.dropped_events = 0

    @property
    def last_event_id(self) -> str:
        """The last event ID string as of the last blank line: send it as ``Last-Event-ID``."""
        return self._last_event_id

    def feed(self, chunk: bytes) -> list[ReceivedEvent]:
        """Decode ``chunk`` and return the events it completed, in order."""
        text = self._text.decode(chunk)
        if not text:
            return []
        if self._bom_pending:
            self._bom_pending = False
            if text[0] == "\ufeff":
                text = text[1:]
        if self._cr_pending:
            # The previous chunk ended with CR, which already ended a line:
            # a LF right after it is the second half of a CRLF, not a new line.
            self._cr_pending = False
            if text[0] == "\n":
                text = text[1:]
        if "\r" in text:
            self._cr_pending = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        last = lines.pop()  # the unterminated rest (often "")
        if self._skip_line:
            # We are inside an over-long line: its characters are not kept.
            if not lines:
                return []
            self._skip_line = False
            del lines[0]
        elif lines and self._line:
            lines[0] = self._line + lines[0]
        elif not lines:
            last = self._line + last
        self._line = last
        events: list[ReceivedEvent] = []
        for line in lines:
            self._process(line, events)
        if len(self._line) > self._max:
            self._line = ""
            self._skip_line = True
            self._drop_event()
        return events

    def _drop_event(self) -> None:
        if not self._dropping:
            self._dropping = True
            self.dropped_events += 1
        self._data = []
        self._data_size = 0
        self._event_type = ""

    def _process(self, line: str, events: list[ReceivedEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if self._dropping or line[0] == ":":
            return
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data_size += len(value) + 1
            if self._data_size > self._max:
                self._drop_event()
                return
            self._data.append(value)
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:  # an id with NUL is ignored, not truncated
                self._id_buffer = value
        # isdigit() alone would accept non-ASCII digits such as "³".
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = self._block_retry = int(value)

    def _dispatch(self, events: list[ReceivedEvent]) -> None:
        self._last_event_id = self._id_buffer
        retry, self._block_retry = self._block_retry, None
        if self._dropping:
            self._dropping = False
            return
        if not self._data:
            self._event_type = ""
            return
        events.append(
            ReceivedEvent(
                data="\n".join(self._data),
                event=self._event_type or "message",
                id=self._last_event_id,
                retry=retry,
            )
        )
        self._data = []
        self._data_size = 0
        self._event_type = ""


def iter_events(chunks: Iterable[bytes], *, last_event_id: str = "") -> Iterator[ReceivedEvent]:
    """Decode an iterable of byte chunks into events.

    Example::

        >>> [ev.data for ev in iter_events([b"data: a\\n\\nda", b"ta: b\\n\\n"])]
        ['a', 'b']
    """
    decoder = EventDecoder(last_event_id)
    for chunk in chunks:
        yield from decoder.feed(chunk)


def aiter_events(chunks: AsyncIterable[bytes], *, last_event_id: str = "") -> AsyncEventIterator:
    """Decode an async iterable of byte chunks into events.

    The iterator can be closed early (``aclose()``, or ``contextlib.aclosing``),
    which also closes ``chunks`` if it can be closed.

    Example::

        async with httpx.AsyncClient() as client:
            async with client.stream("GET", url) as response:
                async for event in aiter_events(response.aiter_bytes()):
                    print(event.event, event.data)
    """
    return AsyncEventIterator(chunks, last_event_id)


class AsyncEventIterator(AsyncIterator[ReceivedEvent]):
    """What :func:`aiter_events` returns: events, and ``aclose()`` for the source too.

    A class rather than an async generator: leaving one early under trio
    would leave it (and its source) for the garbage collector to finalize.

    Example::

        async with contextlib.aclosing(aiter_events(chunks)) as events:
            async for event in events:
                if event.data == "[DONE]":
                    break
    """

    def __init__(self, chunks: AsyncIterable[bytes], last_event_id: str = "") -> None:
        self._chunks = chunks.__aiter__()
        self.decoder = EventDecoder(last_event_id)
        self._pending: collections.deque[ReceivedEvent] = collections.deque()

    def __aiter__(self) -> AsyncEventIterator:
        return self

    async def __anext__(self) -> ReceivedEvent:
        while not self._pending:
            chunk = await self._chunks.__anext__()  # StopAsyncIteration ends us too
            self._pending.extend(self.decoder.feed(chunk))
        return self._pending.popleft()

    async def aclose(self) -> None:
        """Stop, and close the source of chunks."""
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()
