"""The dashboard demo (``examples/dashboard.py``) without a browser.

Its endpoints run in-process with ``sse_asgi.testing.connect`` (so the app is
covered where Chromium is missing), and the README's command runs as a
subprocess: it prints the URL and exits at once on Ctrl-C with streams open.
The browser side is ``tests/browser/test_dashboard.py``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from examples.dashboard import (
    ANSWERS,
    DEFAULT_ANSWER,
    RETRY_MS,
    Dashboard,
    Settings,
    answer_for,
    tokens_of,
)
from sse_asgi import ReceivedEvent
from sse_asgi.testing import SSETestStream, connect

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "examples" / "dashboard"

pytestmark = pytest.mark.anyio

#: Every wait in these tests is bounded: a broken stream fails instead of hanging.
TIMEOUT = 10.0


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Dashboard]:
    """A dashboard with its lifespan running (broadcast and background tasks started)."""
    dashboard = Dashboard(settings)
    async with dashboard.lifespan():
        yield dashboard


async def read_until(stream: SSETestStream, done: Any) -> list[ReceivedEvent]:
    """The stream's events up to and including the first one ``done(event)`` accepts."""
    events = []
    with anyio.fail_after(TIMEOUT):
        async for event in stream:
            events.append(event)
            if done(event):
                return events
    raise AssertionError(f"stream ended before the expected event: {events}")


async def request_json(
    dashboard: Dashboard, path: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with connect(dashboard.app, path, method="POST", **kwargs) as response:
        await response.wait_complete()
        return response.status, json.loads(response.received)


# -- the page --------------------------------------------------------------------------------


async def test_page_and_assets_are_served_and_self_contained() -> None:
    async with running(Settings()) as dashboard:
        served = {}
        for path, media in [
            ("/", "text/html"),
            ("/dashboard.css", "text/css"),
            ("/dashboard.js", "text/javascript"),
        ]:
            async with connect(dashboard.app, path) as response:
                await response.wait_complete()
                assert response.status == 200
                assert response.headers["content-type"].startswith(media)
                served[path] = response.received.decode()
    html = served["/"]
    # Every reference in the page is one of the app's own paths ...
    references = re.findall(r'(?:href|src)="([^"]*)"', html)
    assert set(references) == {"data:,", "/dashboard.css", "/dashboard.js"}
    for text in served.values():
        # ... and nothing is fetched from another origin (the machine may be offline).
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", text)
    assert served["/"] == (STATIC / "index.html").read_text()
    for panel in ("progress-panel", "notifications-panel", "logs-panel", "answer-panel"):
        assert f'id="{panel}"' in html


# -- the background job ------------------------------------------------------------------------


async def test_progress_runs_to_100_and_a_late_client_sees_the_current_state() -> None:
    async with running(Settings(job_seconds=0.4, job_pause=30)) as dashboard:
        async with connect(dashboard.app, "/events/progress") as stream:
            assert stream.status == 200
            assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
            events = await read_until(stream, lambda e: e.json()["percent"] == 100)
            assert stream.decoder.retry == RETRY_MS  # sent first: reconnect after 1 s
        progress = [event.json() for event in events]
        assert {event.event for event in events} == {"progress"}
        percents = [p["percent"] for p in progress]
        assert percents == sorted(percents)  # the newest state each time, never going back
        assert len(percents) >= 5  # it really was streamed, not just the end state
        assert progress[-1]["status"] == "done"
        assert progress[-1]["job"] == 1
        assert 0.3 <= progress[-1]["elapsed"] <= 5

        # A page loaded now (during the pause) gets the current state at once.
        async with connect(dashboard.app, "/events/progress") as late:
            with anyio.fail_after(TIMEOUT):
                first = await anext(late)
        assert first.json() == progress[-1]


# -- notifications -----------------------------------------------------------------------------


async def test_notifications_fan_out_replay_and_tail() -> None:
    async with running(Settings(notification_tail=3)) as dashboard:
        async with connect(dashboard.app, "/events/notifications") as early:
            ids = []
            for i in range(5):
                status, body = await request_json(
                    dashboard, "/notifications", json={"text": f"  note {i}  "}
                )
                assert status == 201
                ids.append(body["id"])
            live = await read_until(early, lambda e: e.id == ids[-1])
        assert [e.json()["text"] for e in live] == [f"note {i}" for i in range(5)]  # stripped
        assert [e.id for e in live] == ids
        assert {e.event for e in live} == {"notification"}
        assert {e.json()["source"] for e in live} == {"you"}

        # A reconnecting browser resumes after its Last-Event-ID: no loss, no duplicate.
        async with connect(dashboard.app, "/events/notifications", last_event_id=ids[1]) as resumed:
            replayed = await read_until(resumed, lambda e: e.id == ids[-1])
        assert [e.id for e in replayed] == ids[2:]

        # A new browser first gets the last `notification_tail` ones, then live ones.
        async with connect(dashboard.app, "/events/notifications") as fresh:
            tail = await read_until(fresh, lambda e: e.id == ids[-1])
            assert [e.id for e in tail] == ids[-3:]
            _, body = await request_json(dashboard, "/notifications", json={"text": "later"})
            (after,) = await read_until(fresh, lambda e: True)
            assert (after.id, after.json()["text"]) == (body["id"], "later")

        # An id from another run (the server restarted): reset, then the tail.
        async with connect(dashboard.app, "/events/notifications", last_event_id="0-41") as stale:
            got = await read_until(stale, lambda e: e.id == body["id"])
        assert got[0].event == "reset"
        assert got[0].json() == {"reason": "unknown", "last_event_id": "0-41"}
        assert [e.json()["text"] for e in got[1:]] == ["note 3", "note 4", "later"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"text": 42}',
        b'{"text": "   "}',
        json.dumps({"text": "x" * 201}).encode(),
        b'{"text": "lone \\ud800 surrogate"}',
    ],
    ids=["not-json", "not-object", "missing", "not-string", "blank", "too-long", "surrogate"],
)
async def test_invalid_notifications_are_rejected(body: bytes) -> None:
    async with running(Settings()) as dashboard:
        status, answer = await request_json(dashboard, "/notifications", body=body)
        assert status == 422
        assert "text" in answer["detail"]
        assert dashboard.broadcast.subscriber_count() == 0


