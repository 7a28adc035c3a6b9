"""A scripted SSE server for the client tests (ours and Chromium's ``EventSource``), run by uvicorn.

``/scenario/<name>?key=K`` answers the n-th request for ``K`` with step n of
``SCENARIOS[name]``, and every request after the last step with the
scenario's ``after`` reply (204 unless it says otherwise). Steps write exact
bytes (the scenarios test the client's parser and processing model, not our
encoder) and end the response cleanly, by dropping the connection, or by
going silent. ``/redirect/<name>?key=K`` redirects (307) to the scenario,
``/cross-origin/<name>?key=K`` (301) to it on ``localhost`` instead of
``127.0.0.1``: another origin. ``/stats?key=K`` returns the requests seen
for ``K`` (path, host, method, ``Last-Event-ID``, ``Accept``,
``Accept-Encoding``, ``Cache-Control``, ``Pragma``, ``Authorization``,
``Cookie``, body)
as JSON, ``/disconnects?key=K`` how many silent responses saw their client
leave; ``/`` serves the browser tests' page, so the browser's streams are
same-origin. With ``&hold=1``, a step that drops its connection does so only
once ``/release?key=K`` was requested: the test's word that the client has
handled what came before.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import anyio
import orjson

from sse_asgi.types import Receive, Scope, Send
from tests.browser.browser_app import PAGE
from tests.e2e_app import lifespan, read_body
from tests.servers import RunningServer, run_server

Part = bytes | float  # bytes to send, or seconds to wait


@dataclass(frozen=True)
class Step:
    """One response: ``parts`` in order, then ``end``."""

    parts: tuple[Part, ...] = ()
    status: int = 200
    content_type: bytes | None = b"text/event-stream"
    #: "eof": a clean end; "drop": the connection is cut mid-body (an ASGI
    #: error, so the server never sends the last chunk); "hang": silence
    #: until the client leaves.
    end: Literal["eof", "drop", "hang"] = "eof"
    #: More response headers; ``{key}`` in a value is replaced by the key,
    #: ``{n}`` by the request's number (0 for the first).
    headers: tuple[tuple[bytes, bytes], ...] = ()
    #: False: not even the response head is sent; silence until the client leaves.
    head: bool = True


def stream(*parts: Part, end: Literal["eof", "drop", "hang"] = "eof") -> Step:
    return Step(parts, end=end)


def reply(status: int, content_type: bytes | None, body: bytes = b"") -> Step:
    return Step((body,) if body else (), status=status, content_type=content_type)


@dataclass(frozen=True)
class Scenario:
    steps: tuple[Step, ...]
    after: Step = field(default_factory=lambda: reply(204, None))


# 1.5 s of pings 0.1 s apart: longer than the test's 1 s read timeout, with
# a margin a loaded CI machine does not eat.
PINGS: list[Part] = [0.1, b": ping\n\n"] * 15


def gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return compressor.compress(data) + compressor.flush()


def gzip_flushed(data: bytes) -> bytes:
    """The start of a gzip stream: ``data``, flushed, and no end."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


#: 16 MiB of events, gzipped twice: about 16 KiB on the wire.
BOMB_EVENTS = 16 * 1024 * 1024 // len(b"data: x\n\n")
BOMB = gzip(gzip(b"data: x\n\n" * BOMB_EVENTS))

# retry: 20 first, so that a browser reconnects at once too (its default is 3 s).
R = b"retry: 20\n"

