"""Every file in examples/ is imported and exercised here, so that none of them can rot.

The apps run in-process with ``sse_asgi.testing.connect`` (and ``lifespan``
below, which does what a server does at startup and shutdown); their sleeps
are module constants, lowered by the ``fast`` fixture. The broadcast
examples also run once against a real redis-server, and the chat page's
script runs in Node (against ``EventDecoder``) and in headless Chromium.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import random
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import httpx
import orjson
import pytest

from examples import (
    chat_room,
    chat_stream,
    items,
    log_tail,
    notifications,
    resume,
    task_progress,
    ticks,
    tokens,
)
from sse_asgi import EventDecoder, EventSourceResponse, ReceivedEvent, ServerSentEvent
from sse_asgi.testing import AnyASGIApp, connect
from sse_asgi.types import Scope

from .conftest import find_executable, require_component
from .redis_server import redis_server
from .servers import run_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

BROADCAST_EXAMPLES = [notifications, chat_room, task_progress]
asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py's client


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples' delays, made test-sized."""
    monkeypatch.setattr(resume, "DELAY", 0)
    monkeypatch.setattr(tokens, "TOKEN_DELAY", 0.001)
    monkeypatch.setattr(chat_stream, "TOKEN_DELAY", 0)
    monkeypatch.setattr(log_tail, "POLL_INTERVAL", 0.01)
    monkeypatch.setattr(log_tail, "DEMO_INTERVAL", 0.01)
    monkeypatch.setattr(task_progress, "STEP_DELAY", 0.005)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A fresh redis-server for one test (skips without one, unless SSE_ASGI_REQUIRE_ALL=1)."""
    with redis_server(tmp_path) as server:
        yield server.url


@asynccontextmanager
async def lifespan(app: AnyASGIApp) -> AsyncIterator[None]:
    """Run ``app``'s ASGI lifespan around the block, as a server does (``connect`` does not)."""
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](1)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](1)

    async def run() -> None:
        async with app_inbox, app_outbox:
            scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
            await app(scope, app_inbox.receive, app_outbox.send)

    async with anyio.create_task_group() as tasks, to_app, from_app:
        tasks.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        try:
            yield
        finally:
            await to_app.send({"type": "lifespan.shutdown"})
            assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


async def call(
    app: AnyASGIApp, path: str, *, method: str = "POST", body: Any = None
) -> tuple[int, Any]:
    """A plain (non-stream) request: its status and answer (decoded if JSON)."""
    options: dict[str, Any] = {} if body is None else {"json": body}
    async with connect(app, path, method=method, **options) as response:
        await response.wait_complete()
    if response.headers.get("content-type") == "application/json":
        return response.status, orjson.loads(response.received)
    return response.status, response.received


async def take(stream: AsyncIterator[ReceivedEvent], count: int) -> list[ReceivedEvent]:
    """The next ``count`` events, failing rather than hanging."""
    with anyio.fail_after(5):
        return [await anext(stream) for _ in range(count)]


# -- ticks.py: bare ASGI, resumes after Last-Event-ID ---------------------------------


@pytest.mark.anyio
async def test_ticks() -> None:
    async with connect(ticks.app) as stream:
        [first] = await take(stream, 1)
    assert (first.event, first.json(), first.id) == ("tick", {"tick": 0}, "0")
    async with connect(ticks.app, last_event_id="41") as stream:
        [first] = await take(stream, 1)
    assert (first.json(), first.id) == ({"tick": 42}, "42")


# -- items.py: FastAPI, typed items -----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/items/stream", "/items/stream-sync"])
async def test_items_typed_stream(path: str) -> None:
    async with connect(items.app, path) as stream:
        events = [event async for event in stream]
    assert [event.json() for event in events] == [item.model_dump() for item in items.ITEMS]
    assert {event.event for event in events} == {"message"}


