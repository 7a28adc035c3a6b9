"""Ending open streams: on the app's request, and when the server is told to stop.

Servers shut down gracefully by waiting for open responses to finish -- and
an SSE response never finishes on its own, so Ctrl-C or SIGTERM leaves the
server "waiting for connections to close" (uvicorn forever, others until a
timeout). Two ways out:

- :func:`close_all_streams` ends every open stream cleanly, optionally with
  a final event; call it from your own shutdown code.
- The signal hook does it for you: when a stream starts, sse-asgi chains
  onto the process's SIGINT and SIGTERM handling (the server's own
  handlers, installed at its startup). On a signal it ends every open
  stream (on each stream's event loop, safely) and then lets the previous
  disposition apply, so the server's graceful shutdown finds nothing left
  to wait for. It is not installed at import time, it never touches a
  server's code, and it is off with ``SSE_ASGI_SIGNAL_HOOK=0`` or
  :func:`uninstall_signal_hook`.

hypercorn's CLI runs the app in a worker process that no signal reaches: its
parent hears SIGTERM and tells the worker through a ``multiprocessing.Event``
handed to the worker as its ``shutdown_event`` argument. Part of the same
hook, a thread waits on that event and ends the streams when it is set, so
the worker's graceful shutdown finds nothing to wait for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._event import ServerSentEvent

__all__ = [
    "RunningStream",
    "close_all_streams",
    "install_signal_hook",
    "on_stream_start",
    "registry",
    "uninstall_signal_hook",
]

logger = logging.getLogger("sse_asgi")


class RunningStream(Protocol):
    """What the registry holds: the send loop, or an ``event_stream()``'s producer."""

    def close(self, final_event: ServerSentEvent | None = None) -> None:
        """End the stream (called on its event loop): send ``final_event``, then finish."""

    def call_soon_threadsafe(self) -> Callable[[Callable[[], object]], object] | None:
        """The stream's event loop's thread- and signal-safe "run this soon", once running."""


#: The streams currently running in this process.
registry: set[RunningStream] = set()

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_previous: dict[int, Any] = {}  # signal -> the disposition we chained onto
_final_event: ServerSentEvent | None = None
# Hook automatically on every new stream unless turned off.
_auto = os.environ.get("SSE_ASGI_SIGNAL_HOOK", "1") != "0"
# Event loops (their thread-safe call_soon) told to shut down: new streams there end at once.
_stopping: set[Callable[[Callable[[], object]], object]] = set()
# With a default disposition, the signal is delivered again after the streams
# ended: at most this long after it arrived, plus a moment for the server.
_DEFAULT_ACTION_DELAY = 1.5
_DEFAULT_ACTION_SETTLE = 0.5
_parent_lock = threading.Lock()
_parent_looked = False  # whether we looked for a server parent's shutdown event yet
_parent_watch = False  # whether that event, once set, ends the streams


def close_all_streams(final_event: ServerSentEvent | None = None) -> int:
    """End every open stream in this process: send ``final_event`` (if given), then finish the body.

    Each stream's iterator is closed (its ``finally`` blocks run) and its
    client sees a clean end of stream; a browser ``EventSource`` then
    reconnects after its retry delay -- to another worker, during a rolling
    deploy. Call it from the event loop thread, e.g. in a lifespan shutdown
    handler. Returns how many streams were asked to close.

    Example (in a lifespan's shutdown, typically; here with a stream open):

    ```py
    import anyio

    from sse_asgi import EventSourceResponse, ServerSentEvent, close_all_streams
    from sse_asgi.testing import connect


    async def forever():
        yield {"n": 1}
        await anyio.sleep_forever()


    async def main():
        async with connect(EventSourceResponse(forever())) as stream:
            await anext(stream)
            print(close_all_streams(ServerSentEvent(event="shutdown", data="bye", retry=2000)))
            #> 1
            print([(event.event, event.data) async for event in stream])
            #> [('shutdown', '"bye"')]


    anyio.run(main)
    ```
    """
    streams = list(registry)
    for stream in streams:
        stream.close(final_event)
    return len(streams)


def install_signal_hook(final_event: ServerSentEvent | None = None) -> bool:
    """Chain onto this process's SIGINT/SIGTERM handling to end open streams on shutdown.

    Done automatically whenever a stream starts (unless
    ``SSE_ASGI_SIGNAL_HOOK=0``); call it yourself to choose ``final_event``,
    the event every stream gets before it ends. On a signal, open streams
    are ended on their own event loops and the previous disposition then
    applies as before: a server's handler is called, an ignored signal stays
    ignored, and a default one (terminate) is delivered again once the
    streams have ended (within 2 s). In a worker process of hypercorn's
    CLI, which hears of shutdown from its parent rather than by a signal, a
    thread also waits on the parent's shutdown event and ends the streams.
    Signals can be hooked only from the main thread; returns whether both
    are hooked.

    Example:

    ```py
    from sse_asgi import ServerSentEvent, install_signal_hook

    print(install_signal_hook(ServerSentEvent(event="shutdown", data="bye", retry=1000)))
    #> True
    ```
    """
    global _final_event
    _final_event = final_event
    return _hook()


