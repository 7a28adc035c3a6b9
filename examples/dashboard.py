"""A live dashboard served by the app itself: four Server-Sent Event streams on one page.

Run it with ``python examples/dashboard.py`` (``--port``, or ``PORT``; 8000 by
default) and open the URL it prints. The page (``examples/dashboard/``: plain
HTML, CSS and JS, no build step, nothing loaded from elsewhere) shows:

- **a background job's progress** (``GET /events/progress``): a job that runs
  from 0 to 100 % again and again; a stream sends the current state on
  connect, then the latest one on each change;
- **notifications** (``GET /events/notifications``, ``POST /notifications``):
  a :class:`~sse_asgi.Broadcast` topic; a reconnecting browser resumes after
  its ``Last-Event-ID``, a new one first gets the last few;
- **a log tail** (``GET /events/logs``): generated log records, multi-line
  ones sent as ``raw_data``, also through the broadcast (``tail -f``-like);
- **a token-by-token answer** (``POST /answer`` with ``{"question": ...}``, or
  ``GET /answer?q=...``): ``token`` events, then ``event: done`` with
  ``[DONE]``.

``POST /drop`` ends every open stream, as a network drop would: the page
shows each stream reconnecting and resuming. Ctrl-C stops the server at once
even with browsers connected: sse-asgi's signal hook ends the open streams,
so uvicorn has nothing to wait for.

Served by ``uvicorn examples.dashboard:app`` too; these environment variables
tune it (the tests make everything fast): ``DASHBOARD_JOB_SECONDS`` (20),
``DASHBOARD_JOB_PAUSE`` (4), ``DASHBOARD_LOG_INTERVAL`` (0.8),
``DASHBOARD_TOKEN_DELAY`` (0.05).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import os
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from sse_asgi import Broadcast, MemoryBackend, Subscription, close_all_streams, last_event_id
from sse_asgi.starlette import EventSourceResponse, ServerSentEvent

STATIC = Path(__file__).resolve().parent / "dashboard"

#: The page and its two assets: path -> (file, media type). Nothing else is served from disk.
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
}

NOTIFICATIONS = "notifications"
LOGS = "logs"

#: The browser's reconnection delay (``retry``), sent first on every stream:
#: a dropped stream comes back after 1 s rather than Chromium's default 3 s.
RETRY_MS = 1000

MAX_NOTIFICATION = 200
MAX_QUESTION = 300


@dataclass(frozen=True)
class Settings:
    """How fast things happen; ``from_env`` reads the ``DASHBOARD_*`` variables."""

    job_seconds: float = 20.0  # one job, 0 -> 100 %
    job_pause: float = 4.0  # at 100 % before the next job starts
    log_interval: float = 0.8  # mean seconds between log records
    token_delay: float = 0.05  # mean seconds between answer tokens
    log_tail: int = 30  # log records a new client gets first
    notification_tail: int = 10  # notifications a new client gets first

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Defaults, overridden by ``DASHBOARD_JOB_SECONDS`` and friends."""

        def seconds(name: str, default: float) -> float:
            value = environ.get(f"DASHBOARD_{name}")
            return default if value is None else float(value)

        return cls(
            job_seconds=seconds("JOB_SECONDS", cls.job_seconds),
            job_pause=seconds("JOB_PAUSE", cls.job_pause),
            log_interval=seconds("LOG_INTERVAL", cls.log_interval),
            token_delay=seconds("TOKEN_DELAY", cls.token_delay),
        )


# -- the background job: the latest value, not every value ------------------------------


@dataclass(frozen=True)
class JobProgress:
    """What the progress stream sends (as JSON ``data``)."""

    job: int
    percent: int
    status: Literal["waiting", "running", "done"]
    elapsed: float


T = TypeVar("T")


class Latest(Generic[T]):
    """A value that changes; each watcher gets the current one, then the newest after each change.

    A slow client skips intermediate values instead of queueing them: right
    for a progress bar, where only the latest state matters.
    """

    def __init__(self, value: T) -> None:
        self.value = value
        self._changed: anyio.Event | None = None

    def set(self, value: T) -> None:
        self.value = value
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    async def watch(self) -> AsyncIterator[T]:
        while True:
            # Take the event before yielding: a change made while the consumer
            # is busy with this value sets it, so that change is not missed.
            if self._changed is None:
                self._changed = anyio.Event()
            changed = self._changed
            yield self.value
            await changed.wait()


# -- a broadcast topic that new subscribers join with its tail ---------------------------


