"""The client's decisions without IO: backoff on fake time, content types, validation."""

from __future__ import annotations

from typing import Any

import pytest

from sse_asgi.client import LastEventIdError
from sse_asgi.client._state import (
    MIN_BACKOFF,
    SHORT_STREAM,
    StreamState,
    is_event_stream,
    last_event_id_header,
    reconnect_delay,
)


def state(url: str = "http://test/", **options: Any) -> StreamState[None]:
    return StreamState(url, **{"retry": 1.0, **options})


def open_stream(source: StreamState[Any], now: float = 0.0, url: str | None = None) -> None:
    source.opened(url=url, method=source.method, content_encoding=None, now=now)


def deliver(source: StreamState[Any], body: bytes) -> list[str]:
    """Feed the open stream ``body``: the data of the events it completes."""
    source._body.feed(body)
    got = []
    while (event := source._next_event()) is not None:
        got.append(event.data)
        while source._pending:
            got.append(source._pending.popleft().data)
    return got


# -- backoff ---------------------------------------------------------------------------


def test_after_an_open_stream_the_wait_is_exactly_retry() -> None:
    for jitter in (0.0, 0.5, 0.999):
        assert reconnect_delay(2.5, 0, max_retry=30.0, jitter=jitter) == 2.5
    assert reconnect_delay(0.0, 0, max_retry=30.0, jitter=0.5) == 0.0


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (4, 8.0, 16.0), (5, 15.0, 30.0), (9, 15.0, 30.0)],
)
def test_failures_double_the_ceiling_with_jitter_up_to_max_retry(
    failures: int, low: float, high: float
) -> None:
    assert reconnect_delay(1.0, failures, max_retry=30.0, jitter=0.0) == low
    assert reconnect_delay(1.0, failures, max_retry=30.0, jitter=1.0) == high
    middle = reconnect_delay(1.0, failures, max_retry=30.0, jitter=0.5)
    assert low < middle < high


def test_backoff_never_waits_less_than_retry_nor_more_than_max_retry() -> None:
    for failures in range(70):
        for jitter in (0.0, 0.3, 0.99):
            delay = reconnect_delay(4.0, failures, max_retry=10.0, jitter=jitter)
            assert 4.0 <= delay <= 10.0


def test_retry_zero_backs_off_from_a_floor_instead_of_spinning() -> None:
    assert reconnect_delay(0.0, 1, max_retry=30.0, jitter=0.0) == MIN_BACKOFF
    assert reconnect_delay(0.0, 3, max_retry=30.0, jitter=1.0) == MIN_BACKOFF * 8


def test_a_long_outage_does_not_overflow() -> None:
    assert reconnect_delay(1.0, 10**9, max_retry=30.0, jitter=1.0) == 30.0


def test_a_server_retry_beyond_max_retry_is_capped() -> None:
    assert reconnect_delay(10**12, 0, max_retry=30.0, jitter=0.0) == 30.0


def test_attempt_schedule_on_fake_time() -> None:
    """Drive the state through a failing server on a fake clock: when each attempt starts."""
    error = RuntimeError("refused")
    for jitter, expected in [
        (0.0, [0.0, 1.0, 3.0, 7.0, 11.0, 15.0]),  # waits 1, 2, 4, then half of max_retry
        (1.0, [0.0, 2.0, 6.0, 14.0, 22.0, 30.0]),  # waits 2, 4, then max_retry
    ]:
        source = state(retry=1.0, max_retry=8.0, max_attempts=6)
        now, attempts = 0.0, [0.0]
        while (delay := source.delay_after_loss(error, jitter=jitter, now=now)) is not None:
            now += delay
            attempts.append(now)
        assert attempts == expected  # and the sixth failure in a row gives up
        assert (source.ready_state, source.failures) == ("closed", 6)