@pytest.mark.anyio
async def test_items_updates_carry_event_id_and_retry() -> None:
    async with connect(items.app, "/items/updates") as stream:
        events = [event async for event in stream]
        assert stream.received.startswith(b": stream of item updates\n\n")
        assert stream.decoder.retry == 5000
    assert [(e.event, e.id, e.json()["name"]) for e in events] == [
        ("item_update", str(n), item.name) for n, item in enumerate(items.ITEMS, start=1)
    ]


def test_items_openapi_documents_the_item_schema() -> None:
    document = items.app.openapi()
    content = document["paths"]["/items/stream"]["get"]["responses"]["200"]["content"]
    schema = content["text/event-stream"]["itemSchema"]["properties"]["data"]["contentSchema"]
    assert schema == {"$ref": "#/components/schemas/Item"}
    assert set(document["components"]["schemas"]["Item"]["properties"]) == {
        "name",
        "price",
        "description",
    }


# -- log_tail.py: Starlette, raw_data, a sync generator ---------------------------------

RECORDS = [
    "2025-01-01 10:00:00 INFO  started",
    "2025-01-01 10:00:01 ERROR failed\nTraceback (most recent call last):\n"
    '  File "app.py", line 1, in <module>\nValueError: boom',
    "2025-01-01 10:00:02 WARN  data: not a field\nevent: nor this",
]


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as log:
        log.write(text)


@pytest.mark.anyio
async def test_log_tail_sends_multiline_records_as_raw_data(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("".join(record + "\n" for record in RECORDS), encoding="utf-8")
    app = log_tail.create_app(path)
    async with connect(app, "/logs") as stream:
        events = await take(stream, len(RECORDS))
        # Each line of a record is a data line; nothing in them became a field.
        assert b"data: 2025-01-01 10:00:02 WARN  data: not a field\ndata: event: nor this\n" in (
            stream.received
        )
        # A record written in pieces is sent once whole.
        append(path, "2025-01-01 10:00:03 INFO  half")
        await anyio.sleep(0.05)
        append(path, " and half\n  continued\n")
        [late] = await take(stream, 1)
    assert [(e.event, e.data) for e in events] == [("log", record) for record in RECORDS]
    assert late.data == "2025-01-01 10:00:03 INFO  half and half\n  continued"
    # The id is the file offset after the record: a reconnect resumes there.
    assert late.id == str(path.stat().st_size)
    async with connect(app, "/logs", last_event_id=events[0].id) as stream:
        again = await take(stream, 3)
    assert [e.data for e in again] == [*RECORDS[1:], late.data]
    assert path.resolve() not in open_files()  # each stream closed the file when its client left


def open_files() -> set[Path]:
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd (Linux)")
    return {Path(os.path.realpath(fd)) for fd in fds.iterdir()}


@pytest.mark.anyio
async def test_log_tail_starts_new_clients_at_recent_records(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    lines = [f"2025-01-01 10:00:00 INFO  line {n}" for n in range(1000)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    async with connect(log_tail.create_app(path), "/logs") as stream:
        first = await anext(stream)
    assert first.data in lines[-100:]
    assert int(first.id or 0) > path.stat().st_size - log_tail.BACKLOG


@pytest.mark.anyio
async def test_log_tail_demo_log(tmp_path: Path) -> None:
    app = log_tail.create_app(tmp_path / "demo.log", write_demo=True)
    async with lifespan(app), connect(app, "/logs", last_event_id="0") as stream:
        events = await take(stream, 5)
    assert "request 1 served" in events[0].data
    assert events[4].data.splitlines()[1:] == [
        "Traceback (most recent call last):",
        '  File "app.py", line 42, in handle',
        "ValueError: demo failure",
    ]


# -- resume.py: bare ASGI, Last-Event-ID, 204 at the end -------------------------------


@pytest.mark.anyio
async def test_resume_sends_numbered_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume, "COUNT", 5)
    async with connect(resume.app) as stream:
        events = [event async for event in stream]
        assert stream.received.count(b"retry: 2000\n") == 1
    assert [(e.event, e.id, e.json()) for e in events] == [
        ("number", str(n), {"n": n, "square": n * n}) for n in range(5)
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "first"), [("2", 3), ("0", 1), ("junk", 0), ("³", 0), (" 3", 0), ("", 0)]
)
async def test_resume_continues_after_last_event_id(
    header: str, first: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resume, "COUNT", 5)
    async with connect(resume.app, last_event_id=header) as stream:
        numbers = [event.json()["n"] async for event in stream]
    assert numbers == list(range(first, 5))


@pytest.mark.anyio
async def test_resume_answers_204_when_nothing_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume, "COUNT", 5)
    async with connect(resume.app, last_event_id="4") as stream:
        await stream.wait_complete()
    assert (stream.status, stream.received) == (204, b"")


