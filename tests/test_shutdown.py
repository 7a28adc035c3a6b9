"""The signal hook and close_all_streams, in-process and in subprocesses."""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import textwrap
import threading
import weakref
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
    state = _shutdown.shutdown
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    before = (state.hook_wanted, {k: list(v) for k, v in state._chained.items()}, state.final_event)
    signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        yield calls
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        state.hook_wanted, chained, state.final_event = before
        state._chained.clear()
        state._chained.update(chained)
        state._stopping.clear()


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


def test_the_hook_chains_once_and_is_found_again_after_a_server_restores_its_handler(
    clean_hook: list[int],
) -> None:
    state = _shutdown.shutdown
    install_signal_hook()
    hook = signal.getsignal(signal.SIGTERM)
    assert isinstance(hook, _shutdown._Hook)
    install_signal_hook()  # never wraps itself
    assert state._chained[signal.SIGTERM] == [hook]
    assert callable(hook.chained)
    assert not isinstance(hook.chained, _shutdown._Hook)
    # A server restores its handlers on exit and the next one installs new ones,
    # before its first stream starts:
    signal.signal(signal.SIGTERM, lambda signum, frame: clean_hook.append(-signum))
    state.hook_wanted = True
    state.hook_signals()  # what Shutdown.open() does for every stream
    assert isinstance(signal.getsignal(signal.SIGTERM), _shutdown._Hook)
    signal.raise_signal(signal.SIGTERM)
    assert clean_hook == [-signal.SIGTERM]


def test_uninstall_restores_the_previous_handlers(clean_hook: list[int]) -> None:
    before = signal.getsignal(signal.SIGTERM)
    install_signal_hook()
    uninstall_signal_hook()
    assert signal.getsignal(signal.SIGTERM) is before
    anyio.run(run_one_stream)  # no automatic re-install after an uninstall
    assert signal.getsignal(signal.SIGTERM) is before


async def run_one_stream() -> None:
    client = FakeClient()
    await EventSourceResponse([1])(http_scope(), client.receive, client.send)
    assert client.completed


def test_a_starting_stream_installs_the_hook(clean_hook: list[int]) -> None:
    """Shutdown.open(), which every stream calls, is the path that installs it."""
    _shutdown.shutdown.hook_wanted = True
    assert not isinstance(signal.getsignal(signal.SIGTERM), _shutdown._Hook)
    anyio.run(run_one_stream)
    assert isinstance(signal.getsignal(signal.SIGTERM), _shutdown._Hook)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_loop_that_ran_streams_and_was_told_to_stop_can_be_collected(
    clean_hook: list[int], backend: str
) -> None:
    """The state keeps no event loop alive: the loops a signal stopped are held weakly."""
    from sse_asgi._eventloop import running_loop

    loops: list[weakref.ref[object]] = []

    async def main() -> None:
        loops.append(weakref.ref(running_loop()))
        client = FakeClient()
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                EventSourceResponse(forever([])), http_scope(), client.receive, client.send
            )
            await client.wait_for(lambda: len(client.events) == 1)
            signal.raise_signal(signal.SIGTERM)  # the loop is now one told to stop
        assert client.completed

    install_signal_hook()
    anyio.run(main, backend=backend)
    assert clean_hook == [signal.SIGTERM]
    assert not _shutdown.shutdown.streams
    gc.collect()
    assert loops[0]() is None


def test_nothing_is_kept_once_the_streams_end(clean_hook: list[int]) -> None:
    """No stream, no handler the server took back, and no cycle through a finished stream."""
    content = forever([])
    collected = weakref.ref(content)

    async def main(content: AsyncIterator[int]) -> None:
        client = FakeClient()
        async with anyio.create_task_group() as tg:
            tg.start_soon(EventSourceResponse(content), http_scope(), client.receive, client.send)
            await client.wait_for(lambda: len(client.events) == 1)
            # The server restores its own handlers (as at its exit) before the stream ends:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_IGN)
            client.disconnected.set()

    install_signal_hook()
    assert _shutdown.shutdown._chained
    gc.disable()
    try:
        anyio.run(main, content)
        del content
        # Freed by reference counting alone: the send loop, its driver and the
        # iterator form no cycle that outlives the stream.
        assert collected() is None
    finally:
        gc.enable()
    assert not _shutdown.shutdown.streams
    assert not _shutdown.shutdown._chained


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


def test_uninstalling_off_the_main_thread_keeps_the_chain(clean_hook: list[int]) -> None:
    """No handler can be restored from another thread: the hook stays, and still chains."""
    install_signal_hook()
    hook = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=uninstall_signal_hook)
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGTERM) is hook
    signal.raise_signal(signal.SIGTERM)
    assert clean_hook == [signal.SIGTERM]  # the server still hears it


SERVER_SCRIPT = """
import gc, signal, sys, weakref
sys.path.insert(0, {root!r})
import anyio
from sse_asgi import EventSourceResponse, install_signal_hook
from tests.asgi_fakes import FakeClient, http_scope

async def one_stream():
    client = FakeClient()
    await EventSourceResponse([1])(http_scope(), client.receive, client.send)

class Server:
    calls = 0

    def handle_exit(self, signum, frame):
        self.calls += 1

install_signal_hook()  # as documented: before uvicorn.run()
server = Server()
found = signal.getsignal(signal.SIGINT)  # the server, starting: keeps what it found...
signal.signal(signal.SIGINT, server.handle_exit)  # ...and installs its own
anyio.run(one_stream)  # a stream runs while it serves: the hook chains onto the server's
signal.raise_signal(signal.SIGINT)
print("server heard it", server.calls)
signal.signal(signal.SIGINT, found)  # the server stops: it puts back what it found
stopped = weakref.ref(server)
del server
try:
    signal.raise_signal(signal.SIGINT)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
gc.collect()
print("stopped server kept", stopped() is not None)
"""


def test_a_hook_installed_before_the_server_still_ends_in_keyboard_interrupt() -> None:
    """install_signal_hook() before a server that keeps and later restores the handler it found."""
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run(
        [sys.executable, "-c", SERVER_SCRIPT.format(root=root)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.stdout.splitlines() == [
        "server heard it 1",
        "KeyboardInterrupt",
        "stopped server kept False",
    ], result.stderr
