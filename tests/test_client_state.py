"""The client's decisions without IO: backoff on fake time, content types, validation."""

from __future__ import annotations

from typing import Any

import pytest

from sse_asgi.client._state import (
    MIN_BACKOFF,
    StreamState,
    is_event_stream,
    last_event_id_header,
    reconnect_delay,
)


def state(url: str = "http://test/", **options: Any) -> StreamState[None]:
    return StreamState(url, **{"retry": 1.0, **options})


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
        while (delay := source.delay_after_loss(error, jitter=jitter)) is not None:
            now += delay
            attempts.append(now)
        assert attempts == expected  # and the sixth failure in a row gives up
        assert (source.ready_state, source.failures) == ("closed", 6)


def test_an_open_stream_resets_the_failures() -> None:
    source = state(retry=1.0, max_attempts=3)
    error = RuntimeError("refused")
    assert source.delay_after_loss(error, jitter=0.0) == 1.0
    assert source.delay_after_loss(error, jitter=0.0) == 2.0
    source.opened(None, "GET")
    assert (source.ready_state, source.failures) == ("open", 0)
    # A drop of an open stream waits `retry` and is not a failed attempt.
    assert source.delay_after_loss(error, jitter=0.9) == 1.0
    assert (source.ready_state, source.failures) == ("connecting", 0)
    assert source.delay_after_loss(None, jitter=0.9) == 1.0
    assert source.delay_after_loss(error, jitter=1.0) == 2.0
    assert source.delay_after_loss(error, jitter=1.0) == 4.0
    assert source.delay_after_loss(error, jitter=1.0) is None  # the third failure in a row


@pytest.mark.parametrize("method", ["POST", "PATCH", "post"])
def test_non_idempotent_methods_do_not_reconnect_by_default(method: str) -> None:
    source = state(method=method)
    assert source.reconnect is False
    source.opened(None, method.upper())
    assert source.delay_after_loss(None, jitter=0.0) is None  # the end of the body ends it
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
    assert source.verdict(200, "text/event-stream") == "open"
    assert source.verdict(200, "text/html") == "fail"
    assert source.verdict(204, None) == "close"
    assert source.verdict(503, "text/plain") == "retry"
    assert source.verdict(500, "text/plain") == "fail"
    assert source.verdict(201, "text/event-stream") == "fail"
    # Without reconnection, a listed status fails like any other.
    assert state(method="POST", retry_on_status=(503,)).verdict(503, None) == "fail"


def test_request_headers_carry_the_last_event_id_only_when_not_empty() -> None:
    source = state()
    assert source.request_headers() == {
        b"Accept": b"text/event-stream",
        b"Cache-Control": b"no-cache",
        b"Pragma": b"no-cache",
    }
    source.last_event_id = "évé 7"
    assert source.request_headers()[b"Last-Event-ID"] == "évé 7".encode()
    assert state(last_event_id="41").request_headers()[b"Last-Event-ID"] == b"41"
    assert last_event_id_header("\t a b ") == b"a b"


def test_a_redirect_moves_the_stream_and_a_303_drops_the_body() -> None:
    source = state(method="POST", json={"q": 1}, reconnect=True)
    source.opened("http://test/moved", "POST")
    assert (source.url, source.method, source.json) == ("http://test/moved", "POST", {"q": 1})
    source.opened("http://test/final", "GET")
    assert (source.url, source.method, source.json) == ("http://test/final", "GET", None)
    source.opened(None, "POST")  # cross-origin (or no) redirect: the URL stays
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
        ({"last_event_id": "a\nb"}, ValueError, "must not contain CR, LF or NUL"),
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
