"""The signal hook and close_all_streams, in-process and in subprocesses."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from sse_asgi import (
    EventSourceResponse,
    ServerSentEvent,
    _shutdown,
    install_signal_hook,
    uninstall_signal_hook,
)

from .asgi_fakes import FakeClient, http_scope


@pytest.fixture
def clean_hook() -> Iterator[list[int]]:
    """A recording SIGTERM handler as "the server's", and the hook's state restored afterwards."""
    calls: list[int] = []
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    state = (_shutdown._auto, dict(_shutdown._previous), _shutdown._final_event)
    parent = (_shutdown._parent_looked, _shutdown._parent_watch)
    signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        yield calls
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        _shutdown._auto, previous, _shutdown._final_event = state
        _shutdown._previous.clear()
        _shutdown._previous.update(previous)
        _shutdown._stopping.clear()
        _shutdown._parent_looked, _shutdown._parent_watch = parent


async def forever(closed: list[str]) -> AsyncIterator[int]:
    try:
        yield 1
        await anyio.sleep_forever()
    finally:
        closed.append("closed")


@pytest.mark.anyio
async def test_signal_ends_streams_then_calls_the_servers_handler(clean_hook: list[int]) -> None:
    closed: list[str] = []
    client = FakeClient()
    assert install_signal_hook(ServerSentEvent(event="bye", retry=500))
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            EventSourceResponse(forever(closed)), http_scope(), client.receive, client.send
        )
        await client.wait_for(lambda: len(client.events) == 1)
        signal.raise_signal(signal.SIGTERM)
    assert clean_hook == [signal.SIGTERM]  # the server's handler still ran
    assert closed == ["closed"]
    assert client.body.endswith(b"event: bye\nretry: 500\n\n")
    assert client.completed


@pytest.mark.anyio
async def test_streams_starting_after_the_signal_end_at_once(clean_hook: list[int]) -> None:
    closed: list[str] = []
    install_signal_hook()
    first = FakeClient()
    async with anyio.create_task_group() as tg:
        tg.start_soon(EventSourceResponse(forever(closed)), http_scope(), first.receive, first.send)
        await first.wait_for(lambda: len(first.events) == 1)
        signal.raise_signal(signal.SIGTERM)
    late = FakeClient()
    with anyio.fail_after(5):
        await EventSourceResponse(forever(closed))(http_scope(), late.receive, late.send)
    assert late.completed
    assert closed == ["closed", "closed"]


def hypercorn_worker(
    config: object = None, sockets: object = None, shutdown_event: object = None
) -> None:
    """Stands in for hypercorn's worker function, the target of its worker processes."""


hypercorn_worker.__module__ = "hypercorn.asyncio.run"


class SpawnedWorker:
    """What multiprocessing.current_process() is in a worker hypercorn spawned."""

    def __init__(self, target: object, shutdown_event: threading.Event) -> None:
        self._target = target
        self._kwargs = {"config": None, "sockets": None, "shutdown_event": shutdown_event}


@pytest.fixture
def in_hypercorn_worker(monkeypatch: pytest.MonkeyPatch, clean_hook: list[int]) -> threading.Event:
    """This process dressed as hypercorn's worker; the event is its parent's shutdown_event."""
    import multiprocessing

    shutdown_event = threading.Event()
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    monkeypatch.setattr(
        multiprocessing, "current_process", lambda: SpawnedWorker(hypercorn_worker, shutdown_event)
    )
    _shutdown._parent_looked = False
    return shutdown_event


@pytest.mark.anyio
async def test_hypercorns_parent_telling_its_worker_to_stop_ends_the_streams(
    in_hypercorn_worker: threading.Event,
) -> None:
    closed: list[str] = []
    client = FakeClient()
    install_signal_hook(ServerSentEvent(event="bye"))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                EventSourceResponse(forever(closed)), http_scope(), client.receive, client.send
            )
            await client.wait_for(lambda: len(client.events) == 1)
            in_hypercorn_worker.set()  # what hypercorn's parent does on SIGTERM
    assert closed == ["closed"]
    assert client.body.endswith(b"data: 1\n\nevent: bye\n\n")
    assert client.completed


@pytest.mark.anyio
async def test_the_hypercorn_watch_is_off_with_the_hook(
    in_hypercorn_worker: threading.Event,
) -> None:
    closed: list[str] = []
    client = FakeClient()
    install_signal_hook()
    uninstall_signal_hook()
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            EventSourceResponse(forever(closed)), http_scope(), client.receive, client.send
        )
        await client.wait_for(lambda: len(client.events) == 1)
        in_hypercorn_worker.set()
        await anyio.sleep(0.3)
        assert closed == []
        assert not client.completed
        tg.cancel_scope.cancel()