async def test_a_finished_job_is_announced() -> None:
    async with (
        running(Settings(job_seconds=0.2, job_pause=30)) as dashboard,
        connect(dashboard.app, "/events/notifications") as stream,
    ):
        (event,) = await read_until(stream, lambda e: True)
    assert event.json()["source"] == "job"
    assert event.json()["level"] == "success"
    assert event.json()["text"].startswith("Job #1 finished in ")


# -- log tail ------------------------------------------------------------------------------------


async def test_log_tail_sends_multiline_records_as_one_event() -> None:
    async with (
        running(Settings(log_interval=0.005)) as dashboard,
        connect(dashboard.app, "/events/logs") as stream,
    ):
        events = await read_until(stream, lambda e: "\n" in e.data)
        raw = stream.received
    record_start = re.compile(r"\d\d:\d\d:\d\d\.\d{3} (INFO|DEBUG|WARNING|ERROR) +[a-z]+: ")
    for event in events:
        assert event.event == "message"
        assert record_start.match(event.data), event.data
    # The tail starts at the first record: the startup lines were published before we came.
    assert "dashboard: started" in events[0].data
    multi = events[-1]
    lines = multi.data.split("\n")
    assert len(lines) >= 4
    # raw_data: one `data:` line per line of the record, text as is (not JSON).
    assert b"".join(b"data: " + line.encode() + b"\n" for line in lines) in raw


async def test_a_new_client_gets_only_the_last_log_records() -> None:
    async with running(Settings(log_interval=0.001, log_tail=5)) as dashboard:
        async with connect(dashboard.app, "/events/logs") as first:
            seen = await read_until(first, lambda e: int(e.id.rsplit("-", 1)[1]) >= 40)
        async with connect(dashboard.app, "/events/logs") as later:
            (head,) = await later.events(1)
        # The tail begins at most 5 records before the newest one when it connected.
        newest_seen = int(seen[-1].id.rsplit("-", 1)[1])
        assert int(head.id.rsplit("-", 1)[1]) > newest_seen - 5


# -- streamed answer -----------------------------------------------------------------------------


async def test_answer_streams_tokens_then_done() -> None:
    question = "How do reconnects work?"
    async with (
        running(Settings(token_delay=0.001)) as dashboard,
        connect(dashboard.app, "/answer", method="POST", json={"question": question}) as stream,
    ):
        with anyio.fail_after(TIMEOUT):
            events = [event async for event in stream]
        assert stream.complete
    *tokens, done = events
    assert {e.event for e in tokens} == {"token"}
    assert "".join(e.json()["token"] for e in tokens) == answer_for(question)
    assert answer_for(question) == ANSWERS["reconnect"]
    assert len(tokens) == len(tokens_of(ANSWERS["reconnect"])) > 20
    assert (done.event, done.data) == ("done", "[DONE]")