def test_an_open_stream_resets_the_failures() -> None:
    source = state(retry=1.0, max_attempts=3)
    error = RuntimeError("refused")
    assert source.delay_after_loss(error, jitter=0.0, now=0.0) == 1.0
    assert source.delay_after_loss(error, jitter=0.0, now=1.0) == 2.0
    open_stream(source, now=3.0)
    assert (source.ready_state, source.failures) == ("open", 0)
    assert deliver(source, b"data: x\n\n") == ["x"]
    # A drop of an open stream that brought an event waits `retry`: no failed attempt.
    assert source.delay_after_loss(error, jitter=0.9, now=3.1) == 1.0
    assert (source.ready_state, source.failures) == ("connecting", 0)
    open_stream(source, now=4.1)
    assert deliver(source, b"data: y\n\n") == ["y"]
    assert source.delay_after_loss(None, jitter=0.9, now=4.2) == 1.0
    assert source.delay_after_loss(error, jitter=1.0, now=5.2) == 2.0
    assert source.delay_after_loss(error, jitter=1.0, now=7.2) == 4.0
    assert source.delay_after_loss(error, jitter=1.0, now=11.2) is None  # 3 failures in a row


def test_streams_that_end_at_once_without_an_event_back_off() -> None:
    """``retry: 0`` and an instant close: no reconnection storm (a floor, then doubling)."""
    source = state(retry=1.0, max_retry=8.0, max_attempts=2)
    now, waits = 0.0, []
    for _ in range(6):
        open_stream(source, now)
        assert deliver(source, b"retry: 0\n: nothing else\n\n") == []
        now += 0.01  # the server closed at once
        delay = source.delay_after_loss(None, jitter=0.0, now=now)
        assert delay is not None
        waits.append(delay)
        now += delay
    assert source.retry == 0.0
    assert waits == [MIN_BACKOFF, 0.2, 0.4, 0.8, 1.6, 3.2]
    assert source.failures == 0  # each one opened: max_attempts is not spent on them
    # A stream that lasted SHORT_STREAM, or brought an event, resets the backoff.
    open_stream(source, now)
    assert source.delay_after_loss(None, jitter=0.0, now=now + SHORT_STREAM) == 0.0
    for body, expected in [(b"", 0.1), (b"data: x\n\n", 0.0)]:
        open_stream(source, now)
        deliver(source, body)
        assert source.delay_after_loss(None, jitter=0.0, now=now) == expected


def test_a_huge_server_retry_is_capped_at_max_retry() -> None:
    source = state(retry=1.0, max_retry=30.0)
    open_stream(source)
    # A float of this many milliseconds would overflow.
    assert deliver(source, b"retry: " + b"9" * 400 + b"\ndata: x\n\n") == ["x"]
    assert source.retry == 30.0
    assert deliver(source, b"retry: 29999\n\n") == []
    assert source.retry == 29.999


@pytest.mark.parametrize("method", ["POST", "PATCH", "post"])
def test_non_idempotent_methods_do_not_reconnect_by_default(method: str) -> None:
    source = state(method=method)
    assert source.reconnect is False
    open_stream(source)
    assert source.delay_after_loss(None, jitter=0.0, now=0.0) is None  # the end of the body ends it
    assert source.ready_state == "closed"
    assert state(method=method, reconnect=True).reconnect is True


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
def test_idempotent_methods_reconnect_by_default(method: str) -> None:
    assert state(method=method).reconnect is True
    assert state(method=method, reconnect=False).reconnect is False


# -- responses -----------------------------------------------------------------------


# Each checked against Chromium in tests/browser/test_client_differential.py.
@pytest.mark.parametrize(
    ("content_type", "opens"),
    [
        ("text/event-stream", True),
        ("Text/Event-Stream", True),
        (" text/event-stream ", True),
        ("text/event-stream; charset=UTF-8", True),
        ('text/event-stream;charset="utf-8"', True),
        ("text/event-stream; foo=bar", True),
        ("text/plain, text/event-stream", True),
        ("text/event-stream; charset=latin-1", False),
        ("text/event-stream; charset=utf8", False),
        ("text/event-stream, text/plain", False),
        ("text/event-streams", False),
        ("text/plain", False),
        ("", False),
        (None, False),
    ],
)
def test_content_types(content_type: str | None, opens: bool) -> None:
    assert is_event_stream(content_type) is opens