def test_other_spawned_processes_are_not_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    def worker(shutdown_event: object = None) -> None:
        """Somebody else's process target, with an argument of the same name."""

    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    monkeypatch.setattr(
        multiprocessing, "current_process", lambda: SpawnedWorker(worker, threading.Event())
    )
    assert _shutdown._hypercorn_shutdown_event() is None
    monkeypatch.setattr(
        multiprocessing,
        "current_process",
        lambda: SpawnedWorker(hypercorn_worker, threading.Event()),
    )
    assert _shutdown._hypercorn_shutdown_event() is not None
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
    assert _shutdown._hypercorn_shutdown_event() is None


def test_the_hook_chains_once_and_is_found_again_after_a_server_restores_its_handler(
    clean_hook: list[int],
) -> None:
    install_signal_hook()
    assert signal.getsignal(signal.SIGTERM) is _shutdown._on_signal
    install_signal_hook()  # never wraps itself
    assert callable(_shutdown._previous[signal.SIGTERM])
    assert _shutdown._previous[signal.SIGTERM] is not _shutdown._on_signal
    # A server restores its handlers on exit and the next one installs new ones:
    signal.signal(signal.SIGTERM, lambda signum, frame: clean_hook.append(-signum))
    _shutdown._auto = True
    _shutdown.on_stream_start(None)
    assert signal.getsignal(signal.SIGTERM) is _shutdown._on_signal
    signal.raise_signal(signal.SIGTERM)
    assert clean_hook == [-signal.SIGTERM]


def test_uninstall_restores_the_previous_handlers(clean_hook: list[int]) -> None:
    before = signal.getsignal(signal.SIGTERM)
    install_signal_hook()
    uninstall_signal_hook()
    assert signal.getsignal(signal.SIGTERM) is before
    _shutdown.on_stream_start(None)  # no automatic re-install after an uninstall
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_hook_is_not_installed_at_import_time() -> None:
    code = "import signal, sse_asgi; print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True"


STREAM_SCRIPT = """
import os, signal, asyncio, sys
sys.path.insert(0, {root!r})
from sse_asgi import EventSourceResponse
from tests.asgi_fakes import FakeClient, http_scope

{setup}

async def gen():
    try:
        yield 1
        await asyncio.sleep(30)
    finally:
        print("finally ran", flush=True)

async def main():
    client = FakeClient()
    task = asyncio.create_task(EventSourceResponse(gen())(http_scope(), client.receive, client.send))
    await client.wait_for(lambda: len(client.events) == 1)
    os.kill(os.getpid(), signal.SIGTERM)
    await task
    print("completed" if client.completed else "not completed", flush=True)
    await asyncio.sleep(5)
    print("still alive", flush=True)

asyncio.run(main())
"""


def run_script(setup: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    script = STREAM_SCRIPT.format(root=root, setup=textwrap.dedent(setup))
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_a_default_disposition_still_terminates_after_the_streams_end() -> None:
    result = run_script("")  # SIGTERM left at SIG_DFL, as in hypercorn's workers
    assert result.stdout.splitlines() == ["finally ran", "completed"]
    assert result.returncode == -signal.SIGTERM


def test_an_ignored_signal_ends_the_streams_and_stays_ignored() -> None:
    result = run_script("signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    assert result.stdout.splitlines() == ["finally ran", "completed", "still alive"]
    assert result.returncode == 0


def test_the_hook_can_be_turned_off_with_the_environment() -> None:
    code = textwrap.dedent(
        """
        import asyncio, signal, sys
        sys.path.insert(0, {root!r})
        from sse_asgi import EventSourceResponse
        from tests.asgi_fakes import FakeClient, http_scope

        def server_handler(signum, frame):
            pass

        async def main():
            signal.signal(signal.SIGTERM, server_handler)
            client = FakeClient()
            task = asyncio.create_task(EventSourceResponse([1])(http_scope(), client.receive, client.send))
            await task
            print(signal.getsignal(signal.SIGTERM) is server_handler)

        asyncio.run(main())
        """
    )
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    for value, expected in (("0", "True"), ("1", "False")):
        result = subprocess.run(
            [sys.executable, "-c", code.format(root=root)],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "SSE_ASGI_SIGNAL_HOOK": value},
            check=True,
        )
        assert result.stdout.strip() == expected


def test_close_all_streams_outside_a_signal(clean_hook: list[int]) -> None:
    from sse_asgi import close_all_streams

    assert close_all_streams() == 0