SCENARIOS: dict[str, Scenario] = {
    # Each connection ends; the next carries the last event ID; an event without
    # an id field keeps the previous one.
    "resume": Scenario(
        (
            stream(R + b"id: 1\ndata: one\n\nevent: update\nid: 2\ndata: two\n\n"),
            stream(R + b"data: three\n\n", R + b"id: 3\ndata: four\ndata: lines\n\n"),
        )
    ),
    # The last event has no blank line when the body ends: never dispatched, and
    # its id never becomes the last event ID.
    "truncated": Scenario(
        (
            stream(R + b"id: 1\ndata: kept\n\nid: 2\ndata: cut off"),
            stream(R + b"data: after\n\n"),
        )
    ),
    # The same, but the connection breaks (no final chunk): a network error.
    "drop": Scenario(
        (
            stream(R + b"id: 1\ndata: kept\n\nid: 2\ndata: cut off", end="drop"),
            stream(R + b"data: after\n\n"),
        )
    ),
    # `id` with no value clears the last event ID: no header on reconnection.
    "clear_id": Scenario(
        (
            stream(R + b"id: 5\ndata: a\n\nid\ndata: b\n\n"),
            stream(R + b"data: c\n\n"),
        )
    ),
    # A block with an id and no data dispatches nothing but sets the last event ID.
    "id_only": Scenario(
        (
            stream(R + b"id: 9\ndata: a\n\nid: 10\n\n"),
            stream(R + b"data: b\n\n"),
        )
    ),
    # Non-ASCII ids go back UTF-8 encoded; an id containing NUL is ignored;
    # spaces around an id are not part of an HTTP header's value.
    "unicode_id": Scenario(
        (
            stream(R + "id: évé-✓\ndata: x\n\n".encode()),
            stream(R + b"id: a\x00b\ndata: nul ignored\n\n"),
            stream(R + b"id:  sp ace \ndata: spaced\n\n"),
            stream(R + b"data: last\n\n"),
        )
    ),
    # The parser's corners: BOM, CRLF and CR, comments, a retry-only block,
    # field names without a colon, an unknown field, a space kept in a value.
    "wire": Scenario(
        (
            stream(
                b"\xef\xbb\xbf" + R + b": comment\r\ndata: crlf\r\n\r\n",
                b"data: cr\rdata\r\r",
                b"retry: 30\n\nevent: typed\nfoo: bar\ndata:  two spaces\n\n",
                b"data\ndata\n\nEvent: upper\ndata: case\n\n",
            ),
        )
    ),
    # Redirected (307) to "redirected": where do reconnections go?
    "redirected": Scenario(
        (
            stream(R + b"id: r1\ndata: first\n\n"),
            stream(R + b"data: second\n\n"),
        )
    ),
    # Failed connections: nothing dispatched, nothing retried.
    "status_500": Scenario((reply(500, b"text/plain", b"boom"),)),
    "status_201": Scenario((reply(201, b"text/event-stream", b"data: x\n\n"),)),
    "text_plain": Scenario((reply(200, b"text/plain", b"data: x\n\n"),)),
    "no_content_type": Scenario((reply(200, None, b"data: x\n\n"),)),
    # ... and content types that do open a stream.
    "charset": Scenario(
        (Step((R + b"data: latin\n\n",), content_type=b"text/event-stream;charset=latin-1"),)
    ),
    "charset_utf8": Scenario(
        (Step((R + b"data: utf8\n\n",), content_type=b"text/event-stream; charset=UTF-8"),)
    ),
    "charset_quoted": Scenario(
        (Step((R + b"data: quoted\n\n",), content_type=b'text/event-stream;charset="utf-8"'),)
    ),
    "charset_utf8_nodash": Scenario(
        (Step((R + b"data: nodash\n\n",), content_type=b"text/event-stream; charset=utf8"),)
    ),
    "two_types": Scenario(
        (Step((R + b"data: two\n\n",), content_type=b"text/plain, text/event-stream"),)
    ),
    "type_params": Scenario(
        (Step((R + b"data: params\n\n",), content_type=b"text/event-stream; foo=bar"),)
    ),
    "uppercase_type": Scenario(
        (Step((R + b"data: upper\n\n",), content_type=b"Text/Event-Stream"),)
    ),
    "immediate_204": Scenario(()),
    # Hostile servers. Compressed streams: httpx would expand a whole read at once.
    "gzip": Scenario(
        (Step((gzip(R + b"id: 1\ndata: zipped\n\n"),), headers=((b"content-encoding", b"gzip"),)),)
    ),
    "gzip_bomb": Scenario(
        (Step((BOMB,), headers=((b"content-encoding", b"gzip, gzip"),)),),
    ),
    "brotli": Scenario((Step((b"data: x\n\n",), headers=((b"content-encoding", b"br"),)),)),
    # A gzip stream that turns to garbage: a broken connection, so reconnect.
    "gzip_corrupt": Scenario(
        (
            Step(
                (gzip_flushed(R + b"id: 1\ndata: a\n\nid: 2\ndata: cut"), 0.2, b"\xff" * 64),
                headers=((b"content-encoding", b"gzip"),),
            ),
            stream(R + b"data: b\n\n"),
        )
    ),
    # A redirect whose body never ends: httpx would read it all before following.
    "redirect_endless_body": Scenario(
        (
            Step(
                (b"moved " * 1000,),
                status=302,
                content_type=b"text/plain",
                end="hang",
                headers=((b"location", b"/scenario/redirect_endless_body?key={key}"),),
            ),
            stream(R + b"id: 1\ndata: after the redirect\n\n"),
        )
    ),
    "redirect_loop": Scenario(
        (), after=Step(status=302, headers=((b"location", b"/scenario/redirect_loop?key={key}"),))
    ),
    # `retry: 0`, and the stream ends at once with no event: a reconnection storm?
    "instant_close": Scenario(tuple(stream(b"retry: 0\n: nothing\n\n") for _ in range(5))),
    # A failed response whose body keeps coming (a stream with the wrong type).
    "slow_error_200": Scenario((Step((b"data: x\n\n",), content_type=b"text/plain", end="hang"),)),
    "slow_error_500": Scenario(
        (Step((b"starting...",), status=500, content_type=b"text/plain", end="hang"),)
    ),
    # Every response sets 100 new cookies, and one too large to keep.
    "cookie_flood": Scenario(
        tuple(
            Step(
                (R + b"data: x\n\n",),
                headers=(
                    *((b"set-cookie", b"c{n}_%d=v" % i) for i in range(100)),
                    (b"set-cookie", b"big{n}=" + b"v" * 5000),
                ),
            )
            for _ in range(3)
        )
    ),
    # A retry field that does not fit a float, in milliseconds.
    "huge_retry": Scenario((stream(b"retry: " + b"9" * 400 + b"\nid: 1\ndata: x\n\n"),)),
    # Ids no HTTP header can carry, or not UTF-8 on the wire.
    "control_id": Scenario((stream(R + b"id: a\x0cb\ndata: x\n\n"),)),
    "invalid_utf8_id": Scenario(
        (stream(R + b"id: \xff\xfe-\xc3\ndata: x\n\n"), stream(R + b"data: y\n\n"))
    ),
    # Silent before the response head (a client cancelled while connecting).
    "no_head": Scenario((Step(head=False, end="hang"),)),
    # For retry_on_status and max_attempts (not something a browser retries).
    "retry_503": Scenario(
        (
            reply(503, b"text/plain", b"busy"),
            reply(503, b"text/plain", b"busy"),
            stream(b"id: 1\ndata: ok\n\n"),
        )
    ),
    "always_503": Scenario((), after=reply(503, b"application/json", b'{"error": "busy"}')),
    # Silent after one event (read_timeout), then one more event.
    "silent": Scenario(
        (
            stream(b"id: 1\ndata: a\n\n", end="hang"),
            stream(b"data: b\n\n"),
        )
    ),
    # Keep-alive comments only, for longer than a read timeout, then an event.
    "pinging": Scenario((stream(b"data: early\n\n", *PINGS, b"data: late\n\n"),)),
    # An endless stream, for the CLI's Ctrl-C and max-events.
    "endless": Scenario((stream(b"id: 1\ndata: one\n\nid: 2\ndata: two\n\n", end="hang"),)),
}

