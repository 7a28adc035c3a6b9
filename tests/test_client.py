"""The client against a real uvicorn on 127.0.0.1 (``tests/client_app.py``'s scenarios).

Every test runs three ways: ``EventSource`` (sync), and ``AsyncEventSource``
on asyncio and on trio. Waits between reconnections are recorded by a fake
``sleep`` (and the jitter is fixed), so backoff is checked exactly without
sleeping; only ``read_timeout`` tests wait, a fraction of a second.
"""

from __future__ import annotations

import contextlib
import signal
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import anyio
import httpx
import pytest

from sse_asgi import ReceivedEvent, iter_events
from sse_asgi.client import (
    AsyncEventSource,
    EventSource,
    EventSourceError,
    LastEventIdError,
    _async,
    _sync,
)
from sse_asgi.client._http import MAX_COOKIE_SIZE, MAX_COOKIES
from sse_asgi.client._state import StreamState, reconnect_delay

from .client_app import (
    SCENARIOS,
    last_event_ids,
    requests_seen,
    scenario_url,
    serve,
    server_stats,
)
from .servers import RunningServer, free_port

FLAVORS = ["sync", "asyncio", "trio"]
JITTER = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(tmp_path_factory.mktemp("client-uvicorn")) as running:
        yield running


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between attempts, recorded instead of slept; the jitter fixed at JITTER.

    The clients' clock is fake too: it moves only by those waits, so every
    connection lasts no time at all.
    """
    waits: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    async def fake_async_sleep(seconds: float) -> None:
        waits.append(seconds)
        await anyio.lowlevel.checkpoint()

    def fake_clock() -> float:
        return sum(waits)

    for module in (_sync, _async):
        monkeypatch.setattr(module, "jitter", lambda: JITTER)
        monkeypatch.setattr(module, "clock", fake_clock)
    monkeypatch.setattr(_sync, "sleep", fake_sleep)
    monkeypatch.setattr(_async, "sleep", fake_async_sleep)
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


def consume(
    flavor: str,
    url: str,
    *,
    limit: int | None = None,
    client_options: dict[str, Any] | None = None,
    **options: Any,
) -> Run:
    """Read ``url`` to its end (or ``limit`` events) with the ``flavor`` client.

    ``client_options``: read on an httpx client made with them (and closed after).
    """
    if flavor == "sync":
        with contextlib.ExitStack() as stack:
            if client_options is not None:
                options["client"] = stack.enter_context(httpx.Client(**client_options))
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
        async with contextlib.AsyncExitStack() as stack:
            if client_options is not None:
                client = httpx.AsyncClient(**client_options)
                options["client"] = await stack.enter_async_context(client)
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
    # 1.5 s of pings, 0.1 s apart, then an event: a 1 s read timeout never fires.
    url, key = scenario_url(server, "pinging")
    run = consume(flavor, url, read_timeout=1.0)
    assert [e.data for e in run.events] == ["early", "late"]
    assert last_event_ids(server, key) == [None, None]  # one stream, then the 204


def test_without_read_timeout_a_silent_stream_is_kept(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    # httpx's default read timeout (5 s) would cut it: ours replaces it with none.
    # (Were it cut, the client would reconnect at once -- sleep is fake -- and
    # yield the scenario's second event "b".)
    async def read_two(client: httpx.AsyncClient, url: str) -> list[Any]:
        async with AsyncEventSource(url, client=client) as source:
            first = await anext(source)
            with anyio.move_on_after(0.5) as scope:  # silence: nothing arrives, nothing raises
                await anext(source)
            # A cancelled read lost the connection: closed now, a new one next time.
            return [first.data, scope.cancelled_caught, source.ready_state, source.response]

    url, _ = scenario_url(server, "silent")
    if flavor == "sync":
        with httpx.Client(timeout=0.2) as client, EventSource(url, client=client) as source:
            assert next(source).data == "a"
            assert source.response is not None
            assert source.response.request.extensions["timeout"]["read"] is None
        return

    async def main() -> list[Any]:
        async with httpx.AsyncClient(timeout=0.2) as client:
            return await read_two(client, url)

    assert anyio.run(main, backend=flavor) == ["a", True, "connecting", None]
    assert delays == []


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


def test_a_client_of_the_other_kind_is_refused() -> None:
    with httpx.Client() as client, pytest.raises(TypeError, match=r"httpx\.AsyncClient"):
        AsyncEventSource("http://127.0.0.1/", client=client)  # type: ignore[arg-type]

    async def main() -> None:
        async with httpx.AsyncClient() as client:
            with pytest.raises(
                TypeError, match=r"client must be an httpx\.Client, not AsyncClient"
            ):
                EventSource("http://127.0.0.1/", client=client)  # type: ignore[arg-type]

    anyio.run(main)


def test_iterating_after_close_ends_at_once(server: RunningServer) -> None:
    url, key = scenario_url(server, "resume")
    source = EventSource(url)
    source.close()
    assert list(source) == []
    assert requests_seen(server, key) == []


def test_loops_and_next_take_from_the_same_events(
    server: RunningServer, delays: list[float]
) -> None:
    """A ``for`` loop over an EventSource (a generator, for speed) and ``next()`` mix: none is lost."""
    url, key = scenario_url(server, "resume")
    with EventSource(url) as source:
        for event in source:
            assert (event.data, source.last_event_id) == ("one", "1")
            break  # "two" came in the same chunk: it waits in the source, not in the loop
        assert (next(source).data, source.last_event_id) == ("two", "2")
        rest = [(event.data, source.last_event_id) for event in source]
    assert rest == [("three", "2"), ("four\nlines", "3")]
    assert last_event_ids(server, key) == [None, "2", "3"]


def test_close_inside_a_loop_ends_it(server: RunningServer, delays: list[float]) -> None:
    url, _ = scenario_url(server, "resume")
    with EventSource(url) as source:
        seen = []
        for event in source:
            seen.append(event.data)
            source.close()  # "two", decoded and waiting, is dropped
        assert (seen, source.last_event_id, list(source)) == (["one"], "1", [])


# -- hostile servers ----------------------------------------------------------------------


def wait_for_disconnects(server: RunningServer, key: str, expected: int) -> None:
    """Until the server saw ``expected`` silent responses' clients leave (another process)."""
    deadline = time.monotonic() + 5
    while server_stats(server, key, "disconnects") != expected:
        assert time.monotonic() < deadline, "the client did not close the connection"
        time.sleep(0.02)