def test_verdicts() -> None:
    source = state(retry_on_status=(502, 503))
    sse = {"content-type": "text/event-stream"}
    assert source.verdict(200, sse) == "open"
    assert source.verdict(200, {"content-type": "text/html"}) == "fail"
    assert source.verdict(204, {}) == "close"
    assert source.verdict(503, {"content-type": "text/plain"}) == "retry"
    assert source.verdict(500, {"content-type": "text/plain"}) == "fail"
    assert source.verdict(201, sse) == "fail"
    # Without reconnection, a listed status fails like any other.
    assert state(method="POST", retry_on_status=(503,)).verdict(503, {}) == "fail"
    # Codings: the ones undone with bounded memory open; others fail.
    for coding, verdict in [("gzip", "open"), ("deflate, gzip", "open"), ("identity", "open")]:
        assert source.verdict(200, {**sse, "content-encoding": coding}) == verdict
    for coding in ["br", "zstd", "compress", "gzip, gzip, gzip"]:
        assert source.verdict(200, {**sse, "content-encoding": coding}) == "fail"


def test_request_headers_carry_the_last_event_id_only_when_not_empty() -> None:
    source = state()
    assert source.request_headers() == {
        b"Accept": b"text/event-stream",
        b"Accept-Encoding": b"gzip, deflate",
        b"Cache-Control": b"no-cache",
        b"Pragma": b"no-cache",
    }
    source.last_event_id = "évé 7"
    assert source.request_headers()[b"Last-Event-ID"] == "évé 7".encode()
    assert state(last_event_id="41").request_headers()[b"Last-Event-ID"] == b"41"
    assert last_event_id_header("\t a\tb ") == b"a\tb"


@pytest.mark.parametrize("char", ["\x01", "\x0b", "\x0c", "\x1f", "\x7f"])
def test_an_id_no_header_can_hold_is_refused(char: str) -> None:
    """A server's id with a control character: reconnecting raises, never sends it."""
    source = state()
    open_stream(source)
    assert deliver(source, f"id: a{char}b\ndata: x\n\n".encode()) == ["x"]
    with pytest.raises(LastEventIdError, match="cannot send Last-Event-ID") as caught:
        source.request_headers()
    assert caught.value.last_event_id == f"a{char}b"
    with pytest.raises(LastEventIdError):
        state(last_event_id=f"a{char}b")


def test_a_lone_surrogate_is_refused_before_any_request() -> None:
    with pytest.raises(LastEventIdError, match="lone surrogate"):
        state(last_event_id="a\ud800b")


def test_a_redirect_moves_the_stream_and_a_303_drops_the_body() -> None:
    source = state(method="POST", json={"q": 1}, reconnect=True)
    open_stream(source, url="http://test/moved")
    assert (source.url, source.method, source.json) == ("http://test/moved", "POST", {"q": 1})
    source.opened(url="http://test/final", method="GET", content_encoding=None, now=0.0)
    assert (source.url, source.method, source.json) == ("http://test/final", "GET", None)
    open_stream(source)  # cross-origin (or no) redirect: the URL stays
    assert source.url == "http://test/final"


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"retry": -1}, ValueError, "retry must be a finite"),
        ({"retry": float("nan")}, ValueError, "retry must be a finite"),
        ({"max_retry": float("inf")}, ValueError, "max_retry must be a finite"),
        ({"retry": True}, TypeError, "retry must be a number"),
        ({"retry": 40.0}, ValueError, "must not exceed max_retry"),
        ({"read_timeout": 0}, ValueError, "read_timeout must be a finite number of seconds > 0"),
        ({"max_attempts": 0}, ValueError, "max_attempts must be an int >= 1"),
        ({"max_attempts": 2.5}, ValueError, "max_attempts must be an int >= 1"),
        ({"retry_on_status": (204,)}, ValueError, "cannot hold 204"),
        ({"retry_on_status": (99,)}, ValueError, "HTTP statuses"),
        ({"last_event_id": "a\nb"}, LastEventIdError, "an HTTP header cannot hold '\\\\n'"),
        ({"last_event_id": 7}, TypeError, "last_event_id must be a str"),
        ({"headers": [("last-event-id", "1")]}, ValueError, "pass last_event_id="),
        ({"json": {}, "content": b""}, ValueError, "json or content"),
        ({"content": iter([b"x"])}, TypeError, "content must be str or bytes"),
        ({"max_event_size": 0}, ValueError, "max_event_size must be >= 1"),
    ],
)
def test_invalid_options_fail_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        state(**options)
