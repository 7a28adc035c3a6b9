"""The event-stream parsing algorithm, transcribed plainly from the specs: the decoder's oracle.

Slow and obvious on purpose: whole input at once, one code point at a time,
the spec's own variable names. ``tests/test_decoder_oracle.py`` fuzzes
``sse_asgi.EventDecoder`` against it.

Sources, quoted where they are implemented:
- WHATWG HTML, 9.2.6 "Interpreting an event stream" (the parsing algorithm)
  and 9.2.3 "Processing model" (end of stream).
- WHATWG Encoding, 4.1 "UTF-8 decode" and 8.1.2 "UTF-8 decoder" (the byte ->
  code point step), so that Python's codec is checked too, not trusted.

What the spec does not have, marked EXTENSION below, is what EventDecoder
adds: ``max_event_size`` (a per-block byte budget), a per-event ``retry``,
``mid_event``, and ignoring ``retry`` values of more than 4300 significant
digits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_RETRY_DIGITS = 4300
EOQ = None  # end-of-queue


def utf8_decode(stream: bytes) -> str:
    """Encoding 4.1 "UTF-8 decode", with 8.1.2 "UTF-8 decoder" in "replacement" error mode."""
    # "1. Let buffer be the result of peeking three bytes from ioQueue ...
    #  2. If buffer is 0xEF 0xBB 0xBF, then read three bytes from ioQueue."
    queue: list[int | None] = list(stream[3:] if stream[:3] == b"\xef\xbb\xbf" else stream)
    queue.append(EOQ)
    output: list[str] = []
    code_point = bytes_seen = bytes_needed = 0
    lower_boundary, upper_boundary = 0x80, 0xBF
    i = 0
    while True:
        byte = queue[i]
        i += 1
        # "1. If byte is end-of-queue and UTF-8 bytes needed is not 0, set UTF-8
        #  bytes needed to 0 and return error."
        if byte is EOQ and bytes_needed != 0:
            bytes_needed = 0
            output.append("\ufffd")
            i -= 1  # end-of-queue is never consumed: it is read again
            continue
        # "2. If byte is end-of-queue, return finished."
        if byte is EOQ:
            return "".join(output)
        # "3. If UTF-8 bytes needed is 0, based on byte: ..."
        if bytes_needed == 0:
            if 0x00 <= byte <= 0x7F:
                output.append(chr(byte))
            elif 0xC2 <= byte <= 0xDF:
                bytes_needed = 1
                code_point = byte & 0x1F
            elif 0xE0 <= byte <= 0xEF:
                if byte == 0xE0:
                    lower_boundary = 0xA0
                if byte == 0xED:
                    upper_boundary = 0x9F
                bytes_needed = 2
                code_point = byte & 0xF
            elif 0xF0 <= byte <= 0xF4:
                if byte == 0xF0:
                    lower_boundary = 0x90
                if byte == 0xF4:
                    upper_boundary = 0x8F
                bytes_needed = 3
                code_point = byte & 0x7
            else:
                output.append("\ufffd")
            continue
        # "4. If byte is not in the range UTF-8 lower boundary to UTF-8 upper
        #  boundary, inclusive, then: set UTF-8 code point, UTF-8 bytes needed,
        #  and UTF-8 bytes seen to 0, set UTF-8 lower boundary to 0x80, and set
        #  UTF-8 upper boundary to 0xBF. Restore byte to ioQueue. Return error."
        if not lower_boundary <= byte <= upper_boundary:
            code_point = bytes_needed = bytes_seen = 0
            lower_boundary, upper_boundary = 0x80, 0xBF
            i -= 1
            output.append("\ufffd")
            continue
        # "5. Set UTF-8 lower boundary to 0x80 and UTF-8 upper boundary to 0xBF.
        #  6. Set UTF-8 code point to (UTF-8 code point << 6) | (byte & 0x3F)
        #  7. Increase UTF-8 bytes seen by one.
        #  8. If UTF-8 bytes seen is not equal to UTF-8 bytes needed, return continue."
        lower_boundary, upper_boundary = 0x80, 0xBF
        code_point = (code_point << 6) | (byte & 0x3F)
        bytes_seen += 1
        if bytes_seen != bytes_needed:
            continue
        # "9.-11. ... Return a code point whose value is code point."
        output.append(chr(code_point))
        code_point = bytes_needed = bytes_seen = 0


@dataclass
class Event:
    type: str
    data: str
    last_event_id: str
    retry: int | None  # EXTENSION: the reconnection time this event's block set


@dataclass
class Result:
    events: list[Event] = field(default_factory=list)
    last_event_id_string: str = ""
    reconnection_time: int | None = None
    dropped_events: int = 0  # EXTENSION
    mid_event: bool = False  # EXTENSION


def split_lines(text: str) -> tuple[list[str], str]:
    """The stream's lines, and what follows the last line end (an unfinished line).

    "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a single
    U+000A LINE FEED (LF) character not preceded by a U+000D CARRIAGE RETURN
    (CR) character, and a single U+000D CARRIAGE RETURN (CR) character not
    followed by a U+000A LINE FEED (LF) character being the ways in which a
    line can end."
    """
    lines: list[str] = []
    line = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\r":
            lines.append(line)
            line = ""
            if i + 1 < len(text) and text[i + 1] == "\n":
                i += 1  # CRLF: one line end
        elif char == "\n":
            lines.append(line)
            line = ""
        else:
            line += char
        i += 1
    return lines, line


def parse(stream: bytes, *, last_event_id: str = "", max_event_size: int | None = None) -> Result:
    """Everything a conforming client has seen after receiving ``stream`` (so far)."""
    # A stream that so far is a part of a BOM has no content yet.
    if len(stream) < 3 and b"\xef\xbb\xbf".startswith(stream):
        stream = b""
    # "Streams must be decoded using the UTF-8 decode algorithm." A UTF-8
    # sequence cut off at the end of what has arrived belongs to the unfinished
    # line, which is never interpreted: decoding it as an error changes nothing.
    lines, unfinished = split_lines(utf8_decode(stream))

    result = Result(last_event_id_string=last_event_id)
    # "When a stream is parsed, a data buffer, an event type buffer, and a last
    # event ID buffer must be associated with it. They must be initialized to
    # the empty string." (The last event ID buffer starts from the reconnecting
    # client's last event ID string.)
    data_buffer = ""
    event_type_buffer = ""
    last_event_id_buffer = last_event_id
    block_retry: int | None = None  # EXTENSION
    block_size = 0  # EXTENSION
    dropping = False  # EXTENSION
    mid_event = False  # EXTENSION

    def process_field(name: str, value: str) -> None:
        nonlocal data_buffer, event_type_buffer, last_event_id_buffer, block_retry
        if name == "event":
            # "Set the event type buffer to field value."
            event_type_buffer = value
        elif name == "data":
            # "Append the field value to the data buffer, then append a single
            # U+000A LINE FEED (LF) character to the data buffer."
            data_buffer += value + "\n"
        elif name == "id":
            # "If the field value does not contain U+0000 NULL, then set the
            # last event ID buffer to the field value. Otherwise, ignore the field."
            if "\0" not in value:
                last_event_id_buffer = value
        elif name == "retry":
            # "If the field value consists of only ASCII digits, then interpret
            # the field value as an integer in base ten, and set the event
            # stream's reconnection time to that integer. Otherwise, ignore the
            # field." (The empty string is no integer.)
            digits = value.lstrip("0")  # (int() refuses long strings even of zeros)
            if (
                value
                and all(c in "0123456789" for c in value)
                and len(digits) <= MAX_RETRY_DIGITS  # EXTENSION
            ):
                result.reconnection_time = block_retry = int(digits or "0")
        # "Otherwise: The field is ignored."

    def dispatch() -> None:
        nonlocal data_buffer, event_type_buffer, block_retry, block_size, dropping, mid_event
        # "1. Set the last event ID string of the event source to the value of
        #  the last event ID buffer."
        result.last_event_id_string = last_event_id_buffer
        retry, block_retry = block_retry, None
        was_dropped, dropping = dropping, False
        block_size = 0
        mid_event = False
        # "2. If the data buffer is an empty string, set the data buffer and the
        #  event type buffer to the empty string and return."
        if data_buffer == "" or was_dropped:
            data_buffer = event_type_buffer = ""
            return
        # "3. If the data buffer's last character is a U+000A LINE FEED (LF)
        #  character, then remove the last character from the data buffer."
        if data_buffer.endswith("\n"):
            data_buffer = data_buffer[:-1]
        # "5. Initialize event's type attribute to "message", its data attribute
        #  to data ... and lastEventId attribute to the last event ID string."
        # "6. If the event type buffer has a value other than the empty string,
        #  change the type of the newly created event to equal [it]."
        event_type = event_type_buffer if event_type_buffer != "" else "message"
        result.events.append(Event(event_type, data_buffer, result.last_event_id_string, retry))
        # "7. Set the data buffer and the event type buffer to the empty string."
        data_buffer = event_type_buffer = ""

    for line in lines:
        # "If the line is empty (a blank line): Dispatch the event."
        if line == "":
            dispatch()
            continue
        if dropping:  # EXTENSION: the rest of a dropped event's block is ignored
            continue
        # "If the line starts with a U+003A COLON character (:): Ignore the line."
        if line.startswith(":"):
            continue
        mid_event = True
        # "If the line contains a U+003A COLON character (:): Collect the
        # characters on the line before the first U+003A COLON character (:),
        # and let field be that string. Collect the characters on the line after
        # the first U+003A COLON character (:), and let value be that string. If
        # value starts with a U+0020 SPACE character, remove it from value."
        if ":" in line:
            colon = line.index(":")
            name, value = line[:colon], line[colon + 1 :]
            if value.startswith(" "):
                value = value[1:]
        # "Otherwise, the string is not empty but does not contain a U+003A
        # COLON character (:): ... using the whole line as the field name, and
        # the empty string as the field value."
        else:
            name, value = line, ""
        # EXTENSION: max_event_size. data, event, id and retry lines count the
        # UTF-8 bytes of their value plus one; past the cap the event is dropped.
        if max_event_size is not None and name in ("data", "event", "id", "retry"):
            block_size += len(value.encode()) + 1
            if block_size > max_event_size:
                dropping = True
                result.dropped_events += 1
                data_buffer = event_type_buffer = ""
                continue
        process_field(name, value)

    # "Once the end of the file is reached, any pending data must be discarded.
    # (If the file ends in the middle of an event, before the final empty line,
    # the incomplete event is not dispatched.)"
    result.mid_event = mid_event or (unfinished != "" and not unfinished.startswith(":"))
    return result