# -- tokens.py: bare ASGI, OpenAI-style chunks, [DONE] ---------------------------------


@pytest.mark.anyio
async def test_tokens_stream_ends_with_done() -> None:
    async with connect(tokens.app, "/?prompt=SSE%20please") as stream:
        events = [event async for event in stream]
        assert stream.decoder.retry == tokens.RETRY_MS
        assert stream.received.endswith(b"\ndata: [DONE]\n\n")
    *chunks, done = events
    assert done.data == "[DONE]"
    contents = [chunk.json()["choices"][0]["delta"].get("content", "") for chunk in chunks]
    assert "".join(contents) == "".join(tokens.fake_model("SSE please"))
    assert "You asked about 'SSE please'." in "".join(contents)
    assert chunks[-1].json()["choices"][0]["finish_reason"] == "stop"


@pytest.mark.anyio
async def test_tokens_generation_stops_when_the_client_leaves(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "TOKEN_DELAY", 0.05)
    caplog.set_level(logging.INFO, logger=tokens.__name__)
    with anyio.fail_after(2):  # far less than the whole answer takes
        async with connect(tokens.app) as stream:
            await take(stream, 2)
    [record] = [r for r in caplog.records if r.name == tokens.__name__]
    sent = int(record.getMessage().rsplit(" ", 2)[1])
    assert 1 <= sent < len(list(tokens.fake_model("Server-Sent Events")))


# -- chat_stream.py: FastAPI POST, fetch() page, Python client -------------------------


@pytest.mark.anyio
async def test_chat_stream_post() -> None:
    async with connect(
        chat_stream.app, "/chat/stream", method="POST", json={"text": "hello  world"}
    ) as stream:
        events = [event async for event in stream]
        assert stream.received.endswith(b"event: done\ndata: [DONE]\n\n")
    *token_events, done = events
    assert {e.event for e in token_events} == {"token"}
    assert "".join(e.json()["token"] for e in token_events) == "You said: hello  world"
    assert (done.event, done.data) == ("done", "[DONE]")


@pytest.mark.anyio
async def test_chat_stream_rejects_a_bad_body_before_streaming() -> None:
    status, answer = await call(chat_stream.app, "/chat/stream", body={"text": ""})
    assert status == 422
    assert answer["detail"][0]["loc"] == ["body", "text"]


@pytest.mark.anyio
async def test_chat_stream_python_client() -> None:
    transport = httpx.ASGITransport(app=chat_stream.app)
    seen: list[str] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        reply = await chat_stream.ask(client, "héllo wörld 😀", on_token=seen.append)
    assert reply == "You said: héllo wörld 😀"
    assert seen == ["You ", "said: ", "héllo ", "wörld ", "😀"]


@pytest.mark.anyio
async def test_chat_stream_python_client_notices_a_cut_reply() -> None:
    async def cut_short(scope: Scope, receive: Any, send: Any) -> None:
        tokens = [ServerSentEvent(data={"token": "You "}, event="token")]  # and no [DONE]
        await EventSourceResponse(tokens)(scope, receive, send)

    transport = httpx.ASGITransport(app=cut_short)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(httpx.ReadError, match=r"before \[DONE\]"):
            await chat_stream.ask(client, "hello")


