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

How it stays linear and fast (the spec's steps, reordered, never changed):

- Only the bytes of an unfinished line are carried from one ``feed`` to the
  next, in a ``bytearray`` that grows in place; everything up to a chunk's
  last line end is handled at once. No byte is copied or scanned a number of
  times that grows with the length of a line or an event.
- Splitting bytes at CR/LF and then decoding equals decoding and then
  splitting: CR and LF are ASCII, and the UTF-8 decoder's state never spans
  an ASCII byte. So a run of complete lines is decoded in one call.
- Lines are found with one-character ``str.find``/``index`` (memchr), never
  ``split`` over a long text: a long line costs almost nothing to scan.
- Blocks that are one ``data`` line, maybe after one ``event`` line -- most
  LLM token streams -- are turned into events without the per-line
  machinery, by the spec's steps for exactly such a block.
- Blocks of one ``data`` line and ``id``/``event`` lines in a fixed order --
  resumable streams, ours included -- are read a column at a time: after
  one such block, the rest of the text up to its last blank line is split
  into lines once, and each kind of line is checked, cut to its values and
  made into events by loops in C. A block that ends in the next chunk has
  its first few lines (at most 4 KiB) held as text rather than interpreted,
  so that it is read whole, by that path, in the next feed.
- An event's data that spans chunks is kept as UTF-8 in one ``bytearray``,
  so many short ``data`` lines cost one byte per byte, not one object each;
  a line longer than 64 KiB is decoded straight from its bytes, so its value
  is never a second copy of a whole text; chunks longer than 64 KiB are fed
  in slices, so the transient objects of one call stay bounded.

``tests/spec_oracle.py`` is a plain transcription of the algorithm; the
decoder is fuzzed against it (``tests/test_decoder_oracle.py``).
"""

from __future__ import annotations

import collections
import itertools
import operator
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, NamedTuple

import orjson

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "AsyncEventIterator",
    "EventDecoder",
    "ReceivedEvent",
    "aiter_events",
    "iter_events",
]

#: Default cap, in bytes of UTF-8, on one event's block (see ``EventDecoder``).
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

#: A ``retry`` value with more significant digits than this is ignored: Python
#: converts such a string to an int in time quadratic in its length (CPython's
#: own default limit, ``sys.get_int_max_str_digits()``, is the same 4300).
MAX_RETRY_DIGITS = 4300

_BOM = b"\xef\xbb\xbf"
# The longest prefix before a kept field's value: "event: " or "retry: ".
_PREFIX = 7
# Chunks longer than this are fed in slices of it, so that the transient lists
# one slice makes are bounded whatever the caller hands in.
_SLICE = 64 * 1024
# A long block's lines are split this many characters at a time.
_PIECE = 16 * 1024
# What _simple_blocks looks for after a line, by line-end style: the line end's
# first character; the rest of line end + blank line; that followed by the next
# block's "data: "; the ends of those two after the line end's first character;
# and what follows an event line's first line-end character.
_LF = ("\n", "\n", "\ndata: ", 2, 8, "data: ")
_CRLF = ("\r", "\n\r\n", "\n\r\ndata: ", 4, 10, "\ndata: ")
# The first lines of a block that ends in the next chunk, up to _HOLD
# characters and _HOLD_LINES lines, are held rather than interpreted, so that
# the whole block goes by the short paths there: each is read at most
# _HOLD_LINES + 1 times, however the stream is cut.
_HOLD = 4096
_HOLD_LINES = 4
# What _field_block reads as the start of a line, what it stores in a shape.
_FIELD_STARTS = {"id: ": "id: ", "data": "data: ", "even": "event: "}
_VALUE_OF = {head: operator.itemgetter(slice(len(head), None)) for head in _FIELD_STARTS.values()}
_KEPT_LINES = (b"data:", b"event:", b"id:", b"retry:")
_KEPT_NAMES = (b"data", b"event", b"id", b"retry")


class ReceivedEvent(NamedTuple):
    r"""One event as a spec-compliant client (a browser's ``EventSource``) sees it.

    - ``data``: the data lines joined with LF.
    - ``event``: the type, ``"message"`` when the stream set none.
    - ``id``: the last event ID in effect when it was dispatched (``""`` if none).
    - ``retry``: the reconnection time (ms) a valid ``retry`` field in this
      event's block set, else ``None``.

    Immutable, hashable, and equal only to another ``ReceivedEvent`` with the
    same four fields (a named tuple that is not equal to a plain tuple).

    Example:

    ```py
    from sse_asgi import EventDecoder

    [event] = EventDecoder().feed(b'event: tick\ndata: {"n": 1}\n\n')
    print(event)
    #> ReceivedEvent(data='{"n": 1}', event='tick', id='', retry=None)
    print(event.event, event.json())
    #> tick {'n': 1}
    ```
    """

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None

    def json(self) -> Any:
        """``data`` parsed as JSON (raises ``orjson.JSONDecodeError``, a ``ValueError``)."""
        return orjson.loads(self.data)

    # Equality as a record, as the dataclass it replaced had: a plain tuple with
    # the same items is no event. (As a subclass, this __eq__ is asked first.)
    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__ and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return other.__class__ is not self.__class__ or tuple.__ne__(self, other)


# Building events with tuple.__new__ skips the generated __new__ (arguments are
# always all four, in order): a quarter of a frozen dataclass's cost.
_new_event = tuple.__new__


def _matching_blocks(lines: list[str], shape: tuple[str, ...], width: int) -> int:
    """How many blocks of ``width`` lines, from the first, are lines that start as
    ``shape`` says and then one blank line."""
    blocks = len(lines) // width
    startswith, repeat = str.startswith, itertools.repeat
    for i, head in enumerate(shape):
        if not all(map(startswith, lines[i::width], repeat(head))):
            starts = list(map(startswith, lines[i::width], repeat(head)))
            blocks = min(blocks, starts.index(False))
    if any(lines[width - 1 :: width]):
        blank = list(map(operator.not_, lines[width - 1 :: width]))
        blocks = min(blocks, blank.index(False))
    return blocks


def _where(shape: tuple[str, ...]) -> tuple[int, int, int]:
    """Where in ``shape`` the data line is, and the last id and event lines (or -1)."""
    last = {head: i for i, head in enumerate(shape)}
    return last["data: "], last.get("id: ", -1), last.get("event: ", -1)


def _utf8_size(text: str) -> int:
    if text.isascii():
        return len(text)
    # (in slices: a long value's UTF-8 copy is never made whole)
    return sum(len(text[i : i + _PIECE].encode()) for i in range(0, len(text), _PIECE))


class EventDecoder:
    r"""An incremental, sans-IO ``text/event-stream`` decoder.

    Feed it bytes as they arrive; it returns the events each chunk completed.
    It never raises on any input, and its cost is linear in the bytes fed
    however they are split.

    ``last_event_id`` seeds the last event ID (pass the previous decoder's
    :attr:`last_event_id` when reconnecting).

    ``max_event_size`` (bytes, default 16 MiB) bounds memory. It caps one
    event's block: the UTF-8 values of its ``data``, ``event``, ``id`` and
    ``retry`` lines (valid or not), plus one byte per such line. When a block
    grows past it, that event is dropped -- its data is freed, every line up
    to its closing blank line is ignored, and :attr:`dropped_events` goes up
    by one; ``id`` and ``retry`` fields before the overflow keep the effect
    the spec gives them. So every event returned has
    ``len(event.data.encode()) < max_event_size``. Comments and unknown
    fields are skipped at any length and never drop an event.

    Memory: between calls the decoder holds at most ``max_event_size + 7``
    bytes of an unfinished line and ``max_event_size`` bytes of an unfinished
    event's data (as UTF-8), plus the ``event`` and ``id`` strings and at
    most 4 KiB of an unfinished event's first lines. Its peak,
    the events it returns included, stays within 3 x ``max_event_size`` (+256
    KiB) for ASCII streams and 7 x for any stream: a Python str takes 1, 2 or
    4 bytes a character, and ASCII data with one emoji is the worst case
    (measured with tracemalloc in ``tests/test_decoder_limits.py``).

    One departure from the spec, for the same reason: a ``retry`` value of
    more than :data:`MAX_RETRY_DIGITS` significant digits (a delay longer than
    the age of the universe) is ignored.

    Example:

    ```py
    from sse_asgi import EventDecoder

    decoder = EventDecoder()
    print(decoder.feed(b"id: 7\ndata: hel"), decoder.mid_event)
    #> [] True
    print(decoder.feed(b"lo\n\n"))
    #> [ReceivedEvent(data='hello', event='message', id='7', retry=None)]
    print(decoder.last_event_id, decoder.mid_event)
    #> 7 False
    ```
    """

    __slots__ = (
        "_block_retry",
        "_bom",
        "_cap",
        "_carry",
        "_cr",
        "_data",
        "_dropping",
        "_event_type",
        "_held",
        "_id",
        "_last_id",
        "_line",
        "_max",
        "_mid",
        "_shape",
        "_size",
        "_skip",
        "_where",
        "dropped_events",
        "retry",
    )

    def __init__(
        self, last_event_id: str = "", *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    ) -> None:
        if max_event_size < 0:
            raise ValueError(f"max_event_size must be >= 0, not {max_event_size!r}")
        self._max = max_event_size
        self._cap = max_event_size + _PREFIX  # the longest unfinished line kept
        # Stream start: bytes that may still turn out to be the BOM, or None after.
        self._bom: bytes | None = b""
        # The previous chunk ended with a CR that ended a line: a LF next is its pair.
        self._cr = False
        # The unfinished line's bytes (no line end, never over max + 7 bytes).
        self._line = bytearray()
        # Discarding the rest of the current line: 0 no, 1 yes, 2 yes and drop
        # its event when the line ends (it was a kept field, too long).
        self._skip = 0
        # The first lines of an unfinished block, not interpreted yet (see _holds).
        self._held = ""
        # The line starts of the last block _field_block read, for _columns.
        self._shape: tuple[str, ...] = ()
        self._where = (0, -1, -1)  # _where(_shape)
        # The unfinished event: data values as UTF-8, each followed by LF
        # (earlier feeds), and the values of this feed still as strs.
        self._carry = bytearray()
        self._data: list[str] = []
        self._event_type = ""
        self._id = last_event_id
        self._last_id = last_event_id
        self._block_retry: int | None = None
        self._size = 0  # the block's size as max_event_size counts it
        self._dropping = False
        self._mid = False  # a line other than a comment since the last blank line
        #: Latest valid reconnection time (ms) the stream set, or ``None``.
        self.retry: int | None = None
        #: How many events were dropped for exceeding ``max_event_size``.
        self.dropped_events = 0

    @property
    def last_event_id(self) -> str:
        """The last event ID string as of the last blank line: send it as ``Last-Event-ID``."""
        return self._last_id

    @property
    def max_event_size(self) -> int:
        """The cap, in bytes, this decoder was made with."""
        return self._max

    @property
    def mid_event(self) -> bool:
        """Whether the stream stopped inside an event: a line other than a comment
        (or part of one) arrived since the last blank line. If the stream ends
        now, that event is discarded, as the spec says."""
        line = self._line
        return self._mid or bool(self._held) or self._skip == 2 or (bool(line) and line[0] != 58)

    def feed(self, chunk: bytes) -> list[ReceivedEvent]:
        """Decode ``chunk`` and return the events it completed, in order."""
        if self._bom is None and not self._cr and 10 not in chunk and 13 not in chunk:
            # No line end: the unfinished line only grows (byte-by-byte feeding).
            if self._skip:
                return []
            if self._dropping:
                if chunk:
                    self._skip = 1  # the rest of a dropped event is ignored anyway
                return []
            line = self._line
            line += chunk
            if len(line) > self._cap:
                self._overflow()
            return []
        if len(chunk) > _SLICE:
            return [
                event
                for start in range(0, len(chunk), _SLICE)
                for event in self.feed(chunk[start : start + _SLICE])
            ]
        if self._bom is not None or self._cr or self._skip:
            chunk = self._prelude(chunk)
        events: list[ReceivedEvent] = []
        size = len(chunk)
        lf = chunk.rfind(b"\n")
        cr = chunk.rfind(b"\r") if 13 in chunk else -1  # (rfind is no memchr: slower)
        start = (lf if lf > cr else cr) + 1  # after the last line end
        if not start:  # (what the prelude left, with no line end: the first branch)
            return self.feed(chunk) if chunk else events
        line = self._line
        begin = 0
        if len(line) >= _SLICE:
            if self._held:
                self._interpret_held()
            begin = self._finish_long_line(chunk, events)
            line = self._line
        # Every whole line (the unfinished one's start included) in one decode.
        if line:
            self._line = bytearray()
            # (bytes decode faster than a bytearray does)
            joined = b"".join((line, chunk if start == size else chunk[:start]))
            del line  # freed before the text is interpreted
            text = joined.decode("utf-8", "replace")
            del joined
            if self._held:
                text, has_cr = self._unhold(text, cr >= 0)
                self._run(text, events, has_cr)
            else:
                self._run(text, events, cr >= 0)
            del text
        elif begin < start:
            text = (chunk if start == size and not begin else chunk[begin:start]).decode(
                "utf-8", "replace"
            )
            if self._held:
                text, has_cr = self._unhold(text, cr >= begin)
                self._run(text, events, has_cr)
            else:
                self._run(text, events, cr >= begin)
            del text
        if cr == size - 1:
            self._cr = True
        if start < size:
            if self._dropping:
                self._skip = 1
            else:
                self._line = line = bytearray(chunk[start:])
                if len(line) > self._cap:
                    self._overflow()
        if self._data:
            self._keep_data()  # the event goes on in the next chunk
        return events

    def _keep_data(self) -> None:
        """Move the data values kept as strs (a few, short: from one feed's text)
        into the compact UTF-8 carry, one byte a byte."""
        carry = self._carry
        carry += "\n".join(self._data).encode()  # (a single value is not copied)
        carry += b"\n"
        self._data = []

    def _finish_long_line(self, chunk: bytes, events: list[ReceivedEvent]) -> int:
        """End the long unfinished line at ``chunk``'s first line end; return what follows."""
        lf = chunk.find(b"\n")
        cr = chunk.find(b"\r", 0, len(chunk) if lf < 0 else lf)
        end = lf if cr < 0 else cr
        line = self._line
        self._line = bytearray()
        line += memoryview(chunk)[:end]
        self._long_line(line, events)
        end += 1
        if end - 1 == cr:
            if end == len(chunk):
                self._cr = True
            elif chunk[end] == 10:
                end += 1
        return end

    def _long_line(self, line: bytearray, events: list[ReceivedEvent]) -> None:
        """Interpret a line of at least _SLICE bytes with one copy of its value (as a
        str decoded straight from its bytes), not the two a whole text would take."""
        if self._dropping or line[0] == 58:  # ignored, or a comment
            return
        self._mid = True
        colon = line.find(b":", 0, 6)  # the kept names are 2 to 5 bytes long
        name = bytes(line[:colon])
        if colon < 0 or name not in _KEPT_NAMES:
            return  # an unknown field
        start = colon + 2 if line[colon + 1 : colon + 2] == b" " else colon + 1
        with memoryview(line) as view:
            value = str(view[start:], "utf-8", "replace")
        self._field(name.decode(), value, _utf8_size(value))

    def _prelude(self, chunk: bytes) -> bytes:
        """What is left of ``chunk`` after the BOM, a CRLF's LF, or a skipped line's end."""
        if self._bom is not None:
            head = self._bom + chunk
            if len(head) < 3 and _BOM.startswith(head):
                self._bom = head
                return b""
            self._bom = None
            chunk = head[3:] if head.startswith(_BOM) else head
        if self._cr and chunk:
            self._cr = False
            if chunk[0] == 10:
                chunk = chunk[1:]
        if self._skip and chunk:
            lf = chunk.find(b"\n")
            cr = chunk.find(b"\r", 0, len(chunk) if lf < 0 else lf)
            end = lf if cr < 0 else cr
            if end < 0:
                return b""
            if self._skip == 2:
                self._drop()
            self._skip = 0
            if end == cr:
                if end + 1 == len(chunk):
                    self._cr = True
                elif chunk[end + 1] == 10:
                    end += 1
            chunk = chunk[end + 1 :]
        return chunk

    def _overflow(self) -> None:
        """The unfinished line outgrew max_event_size + 7 bytes: stop keeping it."""
        if self._held:
            self._interpret_held()
        line = self._line
        self._line = bytearray()
        if line.startswith(_KEPT_LINES):
            self._skip = 2  # its value alone is over the cap
        else:
            self._skip = 1  # a comment or an unknown field: no effect at any length
            if line[0] != 58:
                self._mid = True

    def _drop(self) -> None:
        if not self._dropping:
            self._dropping = True
            self.dropped_events += 1
        self._mid = True
        self._carry = bytearray()
        self._data = []
        self._event_type = ""
        self._size = 0

    def _unhold(self, text: str, has_cr: bool) -> tuple[str, bool]:
        """``text`` after the held lines, and whether that holds a CR."""
        held, self._held = self._held, ""
        return held + text, has_cr or "\r" in held

    def _interpret_held(self) -> None:
        """Interpret the held lines now (they hold no blank line: no event comes of them)."""
        held, self._held = self._held, ""
        self._run(held, [], "\r" in held, hold=False)

    def _holds(self, text: str, pos: int) -> bool:
        """Whether ``text[pos:]``, the start of a fresh block with no blank line that
        ends the text, is held (and hold it): a few short lines, a field first, no
        ``retry`` (which takes effect at once), short of the cap (no drop due)."""
        if len(text) - pos > _HOLD:
            return False
        rest = text[pos:]
        if rest[0] in ":\r\n" or "retry" in rest:  # (a comment or a blank line starts nothing)
            return False
        if "\r" in rest:
            rest = rest.replace("\r\n", "\n").replace("\r", "\n")
        if "\n\n" in rest or rest.count("\n") > _HOLD_LINES:
            return False
        if (len(rest) if rest.isascii() else 4 * len(rest)) >= self._max:
            return False
        held = text[pos:]
        if held[-1] == "\r":  # the next chunk's LF, if any, was its pair: it never reads it
            held = held[:-1] + "\n"
        self._held = held
        return True

    def _run(
        self, text: str, events: list[ReceivedEvent], has_cr: bool, *, hold: bool = True
    ) -> None:
        """Interpret ``text``: whole lines, from a line start to a line end.

        Lines are found with ``str.find`` of one character (memchr) rather than
        ``split`` or ``replace``, which step through every character: a long
        line costs almost nothing to scan. A text holding a CR is read as
        CRLF-ended; a block that turns out to hold a lone CR or LF is
        normalized alone.
        """
        blank = "\r\n\r\n" if has_cr else "\n\n"  # (any other blank line is found too)
        size = len(text)
        ascii = text.isascii()
        limit = self._max
        # No value in a text this short can reach the cap (UTF-8 takes at most
        # 4 bytes a character): most texts then need no per-value check.
        small = (size if ascii else 4 * size) < limit
        fresh = not self._mid
        columns = small  # (once a text: a shape that changes midway costs no second split)
        pos = 0
        while pos < size:
            if fresh and (
                text[pos : pos + 5] == "data:"
                or text[pos : pos + 6] == "event:"
                or text[pos : pos + 3] == "id:"
            ):
                began = pos
                if text[pos] != "i":
                    pos = self._simple_blocks(text, pos, events, has_cr, small)
                if pos == began and columns and self._shape:
                    columns = False
                    pos = self._columns(text, pos, events, has_cr)
                if pos == began and text.find(blank, pos) >= 0:  # (else it ends in the next chunk)
                    pos = self._field_block(text, pos, events, has_cr)
                if pos != began:
                    continue
            char = text[pos]
            if char == "\n" or char == "\r":  # a blank line
                pos += 2 if text[pos : pos + 2] == "\r\n" else 1
                if not fresh:
                    self._dispatch(events)
                    fresh = True
                continue
            end = text.find(blank, pos)
            # (A text that is one unfinished block, as when fed byte by byte, gains nothing.)
            if end < 0 and fresh and hold and pos and self._holds(text, pos):
                return
            block = text[pos:] if end < 0 else text[pos:end]
            if has_cr:
                block = block.replace("\r\n", "\n").replace("\r", "\n")
            if len(block) > _PIECE:  # (its lines are made a piece at a time)
                self._long_block(block if end >= 0 else block[:-1], events, ascii)
                if end < 0:
                    return
                self._dispatch(events)
                fresh = True
                pos = end + len(blank)
                continue
            lines = block.split("\n")
            if end < 0:  # the lines of an event that goes on in the next chunk
                lines.pop()  # what follows the last line end
                self._lines(lines, events, ascii)
                return
            if (
                fresh
                and (small or (len(block) if ascii else 4 * len(block)) <= limit)
                and "" not in lines
            ):
                # A fresh block of non-blank lines too short to reach the cap
                # (a kept line's value + 1 is shorter than the line) needs no
                # bookkeeping between its lines.
                self._block(lines, events)
            else:
                self._lines(lines, events, ascii)
                self._dispatch(events)
            fresh = True
            pos = end + len(blank)

    def _long_block(self, block: str, events: list[ReceivedEvent], ascii: bool) -> None:
        """``_lines`` over the lines of ``block``, split a piece at a time: a block of
        many short lines never becomes one list of them all."""
        start = 0
        while start <= len(block):
            cut = block.find("\n", start + _PIECE)
            if cut < 0:
                cut = len(block)
            self._lines(block[start:cut].split("\n"), events, ascii)
            start = cut + 1

    def _simple_blocks(
        self, text: str, pos: int, events: list[ReceivedEvent], has_cr: bool, small: bool
    ) -> int:
        """The events of the blocks from ``pos`` on (fresh) that are one data line,
        maybe after one ``event: `` line -- the commonest blocks -- and where they end.

        The spec's steps for such a block: set the event type buffer, append the
        value to the data buffer, dispatch, clear the buffers. One look after
        each blank line sees whether the next block starts with ``data: `` or
        ``event: ``.
        """
        first, tail, lead, tail_end, lead_end, data_after_event = _CRLF if has_cr else _LF
        lead_event = tail + "event: "  # (or an event line comes next)
        index = text.index
        ascii = text.isascii()
        limit = self._max
        last_id = self._last_id
        append = events.append
        new, cls = _new_event, ReceivedEvent
        next_is_data = next_is_event = False
        try:
            while True:
                event_type = "message"
                block_size = 0
                if next_is_data or (not next_is_event and text[pos : pos + 6] == "data: "):
                    value_at = pos + 6
                elif not next_is_event and text[pos : pos + 5] == "data:":
                    value_at = pos + 5
                elif next_is_event or text[pos : pos + 7] == "event: ":
                    end = index(first, pos)
                    value_at = end + len(data_after_event) + 1
                    if text[end + 1 : value_at] != data_after_event:
                        return pos  # not followed by a "data: " line
                    event_type = text[pos + 7 : end]
                    if has_cr and "\n" in event_type:
                        return pos  # a lone LF ends the line first
                    if not small:
                        block_size = _utf8_size(event_type) + 1
                    event_type = event_type or "message"
                else:
                    return pos
                end = index(first, value_at)  # ValueError: no line end left
                after = text[end + 1 : end + lead_end]
                next_is_data = after == lead
                if not next_is_data:
                    if after[: tail_end - 1] != tail:
                        return pos  # not a one-data-line block
                    next_is_event = text.startswith(lead_event, end + 1)
                value = text[value_at:end]
                if has_cr and "\n" in value:
                    return pos
                if small or block_size + (len(value) if ascii else _utf8_size(value)) < limit:
                    append(new(cls, (value, event_type, last_id, None)))
                else:
                    self.dropped_events += 1
                pos = end + tail_end
                if small and not has_cr:
                    # A run of "data: " blocks in LF text: only their own steps.
                    while next_is_data:
                        end = index("\n", pos + 6)
                        after = text[end + 1 : end + 8]
                        next_is_data = after == "\ndata: "
                        if not next_is_data and after[:1] != "\n":
                            return pos
                        append(new(cls, (text[pos + 6 : end], "message", last_id, None)))
                        pos = end + 2
        except ValueError:
            return pos

    def _field_block(self, text: str, pos: int, events: list[ReceivedEvent], has_cr: bool) -> int:
        """The event of the block at ``pos`` (fresh) if it is one ``data: `` line and any
        ``id: `` and ``event: `` lines, in any order -- what resumable streams send,
        ours included -- and where it ends; else ``pos``, for the general path.

        The spec's steps for such a block: each ``id`` line without NUL sets the
        ID buffer, each ``event`` line the type buffer, the data line fills the
        data buffer; at the blank line the ID buffer becomes the last event ID
        and the event is dispatched. Any other block -- another spelling, no or
        a second data line, a lone CR or LF in CRLF text, a block past the cap
        -- is left to the general path. The block's line starts are kept in
        ``_shape``, for ``_columns`` to read the blocks that follow.
        """
        nl, blank = ("\r\n", "\r\n\r\n") if has_cr else ("\n", "\n\n")
        ascii = text.isascii()
        data = None
        event_type = ""
        id_buffer = self._last_id
        size = 0  # the block's size as max_event_size counts it
        shape = []
        begin = pos
        try:
            while True:  # the block's lines, up to the blank line
                end = text.index(nl[0], pos)  # ValueError: no line end left
                head = _FIELD_STARTS.get(text[pos : pos + 4], "")
                if (
                    not head
                    or not text.startswith(head, pos)
                    or (head[0] == "d" and data is not None)
                ):
                    return begin  # another line, or a second data line
                value = text[pos + len(head) : end]
                if has_cr and "\n" in value:
                    return begin  # a lone LF ends the line first
                if head[0] == "d":
                    data = value
                elif head[0] == "e":
                    event_type = value
                elif "\0" not in value:  # an id with NUL is ignored
                    id_buffer = value
                size += (len(value) if ascii else _utf8_size(value)) + 1
                shape.append(head)
                after = text[end : end + 2 * len(nl)]
                if after == blank:
                    break
                if after[: len(nl)] != nl:
                    return begin  # a lone CR
                pos = end + len(nl)
        except ValueError:
            return begin
        if data is None or size > self._max:
            return begin  # nothing to dispatch, or dropped
        if tuple(shape) != self._shape:
            self._shape = tuple(shape)
            self._where = _where(self._shape)
        self._id = self._last_id = id_buffer
        events.append(_new_event(ReceivedEvent, (data, event_type or "message", id_buffer, None)))
        return end + len(blank)

    def _columns(self, text: str, pos: int, events: list[ReceivedEvent], has_cr: bool) -> int:
        """The events of the blocks from ``pos`` on (fresh, short) whose lines start as
        ``_shape`` says, in that order, and where they end.

        ``_field_block``'s steps, for many blocks at once: the text up to its last
        blank line is split into lines, and block by block the lines fall into
        columns, one a kind of line. So a column is checked (each line starts as
        its shape says; each block's blank line is blank), cut to its values and
        made into events by loops in C, not one Python step a line. In CRLF text
        no lone CR or LF may be left in a line. An ``id`` with NUL, which the
        spec ignores, leaves the text to the other paths.
        """
        shape = self._shape
        nl, blank = ("\r\n", "\r\n\r\n") if has_cr else ("\n", "\n\n")
        stop = text.rfind(blank, pos)
        if stop < 0:
            return pos
        stop += len(blank)
        region = text if pos == 0 and stop == len(text) else text[pos:stop]
        if "\0" in region:
            return pos
        lines = region.split(nl)
        lines.pop()  # (what follows the last blank line: "")
        if has_cr:
            joined = "".join(lines)
            if "\r" in joined or "\n" in joined:
                return pos
            del joined
        width = len(shape) + 1  # a block's lines and its blank line
        blocks = _matching_blocks(lines, shape, width)
        if not blocks:
            return pos
        cut = blocks * width
        data_at, id_at, type_at = self._where  # (of lines with the same start, the last wins)
        types: Iterable[str] = itertools.repeat("message", blocks)
        if type_at >= 0:
            column = lines[type_at:cut:width]
            types = map(_VALUE_OF["event: "], column)
            if "event: " in column:  # an empty type is "message"
                types = [event_type or "message" for event_type in types]
        ids: Iterable[str] = itertools.repeat(self._last_id, blocks)
        if id_at >= 0:
            ids = map(_VALUE_OF["id: "], lines[id_at:cut:width])
            self._id = self._last_id = lines[cut - width + id_at][4:]
        events.extend(
            map(
                _new_event,
                itertools.repeat(ReceivedEvent, blocks),
                zip(
                    map(_VALUE_OF["data: "], lines[data_at:cut:width]),
                    types,
                    ids,
                    itertools.repeat(None, blocks),
                    strict=True,
                ),
            )
        )
        if cut < len(lines):
            return pos + sum(map(len, lines[:cut])) + cut * len(nl)
        pos += len(region)
        # What follows, the start of a block, is held at once if it can be.
        return len(text) if pos < len(text) and self._holds(text, pos) else pos

    def _block(self, lines: list[str], events: list[ReceivedEvent]) -> None:
        """A whole block from a fresh start, its lines all non-blank and too short to
        reach the cap, then its blank line: ``_lines`` + ``_dispatch``, in locals."""
        data: list[str] = []
        event_type = ""
        id_buffer = self._id
        retry = None
        for line in lines:
            # The usual spellings first: the general split below gives the same.
            if line[:6] == "data: ":
                data.append(line[6:])
                continue
            if line[:7] == "event: ":
                event_type = line[7:]
                continue
            name, _, value = line.partition(":")  # a comment has the name ""
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                event_type = value
            elif name == "id":
                if "\0" not in value:
                    id_buffer = value
            elif name == "retry" and value.isascii() and value.isdigit():
                digits = value.lstrip("0")
                if len(digits) <= MAX_RETRY_DIGITS:
                    self.retry = retry = int(digits or "0")
        self._id = self._last_id = id_buffer
        if data:
            events.append(
                _new_event(
                    ReceivedEvent,
                    (
                        data[0] if len(data) == 1 else "\n".join(data),
                        event_type or "message",
                        id_buffer,
                        retry,
                    ),
                )
            )

    def _lines(self, lines: list[str], events: list[ReceivedEvent], ascii: bool) -> None:
        """Interpret ``lines`` one by one, keeping the state in the decoder."""
        for line in lines:
            if not line:
                self._dispatch(events)
                continue
            if self._dropping or line[0] == ":":
                continue
            self._mid = True
            name, _, value = line.partition(":")
            if name in ("data", "event", "id", "retry"):
                if value[:1] == " ":
                    value = value[1:]
                self._field(name, value, len(value) if ascii else _utf8_size(value))

    def _field(self, name: str, value: str, size: int) -> None:
        """Process a data, event, id or retry field whose value is ``size`` bytes of UTF-8."""
        self._size += size + 1
        if self._size > self._max:
            self._drop()
        elif name == "data":
            self._data.append(value)
            if len(self._data) >= 1024:  # many values: keep them compactly
                self._keep_data()
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:  # an id with NUL is ignored, not truncated
                self._id = value
        # isdigit() alone would accept non-ASCII digits such as "³".
        elif value.isascii() and value.isdigit():
            digits = value.lstrip("0")
            if len(digits) <= MAX_RETRY_DIGITS:
                self.retry = self._block_retry = int(digits or "0")

    def _dispatch(self, events: list[ReceivedEvent]) -> None:
        self._last_id = self._id
        retry, self._block_retry = self._block_retry, None
        event_type, self._event_type = self._event_type, ""
        self._size = 0
        self._mid = False
        if self._dropping:
            self._dropping = False
            return
        data, self._data = self._data, []
        if self._carry:
            carry, self._carry = self._carry, bytearray()
            if data:
                carry += "\n".join(data).encode()
            else:
                del carry[-1]  # the LF after the last line
            value = carry.decode()  # valid UTF-8: encoded from strs
        elif data:
            value = data[0] if len(data) == 1 else "\n".join(data)
        else:
            return
        events.append(_new_event(ReceivedEvent, (value, event_type or "message", self._id, retry)))


def iter_events(
    chunks: Iterable[bytes],
    *,
    last_event_id: str = "",
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> Iterator[ReceivedEvent]:
    r"""Decode an iterable of byte chunks into events (see :class:`EventDecoder`).

    Example:

    ```py
    from sse_asgi import iter_events

    print([event.data for event in iter_events([b"data: a\n\nda", b"ta: b\n\n"])])
    #> ['a', 'b']
    ```
    """
    decoder = EventDecoder(last_event_id, max_event_size=max_event_size)
    for chunk in chunks:
        yield from decoder.feed(chunk)


def aiter_events(
    chunks: AsyncIterable[bytes],
    *,
    last_event_id: str = "",
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
) -> AsyncEventIterator:
    """Decode an async iterable of byte chunks into events (see :class:`EventDecoder`).

    The iterator can be closed early (``aclose()``, or ``contextlib.aclosing``),
    which also closes ``chunks`` if it can be closed.

    Example (the server answers in-process here):

    ```py
    import anyio
    import httpx

    from sse_asgi import EventSourceResponse, aiter_events

    server = httpx.ASGITransport(EventSourceResponse([{"n": 1}, {"n": 2}]))


    async def main():
        async with httpx.AsyncClient(transport=server) as client:
            async with client.stream("GET", "http://127.0.0.1:8000/") as response:
                async for event in aiter_events(response.aiter_bytes()):
                    print(event.event, event.data)
                    #> message {"n":1}
                    #> message {"n":2}


    anyio.run(main)
    ```
    """
    return AsyncEventIterator(chunks, last_event_id, max_event_size=max_event_size)


class AsyncEventIterator(AsyncIterator[ReceivedEvent]):
    r"""What :func:`aiter_events` returns: events, and ``aclose()`` for the source too.

    ``decoder`` is the :class:`EventDecoder` in use (``last_event_id``,
    ``retry``, ``dropped_events``, ``mid_event``).

    A class rather than an async generator: leaving one early under trio
    would leave it (and its source) for the garbage collector to finalize.

    Example:

    ```py
    import contextlib

    import anyio

    from sse_asgi import aiter_events


    async def body():  # a response's body, as it arrives
        yield b"data: one\n\ndata: [DONE]\n\n"
        yield b"data: never read\n\n"


    async def main():
        async with contextlib.aclosing(aiter_events(body())) as events:
            async for event in events:
                if event.data == "[DONE]":
                    break  # leaving the block closes body() too
                print(event.data)
                #> one


    anyio.run(main)
    ```
    """

    def __init__(
        self,
        chunks: AsyncIterable[bytes],
        last_event_id: str = "",
        *,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        self._chunks = chunks.__aiter__()
        self.decoder = EventDecoder(last_event_id, max_event_size=max_event_size)
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
