"""EventDecoder against the plain transcription of the spec (tests/spec_oracle.py), fuzzed.

Random streams x random chunkings x random limits: after every chunk, the
events so far, ``last_event_id``, ``retry``, ``dropped_events`` and
``mid_event`` must be what the oracle says for the bytes received so far.
"""

from __future__ import annotations

import functools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sse_asgi import EventDecoder, ReceivedEvent
from sse_asgi._decoder import _HOLD, DEFAULT_MAX_EVENT_SIZE, MAX_RETRY_DIGITS

from . import spec_oracle
from .test_decoder import CASES, RESUMABLE_CASES, SPEC_EXAMPLES

# Pieces that make streams interesting: field names with and without colon and
# space, every line end, the BOM, invalid and cut-off UTF-8, NUL, digits for
# retry, and names that are almost right.
TOKENS = [
    b"data",
    b"data:",
    b"data: ",
    b"event:",
    b"event: ",
    b"id:",
    b"id: ",
    b"id",
    b"retry:",
    b"retry: ",
    b":",
    b": ",
    b" ",
    b"x",
    b"yz",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\r\r",
    b"\r\n\r\n",
    b"\r\r\n\r\n",
    b"\xef\xbb\xbf",
    b"\xef\xbb",
    b"\xff",
    b"\xe4\xb8",
    b"\xe4\xb8\x96",
    b"\xf0\x9f\x98\x80",
    b"\xed\xa0\x80",
    b"\xc3\xa9",
    b"\0",
    b"5",
    b"007",
    b"+5",
    b"\xd9\xa3",  # ARABIC-INDIC DIGIT THREE
    b"Data",
    b"foo",
    b"\xe2\x80\xa8",  # U+2028, not a line end
]
streams = st.lists(
    st.one_of(
        st.sampled_from(TOKENS),
        st.binary(max_size=6),
        st.integers(1, 60).map(lambda n: b"v" * n),  # values long enough to hit small caps
    ),
    max_size=40,
).map(b"".join)
limits = st.one_of(st.none(), st.integers(0, 48))

# Streams shaped like real ones, so that every fast path meets its edge cases:
# field lines with the usual and unusual spellings, values holding stray line
# ends, NUL, non-ASCII and invalid bytes, blank lines, one line-end style per
# stream with some others mixed in.
NAMES = [b"data", b"event", b"id", b"retry", b"Data", b"dat", b"", b"x"]
VALUE_PIECES = [
    b"v",
    b"w",
    b"5",
    b"0",
    b" ",
    b":",
    b"\r",
    b"\n",
    b"\0",
    b"\xc3\xa9",
    b"\xff",
    b"\xf0\x9f\x98\x80",
]
values = st.lists(st.sampled_from(VALUE_PIECES), max_size=5).map(b"".join)


@st.composite
def sse_lines(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(NAMES))
    separator = draw(st.sampled_from([b": ", b":", b"", b":  "]))
    if separator == b"":
        return name
    return name + separator + draw(values)


@st.composite
def sse_streams(draw: st.DrawFn) -> bytes:
    usual_end = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    ends = st.one_of(st.just(usual_end), st.sampled_from([b"\n", b"\r\n", b"\r"]))
    items = draw(
        st.lists(
            st.one_of(
                sse_lines(),
                st.just(b""),
                st.sampled_from(
                    [
                        b": ping",
                        b"data: v",
                        b"data:",
                        b"event: ",
                        b"event: t",
                        b"id: 1",
                        b"retry: 5",
                    ]
                ),
            ),
            max_size=25,
        )
    )
    stream = b"".join(item + draw(ends) for item in items)
    if draw(st.booleans()):
        stream += draw(sse_lines())  # an unfinished last line
    if draw(st.booleans()):
        stream = b"\xef\xbb\xbf" + stream
    return stream


def observe(decoder: EventDecoder, events: list[ReceivedEvent]) -> tuple[object, ...]:
    return (
        [(e.event, e.data, e.id, e.retry) for e in events],
        decoder.last_event_id,
        decoder.retry,
        decoder.dropped_events,
        decoder.mid_event,
    )