def uninstall_signal_hook() -> None:
    """Restore what the hook chained onto, and stop hooking new streams automatically.

    Example:

    ```py
    from sse_asgi import uninstall_signal_hook

    uninstall_signal_hook()  # e.g. when your app handles shutdown itself
    ```
    """
    global _auto, _parent_watch
    _auto = False
    _parent_watch = False
    if threading.current_thread() is threading.main_thread():
        for signum, previous in list(_previous.items()):
            if signal.getsignal(signum) is _on_signal:
                signal.signal(signum, previous)
    _previous.clear()


def on_stream_start(call_soon: Callable[[Callable[[], object]], object] | None) -> bool:
    """Called as each stream starts: (re)hook the signals; True if this loop is shutting down."""
    if _auto:
        _hook()
    return call_soon in _stopping


def _hook() -> bool:
    _watch_parent()
    if threading.current_thread() is not threading.main_thread():
        return False  # signal.signal() works only there; embedders call close_all_streams()
    hooked = 0
    for signum in _SIGNALS:
        current = signal.getsignal(signum)
        if current is _on_signal:
            hooked += 1
        elif current is not None:  # None: installed outside Python, leave it alone
            # Servers restore their own handlers when they stop; a later server
            # in the same process installs new ones: chain onto whatever is current.
            _previous[signum] = current
            signal.signal(signum, _on_signal)
            hooked += 1
    return hooked == len(_SIGNALS)


def _watch_parent() -> None:
    global _parent_looked, _parent_watch
    _parent_watch = True
    if _parent_looked:
        return
    with _parent_lock:
        if _parent_looked:
            return
        _parent_looked = True
        event = _hypercorn_shutdown_event()
        if event is not None:
            name = "sse-asgi: hypercorn shutdown watch"
            threading.Thread(
                target=_on_parent_shutdown, args=(event,), name=name, daemon=True
            ).start()


def _hypercorn_shutdown_event() -> Any:
    """The event by which hypercorn's parent process tells this worker to stop, if it is one."""
    import multiprocessing  # only once per process, and only once a stream starts

    if multiprocessing.parent_process() is None:
        return None
    # In a spawned child, the Process object is unpickled from the parent with
    # its target and arguments (hypercorn's run.py passes them as keywords).
    process = multiprocessing.current_process()
    target_module = getattr(getattr(process, "_target", None), "__module__", None) or ""
    kwargs = getattr(process, "_kwargs", None)
    if not target_module.startswith("hypercorn.") or not isinstance(kwargs, dict):
        return None
    event = kwargs.get("shutdown_event")
    if not (callable(getattr(event, "wait", None)) and callable(getattr(event, "is_set", None))):
        return None
    return event


def _on_parent_shutdown(event: Any) -> None:
    try:
        event.wait()
    except OSError:  # the parent's semaphore is gone: nothing more will come
        return
    if _parent_watch:
        _schedule_close_all()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # A signal handler runs in the main thread between two bytecodes, maybe in
    # the middle of the event loop: only schedule work, with the thread- and
    # signal-safe call_soon of each loop. No IO, no logging.
    _schedule_close_all()
    previous = _previous.get(signum)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        # Terminating right now would cut every stream off mid-flight: let them
        # end first, then let the default action happen after all.
        signal.signal(signum, signal.SIG_DFL)  # a second signal terminates at once
        threading.Thread(target=_deliver_default, args=(signum,), daemon=True).start()
    # SIG_IGN: the streams end, the signal stays otherwise ignored.


def _deliver_default(signum: int) -> None:
    deadline = time.monotonic() + _DEFAULT_ACTION_DELAY
    while registry and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(_DEFAULT_ACTION_SETTLE)  # the server may finish on its own meanwhile
    os.kill(os.getpid(), signum)


def _schedule_close_all() -> None:
    by_loop: dict[Callable[[Callable[[], object]], object], list[RunningStream]] = {}
    for stream in list(registry):
        call_soon = stream.call_soon_threadsafe()
        if call_soon is not None:
            by_loop.setdefault(call_soon, []).append(stream)
    for call_soon, streams in by_loop.items():
        _stopping.add(call_soon)

        def close(streams: list[RunningStream] = streams) -> None:
            for stream in streams:
                stream.close(_final_event)

        with contextlib.suppress(RuntimeError):  # that loop is already closed
            call_soon(close)
