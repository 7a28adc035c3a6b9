"""EventDecoder's resource bounds: memory within a stated factor of max_event_size, work
linear in the bytes fed -- measured by what is allocated and what is scanned, not by time.
"""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, SupportsIndex

import anyio
import anyio.lowlevel
import pytest

from sse_asgi import EventDecoder, ReceivedEvent, aiter_events, iter_events
from sse_asgi._decoder import _SLICE
from sse_asgi.testing import SSETestStream

CAP = 256 * 1024
KIB = 1024
# What README.md and EventDecoder's docstring state: the decoder's peak
# memory, the events it returns included, for a stream at or past the cap.
ASCII_FACTOR = 3
ANY_FACTOR = 7
SLACK = 256 * KIB  # one slice's transient lists, the interpreter's own noise


def chunks_of(parts: list[bytes], size: int) -> list[bytes]:
    """The stream made of ``parts``, cut every ``size`` bytes (made before memory is traced:
    the caller's chunks are not the decoder's memory)."""
    stream = b"".join(parts)
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def repeated(piece: bytes, total: int) -> list[bytes]:
    return [piece] * (total // len(piece))


def peak_memory(run: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def decode(parts: list[bytes], size: int) -> tuple[int, int, int]:
    """(peak bytes, events, largest event's data length) for the stream fed in ``size`` chunks."""
    found = [0, 0]
    chunks = chunks_of(parts, size)

    def run() -> None:
        decoder = EventDecoder(max_event_size=CAP)
        for chunk in chunks:
            for event in decoder.feed(chunk):
                found[0] += 1
                found[1] = max(found[1], len(event.data))

    return peak_memory(run), found[0], found[1]


ASCII_STREAMS = {
    # one data line just under the cap (kept) / just over it (dropped)
    "long line at the cap": [b"data: ", b"x" * (CAP - 2), b"\n\n"],
    "long line over the cap": [b"data: ", b"x" * (4 * CAP), b"\n\ndata: after\n\n"],
    # many short data lines: one object each would be 7 x the bytes
    "short data lines at the cap": [*repeated(b"data: ab\n", CAP - 16), b"\n"],
    "empty data lines over the cap": [*repeated(b"data\n", 6 * CAP), b"\n"],  # 1 byte each
    # a long id (kept, and kept as the last event ID) and a long event type
    "long id and event type": [
        b"id: ",
        b"i" * (CAP // 2),
        b"\nevent: ",
        b"e" * (CAP // 3),
        b"\ndata: x\n\n",
    ],
    # what is never kept
    "long comment": [b":", b"c" * (4 * CAP), b"\ndata: x\n\n"],
    "long unknown field": [b"field", b"u" * (4 * CAP), b"\r\n\r\n"],
}
UNICODE_STREAMS = {
    # one astral character makes CPython store every character in 4 bytes
    "long line, 1 astral character": [b"data: \xf0\x9f\x98\x80", b"x" * (CAP - 8), b"\n\n"],
    "invalid bytes (U+FFFD, 3 UTF-8 bytes each)": [b"data: ", b"\xff" * (CAP // 3 - 1), b"\n\n"],
    "short lines, astral": [*repeated("data: 😀\n".encode(), CAP - 16), b"\n"],
}


@pytest.mark.parametrize("size", [64, 4 * KIB, 64 * KIB, 8 * CAP])
@pytest.mark.parametrize("name", list(ASCII_STREAMS))
def test_peak_memory_of_ascii_streams(name: str, size: int) -> None:
    peak, _, longest = decode(ASCII_STREAMS[name], size)
    assert longest < CAP
    assert peak <= ASCII_FACTOR * CAP + SLACK, f"{peak / CAP:.2f} x the cap"


@pytest.mark.parametrize("size", [64, 4 * KIB, 8 * CAP])
@pytest.mark.parametrize("name", list(UNICODE_STREAMS))
def test_peak_memory_of_any_stream(name: str, size: int) -> None:
    peak, events, _ = decode(UNICODE_STREAMS[name], size)
    assert events == 1
    assert peak <= ANY_FACTOR * CAP + SLACK, f"{peak / CAP:.2f} x the cap"


def test_events_at_the_cap_are_kept_and_past_it_dropped() -> None:
    """The streams above are where the memory bound is tightest: they must be decoded right."""
    assert decode(ASCII_STREAMS["long line at the cap"], 4 * KIB)[1:] == (1, CAP - 2)
    assert decode(ASCII_STREAMS["long line over the cap"], 4 * KIB)[1:] == (1, 5)
    assert decode(ASCII_STREAMS["short data lines at the cap"], 4 * KIB)[1] == 1
    assert decode(ASCII_STREAMS["empty data lines over the cap"], 4 * KIB)[1] == 0


# -- linear work --------------------------------------------------------------------------------


class Rises(list[int]):
    """How far the allocated memory rose during each ``step()``, above where it began."""

    def __enter__(self) -> Rises:
        gc.collect()
        tracemalloc.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        tracemalloc.stop()

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        yield
        self.append(tracemalloc.get_traced_memory()[1] - before)


def allocated_per_feed(chunks: list[bytes], decoder: EventDecoder) -> list[int]:
    with Rises() as rises:
        for chunk in chunks:
            with rises.step():
                decoder.feed(chunk)
    return rises


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(b"data: " + b"x" * (4 << 20) + b"\n\n", id="long data line"),
        pytest.param(b":" + b"c" * (4 << 20) + b"\n\n", id="long comment"),
        pytest.param(b"id: " + b"i" * (4 << 20) + b"\r\n\r\n", id="long id, CRLF"),
        pytest.param(b"data: a\n" * (512 * KIB) + b"\n", id="many data lines"),
    ],
)
@pytest.mark.parametrize("size", [1 * KIB, 1460])
def test_work_per_feed_is_bounded_by_its_chunk(stream: bytes, size: int) -> None:
    """No feed copies what earlier feeds kept: the sum of what each feed allocates is
    linear in the bytes fed (a decoder rebuilding its unfinished line, as this one
    once did, allocates the square of it), and no single feed allocates much more
    than its chunk, except the one that completes an event (and the occasional
    geometric growth of a buffer)."""
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
    rises = allocated_per_feed(chunks, EventDecoder())
    assert sum(rises) <= 16 * len(stream) + 1024 * len(chunks)
    ordinary = sorted(rises)[: len(rises) - len(rises) // 50]  # all but the largest 2%
    assert max(ordinary) <= 16 * size + 1024


class CountingStr(str):
    """A str that counts the characters its find/index/split/replace calls look at."""

    scanned = 0

    def find(self, sub: str, start: SupportsIndex | None = None, *args: Any) -> int:
        result = super().find(sub, start, *args)
        begin = 0 if start is None else int(start)
        CountingStr.scanned += (len(self) if result < 0 else result + len(sub)) - begin
        return result

    def index(self, sub: str, start: SupportsIndex | None = None, *args: Any) -> int:
        if self.find(sub, start, *args) < 0:
            raise ValueError("substring not found")
        return super().index(sub, start, *args)


@pytest.mark.parametrize(
    ("text", "has_cr"),
    [
        # LF blocks in a text that also holds a CR, far away: a search for CR
        # from every block would scan to it again and again.
        ("data: a\n\n" * 20_000 + "data: b\r\r", True),
        ("event: t\ndata: a\n\n" * 10_000 + "\r", True),
        # CR-only, LF-only and CRLF blocks mixed
        ("data: a\r\r" * 10_000 + "data: b\n\n" * 10_000 + "data: c\r\n\r\n" * 10_000, True),
        ("data: a\n\n" * 20_000 + "id: 1\ndata: x\n\n" * 5_000, False),
        # blocks that look simple at first and are not
        ("data: a\ndata: b\n\n" * 10_000, False),
        ("event: x\nid: 1\n\n" * 10_000, False),
        # an id on every event, and the shapes of such blocks changing
        ("id: 1\ndata: a\n\n" * 20_000 + "\r", True),
        ("data: a\nid: 1\r\n\r\n" * 10_000, True),
        ("id: 1\ndata: a\n\ndata: b\nid: 1\n\nevent: e\nid: 1\ndata: c\n\n" * 5_000, False),
    ],
)
def test_interpreting_scans_each_character_a_bounded_number_of_times(
    text: str, has_cr: bool
) -> None:
    CountingStr.scanned = 0
    decoder = EventDecoder()
    events: list[ReceivedEvent] = []
    decoder._run(CountingStr(text), events, has_cr)
    assert events or decoder.last_event_id == "1"  # the text was interpreted
    assert CountingStr.scanned <= 4 * len(text)


def test_the_column_path_splits_a_text_at_most_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks whose shape changes every time: the column path gives up after one try a
    text, rather than splitting what is left of it again after every block."""
    calls = []
    columns = EventDecoder._columns

    def counted(self: EventDecoder, text: str, *args: Any) -> int:
        calls.append(len(text))
        return columns(self, text, *args)

    monkeypatch.setattr(EventDecoder, "_columns", counted)
    stream = b"id: 1\ndata: a\n\ndata: b\nid: 2\n\n" * 3000  # (> _SLICE)
    decoder = EventDecoder()
    assert len(decoder.feed(stream[:_SLICE])) + len(decoder.feed(stream[_SLICE:])) == 6000
    assert len(calls) == 2


def test_a_chunk_bigger_than_a_slice_is_fed_in_slices() -> None:
    stream = b"data: " + b"x" * (3 * _SLICE) + b"\n\n" + b"data: y\n\n" * 1000
    assert EventDecoder().feed(stream) == [
        ReceivedEvent(data="x" * (3 * _SLICE)),
        *[ReceivedEvent(data="y")] * 1000,
    ]


# -- sse_asgi.testing's client keeps a trickled line in linear work too ---------------------------


@pytest.mark.anyio
async def test_the_test_client_keeps_a_trickled_stream_in_linear_work() -> None:
    stream = SSETestStream()
    await stream._send({"type": "http.response.start", "status": 200, "headers": []})
    body = b": ping\n\ndata: " + b"x" * (4 << 20) + b"\n\n"
    chunks = [body[i : i + KIB] for i in range(0, len(body), KIB)]
    with Rises() as rises:
        for chunk in chunks:
            with rises.step():
                await stream._send({"type": "http.response.body", "body": chunk, "more_body": True})
    # A body kept as bytes and concatenated would copy all of it on every send.
    assert sum(rises) <= 16 * len(body) + 4 * KIB * len(chunks)
    await stream.wait_received(b"ping")  # found from the start of the body
    await stream.wait_received(b"x\n\n")
    [event] = await stream.events(1)
    assert len(event.data) == 4 << 20
    assert stream.received == body


@pytest.mark.anyio
async def test_wait_received_finds_a_fragment_split_across_sends() -> None:
    stream = SSETestStream()
    await stream._send({"type": "http.response.start", "status": 200, "headers": []})

    async def send_later() -> None:
        for piece in (b": pi", b"ng\n", b"\n"):
            await anyio.lowlevel.checkpoint()
            await stream._send({"type": "http.response.body", "body": piece, "more_body": True})

    async with anyio.create_task_group() as tg:
        tg.start_soon(send_later)
        with anyio.fail_after(5):
            await stream.wait_received(b": ping\n\n")


TRICKLED = b"data: " + b"x" * (4 << 20) + b"\n\n"
TRICKLED_CHUNKS = [TRICKLED[i : i + KIB] for i in range(0, len(TRICKLED), KIB)]
LINEAR = 16 * len(TRICKLED) + 1024 * len(TRICKLED_CHUNKS)  # what a quadratic decoder far exceeds


def test_iter_events_does_linear_work_on_a_trickled_line() -> None:
    with Rises() as rises:

        def source() -> Iterator[bytes]:
            for chunk in TRICKLED_CHUNKS:
                with rises.step():  # spans the decoding of this chunk
                    yield chunk

        events = list(iter_events(source()))
    assert [len(event.data) for event in events] == [4 << 20]
    assert sum(rises) <= LINEAR


@pytest.mark.anyio
async def test_aiter_events_does_linear_work_on_a_trickled_line() -> None:
    """Each chunk costs the event loop work bounded by the chunk, not by the line so far."""
    with Rises() as rises:

        async def source() -> AsyncIterator[bytes]:
            for chunk in TRICKLED_CHUNKS:
                with rises.step():
                    yield chunk

        events = [event async for event in aiter_events(source())]
    assert [len(event.data) for event in events] == [4 << 20]
    assert sum(rises) <= LINEAR