def expect(stream: bytes, last_event_id: str, limit: int | None) -> tuple[object, ...]:
    result = spec_oracle.parse(
        stream,
        last_event_id=last_event_id,
        max_event_size=DEFAULT_MAX_EVENT_SIZE if limit is None else limit,
    )
    return (
        [(e.type, e.data, e.last_event_id, e.retry) for e in result.events],
        result.last_event_id_string,
        result.reconnection_time,
        result.dropped_events,
        result.mid_event,
    )


def check(stream: bytes, cuts: list[int], last_event_id: str, limit: int | None) -> None:
    decoder = (
        EventDecoder(last_event_id)
        if limit is None
        else EventDecoder(last_event_id, max_event_size=limit)
    )
    events: list[ReceivedEvent] = []
    points = sorted({min(c, len(stream)) for c in cuts} | {len(stream)})
    start = 0
    for end in points:
        events += decoder.feed(stream[start:end])
        start = end
        # The memory bound: an unfinished line is never kept past the cap + 7,
        # and no event returned is as large as the cap.
        assert len(decoder._line) <= decoder.max_event_size + 7
        assert len(decoder._held) <= _HOLD  # (the first lines of a block, not interpreted yet)
        assert all(len(event.data.encode()) < decoder.max_event_size for event in events)
        assert observe(decoder, events) == expect(stream[:end], last_event_id, limit), stream[:end]


@settings(max_examples=1500)
@given(
    streams,
    st.lists(st.integers(0, 400), max_size=12),
    st.sampled_from(["", "seed"]),
    limits,
)
@example(b"data: a\r", [8], "", None)
@example(b"data: a\r\n\r\nid: 1\r\r\n\r\ndata: b\r\n\r\n", [], "", None)
@example(b"\xef\xbb\xbfdata: a\n\n", [1, 2], "", None)
@example(b"data: " + b"v" * 40 + b"\ndata: b\n\nid: 3\n\n", [3, 9, 30], "", 8)
@example(b":" + b"v" * 40 + b"\ndata: b\n\n", [3, 9, 30], "", 8)
@example(b"foo" + b"v" * 40 + b"\r\ndata: b\r\n\r\n", [3, 9, 30, 44], "", 8)
@example(b"id: 1\ndata: " + b"v" * 40 + b"\nid: 2\nretry: 5\n\n", [5, 20], "", 8)
def test_decoder_matches_the_spec_oracle(
    stream: bytes, cuts: list[int], last_event_id: str, limit: int | None
) -> None:
    check(stream, cuts, last_event_id, limit)


# Streams around the cap's edges, for the exhaustive sweep below.
EDGE_STREAMS = [
    b"data:\n\ndata: v\n\ndata: vv\n\ndata: vvv\n\n",
    b"data: vvvv\ndata\n\nevent: vvv\ndata: v\n\n",
    b"id: vvvvv\n\nretry: 12\n\nid: 1\ndata: v\n\n",
    b"idvvvvvvvvvvvvvvvvvvvv\ndata: v\n\n",
    b"datavvvvvvvvvvvvvvvvvv\r\ndata: v\r\n\r\n",
    b":vvvvvvvvvvvvvvvvvvvvv\rdata: v\r\r",
    b"data: \xe4\xb8\x96\xff\n\ndata: \xf0\x9f\x98\x80\n\n",
    b"\xef\xbb\xbfdata: vvvvvvvvvvvvvvvvvvvvvvvvv\nid: 2\n\ndata: v\n\n",
    # the one-line fast path's edges: an empty event type, lone line ends in CRLF text
    b"event: \ndata: v\n\nevent: t\ndata:v\n\ndata: w\n\n",
    b"data: a\n\nevent:xy\ndata: d\n\nevent: t\ndata: e\n\nevent: u\nid: 1\ndata: f\n\n",
    b"data: a\r\n\r\nevent:xy\r\ndata: d\r\n\r\nevent: t\r\ndata: e\r\n\r\n",
    b"event: a\nb\r\ndata: x\r\n\r\ndata: y\nz\r\n\r\nevent: e\r\ndata: f\r\n\r\n",
]


