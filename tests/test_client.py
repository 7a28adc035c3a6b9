"""The client against a real uvicorn on 127.0.0.1 (``tests/client_app.py``'s scenarios).

Every test runs three ways: ``EventSource`` (sync), and ``AsyncEventSource``
on asyncio and on trio. Waits between reconnections are recorded by a fake
``sleep`` (and the jitter is fixed), so backoff is checked exactly without
sleeping; only ``read_timeout`` tests wait, a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from sse_asgi import ReceivedEvent, iter_events
from sse_asgi.client import AsyncEventSource, EventSource, EventSourceError, _async, _sync
from sse_asgi.client._state import StreamState, reconnect_delay

from .client_app import SCENARIOS, last_event_ids, requests_seen, scenario_url, serve
from .servers import RunningServer, free_port

FLAVORS = ["sync", "asyncio", "trio"]
JITTER = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(tmp_path_factory.mktemp("client-uvicorn")) as running:
        yield running


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between attempts, recorded instead of slept; the jitter fixed at JITTER."""
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async def fake_async_sleep(seconds: float) -> None:
        waits.append(seconds)
        await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(_sync, "sleep", fake_sleep)
    monkeypatch.setattr(_async, "sleep", fake_async_sleep)
    monkeypatch.setattr(_sync, "jitter", lambda: JITTER)
    monkeypatch.setattr(_async, "jitter", lambda: JITTER)
    return waits


@pytest.fixture(params=FLAVORS)
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Run:
    """What one client saw: its events, the error that ended it, and its final state."""

    source: StreamState[Any]
    events: list[ReceivedEvent] = field(default_factory=list)
    error: Exception | None = None

    @property
    def seen(self) -> list[tuple[str, str, str]]:
        return [(e.event, e.data, e.id) for e in self.events]


def consume(flavor: str, url: str, *, limit: int | None = None, **options: Any) -> Run:
    """Read ``url`` to its end (or ``limit`` events) with the ``flavor`` client."""
    if flavor == "sync":
        run = Run(EventSource(url, **options))
        try:
            with run.source:  # type: ignore[attr-defined]
                for event in run.source:  # type: ignore[attr-defined]
                    run.events.append(event)
                    if len(run.events) == limit:
                        break
        except Exception as exc:
            run.error = exc
        return run

    async def read() -> Run:
        source = AsyncEventSource(url, **options)
        run = Run(source)
        with anyio.fail_after(20):
            try:
                async with source:
                    async for event in source:
                        run.events.append(event)
                        if len(run.events) == limit:
                            break
            except Exception as exc:
                run.error = exc
        return run

    return anyio.run(read, backend=flavor)


# -- the processing model ----------------------------------------------------------------


def test_resumes_after_eof_with_last_event_id(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "resume")
    run = consume(flavor, url)
    assert run.error is None
    assert run.seen == [
        ("message", "one", "1"),
        ("update", "two", "2"),
        ("message", "three", "2"),  # no id field: the last event ID is kept
        ("message", "four\nlines", "3"),
    ]
    seen = requests_seen(server, key)
    assert [r["last_event_id"] for r in seen] == [None, "2", "3"]  # then the 204
    assert {(r["accept"], r["cache_control"], r["pragma"]) for r in seen} == {
        ("text/event-stream", "no-cache", "no-cache")
    }
    assert delays == [0.02, 0.02]  # the stream's `retry: 20`, exactly, after each end
    assert (run.source.ready_state, run.source.retry, run.source.last_event_id) == (
        "closed", 0.02, "3",
    )  # fmt: skip


def test_the_first_request_resumes_from_last_event_id(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "resume")
    consume(flavor, url, last_event_id="évé 41")
    assert last_event_ids(server, key) == ["évé 41", "2", "3"]


def test_204_ends_the_iteration(server: RunningServer, flavor: str, delays: list[float]) -> None:
    url, key = scenario_url(server, "immediate_204")
    run = consume(flavor, url)
    assert (run.events, run.error, run.source.ready_state) == ([], None, "closed")
    assert len(requests_seen(server, key)) == 1
    assert delays == []


