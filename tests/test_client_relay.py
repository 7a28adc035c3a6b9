"""Relaying: ``event_from_received`` (property-tested) and ``examples/relay.py`` end to end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from examples import relay
from sse_asgi import EventDecoder, ReceivedEvent, ServerSentEvent, event_from_received
from sse_asgi.testing import connect

from .client_app import requests_seen, scenario_url, serve, server_stats
from .servers import RunningServer, run_server

# -- the conversion ------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"))
FIELD = st.one_of(
    st.tuples(st.just("data"), TEXT),
    st.tuples(st.just("event"), TEXT),
    st.tuples(st.just("id"), TEXT),  # NUL included: such an id field is ignored
    st.tuples(st.just("retry"), st.from_regex(r"[0-9]{1,6}", fullmatch=True)),
    st.tuples(st.just(""), TEXT),  # a comment
)
BLOCKS = st.lists(st.lists(FIELD, max_size=5), max_size=8)


def wire(blocks: list[list[tuple[str, str]]]) -> bytes:
    return b"".join(
        "".join(f"{name}:{value}\n" for name, value in block).encode() + b"\n" for block in blocks
    )


def relayed(events: list[ReceivedEvent], last_event_id: str | None) -> bytes:
    out = []
    for event in events:
        out.append(event_from_received(event, last_event_id=last_event_id).encode())
        if last_event_id is not None:
            last_event_id = event.id
    return b"".join(out)


def fields(events: list[ReceivedEvent]) -> list[tuple[str, str, str, int | None]]:
    return [(e.event, e.data, e.id, e.retry) for e in events]


@given(BLOCKS, TEXT.filter(lambda t: "\0" not in t))
def test_the_receiver_of_a_relay_sees_the_same_events(
    blocks: list[list[tuple[str, str]]], resume: str
) -> None:
    upstream = EventDecoder(resume).feed(wire(blocks))
    # Tracking the id the receiver has (it connected with `resume`)...
    downstream = EventDecoder(resume).feed(relayed(upstream, resume))
    assert fields(downstream) == fields(upstream)
    # ... or sending every id: then whatever id the receiver had does not matter.
    downstream = EventDecoder("another id").feed(relayed(upstream, None))
    assert fields(downstream) == fields(upstream)


def test_the_fields_of_a_relayed_event() -> None:
    [a, b, c] = EventDecoder().feed(
        b"event: message\nid: 1\ndata: x\n\n"
        b"event: update\nretry: 50\ndata:\ndata:  two\ndata:\n\n"
        b"id\ndata: cleared\n\n"
    )
    assert event_from_received(a) == ServerSentEvent(raw_data="x", id="1")
    assert event_from_received(b, last_event_id="1").encode() == (
        b"event: update\ndata: \ndata:  two\ndata: \nretry: 50\n\n"
    )
    assert event_from_received(c, last_event_id="1").encode() == b"data: cleared\nid: \n\n"
    assert event_from_received(c, last_event_id="").encode() == b"data: cleared\n\n"


# -- examples/relay.py --------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(tmp_path_factory.mktemp("relay-upstream")) as running:
        yield running


def upstream(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setattr(relay, "UPSTREAM_URL", url)


@pytest.mark.anyio
async def test_relay_forwards_every_event_and_the_upstream_reconnections(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, key = scenario_url(server, "resume")
    upstream(monkeypatch, url)
    with anyio.fail_after(10):
        async with connect(relay.app, "/") as stream:
            events = [event async for event in stream]
            assert stream.status == 200
    assert fields(events) == [
        ("message", "one", "1", 20),  # the upstream's retry reaches the browser too
        ("update", "two", "2", None),
        ("message", "three", "2", 20),  # "id: 2" is not sent again
        ("message", "four\nlines", "3", 20),
    ]
    assert stream.received.count(b"id: 2\n") == 1
    # The relay reconnected upstream twice (then got the 204), the browser never.
    assert [r["last_event_id"] for r in requests_seen(server, key)] == [None, "2", "3"]


@pytest.mark.anyio
async def test_relay_passes_last_event_id_upstream(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, key = scenario_url(server, "clear_id")
    upstream(monkeypatch, url)
    with anyio.fail_after(10):
        async with connect(relay.app, "/", last_event_id="4") as stream:
            events = [event async for event in stream]
    assert requests_seen(server, key)[0]["last_event_id"] == "4"
    assert [(e.data, e.id) for e in events] == [("a", "5"), ("b", ""), ("c", "")]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_upstream_is_closed_when_the_browser_leaves(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    url, key = scenario_url(server, "endless")
    upstream(monkeypatch, url)

    async def browse_and_leave() -> list[str]:
        with anyio.fail_after(10):
            async with connect(relay.app, "/") as stream:
                return [e.data for e in await stream.events(2)]

    assert anyio.run(browse_and_leave, backend=backend) == ["one", "two"]
    # The upstream server saw its client leave (another process: poll it).
    deadline = time.monotonic() + 5
    while server_stats(server, key, "disconnects") != 1:
        assert time.monotonic() < deadline, "the upstream request was not closed"
        time.sleep(0.02)
    assert len(requests_seen(server, key)) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(("scenario", "status"), [("immediate_204", 204), ("status_500", 502)])
async def test_the_upstream_verdict_is_passed_on(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch, scenario: str, status: int
) -> None:
    url, _ = scenario_url(server, scenario)
    upstream(monkeypatch, url)
    with anyio.fail_after(10):
        async with connect(relay.app, "/") as stream:
            await stream.wait_complete()
    assert stream.status == status


@pytest.mark.anyio
async def test_the_demo_relays_its_own_upstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with run_server("uvicorn-httptools", tmp_path, app="examples.relay:app") as demo:
        upstream(monkeypatch, f"{demo.url}/upstream")
        with anyio.fail_after(10):
            async with connect(relay.app, "/", last_event_id="41") as stream:
                [event] = await stream.events(1)
    # Resumed after 41; two lines, the second indented, as the upstream sent them.
    assert fields([event]) == [("entry", "entry 42\n  indented line", "42", None)]