class Feed:
    """A :class:`Broadcast` topic whose new subscribers first get its last ``tail`` events.

    A reconnecting browser sends ``Last-Event-ID`` and the broadcast replays
    what it missed. A new one sends none; instead of starting it at the
    newest event, this subscribes it "after the event ``tail`` places back",
    so the broadcast's own replay delivers the tail and hands over to live
    events with no gap and no duplicate -- ``tail -f`` semantics.
    """

    def __init__(self, broadcast: Broadcast, topic: str, tail: int) -> None:
        self.broadcast = broadcast
        self.topic = topic
        # The ids of the last tail + 1 events; [0] is the one just before the tail.
        self._ids: collections.deque[str] = collections.deque(maxlen=tail + 1)
        origin = broadcast.backend.head()  # the newest position: nothing of ours yet
        if origin is not None:
            self._ids.append(origin.id)

    async def publish(self, event: ServerSentEvent) -> str:
        event_id = await self.broadcast.publish(self.topic, event)
        self._ids.append(event_id)
        return event_id

    async def events(self, resume: str | None) -> AsyncIterator[ServerSentEvent]:
        """The stream for one client: ``retry``, then (tail or replay and) live events."""
        yield ServerSentEvent(retry=RETRY_MS)
        if resume is not None and self.broadcast.backend.parse(resume) is None:
            # Not an id of this run (the server restarted): what the page shows
            # is from the previous run. Tell it so (repeating at most 64
            # characters of whatever the client sent), then send this run's tail.
            yield ServerSentEvent(
                event="reset", data={"reason": "unknown", "last_event_id": resume[:64]}
            )
            resume = None
        if resume is None and self._ids:
            resume = self._ids[0]
        subscription: Subscription = self.broadcast.subscribe(self.topic, last_event_id=resume)
        async with subscription:
            async for event in subscription:
                yield event


# -- generated content --------------------------------------------------------------------


def log_records(rng: random.Random) -> Iterator[tuple[str, str, str]]:
    """An endless, plausible log of a web service: (level, logger, message).

    Two records in nine are multi-line (a slow query, a traceback): each is
    one event, and the page shows it as one block, as the browser received it.
    """
    routes = ["/api/orders", "/api/orders/1042", "/api/users/42", "/api/search?q=sse", "/health"]
    for n in itertools.count(1):
        ms = rng.randint(2, 180)
        if n % 9 == 4:
            yield (
                "WARNING",
                "db",
                f"slow query ({ms * 9} ms):\n"
                "    SELECT id, status, total\n"
                "      FROM orders\n"
                "     WHERE customer_id = $1\n"
                "     ORDER BY created_at DESC",
            )
        elif n % 9 == 8:
            yield (
                "ERROR",
                "worker",
                "payment webhook failed, will retry in 30 s\n"
                "Traceback (most recent call last):\n"
                '  File "worker.py", line 88, in handle\n'
                "    charge = await gateway.capture(order_id)\n"
                '  File "gateway.py", line 31, in capture\n'
                "    raise TimeoutError('gateway did not answer in 5 s')\n"
                "TimeoutError: gateway did not answer in 5 s",
            )
        elif n % 3 == 0:
            yield (
                "DEBUG",
                "cache",
                f"hit ratio {rng.uniform(0.8, 0.99):.2f} over {rng.randint(900, 4000)} keys",
            )
        else:
            method = rng.choice(["GET", "GET", "GET", "POST"])
            status = rng.choice([200, 200, 200, 201, 304, 404])
            yield "INFO", "http", f"{method} {rng.choice(routes)} {status} {ms}ms"


ANSWERS = {
    "reconnect": (
        "When a stream breaks, the browser's EventSource reconnects by itself after "
        "the `retry` delay the server set (1 s here), and sends the id of the last "
        "event it received as the Last-Event-ID header. sse-asgi's Broadcast replays "
        "everything after that id, then continues live: no gap, no duplicate. Press "
        '"Simulate a network drop" and watch the reconnect counters.'
    ),
    "shutdown": (
        "An SSE response never ends on its own, so a server's graceful shutdown "
        "would wait for it forever. sse-asgi chains onto the server's SIGINT and "
        "SIGTERM handlers: on Ctrl-C it ends every open stream cleanly, closes the "
        "iterators, and lets the server finish -- this dashboard exits in well "
        "under a second with browsers connected."
    ),
    "broadcast": (
        "Broadcast publishes an event once and fans it out to every subscriber. "
        "Each topic keeps a bounded history with increasing ids, so a subscriber "
        "that reconnects with Last-Event-ID gets what it missed first. Publishing "
        "never waits for a slow subscriber: each one has a bounded queue. The "
        "memory backend serves one process; the Redis backend serves many workers."
    ),
}
DEFAULT_ANSWER = (
    "Server-Sent Events are a plain HTTP response that never ends: the server "
    "writes `event:`, `data:` and `id:` lines, a blank line after each event, "
    "and the browser's EventSource dispatches them as they arrive.\n\n"
    "They are one-way (server to browser), text, and ride on ordinary HTTP, so "
    "proxies, auth and cookies just work; reconnection and resuming come built "
    "in. That makes them a good fit for progress bars, notifications, logs -- "
    "and streamed answers like this one.\n\n"
    "(This demo's assistant is canned: the answer is streamed token by token by "
    "an async generator, and ends with [DONE].)"
)