@pytest.mark.anyio
async def test_chat_stream_page() -> None:
    async with connect(chat_stream.app, "/") as page:
        await page.wait_complete()
    assert page.headers["content-type"].startswith("text/html")
    assert b"function sseParser" in page.received
    assert b"/* SSE_READER_JS */" not in page.received


# Every rule of the spec's parser, in one stream: BOM, CR/LF/CRLF, one space
# stripped, joined data lines, comments, empty data, ids with NUL, retry
# values, unknown fields, invalid and multi-byte UTF-8, an unfinished end.
TRICKY_STREAM = (
    b"\xef\xbb\xbfdata: a\r\ndata:  two spaces\r\r"
    b'event: token\ndata: {"t": 1}\nid: 7\n\n'
    b": a comment\nid: 8\x009\nretry: 12a\nretry: 3000\nretry:\ndata\n\n"
    b"event: ignored\n\n"
    b"data:no space\rdata:\rwhat: ever\rdata: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\r\n\r\n"
    b"id\nevent:\ndata: \xff\xe2\x82 bad\n\n"
    b"data: lost, never dispatched"
)

NODE_HARNESS = r"""
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
(async () => {
  const results = [];
  for (const split of input) {
    const chunks = split.map((piece) => new Uint8Array(Buffer.from(piece, "base64")));
    const body = new ReadableStream({
      start(controller) { for (const c of chunks) controller.enqueue(c); controller.close(); },
    });
    const events = [];
    for await (const event of readEvents(new Response(body))) events.push(event);
    // The same text through the parser alone, for `retry`.
    const parser = sseParser(() => {});
    const text = new TextDecoder();
    for (const c of chunks) parser.feed(text.decode(c, { stream: true }));
    results.push({ events, retry: parser.retry });
  }
  process.stdout.write(JSON.stringify(results));
})();
"""


def splits(data: bytes) -> list[list[bytes]]:
    """The stream whole, byte by byte, and cut at random places."""
    rng = random.Random(1)
    cuts = sorted(rng.sample(range(1, len(data)), 40))
    random_cut = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return [[data], [data[i : i + 1] for i in range(len(data))], random_cut]