#: Event types the scenarios use besides "message" (a browser needs a listener each).
EVENT_TYPES = ["update", "typed", "upper"]


@dataclass
class Requests:
    seen: list[dict[str, Any]] = field(default_factory=list)
    #: How many silent ("hang") responses saw their client leave.
    disconnects: int = 0


STATS: dict[str, Requests] = {}
#: Per key: set by ``/release``, awaited by a held step before it drops its connection.
RELEASES: dict[str, anyio.Event] = {}


def _release_of(key: str) -> anyio.Event:
    if key not in RELEASES:
        RELEASES[key] = anyio.Event()
    return RELEASES[key]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("utf-8", "replace")
    return None


async def _send_head(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _run_step(
    step: Step, receive: Receive, send: Send, requests: Requests, key: str, n: int, hold: bool
) -> None:
    if not step.head:
        await _wait_for_disconnect(receive, requests)
        return
    headers = [] if step.content_type is None else [(b"content-type", step.content_type)]
    for name, value in step.headers:
        headers.append((name, value.replace(b"{key}", key.encode()).replace(b"{n}", b"%d" % n)))
    await _send_head(send, step.status, headers)
    for part in step.parts:
        if isinstance(part, float):
            await anyio.sleep(part)
        else:
            await send({"type": "http.response.body", "body": part, "more_body": True})
    if step.end == "drop":
        if hold:
            await _release_of(key).wait()
        raise RuntimeError("the scenario drops the connection here")
    if step.end == "hang":
        await _wait_for_disconnect(receive, requests)
        return
    await send({"type": "http.response.body", "body": b""})


async def _wait_for_disconnect(receive: Receive, requests: Requests) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    requests.disconnects += 1


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
    key = query.get("key", "")
    if path == "/":
        await _send_head(send, 200, [(b"content-type", b"text/html; charset=utf-8")])
        await send({"type": "http.response.body", "body": PAGE.read_bytes()})
        return
    if path == "/release":
        _release_of(key).set()
        await _send_head(send, 204, [])
        await send({"type": "http.response.body", "body": b""})
        return
    if path in ("/stats", "/disconnects"):
        stats = STATS.get(key, Requests())
        answer = stats.seen if path == "/stats" else stats.disconnects
        await _send_head(send, 200, [(b"content-type", b"application/json")])
        await send({"type": "http.response.body", "body": orjson.dumps(answer)})
        return
    stats = STATS.setdefault(key, Requests())
    requests = stats.seen
    requests.append(
        {
            "path": path,
            "host": _header(scope, b"host"),
            "method": scope["method"],
            "last_event_id": _header(scope, b"last-event-id"),
            "accept": _header(scope, b"accept"),
            "accept_encoding": _header(scope, b"accept-encoding"),
            "cache_control": _header(scope, b"cache-control"),
            "pragma": _header(scope, b"pragma"),
            "authorization": _header(scope, b"authorization"),
            "cookie": _header(scope, b"cookie"),
            "body": (await read_body(receive)).decode("utf-8", "replace"),
        }
    )
    kind, _, name = path.strip("/").partition("/")
    if kind in ("redirect", "cross-origin"):
        location = f"/scenario/{name}?key={key}"
        if kind == "cross-origin":
            location = f"http://localhost:{scope['server'][1]}{location}"
        status = 307 if kind == "redirect" else 301
        await _send_head(
            send, status, [(b"location", location.encode()), (b"content-length", b"0")]
        )
        await send({"type": "http.response.body", "body": b""})
        return
    scenario = SCENARIOS.get(name) if kind == "scenario" else None
    if scenario is None:
        await _send_head(send, 404, [(b"content-type", b"text/plain")])
        await send({"type": "http.response.body", "body": b"no such scenario"})
        return
    # The n-th request for this key and scenario gets step n.
    n = sum(1 for r in requests if r["path"] == path) - 1
    step = scenario.steps[n] if n < len(scenario.steps) else scenario.after
    await _run_step(step, receive, send, stats, key, n, hold=query.get("hold") == "1")


# -- for the tests: the server, and what it saw ----------------------------------------------


def serve(
    folder: Path, kind: str = "uvicorn-httptools"
) -> contextlib.AbstractContextManager[RunningServer]:
    """This app on a real server with a free port."""
    return run_server(kind, folder, app="tests.client_app:app")


def scenario_url(
    server: RunningServer, name: str, *, via: str = "scenario", hold: bool = False
) -> tuple[str, str]:
    """A fresh key's URL for scenario ``name``, and the key; ``hold``: its drops wait for
    :func:`release` (``via="scenario"`` only: a redirect does not keep it)."""
    key = uuid.uuid4().hex
    return f"{server.url}/{via}/{name}?key={key}{'&hold=1' if hold else ''}", key


def release(server: RunningServer, key: str) -> None:
    """Let the held responses of ``key`` drop their connection."""
    with urllib.request.urlopen(f"{server.url}/release?key={key}", timeout=5) as response:
        assert response.status == 204


def server_stats(server: RunningServer, key: str, what: str = "stats") -> Any:
    with urllib.request.urlopen(f"{server.url}/{what}?key={key}", timeout=5) as response:
        return json.load(response)


def requests_seen(server: RunningServer, key: str) -> list[dict[str, Any]]:
    """The requests the server saw for ``key``, in order."""
    seen: list[dict[str, Any]] = server_stats(server, key)
    return seen


def last_event_ids(server: RunningServer, key: str) -> list[str | None]:
    """The ``Last-Event-ID`` of each request for ``key`` (``None``: no header)."""
    return [r["last_event_id"] for r in requests_seen(server, key)]