@pytest.mark.parametrize(
    ("scenario", "status", "content_type", "body"),
    [
        ("status_500", 500, "text/plain", b"boom"),
        ("status_201", 201, "text/event-stream", b"data: x\n\n"),
        ("text_plain", 200, "text/plain", b"data: x\n\n"),
        ("no_content_type", 200, None, b"data: x\n\n"),
        ("charset", 200, "text/event-stream;charset=latin-1", b"retry: 20\ndata: latin\n\n"),
    ],
)
def test_other_statuses_and_content_types_fail_without_retrying(
    server: RunningServer,
    flavor: str,
    delays: list[float],
    scenario: str,
    status: int,
    content_type: str | None,
    body: bytes,
) -> None:
    url, key = scenario_url(server, scenario)
    run = consume(flavor, url, retry_on_status=(503,))
    assert isinstance(run.error, EventSourceError)
    assert (run.error.status, run.error.headers.get("content-type")) == (status, content_type)
    assert (run.error.body, run.error.url) == (body, url)
    assert str(status) in str(run.error)
    assert run.events == []
    assert run.source.ready_state == "closed"
    assert len(requests_seen(server, key)) == 1
    assert delays == []


@pytest.mark.parametrize(
    "scenario", ["charset_utf8", "charset_quoted", "uppercase_type", "two_types", "type_params"]
)
def test_content_types_that_open(server: RunningServer, flavor: str, scenario: str) -> None:
    url, _ = scenario_url(server, scenario)
    run = consume(flavor, url)
    assert run.error is None
    assert len(run.events) == 1


def test_redirects_are_followed_and_reconnections_go_where_they_led(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "redirected", via="redirect")
    run = consume(flavor, url)
    assert run.seen == [("message", "first", "r1"), ("message", "second", "r1")]
    assert [(r["path"], r["last_event_id"]) for r in requests_seen(server, key)] == [
        ("/redirect/redirected", None),
        ("/scenario/redirected", None),
        ("/scenario/redirected", "r1"),
        ("/scenario/redirected", "r1"),
    ]
    assert run.source.url == url.replace("/redirect/", "/scenario/")


@pytest.mark.parametrize("scenario", ["truncated", "drop"])
def test_an_event_cut_off_is_discarded_and_its_id_never_sent(
    server: RunningServer, flavor: str, delays: list[float], scenario: str
) -> None:
    url, key = scenario_url(server, scenario)
    run = consume(flavor, url)
    assert run.error is None
    assert run.seen == [("message", "kept", "1"), ("message", "after", "1")]
    assert last_event_ids(server, key) == [None, "1", "1"]
    # The end of a body and a broken connection alike: reconnect after `retry`.
    assert delays == [0.02, 0.02]


def test_an_empty_id_clears_the_header(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "clear_id")
    run = consume(flavor, url)
    assert run.seen == [("message", "a", "5"), ("message", "b", ""), ("message", "c", "")]
    assert last_event_ids(server, key) == [None, None, None]


def test_ids_without_data_unicode_nul_and_spaces(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "id_only")
    run = consume(flavor, url)
    assert run.seen == [("message", "a", "9"), ("message", "b", "10")]
    assert last_event_ids(server, key) == [None, "10", "10"]

    url, key = scenario_url(server, "unicode_id")
    run = consume(flavor, url)
    assert [e.id for e in run.events] == ["évé-✓", "évé-✓", " sp ace ", " sp ace "]
    # UTF-8 on the wire; NUL voids the id field; HTTP drops the outer spaces.
    assert last_event_ids(server, key) == [None, "évé-✓", "évé-✓", "sp ace", "sp ace"]


