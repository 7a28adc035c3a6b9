"""Litestar, Quart and Django serving sse-asgi streams (``examples/*_app.py``) on a real uvicorn.

Each example serves the same routes two ways: ``/ticks`` and
``/notifications`` with our ``EventSourceResponse`` (a Litestar handler
returns it; a dispatcher in front of Quart and Django calls it), and
``/ticks/stream`` and ``/notifications/stream`` with the framework's own
streaming response over ``event_stream()``. Served instrumented by
``tests/framework_apps.py``: fast ticks, short pings, a marker file when a
``ticks()`` generator closes, and the broadcast's subscriber count.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from .framework_apps import QUART_RESPONSE_TIMEOUT
from .servers import RunningServer, run_server
from .test_e2e_servers import _read_to_end, markers, open_stream, wait_for_marker

FRAMEWORKS = ["litestar", "quart", "django"]
TICKS = ["/ticks", "/ticks/stream"]
NOTIFICATIONS = ["/notifications", "/notifications/stream"]
SERVER = "uvicorn-httptools"


def serve(framework: str, folder: Path) -> AbstractContextManager[RunningServer]:
    (folder / "markers").mkdir()
    env = {"SSE_ASGI_MARKERS": str(folder / "markers")}
    return run_server(SERVER, folder, app=f"tests.framework_apps:{framework}", env=env)


@pytest.fixture(scope="module", params=FRAMEWORKS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    with serve(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running


def subscribers(server: RunningServer) -> int:
    return int(httpx.get(f"{server.url}/_test/subscribers", timeout=5).text)


def wait_for_subscribers(server: RunningServer, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while subscribers(server) != count:
        if time.monotonic() > deadline:
            pytest.fail(f"not {count} subscribers after {timeout} s:\n{server.log()}")
        time.sleep(0.02)


@pytest.mark.parametrize("path", TICKS)
def test_events_arrive_and_a_disconnect_closes_the_generator(
    server: RunningServer, path: str
) -> None:
    before = markers(server, "ticks")
    with open_stream(server, path) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert stream.response.headers["cache-control"] == "no-cache"
        events = [stream.next_event() for _ in range(3)]
        stream.response.close()
    assert [(e.event, e.id, e.json()) for e in events] == [
        ("tick", str(i), {"tick": i}) for i in range(3)
    ]
    wait_for_marker(server, "ticks", before)


@pytest.mark.parametrize("path", NOTIFICATIONS)
def test_broadcast_subscription(server: RunningServer, path: str) -> None:
    with open_stream(server, path) as stream:
        wait_for_subscribers(server, 1)
        published = httpx.post(f"{server.url}/notify", json={"message": "hello"}, timeout=5)
        event = stream.next_event()
        assert (event.id, event.json()) == (published.json()["id"], {"message": "hello"})
        stream.response.close()
    wait_for_subscribers(server, 0)  # the subscription was closed with the stream


@pytest.mark.parametrize("server", ["quart"], indirect=True)
def test_quart_streams_outlast_its_response_timeout(server: RunningServer) -> None:
    with open_stream(server, "/ticks/stream") as stream:
        started = time.monotonic()
        while stream.next_event().json()["tick"] < 10:
            pass
        assert time.monotonic() - started > QUART_RESPONSE_TIMEOUT


@pytest.mark.parametrize("path", NOTIFICATIONS)
def test_keep_alive_pings_while_idle(server: RunningServer, path: str) -> None:
    started = time.monotonic()
    with open_stream(server, path) as stream:
        stream.read_until(b": ping\n\n")
        assert time.monotonic() - started >= 0.15
        assert stream.raw.startswith(b": ping\n\n")  # nothing else was sent


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_ctrl_c_with_open_streams(framework: str, tmp_path: Path) -> None:
    outcome: dict[str, str] = {}
    with serve(framework, tmp_path) as server:
        threads, opened = [], []
        for path in TICKS + NOTIFICATIONS:
            opened.append(threading.Event())
            args = (server, path, opened[-1], outcome)
            threads.append(threading.Thread(target=_read_to_end, args=args))
            threads[-1].start()
        # One event for each subscription to read, then nothing more: idle streams.
        wait_for_subscribers(server, len(NOTIFICATIONS))
        httpx.post(f"{server.url}/notify", json={"message": "hello"}, timeout=5)
        for path, event in zip(TICKS + NOTIFICATIONS, opened, strict=True):
            assert event.wait(10), f"{path} did not open:\n{server.log()}"
        os.killpg(server.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        took = server.wait(timeout=10)
        for thread in threads:
            thread.join(10)
        log = server.log()
    assert took < 2.0, f"{framework} took {took:.2f} s to exit:\n{log}"
    assert outcome == dict.fromkeys(TICKS + NOTIFICATIONS, "clean end"), log
    assert len(list((tmp_path / "markers").glob("ticks-*"))) == len(TICKS), log
