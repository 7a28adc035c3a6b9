"""Hypothesis properties of the wire format: round-trip, no injection, total decoder."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from sse_asgi import EventDecoder, ServerSentEvent

# Any Unicode scalar value that UTF-8 can encode (no lone surrogates), with the
# troublemakers drawn often: the three line breaks, NUL, characters other
# parsers wrongly treat as breaks, spaces and colons.
TRICKY = ["\r", "\n", "\r\n", "\0", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", " ", ":", "\ufeff"]
text = st.lists(
    st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=["Cs"])),
    max_size=30,
).map("".join)
one_line = text.map(lambda s: s.replace("\r", "").replace("\n", ""))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=10,
)


def normalize_breaks(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n")


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    payload = draw(st.sampled_from(["data", "raw_data", None]))
    if payload == "data":
        kwargs["data"] = draw(json_values.filter(lambda v: v is not None))
    elif payload == "raw_data":
        kwargs["raw_data"] = draw(text)
    if draw(st.booleans()):
        kwargs["event"] = draw(one_line)
    if draw(st.booleans()):
        kwargs["id"] = draw(one_line.map(lambda s: s.replace("\0", "")))
    if draw(st.booleans()):
        kwargs["retry"] = draw(st.integers(0, 2**40))
    if draw(st.booleans()):
        kwargs["comment"] = draw(text)
    return kwargs


@given(st.lists(events(), max_size=6), st.data())
def test_encode_then_decode_round_trips(
    kwargs_list: list[dict[str, Any]], data: st.DataObject
) -> None:
    """(a) What a spec decoder sees is exactly what was sent, for any fields and any chunking."""
    stream = b"".join(ServerSentEvent(**kwargs).encode() for kwargs in kwargs_list)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = EventDecoder()
    received = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=False):
        received += decoder.feed(stream[start:end])

    expected = []
    last_id = ""
    last_retry = None
    for kwargs in kwargs_list:
        if "id" in kwargs:
            last_id = kwargs["id"]
        if "retry" in kwargs:
            last_retry = kwargs["retry"]
        if "data" in kwargs:
            payload = orjson.dumps(kwargs["data"]).decode()
        elif "raw_data" in kwargs:
            payload = normalize_breaks(kwargs["raw_data"])
        else:
            continue  # no data: nothing is dispatched, but id and retry still apply
        expected.append((kwargs.get("event") or "message", payload, last_id, kwargs.get("retry")))
    assert [(e.event, e.data, e.id, e.retry) for e in received] == expected
    for event, kwargs in zip(
        received, [k for k in kwargs_list if "data" in k or "raw_data" in k], strict=False
    ):
        if "data" in kwargs:
            assert event.json() == orjson.loads(orjson.dumps(kwargs["data"]))
    assert decoder.last_event_id == last_id
    assert decoder.retry == last_retry


@given(text, text)
@example("x\n\nevent: evil\nid: 666\nretry: 1\ndata: injected\n\n", "\r\n\r\nid: 1\n\n")
@example("\r\rdata: a\r\r", ":\n\n:")
def test_no_text_can_inject_events_or_fields(raw: str, comment: str) -> None:
    """(b) raw_data and comment yield exactly the one event they belong to, untouched."""
    decoder = EventDecoder()
    events = decoder.feed(ServerSentEvent(raw_data=raw, comment=comment).encode())
    assert len(events) == 1
    assert (events[0].event, events[0].id, events[0].retry) == ("message", "", None)
    assert events[0].data == normalize_breaks(raw)
    assert (decoder.last_event_id, decoder.retry) == ("", None)

    decoder = EventDecoder()
    assert decoder.feed(ServerSentEvent(comment=comment).encode()) == []
    assert decoder.feed(ServerSentEvent(comment=raw).encode()) == []
    assert (decoder.last_event_id, decoder.retry) == ("", None)


@given(one_line, one_line, text)
def test_event_and_id_cannot_inject(event: str, id: str, raw: str) -> None:
    id = id.replace("\0", "")
    events = EventDecoder().feed(ServerSentEvent(event=event, id=id, raw_data=raw).encode())
    assert [(e.event, e.id, e.data) for e in events] == [
        (event or "message", id, normalize_breaks(raw))
    ]


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=10))
def test_decoder_never_raises_and_ignores_chunking(stream: bytes, cuts: list[int]) -> None:
    """(c) Any bytes, any chunking: no exception, and the same events as one whole feed."""
    whole = EventDecoder().feed(stream)
    decoder = EventDecoder()
    pieces = []
    points = sorted(c for c in cuts if c <= len(stream))
    for start, end in zip([0, *points], [*points, len(stream)], strict=False):
        pieces += decoder.feed(stream[start:end])
    assert pieces == whole


field_lines = st.lists(
    st.sampled_from(
        [
            b"data: x",
            b"data",
            b"data:",
            b"event: e",
            b"id: 1",
            b"id",
            b"retry: 10",
            b"retry: x",
            b":c",
            b"",
            b"\xef\xbb\xbf",
            b"\xff",
            b"\xe4\xb8",
            b"\x96",
            b"Data: y",
            b"id: \x00",
        ]
    ),
    max_size=40,
)
line_ends = st.sampled_from([b"\n", b"\r", b"\r\n"])


@given(field_lines, st.lists(line_ends, min_size=40, max_size=40), st.integers(1, 9))
def test_sse_shaped_input_never_raises_and_ignores_chunking(
    lines: list[bytes], ends: list[bytes], size: int
) -> None:
    stream = b"".join(line + end for line, end in zip(lines, ends, strict=False))
    whole = EventDecoder().feed(stream)
    decoder = EventDecoder(max_event_size=8)
    small = decoder.feed(stream)  # a tiny cap must not raise either
    assert len(small) <= len(whole)
    chunked = EventDecoder()
    got = []
    for i in range(0, len(stream), size):
        got += chunked.feed(stream[i : i + size])
    assert got == whole