@pytest.mark.parametrize("stream", EDGE_STREAMS)
def test_every_cap_and_every_cut(stream: bytes) -> None:
    """Every limit from 0 to past the stream, each with every single cut and byte by byte."""
    for limit in [None, *range(len(stream) + 2)]:
        check(stream, list(range(len(stream))), "", limit)
        for cut in range(len(stream) + 1):
            check(stream, [cut], "", limit)


@settings(max_examples=1500)
@given(
    sse_streams(),
    st.lists(st.integers(0, 400), max_size=8),
    st.sampled_from(["", "seed"]),
    limits,
)
def test_sse_shaped_streams_match_the_spec_oracle(
    stream: bytes, cuts: list[int], last_event_id: str, limit: int | None
) -> None:
    check(stream, cuts, last_event_id, limit)


@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=12), limits)
def test_any_bytes_match_the_spec_oracle(stream: bytes, cuts: list[int], limit: int | None) -> None:
    check(stream, cuts, "", limit)


@given(streams, st.integers(1, 7), limits)
def test_small_fixed_chunks_match_the_spec_oracle(
    stream: bytes, size: int, limit: int | None
) -> None:
    check(stream, list(range(0, len(stream), size)), "", limit)


@given(st.binary(max_size=200))
@example(b"\xf0\x9f\x98")
@example(b"\xe0\x80\x80\xed\xbf\xbf\xf4\x90\x80\x80\xc0\xaf")
def test_pythons_utf8_codec_is_the_encoding_standards_decoder(data: bytes) -> None:
    # A leading "x" keeps a BOM in data from being stripped, as Python does not.
    assert spec_oracle.utf8_decode(b"x" + data) == "x" + data.decode("utf-8", "replace")


def test_the_oracle_agrees_with_every_hand_written_case() -> None:
    """The oracle is itself checked against the expectations written out in test_decoder."""
    for param in [*SPEC_EXAMPLES, *CASES, *RESUMABLE_CASES]:
        stream, expected = param.values
        assert isinstance(stream, bytes)
        assert isinstance(expected, list)
        got = spec_oracle.parse(stream).events
        assert [(e.type, e.data, e.last_event_id, e.retry) for e in got] == [
            (e.event, e.data, e.id, e.retry) for e in expected
        ], param.id


def test_huge_retry_values() -> None:
    """More than MAX_RETRY_DIGITS significant digits: ignored (not quadratic, never raising)."""
    zeros = b"0" * 10_000
    for stream, retry in [
        (b"retry: " + zeros + b"5\n\n", 5),
        (b"retry: " + b"9" * MAX_RETRY_DIGITS + b"\n\n", int("9" * MAX_RETRY_DIGITS)),
        (b"retry: 7\n\nretry: 1" + b"0" * MAX_RETRY_DIGITS + b"\n\n", 7),
        (b"retry: 7\n\nretry: 1" + b"0" * 1_000_000 + b"\n\n", 7),
    ]:
        decoder = EventDecoder()
        decoder.feed(stream)
        assert decoder.retry == retry
        assert spec_oracle.parse(stream).reconnection_time == retry