def answer_for(question: str) -> str:
    """The canned answer to ``question``: picked by a keyword, or the default one."""
    lowered = question.lower()
    keywords = {
        "reconnect": ("reconnect", "last-event-id", "resume", "drop"),
        "shutdown": ("shutdown", "ctrl", "signal", "sigint", "stop"),
        "broadcast": ("broadcast", "notification", "publish", "redis"),
    }
    for topic, words in keywords.items():
        if any(word in lowered for word in words):
            return ANSWERS[topic]
    return DEFAULT_ANSWER


def tokens_of(text: str) -> list[str]:
    """Word-sized tokens, each with its leading whitespace, like a language model's."""
    return re.findall(r"\s*\S+", text)


# -- the app --------------------------------------------------------------------------------


class Dashboard:
    """The dashboard's state (broadcast, job, feeds) and its Starlette app (``.app``)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        # Enough history that a browser away for a while still resumes exactly.
        self.broadcast = Broadcast(MemoryBackend(history=500))
        self.notifications = Feed(self.broadcast, NOTIFICATIONS, self.settings.notification_tail)
        self.logs = Feed(self.broadcast, LOGS, self.settings.log_tail)
        self.progress: Latest[JobProgress] = Latest(JobProgress(0, 0, "waiting", 0.0))
        self.rng = random.Random()
        routes = [Route(path, self.asset, methods=["GET", "HEAD"]) for path in ASSETS]
        routes += [
            Route("/events/progress", self.progress_stream),
            Route("/events/notifications", self.notification_stream),
            Route("/notifications", self.notify, methods=["POST"]),
            Route("/events/logs", self.log_stream),
            Route("/answer", self.answer, methods=["GET", "POST"]),
            Route("/drop", self.drop, methods=["POST"]),
        ]
        self.app: Starlette = Starlette(routes=routes, lifespan=self.lifespan)

    @asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """Start the broadcast and the background tasks; stop them at shutdown."""
        async with self.broadcast, anyio.create_task_group() as tasks:
            await self.log(
                "INFO", "dashboard", f"started; one job takes {self.settings.job_seconds:g} s"
            )
            tasks.start_soon(self.run_jobs)
            tasks.start_soon(self.run_logs)
            yield
            # The server has ended every request by now (Ctrl-C ended the streams):
            # stop the generators, then the broadcast ends any subscription left.
            tasks.cancel_scope.cancel()

    # -- background tasks -------------------------------------------------------------

    async def run_jobs(self) -> None:
        """Run job after job from 0 to 100 %, then rest at 100 % for ``job_pause`` seconds."""
        step = self.settings.job_seconds / 100
        job = 0
        while True:
            job += 1
            started = time.monotonic()
            await self.log("INFO", "jobs", f"job #{job} started")
            for percent in range(101):
                elapsed = time.monotonic() - started
                status: Literal["running", "done"] = "done" if percent == 100 else "running"
                self.progress.set(JobProgress(job, percent, status, round(elapsed, 1)))
                if percent < 100:
                    # Sleep until the next step is due, so the total stays job_seconds.
                    await anyio.sleep(max(0.0, started + step * (percent + 1) - time.monotonic()))
            text = f"Job #{job} finished in {elapsed:.1f} s"
            await self.log("INFO", "jobs", text)
            await self.notify_all(text, level="success", source="job")
            await anyio.sleep(self.settings.job_pause)

    async def run_logs(self) -> None:
        for level, name, message in log_records(self.rng):
            await anyio.sleep(self.settings.log_interval * self.rng.uniform(0.3, 1.7))
            await self.log(level, name, message)

    async def log(self, level: str, name: str, message: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        # raw_data: sent as text, one data: line per line, so a multi-line
        # record arrives as one event with its line breaks.
        await self.logs.publish(ServerSentEvent(raw_data=f"{stamp} {level:<7} {name}: {message}"))

    async def notify_all(self, text: str, *, level: str = "info", source: str = "you") -> str:
        data = {"text": text, "level": level, "source": source, "at": time.strftime("%H:%M:%S")}
        return await self.notifications.publish(ServerSentEvent(data=data, event="notification"))

    # -- endpoints -----------------------------------------------------------------------

    async def asset(self, request: Request) -> Response:
        name, media_type = ASSETS[request.url.path]
        return FileResponse(
            STATIC / name, media_type=media_type, headers={"cache-control": "no-cache"}
        )

    async def progress_stream(self, request: Request) -> Response:
        async def events() -> AsyncIterator[ServerSentEvent]:
            yield ServerSentEvent(retry=RETRY_MS)
            async for state in self.progress.watch():
                yield ServerSentEvent(data=state, event="progress")

        return stream(events())

    async def notification_stream(self, request: Request) -> Response:
        return stream(self.notifications.events(last_event_id(request.scope)))

    async def log_stream(self, request: Request) -> Response:
        return stream(self.logs.events(last_event_id(request.scope)))

    async def notify(self, request: Request) -> Response:
        """``POST {"text": ...}``: publish a notification; the page gets it through the stream."""
        text = await json_field(request, "text")
        if text is None or len(text) > MAX_NOTIFICATION:
            return problem(422, f'send {{"text": "..."}}: 1 to {MAX_NOTIFICATION} characters')
        event_id = await self.notify_all(text)
        await self.log("INFO", "notifications", f"published {event_id}: {text!r}")
        return JSONResponse({"id": event_id}, status_code=201)

    async def answer(self, request: Request) -> Response:
        """Stream a canned answer token by token, then ``event: done`` / ``[DONE]``.

        ``POST {"question": ...}`` (read with fetch, as the page does) or
        ``GET /answer?q=...``; an EventSource must close itself on ``done``,
        or it would reconnect and get the answer again.
        """
        if request.method == "POST":
            question = await json_field(request, "question")
        else:
            question = request.query_params.get("q", "").strip() or None
        if question is None or len(question) > MAX_QUESTION:
            return problem(422, f'send {{"question": "..."}}: 1 to {MAX_QUESTION} characters')

        async def events() -> AsyncIterator[ServerSentEvent]:
            for token in tokens_of(answer_for(question)):
                await anyio.sleep(self.settings.token_delay * self.rng.uniform(0.4, 1.6))
                yield ServerSentEvent(data={"token": token}, event="token")
            yield ServerSentEvent(raw_data="[DONE]", event="done")

        return stream(events())

    async def drop(self, request: Request) -> Response:
        """End every open stream, as a network drop would; the browsers reconnect and resume."""
        return JSONResponse({"closed": close_all_streams()})


def stream(content: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    # send_timeout: a client that stopped reading is dropped after 10 s rather
    # than the default 30 s -- its iterator closed, its subscription ended. The
    # connection itself stays the server's (README: "Clients that stop reading").
    return EventSourceResponse(content, send_timeout=10.0)


async def json_field(request: Request, name: str) -> str | None:
    """The stripped, non-empty string ``name`` of a JSON object body, or None."""
    try:
        body: Any = await request.json()
    except ValueError:
        return None
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        # JSON may carry lone surrogates ("\ud800"): not text an event can
        # hold (ServerSentEvent would refuse it), so a 422 rather than a 500.
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value.strip()


def problem(status: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status)


#: For ``uvicorn examples.dashboard:app``, configured from the environment.
dashboard = Dashboard(Settings.from_env())
app = dashboard.app


# -- the command ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """``python examples/dashboard.py [--port N]``: serve on 127.0.0.1 and print the URL."""
    parser = argparse.ArgumentParser(description="sse-asgi's live dashboard demo.")
    parser.add_argument(
        "--port",
        type=int,
        default=os.environ.get("PORT", "8000"),  # a string default goes through type=int too
        help="port on 127.0.0.1 (default: $PORT or 8000; 0 picks a free one)",
    )
    parser.add_argument(
        "--job-seconds", type=float, help="how long one background job takes (default: 20)"
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn's log level")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    if args.job_seconds is not None:
        settings = replace(settings, job_seconds=args.job_seconds)
    serve(Dashboard(settings).app, args.port, args.log_level)
    print("Dashboard stopped.", flush=True)


def serve(asgi_app: Starlette, port: int, log_level: str) -> None:
    """Run uvicorn on 127.0.0.1 until Ctrl-C; print the URL once it really listens."""
    import uvicorn  # only the command needs a server

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # with --port 0, print the port the system picked
                port = self.servers[0].sockets[0].getsockname()[1]
                print(f"\n  sse-asgi dashboard: http://127.0.0.1:{port}/\n", flush=True)
                print("  Press Ctrl-C to stop.\n", flush=True)

    config = uvicorn.Config(asgi_app, host="127.0.0.1", port=port, log_level=log_level)
    # uvicorn re-raises the Ctrl-C it handled once it has shut down
    # gracefully: nothing is left to do, so no traceback.
    with contextlib.suppress(KeyboardInterrupt):
        AnnouncingServer(config).run()


if __name__ == "__main__":
    main()