@pytest.mark.real_component("node")
def test_chat_page_reader_decodes_like_event_decoder() -> None:
    node = find_executable("node", "nodejs")
    if node is None:
        require_component("node", "install Node.js >= 18 (Debian: apt-get install nodejs)")
        raise AssertionError("unreachable")
    cases = splits(TRICKY_STREAM)
    payload = json.dumps([[base64.b64encode(c).decode() for c in case] for case in cases])
    result = subprocess.run(
        [node, "-e", chat_stream.SSE_READER_JS + NODE_HARNESS],
        input=payload,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    decoder = EventDecoder()
    expected = [
        {"type": e.event, "data": e.data, "lastEventId": e.id} for e in decoder.feed(TRICKY_STREAM)
    ]
    assert len(expected) == 5
    for got in json.loads(result.stdout):
        assert got == {"events": expected, "retry": decoder.retry}


@pytest.mark.real_component("chromium")
def test_chat_page_in_a_browser(tmp_path: Path) -> None:
    chromium = find_executable("chromium", "chromium-browser")
    if chromium is None:
        require_component("chromium", "no `chromium` on PATH (apt-get install chromium)")
        raise AssertionError("unreachable")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_component("playwright", "the `playwright` Python package is not installed")
        raise AssertionError("unreachable") from None
    with (
        run_server("uvicorn-h11", tmp_path, app="examples.chat_stream:app") as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--headless", "--disable-gpu"]
        )
        try:
            page: Page = browser.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{server.url}/")
            page.fill("#text", "héllo wörld 😀")
            page.click("button")
            page.wait_for_function("document.getElementById('status').textContent === 'done'")
            assert page.text_content("#reply") == "You said: héllo wörld 😀"
        finally:
            browser.close()


# -- notifications.py: FastAPI + Broadcast ----------------------------------------------


async def check_notifications(app: AnyASGIApp) -> None:
    async with lifespan(app):
        status, first = await call(app, "/notify", body={"message": "one"})
        assert status == 200
        _, second = await call(app, "/notify", body={"message": "two", "level": "warning"})
        # A reconnecting client: what it missed, then live.
        async with connect(app, "/notifications", last_event_id=first["id"]) as stream:
            [missed] = await take(stream, 1)
            _, third = await call(app, "/notify", body={"message": "three"})
            [live] = await take(stream, 1)
        assert (missed.event, missed.id, live.id) == ("notification", second["id"], third["id"])
        assert missed.json()["message"] == "two"
        assert missed.json()["level"] == "warning"
        assert "sent_at" in missed.json()
        assert live.json()["message"] == "three"
        # An id the broadcast never gave (say, from before a restart): resync.
        async with connect(app, "/notifications", last_event_id="gone") as stream:
            [reset] = await take(stream, 1)
        assert (reset.event, reset.json()["reason"]) == ("reset", "unknown")
        status, _ = await call(app, "/notify", body={"message": ""})
        assert status == 422


@pytest.mark.anyio
async def test_notifications() -> None:
    await check_notifications(notifications.create_app())


@pytest.mark.anyio
async def test_notifications_fresh_subscriber() -> None:
    app = notifications.create_app()
    broadcast = app.state.broadcast
    async with lifespan(app), anyio.create_task_group() as tasks:

        async def notify_once_subscribed() -> None:
            # Nothing signals a new subscriber: poll (the memory backend
            # starts it at once, so nothing published after this is missed).
            while broadcast.subscriber_count(notifications.TOPIC) == 0:  # noqa: ASYNC110
                await anyio.sleep(0.001)
            await call(app, "/notify", body={"message": "hello"})

        tasks.start_soon(notify_once_subscribed)
        async with connect(app, "/notifications") as stream:
            [event] = await take(stream, 1)
    assert event.json()["message"] == "hello"


@pytest.mark.anyio
async def test_notifications_shutdown_ends_open_streams() -> None:
    app = notifications.create_app()

    async def listen(after: str, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with connect(app, "/notifications", last_event_id=after) as stream:
            await anext(stream)
            task_status.started()
            await stream.wait_complete()

    # The lifespan ends first, closing the broadcast; then the task group waits
    # for the listener, whose stream must have ended cleanly.
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks, lifespan(app):
            _, first = await call(app, "/notify", body={"message": "one"})
            await call(app, "/notify", body={"message": "two"})
            await tasks.start(listen, first["id"])


@pytest.mark.real_component("redis-server")
@asyncio_only
@pytest.mark.anyio
async def test_notifications_on_redis(redis_url: str) -> None:
    await check_notifications(notifications.create_app(redis_url))


# -- chat_room.py: Starlette + Broadcast ------------------------------------------------


async def check_chat_room(app: AnyASGIApp) -> None:
    async def post(room: str, message: dict[str, str]) -> str:
        status, answer = await call(app, f"/rooms/{room}/messages", body=message)
        assert status == 200, answer
        return str(answer["id"])

    async with lifespan(app):
        # Bob saw both; his browser keeps the last id: one position in all topics.
        in_room = await post("lobby", {"user": "alice", "text": "welcome"})
        whispered = await post("lobby", {"user": "alice", "text": "psst", "to": "bob"})
        # Published while he was away: none for him but dave's "hello".
        await post("lobby", {"user": "carol", "text": "muted"})
        await post("lobby", {"user": "alice", "text": "for carol", "to": "carol"})
        await post("other", {"user": "alice", "text": "elsewhere"})
        hello = await post("lobby", {"user": "dave", "text": "hello"})
        path = "/rooms/lobby/events?user=bob&mute=carol"
        async with connect(app, path, last_event_id=whispered) as stream:
            [replayed] = await take(stream, 1)
            secret = await post("lobby", {"user": "dave", "text": "secret", "to": "bob"})
            events = [replayed, *await take(stream, 1)]
        assert [(e.event, e.json()["user"], e.json()["text"]) for e in events] == [
            ("message", "dave", "hello"),
            ("whisper", "dave", "secret"),
        ]
        # Each event carries its own id, whichever topic it came from.
        assert [e.id for e in events] == [hello, secret]
        async with connect(app, "/rooms/lobby/events", last_event_id=in_room) as stream:
            texts = [e.json()["text"] for e in await take(stream, 2)]
        assert texts == ["muted", "hello"]  # no filter, no whispers
        status, _ = await call(app, "/rooms/lobby/messages", body={"user": "a:b", "text": "x"})
        assert status == 422
        status, _ = await call(app, "/rooms/lobby:to:bob/events", method="GET")
        assert status == 404


@pytest.mark.anyio
async def test_chat_room() -> None:
    await check_chat_room(chat_room.create_app())


@pytest.mark.real_component("redis-server")
@asyncio_only
@pytest.mark.anyio
async def test_chat_room_on_redis(redis_url: str) -> None:
    await check_chat_room(chat_room.create_app(redis_url))


# -- task_progress.py: FastAPI + Broadcast + a lifespan task group ---------------------


async def check_task_progress(app: AnyASGIApp) -> None:
    percents = [step * 100 // task_progress.STEPS for step in range(1, task_progress.STEPS + 1)]
    async with lifespan(app):
        status, task = await call(app, "/tasks")
        assert status == 202
        async with connect(app, task["progress_url"]) as stream:
            events = [event async for event in stream]
            assert stream.complete  # the stream ended with the job
        assert [e.event for e in events] == ["progress"] * len(percents) + ["done"]
        assert [e.json()["percent"] for e in events] == [*percents, 100]
        # Late: the job is over; a new subscriber still gets everything.
        async with connect(app, task["progress_url"]) as stream:
            assert [event.id async for event in stream] == [e.id for e in events]
        # A reconnect with Last-Event-ID goes on after it.
        path = f"/tasks/{task['task_id']}/progress"
        async with connect(app, path, last_event_id=events[4].id) as stream:
            assert [event.id async for event in stream] == [e.id for e in events[5:]]
        status, _ = await call(app, "/tasks/not-a-task/progress", method="GET")
        assert status == 422


@pytest.mark.anyio
async def test_task_progress() -> None:
    await check_task_progress(task_progress.create_app())


@pytest.mark.anyio
async def test_task_progress_failure_ends_the_stream(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken_step(step: int) -> None:
        if step == 3:
            raise RuntimeError("disk full")

    monkeypatch.setattr(task_progress, "do_step", broken_step)
    app = task_progress.create_app()
    async with lifespan(app):
        _, task = await call(app, "/tasks")
        async with connect(app, task["progress_url"]) as stream:
            events = [event async for event in stream]
    assert [e.event for e in events] == ["progress", "progress", "failed"]
    assert events[-1].json() == {"error": "disk full"}
    assert "failed" in caplog.text


@pytest.mark.real_component("redis-server")
@asyncio_only
@pytest.mark.anyio
async def test_task_progress_on_redis(redis_url: str) -> None:
    await check_task_progress(task_progress.create_app(redis_url))


# -- the REDIS_URL switch -----------------------------------------------------------------


@pytest.mark.parametrize("example", BROADCAST_EXAMPLES, ids=lambda m: m.__name__)
def test_redis_url_switches_to_redis(example: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    from sse_asgi.redis import RedisBackend, RedisBroadcast

    assert not isinstance(example.app.state.broadcast, RedisBroadcast)
    url = "redis://127.0.0.1:1/3"  # never connected to: the app is not started
    monkeypatch.setenv("REDIS_URL", url)
    try:
        reloaded = importlib.reload(example)
        backend = reloaded.app.state.broadcast.backend
        assert isinstance(backend, RedisBackend)
        assert backend.url == url
    finally:
        monkeypatch.delenv("REDIS_URL")
        importlib.reload(example)
