"""A real browser's ``EventSource`` (headless Chromium) against ``EventSourceResponse`` on uvicorn.

The page (``pages/index.html``, served by ``browser_app`` at ``/``) opens
streams and records what the browser dispatched; the tests wait on that with
``page.wait_for_function`` and compare it with what the server sent.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any, cast

import pytest

from tests.servers import RunningServer

from .browser_app import JSON_VALUE, MULTILINE, RESUME_PREFIX

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.real_component("chromium")

CONNECTING, OPEN, CLOSED = 0, 1, 2


def new_key() -> str:
    return uuid.uuid4().hex


def stats(server: RunningServer, key: str) -> dict[str, Any]:
    """What the server saw for ``key``: ``requests`` (with ``last_event_id``) and ``pings``."""
    with urllib.request.urlopen(f"{server.url}/stats?key={key}", timeout=5) as response:
        return cast("dict[str, Any]", json.load(response))


def open_source(page: Page, name: str, url: str, listen: list[str] | None = None) -> None:
    page.evaluate(
        "([name, url, listen]) => openSource(name, url, listen)", [name, url, listen or []]
    )


def wait_for(page: Page, name: str, condition: str) -> None:
    """Wait until ``condition`` (a JS expression over ``s``, the source's record) holds."""
    page.wait_for_function(
        f"(name) => {{ const s = window.sources[name]; return !!s && ({condition}); }}", arg=name
    )


def record(page: Page, name: str) -> dict[str, Any]:
    """The source's ``events``, ``opens``, ``errors`` and current ``readyState``."""
    return cast(
        "dict[str, Any]",
        page.evaluate(
            """(name) => {
                const s = window.sources[name];
                return {events: s.events, opens: s.opens, errors: s.errors, readyState: s.es.readyState};
            }""",
            name,
        ),
    )


def close_source(page: Page, name: str) -> None:
    page.evaluate("(name) => window.sources[name].es.close()", name)


def test_message_and_named_events_with_last_event_id(page: Page) -> None:
    open_source(page, "basic", "/basic", listen=["update", "ünïcode-näme"])
    wait_for(page, "basic", "s.events.length >= 6")
    got = record(page, "basic")
    close_source(page, "basic")

    assert [(e["type"], e["data"], e["lastEventId"]) for e in got["events"]] == [
        ("message", "first", "1"),
        ("update", "second", "2"),  # a named event reaches only its listener, not onmessage
        ("message", "third", "2"),  # no id field: the last event ID is kept
        ("ünïcode-näme", "fourth", "id-ü-4"),
        ("update", "fifth", ""),  # `id:` with an empty value resets it
        ("message", "sixth", "6"),
    ]
    assert got["readyState"] == OPEN
    assert got["errors"] == []
    assert len(got["opens"]) == 1


def test_json_data_round_trips_through_json_parse(page: Page) -> None:
    open_source(page, "json", "/json", listen=["json"])
    wait_for(page, "json", "s.events.length >= 1")
    parsed = page.evaluate("() => window.sources.json.events.map((e) => JSON.parse(e.data))")
    raw = page.evaluate("() => window.sources.json.events[0].data")
    close_source(page, "json")

    assert parsed == [JSON_VALUE]
    # Sent as UTF-8 text, not \u escapes, and decoded as UTF-8 by the browser.
    assert "Grüße, Ünïcödé — 東京 🎉" in raw
    assert "\n" not in raw  # compact JSON on one data line


def test_multiline_raw_data_arrives_as_one_event_with_lf(page: Page) -> None:
    open_source(page, "multi", "/multiline")
    wait_for(page, "multi", f"s.events.length >= {len(MULTILINE)}")
    got = record(page, "multi")
    close_source(page, "multi")

    expected = [text.replace("\r\n", "\n").replace("\r", "\n") for text in MULTILINE]
    assert [e["data"] for e in got["events"]] == expected
    assert expected[1] == "crlf 1\ncrlf 2\ncrlf 3"  # the expectation itself is not vacuous
    assert got["errors"] == []


def reconnect_delay_ms(got: dict[str, Any]) -> float:
    """From the `error` that ended the first connection to the next `open`."""
    error_at = float(got["errors"][0]["t"])
    return float(got["opens"][1]) - error_at


def test_retry_sets_the_reconnection_delay(page: Page, server: RunningServer) -> None:
    short_key, long_key = new_key(), new_key()
    open_source(page, "short", f"/retry?ms=400&key={short_key}")
    open_source(page, "long", f"/retry?ms=1500&key={long_key}")
    for name in ("short", "long"):
        wait_for(page, name, "s.opens.length >= 2 && s.events.length >= 2")
    short, long = record(page, "short"), record(page, "long")
    close_source(page, "short")
    close_source(page, "long")

    # The stream's end is an `error` with readyState CONNECTING: the browser will reconnect.
    assert short["errors"][0]["readyState"] == CONNECTING
    assert [e["data"] for e in short["events"][:2]] == ["1", "2"]  # one event per connection
    short_ms, long_ms = reconnect_delay_ms(short), reconnect_delay_ms(long)
    assert 300 <= short_ms <= 2000, short_ms
    # 1500 ms: neither the browser's default (3 s in Chromium) nor the other stream's 400 ms.
    assert 1400 <= long_ms <= 2500, long_ms
    # (A loaded machine stretches the short one -- 1 s seen for 400 ms -- never past
    # the long one.)
    assert long_ms > short_ms, (short_ms, long_ms)


def test_last_event_id_resumes_without_loss_or_duplicates(
    page: Page, server: RunningServer
) -> None:
    key, total, per = new_key(), 10, 4
    open_source(page, "resume", f"/resume?total={total}&per={per}&key={key}", listen=["complete"])
    # Stop early too if the stream repeats itself (a resume that ignored Last-Event-ID).
    wait_for(
        page, "resume", f"s.events.some((e) => e.type === 'complete') || s.events.length > {total}"
    )
    got = record(page, "resume")
    close_source(page, "resume")

    data = [e["data"] for e in got["events"] if e["type"] == "message"]
    assert data == [str(i) for i in range(total)]  # in order, none lost, none twice
    assert [e["lastEventId"] for e in got["events"][:total]] == [
        f"{RESUME_PREFIX}{i}" for i in range(total)
    ]
    # The server read each reconnect's Last-Event-ID (non-ASCII: UTF-8 both ways).
    seen = [r["last_event_id"] for r in stats(server, key)["requests"]]
    assert seen == [None, f"{RESUME_PREFIX}3", f"{RESUME_PREFIX}7", f"{RESUME_PREFIX}9"]
    assert len(got["opens"]) == 4


def test_http_204_stops_reconnecting(page: Page, server: RunningServer) -> None:
    key = new_key()
    open_source(page, "once", f"/once-then-204?key={key}")
    # Stop early too if it keeps reconnecting (the 204 was not honoured).
    wait_for(page, "once", f"s.es.readyState === {CLOSED} || s.opens.length > 2")
    got = record(page, "once")
    assert got["readyState"] == CLOSED
    assert [e["data"] for e in got["events"]] == ["a", "b"]
    assert len(stats(server, key)["requests"]) == 2  # the stream, then the 204

    # retry was 100 ms: a browser that kept reconnecting would have done so many times by now.
    time.sleep(1.5)
    assert len(stats(server, key)["requests"]) == 2
    got = record(page, "once")
    assert got["readyState"] == CLOSED
    assert len(got["opens"]) == 1
    assert [e["readyState"] for e in got["errors"]] == [CONNECTING, CLOSED]


def test_keep_alive_comments_are_not_events(page: Page, server: RunningServer) -> None:
    key, n = new_key(), 4
    open_source(page, "slow", f"/slow?n={n}&delay=0.35&ping=0.1&key={key}")
    wait_for(page, "slow", f"s.events.length >= {n}")
    pings_at_last_event = stats(server, key)["pings"]
    # Let a few more pings through after the last event before looking again.
    deadline = time.monotonic() + 10
    while stats(server, key)["pings"] < pings_at_last_event + 3:
        assert time.monotonic() < deadline, "no pings after the last event"
        time.sleep(0.05)
    got = record(page, "slow")
    close_source(page, "slow")

    assert [e["data"] for e in got["events"]] == [f"slow {i}" for i in range(n)]
    assert {e["type"] for e in got["events"]} == {"message"}
    # ~3 pings in each of the 3 gaps between events: they were really sent.
    assert pings_at_last_event >= 3, pings_at_last_event
    assert got["errors"] == []
    assert got["readyState"] == OPEN


def test_post_stream_read_with_fetch(page: Page, server: RunningServer) -> None:
    key = new_key()
    text = "Hello from sse-asgi: Grüße aus 東京 🎉 done"
    result = page.evaluate(
        "([url, text]) => postStream(url, {text})",
        [f"/chat?delay=0.08&ping=0.03&key={key}", text],
    )

    assert result["status"] == 200
    assert result["contentType"] == "text/event-stream; charset=utf-8"
    events = result["events"]
    assert [e["event"] for e in events] == ["token"] * len(text.split()) + ["done"]
    assert [json.loads(e["data"])["token"] for e in events[:-1]] == text.split()
    assert events[-1]["data"] == "[DONE]"
    # Streamed, not buffered: the events arrived over the server's delays, in many reads,
    # and the keep-alive comments in between were skipped by the parser.
    # A buffered response would arrive at once (a span of ~0 ms); a loaded machine
    # (CI runs the suites side by side) may bunch a few reads: a third of the
    # scheduled span tells the two apart.
    assert events[-1]["t"] - events[0]["t"] >= 0.08 * (len(text.split()) - 1) * 1000 / 3
    assert result["chunks"] > len(text.split()) // 2
    assert result["comments"] >= 1
    assert stats(server, key)["pings"] == result["comments"]
    assert stats(server, key)["requests"] == [
        {"path": "/chat", "method": "POST", "last_event_id": None}
    ]