# Streams big enough for the paths small streams never take: lines longer than
# a slice (decoded straight from their bytes), blocks longer than a piece
# (split a piece at a time), chunks longer than a slice (fed in slices).
LONG = 70_000  # > _SLICE
BIG_STREAMS = {
    "long data line": b"data: " + b"x" * LONG + b"\n\ndata: after\n\n",
    "long line, CRLF, then more": b"id: 1\r\ndata: "
    + b"y" * LONG
    + b"\r\ndata: z\r\n\r\nid: 2\r\n\r\n",
    "long non-ASCII and invalid": b"data: " + "é😀".encode() * (LONG // 6) + b"\xff\xe4\xb8\n\n",
    "long event type and id": b"event: " + b"e" * LONG + b"\nid: " + b"i" * LONG + b"\ndata: d\n\n",
    "long id with NUL, long retry": b"id: a\0"
    + b"b" * LONG
    + b"\nretry: "
    + b"0" * LONG
    + b"7\ndata: d\n\n",
    "long comment and unknown field": b":"
    + b"c" * LONG
    + b"\nfoo"
    + b"u" * LONG
    + b"\ndata: d\n\n",
    "long unknown fields with a colon": b"abc: "
    + b"1" * LONG
    + b"\nData: "
    + b"2" * LONG
    + b"\n\n",
    "many short lines in one block": b"data: ab\n" * 5000
    + b"event: t\n"
    + b"data\n" * 3000
    + b"\n",
    "lone CRs inside a long block": (b"data: a\r\r" * 3000)
    + b"data: b\n"
    + b"id: 3\r\n" * 3000
    + b"\n",
    "many short events": b"".join(b"id: %d\ndata: v%d\n\n" % (i, i) for i in range(8000)),
}


@pytest.mark.parametrize("size", [1000, 4096, 65536, 300_000])
@pytest.mark.parametrize("limit", [None, 100_000])
@pytest.mark.parametrize("name", list(BIG_STREAMS))
def test_big_streams_match_the_spec_oracle(name: str, limit: int | None, size: int) -> None:
    stream = BIG_STREAMS[name]
    decoder = EventDecoder() if limit is None else EventDecoder(max_event_size=limit)
    events: list[ReceivedEvent] = []
    for start in range(0, len(stream), size):
        events += decoder.feed(stream[start : start + size])
    assert observe(decoder, events) == expect_big(name, limit)


@functools.cache
def expect_big(name: str, limit: int | None) -> tuple[object, ...]:
    return expect(BIG_STREAMS[name], "", limit)  # (the oracle is slow: once per stream)


# -- streams with an id on every event: the column path and held block starts ---------------------


@pytest.mark.parametrize(
    "stream", [p.values[0] for p in RESUMABLE_CASES], ids=[p.id for p in RESUMABLE_CASES]
)
@pytest.mark.parametrize("limit", [None, 4, 12])
def test_resumable_streams_in_every_chunking(stream: bytes, limit: int | None) -> None:
    """Each case three times over (many blocks in one text: the column path), fed in
    chunks of every size up to the whole (the first lines of a block held between
    feeds), compared with the oracle after every chunk."""
    stream = stream * 3
    for size in range(1, len(stream) + 1):
        check(stream, list(range(0, len(stream), size)), "", limit)
        check(stream, list(range(size % 5, len(stream), size)), "seed", limit)


def id_block(draw: st.DrawFn, shape: list[bytes], end: bytes) -> bytes:
    """One block of ``shape``'s lines, their values drawn, now and then made unusual."""
    lines = []
    for name in shape:
        value = draw(
            st.sampled_from([b"1", b"42", b"", b"v", b"\xc3\xa9", b"a\0b", b" x", b"\r", b"\n"])
        )
        if draw(st.integers(0, 9)) == 0:  # another spelling, or another line
            lines.append(
                draw(st.sampled_from([name + b":" + value, name, b": c", b"retry: 5", b"data: 2"]))
            )
        else:
            lines.append(name + b": " + value)
    if draw(st.integers(0, 14)) == 0:
        end = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))  # a line end of another style
    return b"".join(line + end for line in lines) + end


@st.composite
def resumable_streams(draw: st.DrawFn) -> bytes:
    shape = draw(
        st.sampled_from(
            [
                [b"id", b"data"],
                [b"data", b"id"],
                [b"event", b"data", b"id"],
                [b"id", b"event", b"data"],
                [b"id", b"id", b"data"],
                [b"id"],
            ]
        )
    )
    end = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    blocks = draw(st.integers(1, 12))
    extras = st.sampled_from([b"", b"", b"", b"\n", b"\r", b"\r\n", b": c" + end])  # between blocks
    stream = b"".join(id_block(draw, shape, end) + draw(extras) for _ in range(blocks))
    if draw(st.booleans()):
        stream = b"\xef\xbb\xbf" + stream
    return stream


@settings(max_examples=1500)
@given(
    resumable_streams(),
    st.lists(st.integers(0, 400), max_size=8),
    st.sampled_from(["", "seed"]),
    limits,
)
def test_resumable_streams_match_the_spec_oracle(
    stream: bytes, cuts: list[int], last_event_id: str, limit: int | None
) -> None:
    check(stream, cuts, last_event_id, limit)