def test_compressed_streams_are_read(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "gzip")
    run = consume(flavor, url)
    assert run.seen == [("message", "zipped", "1")]
    # Only what can be undone with bounded memory is offered (not httpx's br, zstd).
    assert requests_seen(server, key)[0]["accept_encoding"] == "gzip, deflate"


def test_a_corrupt_compressed_body_is_a_broken_connection(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "gzip_corrupt")
    run = consume(flavor, url)
    assert (run.error, run.seen) == (None, [("message", "a", "1"), ("message", "b", "1")])
    assert (last_event_ids(server, key), delays) == ([None, "1", "1"], [0.02, 0.02])


def test_a_compression_bomb_is_read_in_bounded_memory(server: RunningServer, flavor: str) -> None:
    """16 MiB of events gzipped twice (169 bytes on the wire): never expanded all at once."""
    url, _ = scenario_url(server, "gzip_bomb")
    tracemalloc.start()
    try:
        run = consume(flavor, url, limit=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (run.error, len(run.events), run.events[-1].data) == (None, 1000, "x")
    assert peak < 8 * 1024 * 1024


def test_a_coding_that_cannot_be_bounded_fails_the_connection(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "brotli")
    run = consume(flavor, url)
    assert isinstance(run.error, EventSourceError)
    assert "HTTP 200 with Content-Encoding 'br', not gzip or deflate" in str(run.error)
    assert (run.error.status, run.error.body, len(requests_seen(server, key))) == (200, b"", 1)


def test_a_redirect_body_is_never_read(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    # httpx reads a redirect's body to its end before following it: this one has none.
    url, key = scenario_url(server, "redirect_endless_body")
    run = consume(flavor, url, read_timeout=5, max_attempts=1)
    assert (run.error, run.seen) == (None, [("message", "after the redirect", "1")])
    wait_for_disconnects(server, key, 1)


def test_a_redirect_loop_fails_at_once(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "redirect_loop")
    run = consume(flavor, url)
    assert isinstance(run.error, httpx.TooManyRedirects)
    assert len(requests_seen(server, key)) == 21  # the first, then httpx's max_redirects (20)
    assert (delays, run.source.ready_state) == ([], "closed")


@pytest.mark.parametrize("credentials", ["header", "client auth"])
def test_a_cross_origin_redirect_drops_authorization_each_time(
    server: RunningServer, flavor: str, delays: list[float], credentials: str
) -> None:
    """And reconnections start over at the first URL, so the rule applies every time."""
    url, key = scenario_url(server, "resume", via="cross-origin")
    if credentials == "header":
        headers = {"Authorization": "Bearer secret", "Accept": "text/event-stream, */*"}
        run = consume(flavor, url, headers=headers)
        sent = "Bearer secret"
        # Other headers follow the redirect (as in httpx, and in Fetch).
        assert {r["accept"] for r in requests_seen(server, key)} == {headers["Accept"]}
    else:
        auth = ("user", "secret")
        run = consume(flavor, url, client_options={"auth": auth})
        sent = httpx.BasicAuth(*auth)._auth_header
    assert run.error is None
    assert [e.data for e in run.events] == ["one", "two", "three", "four\nlines"]
    seen = [
        (r["path"], r["host"].partition(":")[0], r["authorization"], r["last_event_id"])
        for r in requests_seen(server, key)
    ]
    hops = [("/cross-origin/resume", "127.0.0.1", sent), ("/scenario/resume", "localhost", None)]
    assert seen == [(*hop, resume) for resume in (None, "2", "3") for hop in hops]
    assert run.source.url == url


def test_cookies_set_on_every_reconnection_are_bounded(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    """Our own client keeps RFC 6265's minimums as maximums: 50 cookies of 4 KiB."""
    url, key = scenario_url(server, "cookie_flood")
    run = consume(flavor, url)
    assert [e.data for e in run.events] == ["x", "x", "x"]
    jars = [r["cookie"] for r in requests_seen(server, key)]
    assert jars[0] is None
    sent = [set(jar.split("; ")) for jar in jars[1:]]
    assert [len(cookies) for cookies in sent] == [MAX_COOKIES] * 3
    assert sent[0] == sent[1] == sent[2]  # the first 50 kept; none of the big ones
    assert all(len(cookie) < MAX_COOKIE_SIZE for cookie in sent[0])


def test_retry_0_and_instant_closes_back_off_instead_of_storming(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    # Each stream opens, sets `retry: 0` and ends with no event: a browser
    # would reconnect at once, forever (hundreds of connections a second).
    url, key = scenario_url(server, "instant_close")
    run = consume(flavor, url)
    assert (run.error, run.events, len(requests_seen(server, key))) == (None, [], 6)
    assert delays == [reconnect_delay(0.0, n, max_retry=30.0, jitter=JITTER) for n in range(1, 6)]
    assert delays == pytest.approx([0.15, 0.3, 0.6, 1.2, 2.4])


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("scenario", "status", "body"),
    [("slow_error_200", 200, b"data: x\n\n"), ("slow_error_500", 500, b"starting...")],
)
def test_a_failed_response_whose_body_keeps_coming_fails_at_once(
    server: RunningServer, flavor: str, scenario: str, status: int, body: bytes
) -> None:
    # A stream served with the wrong Content-Type: its body never reaches 64 KiB,
    # and without a read_timeout its reads never time out. (Chromium waits here:
    # its MIME sniffer holds a text/plain response until 1 KiB of it arrived.)
    url, key = scenario_url(server, scenario)
    run = consume(flavor, url)
    assert isinstance(run.error, EventSourceError)
    assert (run.error.status, run.error.body) == (status, body)
    wait_for_disconnects(server, key, 1)


def test_a_huge_retry_is_capped_at_max_retry(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, _ = scenario_url(server, "huge_retry")  # 400 digits: no float holds it
    run = consume(flavor, url)
    assert (run.error, run.seen) == (None, [("message", "x", "1")])
    assert (run.source.retry, delays) == (30.0, [30.0])


def test_an_id_no_header_can_hold_ends_the_stream_clearly(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "control_id")
    run = consume(flavor, url)
    assert run.seen == [("message", "x", "a\x0cb")]
    assert isinstance(run.error, LastEventIdError)
    assert run.error.last_event_id == "a\x0cb"
    assert "'\\x0c' (U+000C FORM FEED)" in str(run.error)
    assert (len(requests_seen(server, key)), run.source.ready_state) == (1, "closed")


def test_ids_that_are_not_utf8_are_sent_as_the_decoder_read_them(
    server: RunningServer, flavor: str, delays: list[float]
) -> None:
    url, key = scenario_url(server, "invalid_utf8_id")
    run = consume(flavor, url)
    replaced = "\ufffd\ufffd-\ufffd"  # each invalid sequence: one U+FFFD
    assert run.seen == [("message", "x", replaced), ("message", "y", replaced)]
    assert last_event_ids(server, key) == [None, replaced, replaced]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    ("moment", "scenario", "options"),
    [
        ("connecting", "no_head", {}),
        ("reading", "endless", {}),
        ("reading an error", "slow_error_500", {}),
        ("backing off", "retry_503", {"retry_on_status": (503,), "retry": 5.0}),
    ],
)
def test_a_cancelled_task_leaks_nothing(
    server: RunningServer, backend: str, moment: str, scenario: str, options: dict[str, Any]
) -> None:
    """Cancelled mid-connect, mid-read, mid-error-body, mid-backoff: all closed, but the client."""
    url, key = scenario_url(server, scenario)

    async def main() -> list[Any]:
        async with httpx.AsyncClient() as client:
            async with AsyncEventSource(url, client=client, **options) as source:
                with anyio.move_on_after(0.5) as scope:
                    async for _ in source:
                        pass
                state = [scope.cancelled_caught, source.ready_state, source.response]
            return [*state, client.is_closed]

    assert anyio.run(main, backend=backend) == [True, "connecting", None, False]
    assert len(requests_seen(server, key)) == 1
    if moment != "backing off":  # the server was still sending when the task was cancelled
        wait_for_disconnects(server, key, 1)


class Interrupted(BaseException):
    """What a Ctrl-C raises in the middle of a blocking read (here, from SIGALRM)."""


def test_ctrl_c_mid_read_loses_only_the_connection(
    server: RunningServer, delays: list[float]
) -> None:
    """The sync twin of a cancelled read: the connection closed, the next read resumes."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Interrupted

    url, key = scenario_url(server, "endless")
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with EventSource(url) as source:
            assert [next(source).data, next(source).data] == ["one", "two"]
            signal.setitimer(signal.ITIMER_REAL, 0.3)  # the server is silent now
            with pytest.raises(Interrupted):
                next(source)
            assert (source.ready_state, source.response) == ("connecting", None)
            wait_for_disconnects(server, key, 1)
            assert list(source) == []  # reconnected at once, from "2": the scenario's 204
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert (last_event_ids(server, key), delays) == ([None, "2"], [])