def test_events_are_what_the_decoder_makes_of_the_same_bytes(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, _ = scenario_url(server, "wire")
    run = consume(flavor, url)
    sent = [p for p in SCENARIOS["wire"].steps[0].parts if isinstance(p, bytes)]
    assert run.events == list(iter_events(sent))
    assert len(run.events) == 5
    assert run.source.retry == 0.03  # the latest `retry:` field


def test_last_event_id_never_runs_ahead_of_the_events_yielded(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    # Events "1" and "2" arrive in one chunk; stop after the first.
    url, _ = scenario_url(server, "resume")
    run = consume(flavor, url, limit=1)
    assert run.seen == [("message", "one", "1")]
    assert run.source.last_event_id == "1"  # resuming from here loses nothing
    assert run.source.ready_state == "closed"


# -- methods and bodies ----------------------------------------------------------------


def test_post_is_not_replayed(server: RunningServer, flavor: str, delays: list[float]) -> None:
    url, key = scenario_url(server, "resume")
    run = consume(flavor, url, method="POST", json={"q": "é"})
    assert run.error is None
    assert [e.data for e in run.events] == ["one", "two"]  # the end of the body is the end
    assert [(r["method"], r["body"]) for r in requests_seen(server, key)] == [
        ("POST", '{"q":"é"}'),
    ]
    assert run.source.ready_state == "closed"


def test_post_is_replayed_with_reconnect_true(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "resume")
    run = consume(flavor, url, method="POST", content="body", reconnect=True)
    assert [e.data for e in run.events] == ["one", "two", "three", "four\nlines"]
    seen = requests_seen(server, key)
    assert [(r["method"], r["body"], r["last_event_id"]) for r in seen] == [
        ("POST", "body", None),
        ("POST", "body", "2"),
        ("POST", "body", "3"),
    ]


def test_a_network_error_on_a_post_is_raised(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "drop")
    run = consume(flavor, url, method="POST")
    assert isinstance(run.error, httpx.RemoteProtocolError)
    assert [e.data for e in run.events] == ["kept"]
    assert len(requests_seen(server, key)) == 1


# -- retries and giving up ----------------------------------------------------------------


def test_retry_on_status_backs_off(server: RunningServer, flavor: str, delays: list[float]) -> None:
    url, key = scenario_url(server, "retry_503")
    run = consume(flavor, url, retry_on_status=(502, 503), retry=0.5, max_retry=10.0)
    assert run.error is None
    assert run.seen == [("message", "ok", "1")]
    assert last_event_ids(server, key) == [None, None, None, "1"]
    backoff = [reconnect_delay(0.5, n, max_retry=10.0, jitter=JITTER) for n in (1, 2)]
    assert backoff == [0.75, 1.5]
    assert delays == [*backoff, 0.5]  # then the stream opened: plain `retry` after its end


def test_a_status_not_listed_is_not_retried(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "retry_503")
    run = consume(flavor, url)
    assert isinstance(run.error, EventSourceError)
    assert (run.error.status, run.error.body) == (503, b"busy")
    assert len(requests_seen(server, key)) == 1


def test_max_attempts_raises_the_last_error(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "always_503")
    run = consume(flavor, url, retry_on_status=(503,), retry=1.0, max_attempts=3)
    assert isinstance(run.error, EventSourceError)
    assert (run.error.status, run.error.body) == (503, b'{"error": "busy"}')
    assert run.error.headers["content-type"] == "application/json"
    assert len(requests_seen(server, key)) == 3
    assert delays == [reconnect_delay(1.0, n, max_retry=30.0, jitter=JITTER) for n in (1, 2)]
    assert run.source.ready_state == "closed"


def test_connection_refused_is_retried_then_raised(flavor: str, delays: list[float]) -> None:
    url = f"http://127.0.0.1:{free_port()}/nothing-listens"
    run = consume(flavor, url, max_attempts=2, retry=0.1)
    assert isinstance(run.error, httpx.ConnectError)
    assert delays == [reconnect_delay(0.1, 1, max_retry=30.0, jitter=JITTER)]


def test_an_unsupported_url_fails_at_once(flavor: str, delays: list[float]) -> None:
    run = consume(flavor, "ftp://127.0.0.1/stream")
    assert isinstance(run.error, httpx.UnsupportedProtocol)
    assert delays == []


# -- read_timeout -------------------------------------------------------------------------


def test_read_timeout_reconnects_a_silent_connection(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "silent")
    run = consume(flavor, url, read_timeout=0.3, retry=0.01)
    assert run.error is None
    assert run.seen == [("message", "a", "1"), ("message", "b", "1")]
    assert last_event_ids(server, key) == [None, "1", "1"]


def test_keep_alive_comments_count_as_activity(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    # 0.6 s of pings, 50 ms apart, then an event: a 0.3 s read timeout never fires.
    url, key = scenario_url(server, "pinging")
    run = consume(flavor, url, read_timeout=0.3)
    assert [e.data for e in run.events] == ["early", "late"]
    assert last_event_ids(server, key) == [None, None]  # one stream, then the 204


def test_without_read_timeout_a_silent_stream_is_kept(server: RunningServer, flavor: str) -> None:
    # httpx's default read timeout (5 s) would cut it: ours replaces it with none.
    async def read_two(client: httpx.AsyncClient, url: str) -> list[str]:
        async with AsyncEventSource(url, client=client) as source:
            first = await anext(source)
            with anyio.move_on_after(0.5):  # silence: nothing arrives, nothing raises
                await anext(source)
            return [first.data, source.ready_state]

    url, _ = scenario_url(server, "silent")
    if flavor == "sync":
        with httpx.Client(timeout=0.2) as client, EventSource(url, client=client) as source:
            assert next(source).data == "a"
            assert source.response is not None
            assert source.response.request.extensions["timeout"]["read"] is None
        return

    async def main() -> list[str]:
        async with httpx.AsyncClient(timeout=0.2) as client:
            return await read_two(client, url)

    assert anyio.run(main, backend=flavor) == ["a", "open"]


# -- clients and closing ------------------------------------------------------------------


def test_a_client_passed_in_is_never_closed(server: RunningServer, flavor: str) -> None:
    url, _ = scenario_url(server, "resume")
    headers = {"x-test": "1"}
    if flavor == "sync":
        with httpx.Client(headers=headers) as client:
            run = consume(flavor, url, client=client, limit=2)
            assert not client.is_closed
            assert run.source.ready_state == "closed"
        return

    async def main() -> bool:
        async with httpx.AsyncClient(headers=headers) as client:
            async with AsyncEventSource(url, client=client) as source:
                assert (await anext(source)).data == "one"
            return client.is_closed

    assert anyio.run(main, backend=flavor) is False


def test_our_own_client_is_closed(server: RunningServer, flavor: str) -> None:
    url, _ = scenario_url(server, "endless")
    run = consume(flavor, url, limit=1)
    assert run.source._own_client is None  # type: ignore[attr-defined]
    assert run.source.response is None  # type: ignore[attr-defined]
    assert run.source.ready_state == "closed"


def test_user_headers_are_sent_and_may_replace_accept(server: RunningServer, flavor: str) -> None:
    url, key = scenario_url(server, "immediate_204")
    consume(flavor, url, headers={"Accept": "text/event-stream, application/json"})
    assert requests_seen(server, key)[0]["accept"] == "text/event-stream, application/json"


def test_iterating_after_close_ends_at_once(server: RunningServer) -> None:
    url, key = scenario_url(server, "resume")
    source = EventSource(url)
    source.close()
    assert list(source) == []
    assert requests_seen(server, key) == []


def test_readme_example_runs(server: RunningServer, tmp_path: Path) -> None:
    """The module docstring's example, against the scenario server."""
    url, _ = scenario_url(server, "resume")

    async def main() -> list[str]:
        got = []
        async with AsyncEventSource(url, max_attempts=1) as source:
            async for event in source:
                got.append(f"{event.event} {event.id} {event.data}")
        return got

    assert anyio.run(main)[:2] == ["message 1 one", "update 2 two"]