async def test_answer_over_get_for_eventsource() -> None:
    async with (
        running(Settings(token_delay=0.001)) as dashboard,
        connect(dashboard.app, "/answer?q=what%20is%20this") as stream,
    ):
        with anyio.fail_after(TIMEOUT):
            events = [event async for event in stream]
    assert "".join(e.json()["token"] for e in events[:-1]) == DEFAULT_ANSWER
    assert events[-1].data == "[DONE]"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/answer", b'{"question": ""}'),
        ("POST", "/answer", b"{"),
        ("POST", "/answer", json.dumps({"question": "?" * 301}).encode()),
        ("GET", "/answer", b""),
        ("GET", "/answer?q=%20", b""),
    ],
)
async def test_invalid_questions_are_rejected(method: str, path: str, body: bytes) -> None:
    async with running(Settings()) as dashboard:
        async with connect(dashboard.app, path, method=method, body=body) as response:
            await response.wait_complete()
        assert response.status == 422
        assert "question" in json.loads(response.received)["detail"]


def test_tokens_join_back_into_the_answer() -> None:
    for text in [DEFAULT_ANSWER, *ANSWERS.values()]:
        assert "".join(tokens_of(text)) == text


# -- network drop ----------------------------------------------------------------------------


async def test_drop_ends_every_open_stream_cleanly() -> None:
    async with running(Settings()) as dashboard:
        async with (
            connect(dashboard.app, "/events/progress") as progress,
            connect(dashboard.app, "/events/notifications") as notifications,
        ):
            await progress.wait_received(b"retry: 1000\n")
            await notifications.wait_received(b"retry: 1000\n")
            status, body = await request_json(dashboard, "/drop")
            assert (status, body) == (200, {"closed": 2})
            with anyio.fail_after(TIMEOUT):
                await progress.wait_complete()
                await notifications.wait_complete()
        # The subscription ended with its stream: nothing left behind.
        assert dashboard.broadcast.subscriber_count() == 0


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env({"DASHBOARD_JOB_SECONDS": "2", "DASHBOARD_TOKEN_DELAY": "0.01"})
    assert (settings.job_seconds, settings.token_delay) == (2.0, 0.01)
    assert settings.job_pause == Settings().job_pause


# -- the command: `python examples/dashboard.py` --------------------------------------------------


@contextlib.contextmanager
def dashboard_command(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """Run the README's command on a free port (``--port 0``); yield it with its URL."""
    output = tmp_path / "dashboard.out"
    with open(output, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "examples/dashboard.py", "--port", "0"],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "DASHBOARD_TOKEN_DELAY": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our SIGINT reaches it, not pytest
        )
    try:
        deadline = time.monotonic() + 20
        while (found := re.search(r"http://127\.0\.0\.1:\d+/", output.read_text())) is None:
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.05)
        yield process, found.group(), output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def open_stream(port: int, path: str, method: str = "GET", body: bytes | None = None) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"content-type": "application/json"} if body is not None else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("content-type") == "text/event-stream; charset=utf-8"
    return connection, response


def test_command_prints_the_url_and_exits_at_once_on_ctrl_c(tmp_path: Path) -> None:
    with dashboard_command(tmp_path) as (process, url, output):
        assert output.read_text().count(url) == 1
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with urllib.request.urlopen(url, timeout=10) as page:
            assert b"sse-asgi live dashboard" in page.read()
        streams = [
            open_stream(port, "/events/progress"),
            open_stream(port, "/events/notifications"),
            open_stream(port, "/events/logs"),
            # Mid-answer: one token a second.
            open_stream(port, "/answer", "POST", b'{"question": "hi"}'),
        ]
        try:
            for _, response in streams[:3]:
                assert b"retry: 1000" in response.read1()
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
            elapsed = time.monotonic() - started
            # Every client got a clean end of the body (a cut chunked body raises IncompleteRead).
            rests = [response.read() for _, response in streams]
        finally:
            for connection, _ in streams:
                connection.close()
    log = output.read_text()
    assert elapsed < 2.0, (elapsed, log)
    assert process.returncode == 0, log
    assert "Traceback" not in log, log
    assert log.rstrip().endswith("Dashboard stopped."), log
    assert all(isinstance(rest, bytes) for rest in rests)
