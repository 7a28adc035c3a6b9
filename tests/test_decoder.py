"""EventDecoder against the WHATWG algorithm: every case whole, byte by byte, and in random splits."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable

import pytest

from sse_asgi import EventDecoder, ReceivedEvent, aiter_events, iter_events

E = ReceivedEvent


def feed_whole(stream: bytes, last_event_id: str = "") -> list[ReceivedEvent]:
    return EventDecoder(last_event_id).feed(stream)


def feed_bytewise(stream: bytes, last_event_id: str = "") -> list[ReceivedEvent]:
    decoder = EventDecoder(last_event_id)
    return [event for i in range(len(stream)) for event in decoder.feed(stream[i : i + 1])]


def feed_random(stream: bytes, seed: int, last_event_id: str = "") -> list[ReceivedEvent]:
    rng = random.Random(seed)
    decoder = EventDecoder(last_event_id)
    events: list[ReceivedEvent] = []
    i = 0
    while i < len(stream):
        j = i + rng.randint(0, 7)  # includes empty chunks
        events += decoder.feed(stream[i:j])
        i = j
    return events


def decode_every_way(stream: bytes) -> list[ReceivedEvent]:
    """Decode whole, byte by byte, in random splits and with an unfinished event appended;
    assert they all agree and return the result."""
    whole = feed_whole(stream)
    assert feed_bytewise(stream) == whole
    for seed in range(20):
        assert feed_random(stream, seed) == whole
    # Trailing data that never gets its blank line changes nothing.
    assert feed_whole(stream + b"data: never dispatched\nid: 99") == whole
    return whole


# The examples of WHATWG HTML section 9.2.6 (and 9.2.5), verbatim.
SPEC_EXAMPLES = [
    pytest.param(
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        [E(data="YHOO\n+2\n10")],
        id="stock-ticker",
    ),
    pytest.param(
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
        [E(data="first event", id="1"), E(data="second event", id=""), E(data=" third event")],
        id="four-blocks",
    ),
    pytest.param(
        b"data\n\ndata\ndata\n\ndata:",
        [E(data=""), E(data="\n")],
        id="empty-data-blocks",
    ),
    pytest.param(
        b"data:test\n\ndata: test\n\n",
        [E(data="test"), E(data="test")],
        id="space-after-colon",
    ),
    pytest.param(
        b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
        [
            E(event="add", data="73857293"),
            E(event="remove", data="2153"),
            E(event="add", data="113411"),
        ],
        id="event-types",
    ),
]


@pytest.mark.parametrize(("stream", "expected"), SPEC_EXAMPLES)
def test_spec_examples(stream: bytes, expected: list[ReceivedEvent]) -> None:
    assert decode_every_way(stream) == expected


CASES = [
    # line endings, and only the spec's three
    pytest.param(b"data: a\r\n\r\n", [E(data="a")], id="crlf"),
    pytest.param(b"data: a\r\r", [E(data="a")], id="cr"),
    pytest.param(b"data: a\rdata: b\r\ndata: c\n\n", [E(data="a\nb\nc")], id="mixed-endings"),
    pytest.param(b"data: a\r\n\r\ndata: b\n\n", [E(data="a"), E(data="b")], id="crlf-then-lf"),
    pytest.param(b"data: a\n\r\n", [E(data="a")], id="lf-then-crlf"),
    pytest.param(b"data: a\r\n\n", [E(data="a")], id="crlf-then-lf-blank"),
    pytest.param(b"data: a\n\r\r", [E(data="a")], id="blank-cr-then-cr"),
    pytest.param(
        "data: a\u2028b\x0bc\x0cd\x85e\x1cf\n\n".encode(),
        [E(data="a\u2028b\x0bc\x0cd\x85e\x1cf")],
        id="non-breaks-kept",
    ),
    # field parsing
    pytest.param(b"data:no-space\n\n", [E(data="no-space")], id="no-space"),
    pytest.param(b"data:  two\n\n", [E(data=" two")], id="only-one-space-stripped"),
    pytest.param(b"data:\ttab\n\n", [E(data="\ttab")], id="tab-not-stripped"),
    pytest.param(b"data: a:b: c\n\n", [E(data="a:b: c")], id="colons-in-value"),
    pytest.param(b"Data: x\nDATA: y\n\n", [], id="names-case-sensitive"),
    pytest.param(b"data : x\n\n", [], id="space-before-colon-is-another-name"),
    pytest.param(b"foo: bar\ndata: x\n\n", [E(data="x")], id="unknown-field-ignored"),
    pytest.param(b":comment\n: more\ndata: x\n:\n\n", [E(data="x")], id="comments"),
    pytest.param(b"data\n\n", [E(data="")], id="name-only-line"),
    pytest.param(b"data: \n\n", [E(data="")], id="empty-value"),
    pytest.param(b"data: a\ndata\ndata: b\n\n", [E(data="a\n\nb")], id="empty-line-in-middle"),
    pytest.param(
        b"data: a\n\n\n\n\ndata: b\n\n", [E(data="a"), E(data="b")], id="extra-blank-lines"
    ),
    # event type
    pytest.param(
        b"event: x\ndata: 1\n\ndata: 2\n\n", [E(event="x", data="1"), E(data="2")], id="type-resets"
    ),
    pytest.param(b"event: x\n\ndata: 1\n\n", [E(data="1")], id="type-reset-without-dispatch"),
    pytest.param(b"event:\ndata: 1\n\n", [E(data="1")], id="empty-type-is-message"),
    pytest.param(b"event: a\nevent: b\ndata: 1\n\n", [E(event="b", data="1")], id="last-type-wins"),
    pytest.param(b"event: a\0b\ndata: 1\n\n", [E(event="a\0b", data="1")], id="nul-in-type"),
    # id
    pytest.param(
        b"id: 1\ndata: a\n\ndata: b\n\n",
        [E(id="1", data="a"), E(id="1", data="b")],
        id="id-persists",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid\ndata: b\n\n",
        [E(id="1", data="a"), E(id="", data="b")],
        id="id-reset",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n",
        [E(id="1", data="a"), E(id="1", data="b")],
        id="id-with-nul-ignored",
    ),
    pytest.param(b"id: 5\n\ndata: a\n\n", [E(id="5", data="a")], id="id-only-block-commits"),
    pytest.param(b"data: a\nid: 3\n\n", [E(id="3", data="a")], id="id-after-data"),
    pytest.param(b"id:  x\ndata: a\n\n", [E(id=" x", data="a")], id="id-leading-space"),
    # retry
    pytest.param(
        b"retry: 5000\ndata: a\n\ndata: b\n\n",
        [E(data="a", retry=5000), E(data="b")],
        id="retry-per-block",
    ),
    pytest.param(b"retry: +5\ndata: a\n\n", [E(data="a")], id="retry-plus"),
    pytest.param(b"retry: -5\ndata: a\n\n", [E(data="a")], id="retry-minus"),
    pytest.param(b"retry: 5.0\ndata: a\n\n", [E(data="a")], id="retry-float"),
    pytest.param(b"retry:  5\ndata: a\n\n", [E(data="a")], id="retry-extra-space"),
    pytest.param(b"retry: 5 \ndata: a\n\n", [E(data="a")], id="retry-trailing-space"),
    pytest.param("retry: ٣\ndata: a\n\n".encode(), [E(data="a")], id="retry-arabic-digit"),
    pytest.param("retry: ³\ndata: a\n\n".encode(), [E(data="a")], id="retry-superscript"),
    pytest.param(b"retry:\ndata: a\n\n", [E(data="a")], id="retry-empty"),
    pytest.param(b"retry: 007\ndata: a\n\n", [E(data="a", retry=7)], id="retry-leading-zeros"),
    pytest.param(
        b"retry: 1\nretry: x\ndata: a\n\n", [E(data="a", retry=1)], id="retry-invalid-keeps-valid"
    ),
    # BOM and UTF-8
    pytest.param(b"\xef\xbb\xbfdata: a\n\n", [E(data="a")], id="bom-stripped"),
    pytest.param(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n", [], id="second-bom-is-content"),
    pytest.param(b"data: \xef\xbb\xbfa\n\n", [E(data="\ufeffa")], id="bom-later-is-content"),
    pytest.param(b"data: \xff\xfe\n\n", [E(data="\ufffd\ufffd")], id="invalid-utf8-replaced"),
    pytest.param(b"data: \xf0\x9f\x98\n\n", [E(data="\ufffd")], id="truncated-sequence-replaced"),
    pytest.param(
        b"data: \xed\xa0\x80\n\n", [E(data="\ufffd\ufffd\ufffd")], id="encoded-surrogate-replaced"
    ),
    pytest.param("data: 世界 😀\n\n".encode(), [E(data="世界 😀")], id="multibyte"),
    # unfinished trailing event
    pytest.param(b"data: a\n\ndata: b\n", [E(data="a")], id="unfinished-discarded"),
    pytest.param(b"data: a", [], id="unterminated-line"),
]


@pytest.mark.parametrize(("stream", "expected"), CASES)
def test_cases(stream: bytes, expected: list[ReceivedEvent]) -> None:
    assert decode_every_way(stream) == expected


def test_cr_lf_split_across_chunks_is_one_line_break() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []  # the LF of CRLF, not a blank line
    assert decoder.feed(b"\r") == [E(data="a")]
    assert decoder.feed(b"\n") == []  # again the LF of a CRLF
    assert decoder.feed(b"data: b\n\n") == [E(data="b")]


def test_cr_pending_survives_an_empty_chunk_and_a_partial_utf8_chunk() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n\r\ndata: \xe4") == [E(data="a")]
    assert decoder.feed(b"\xb8\x96\n\n") == [E(data="世")]


def test_bom_split_across_chunks() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"\xef") == []
    assert decoder.feed(b"\xbb") == []
    assert decoder.feed(b"\xbfdata: a\n\n") == [E(data="a")]


def test_last_event_id_and_retry_state() -> None:
    decoder = EventDecoder(last_event_id="start")
    assert decoder.last_event_id == "start"
    assert decoder.retry is None
    assert decoder.feed(b"data: a\n\n") == [E(data="a", id="start")]
    decoder.feed(b"id: 9\nretry: 100\n")
    assert decoder.last_event_id == "start"  # committed only at the blank line
    assert decoder.retry == 100  # the reconnection time takes effect at once
    assert decoder.feed(b"\n") == []  # nothing to dispatch, but the id is committed
    assert decoder.last_event_id == "9"
    decoder.feed(b"retry: nope\n\n")
    assert decoder.retry == 100


def test_iter_events_and_reconnection_id() -> None:
    events = list(iter_events([b"id: 1\ndata: a\n\nda", b"ta: b\n\n"], last_event_id="0"))
    assert events == [E(data="a", id="1"), E(data="b", id="1")]
    assert list(iter_events([b"data: x\n\n"], last_event_id="7")) == [E(data="x", id="7")]


@pytest.mark.anyio
async def test_aiter_events() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"event: t\nda", b'ta: {"n": 1}\n', b"\n"):
            yield chunk

    events = [event async for event in aiter_events(chunks())]
    assert events == [E(event="t", data='{"n": 1}')]
    assert events[0].json() == {"n": 1}


def test_received_event_is_an_immutable_record() -> None:
    event = E(data="x")
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.other = 1  # type: ignore[attr-defined]
    assert (event.event, event.id, event.retry) == ("message", "", None)
    assert repr(event) == "ReceivedEvent(data='x', event='message', id='', retry=None)"
    # Equal to the same event only, never to a plain tuple, and hashable.
    assert event == E("x", "message", "", None) == E(data="x")
    assert event != ("x", "message", "", None)
    assert ("x", "message", "", None) != event  # noqa: SIM300 (the tuple's side first)
    assert not (event == ("x", "message", "", None))  # noqa: SIM201 (== itself, not !=)
    assert event != E(data="x", id="1")
    assert len({event, E(data="x"), E(data="y")}) == 2
    assert event._replace(data="z") == E(data="z")
    assert E(data='{"a": [1]}').json() == {"a": [1]}
    # The decoder's own construction path makes equal events.
    assert EventDecoder().feed(b"data: x\n\n") == [event]
    assert EventDecoder().feed(b"event: t\nid: 3\nretry: 9\ndata: x\n\n") == [
        E(data="x", event="t", id="3", retry=9)
    ]


def test_mid_event() -> None:
    """Whether the stream is inside an event, for a client deciding what a drop lost."""
    decoder = EventDecoder()
    assert not decoder.mid_event
    decoder.feed(b": keep-alive\n")
    assert not decoder.mid_event  # a whole comment starts nothing
    decoder.feed(b":partial comm")
    assert not decoder.mid_event
    decoder.feed(b"ent\n")
    assert not decoder.mid_event
    decoder.feed(b"da")
    assert decoder.mid_event  # part of a line that is no comment
    decoder.feed(b"ta: x\n")
    assert decoder.mid_event
    decoder.feed(b"\n")
    assert not decoder.mid_event
    decoder.feed(b"id: 1\r")
    assert decoder.mid_event  # an id alone is part of an event too
    decoder.feed(b"\r")
    assert not decoder.mid_event
    assert decoder.last_event_id == "1"
    decoder.feed(b"unknown\n")
    assert decoder.mid_event  # any field line begins a block


class TestMaxEventSize:
    def test_overlong_line_drops_only_its_event(self) -> None:
        decoder = EventDecoder(max_event_size=100)
        stream = b"data: ok\n\n" + b"data: " + b"x" * 1000 + b"\nevent: bad\n\ndata: after\n\n"
        assert decoder.feed(stream) == [E(data="ok"), E(data="after")]
        assert decoder.dropped_events == 1

    def test_overlong_line_fed_in_pieces_is_never_buffered(self) -> None:
        decoder = EventDecoder(max_event_size=100)
        decoder.feed(b"data: ")
        for _ in range(1000):
            assert decoder.feed(b"y" * 64) == []
            assert len(decoder._line) <= 100 + 64  # bounded, whatever the line length
        assert decoder.feed(b"\ndata: still dropped\n\ndata: next\n\n") == [E(data="next")]
        assert decoder.dropped_events == 1

    def test_many_data_lines_are_capped_too(self) -> None:
        decoder = EventDecoder(max_event_size=100)
        events = decoder.feed(b"data: 0123456789\n" * 50 + b"\n" + b"data: fine\n\n")
        assert events == [E(data="fine")]
        assert sum(len(x) for x in decoder._data) == 0
        assert decoder.dropped_events == 1

    def test_events_at_the_limit_pass(self) -> None:
        decoder = EventDecoder(max_event_size=10)
        assert decoder.feed(b"data: 123456789\n\n") == [E(data="123456789")]
        assert decoder.dropped_events == 0

    def test_the_cap_counts_utf8_bytes(self) -> None:
        # "é" is 2 bytes of UTF-8; a data line counts its value + 1 (its LF).
        decoder = EventDecoder(max_event_size=10)
        events = decoder.feed("data: éééé\n\ndata: ééééé\n\n".encode())
        assert events == [E(data="éééé")]
        assert decoder.dropped_events == 1
        # An invalid byte becomes U+FFFD, 3 bytes of UTF-8.
        decoder = EventDecoder(max_event_size=10)
        assert decoder.feed(b"data: \xff\xff\xff\xff\n\ndata: \xff\xff\xff\n\n") == [
            E(data="\ufffd" * 3)
        ]
        assert decoder.dropped_events == 1

    def test_the_cap_covers_the_whole_block(self) -> None:
        # data + event + id values, plus one per line: 1+1 + 5+1 + 2+1 = 11.
        stream = b"data: a\nevent: typed\nid: 42\n\n"
        assert EventDecoder(max_event_size=11).feed(stream) == [E(data="a", event="typed", id="42")]
        decoder = EventDecoder(max_event_size=10)
        assert decoder.feed(stream + b"data: b\n\n") == [E(data="b")]
        assert (decoder.dropped_events, decoder.last_event_id) == (1, "")

    def test_id_and_retry_before_the_overflow_keep_their_effect(self) -> None:
        decoder = EventDecoder(max_event_size=20)
        events = decoder.feed(b"id: 7\nretry: 50\ndata: " + b"x" * 30 + b"\nid: 8\nretry: 60\n\n")
        assert events == []
        assert (decoder.last_event_id, decoder.retry, decoder.dropped_events) == ("7", 50, 1)

    def test_comments_and_unknown_fields_are_skipped_at_any_length(self) -> None:
        decoder = EventDecoder(max_event_size=16)
        for chunking in (1, 7, 10_000):
            stream = b": " + b"c" * 5000 + b"\nfoo: " + b"u" * 5000 + b"\ndata: kept\n\n"
            got = []
            for i in range(0, len(stream), chunking):
                got += decoder.feed(stream[i : i + chunking])
                assert len(decoder._line) <= 16 + 7
            assert got == [E(data="kept")]
        assert decoder.dropped_events == 0

    def test_a_negative_cap_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="max_event_size"):
            EventDecoder(max_event_size=-1)
        assert EventDecoder(max_event_size=0).feed(b"data\n\n: c\n\n") == []

    def test_iterators_take_the_cap(self) -> None:
        stream = [b"data: " + b"x" * 20 + b"\n\n", b"data: ok\n\n"]
        assert list(iter_events(stream, max_event_size=10)) == [E(data="ok")]

    @pytest.mark.anyio
    async def test_aiter_events_takes_the_cap(self) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"data: " + b"x" * 20 + b"\n\n"
            yield b"data: ok\n\n"

        events = aiter_events(chunks(), max_event_size=10)
        assert [event async for event in events] == [E(data="ok")]
        assert events.decoder.dropped_events == 1
        assert events.decoder.max_event_size == 10

    def test_the_default_cap_applies_and_is_the_documented_one(self) -> None:
        """Without ``max_event_size``, the decoder and the iterators drop an event just
        over DEFAULT_MAX_EVENT_SIZE and keep one well under it; the docstring's figure is it."""
        from sse_asgi._decoder import DEFAULT_MAX_EVENT_SIZE

        too_big = b"data: " + b"x" * DEFAULT_MAX_EVENT_SIZE + b"\n\n"
        fits = b"data: " + b"y" * (DEFAULT_MAX_EVENT_SIZE // 2) + b"\n\n"
        decoder = EventDecoder()
        events = decoder.feed(too_big + fits)
        assert [len(event.data) for event in events] == [DEFAULT_MAX_EVENT_SIZE // 2]
        assert decoder.dropped_events == 1
        events = list(iter_events([too_big, fits]))
        assert [len(event.data) for event in events] == [DEFAULT_MAX_EVENT_SIZE // 2]
        documented = f"``max_event_size`` (bytes, default {DEFAULT_MAX_EVENT_SIZE // 2**20} MiB)"
        assert documented in " ".join((EventDecoder.__doc__ or "").split())


def _streams() -> Iterable[bytes]:
    for param in [*SPEC_EXAMPLES, *CASES]:
        yield param.values[0]  # type: ignore[misc]


def test_concatenated_cases_decode_consistently() -> None:
    stream = b"\n\n".join(_streams()) + b"\n\n"
    decode_every_way(stream)


@pytest.mark.anyio
async def test_aiter_events_closes_its_source_when_left_early() -> None:
    closed = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"data: x\n\n"
        finally:
            closed.append(True)

    events = aiter_events(chunks())
    async for event in events:
        assert event.data == "x"
        break
    await events.aclose()
    assert closed == [True]
    assert events.decoder.last_event_id == ""


# Streams with an id on every event, as resumable streams (ours included) send them: after
# its first block, a text of such blocks is read a column at a time (EventDecoder._columns),
# and the first lines of a block that ends in the next chunk are held until then.
RESUMABLE_CASES = [
    pytest.param(
        b"id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n",
        [E(id="1", data="a"), E(id="2", data="b"), E(id="3", data="c")],
        id="id-then-data",
    ),
    pytest.param(
        b"event: t\ndata: a\nid: 1\n\nevent: t\ndata: b\nid: 2\n\nevent: u\ndata: c\nid: 3\n\n",
        [
            E(event="t", data="a", id="1"),
            E(event="t", data="b", id="2"),
            E(event="u", data="c", id="3"),
        ],
        id="our-order-event-data-id",
    ),
    pytest.param(
        b"id: 1\r\nevent: t\r\ndata: a\r\n\r\nid: 2\r\nevent: t\r\ndata: b\r\n\r\n",
        [E(id="1", event="t", data="a"), E(id="2", event="t", data="b")],
        id="crlf",
    ),
    pytest.param(
        b"id: 1\rdata: a\r\rid: 2\rdata: b\r\r", [E(id="1", data="a"), E(id="2", data="b")], id="cr"
    ),
    pytest.param(
        b"\xef\xbb\xbfid: 1\ndata: a\n\nid: 2\ndata: b\n\n",
        [E(id="1", data="a"), E(id="2", data="b")],
        id="bom",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\nid: 3\ndata: c\n\n",
        [E(id="1", data="a"), E(id="1", data="b"), E(id="3", data="c")],
        id="id-with-nul-ignored",
    ),
    pytest.param(
        b"id: 1\nid: 2\0\ndata: a\n\nid: 3\nid: 4\ndata: b\n\n",
        [E(id="1", data="a"), E(id="4", data="b")],
        id="last-id-line-wins-unless-nul",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid: \ndata: b\n\nid\ndata: c\n\nid: 4\ndata: d\n\n",
        [E(id="1", data="a"), E(id="", data="b"), E(id="", data="c"), E(id="4", data="d")],
        id="empty-id-clears",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid: 2\n\ndata: b\n\nid: 3\nevent: x\n\ndata: c\n\n",
        [E(id="1", data="a"), E(id="2", data="b"), E(id="3", data="c")],
        id="id-without-data-commits-without-dispatching",
    ),
    pytest.param(
        b"event: \ndata: a\nid: 1\n\nevent: x\ndata: b\nid: 2\n\nevent: \ndata: c\nid: 3\n\n",
        [E(data="a", id="1"), E(event="x", data="b", id="2"), E(data="c", id="3")],
        id="empty-type-is-message",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\ndata: b\nid: 2\n\nid: 3\ndata: c\n\nid: 4\ndata: d\n\n",
        [E(id="1", data="a"), E(id="2", data="b"), E(id="3", data="c"), E(id="4", data="d")],
        id="shape-changes",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid: 2\ndata: b\ndata: c\n\nid: 3\n: note\ndata: d\n\nid: 4\ndata:e\n\n",
        [E(id="1", data="a"), E(id="2", data="b\nc"), E(id="3", data="d"), E(id="4", data="e")],
        id="other-blocks-between",
    ),
    pytest.param(
        b"id: 1\r\ndata: a\r\n\r\nid: 2\r\ndata: b\nc\r\n\r\nid: 3\r\ndata: d\re\r\n\r\n",
        [E(id="1", data="a"), E(id="2", data="b"), E(id="3", data="d")],
        id="lone-lf-and-cr-in-crlf",
    ),
    pytest.param(
        b"id: 1\r\ndata: a\r\n\r\nid: 2\r\ndata: b\n\nid: 3\r\ndata: c\r\r",
        [E(id="1", data="a"), E(id="2", data="b"), E(id="3", data="c")],
        id="blank-lines-of-other-styles",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid: 2\nretry: 50\ndata: b\n\nid: 3\ndata: c\n\n",
        [E(id="1", data="a"), E(id="2", data="b", retry=50), E(id="3", data="c")],
        id="retry-between",
    ),
    pytest.param(
        "id: é1\ndata: 世界\n\nid: 😀\ndata: ".encode() + b"\xff\n\n",
        [E(id="é1", data="世界"), E(id="😀", data="\ufffd")],
        id="non-ascii-and-invalid",
    ),
]


@pytest.mark.parametrize(("stream", "expected"), RESUMABLE_CASES)
def test_resumable_cases(stream: bytes, expected: list[ReceivedEvent]) -> None:
    assert decode_every_way(stream) == expected


def test_blank_lines_of_another_style_after_resumable_blocks_start_no_event() -> None:
    for tail in (b"\n", b"\r", b"\n\n\r", b": c\n"):
        decoder = EventDecoder()
        stream = b"id: 1\r\ndata: a\r\n\r\nid: 2\r\ndata: b\r\n\r\n" + tail
        assert decoder.feed(stream) == [E(id="1", data="a"), E(id="2", data="b")]
        assert not decoder.mid_event, tail


def test_an_id_split_across_chunks() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n\nid: 4") == [E(id="1", data="a")]
    assert decoder.mid_event
    assert decoder.feed(b"2\ndata: b\n") == []
    assert decoder.mid_event
    assert decoder.last_event_id == "1"  # committed only at the blank line
    assert decoder.feed(b"\nid: 43\ndata: c\n\n") == [E(id="42", data="b"), E(id="43", data="c")]
    assert decoder.last_event_id == "43"


def test_an_id_only_block_sets_the_last_event_id_between_feeds() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n\nid: 2\n") == [E(id="1", data="a")]
    assert (decoder.last_event_id, decoder.mid_event) == ("1", True)
    assert decoder.feed(b"\n") == []
    assert (decoder.last_event_id, decoder.mid_event) == ("2", False)


def test_a_retry_line_takes_effect_in_its_own_feed() -> None:
    decoder = EventDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n\nid: 2\nretry: 70\n") == [E(id="1", data="a")]
    assert decoder.retry == 70
