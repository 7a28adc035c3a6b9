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

All of it is one object, :data:`shutdown` (a :class:`Shutdown`): the open
streams and their event loops, the loops a signal told to stop (weakly: a
loop that is gone is forgotten), the final event, and what the hook chained
onto. Streams know it only as a registry -- :meth:`Shutdown.open` as they
start, :meth:`Shutdown.discard` as they end -- and it knows a stream only as
a :class:`RunningStream` (something it can ``close()``). The hook is
installed on one path: :meth:`Shutdown.open` calls
:meth:`Shutdown.hook_signals` for every stream that starts, unless the hook
is off (each time, because a server installs its handlers at its startup and
restores the previous ones when it stops).

What no signal hook can reach: a worker process that hears of shutdown from
its parent rather than by a signal. hypercorn's command line runs the app in
such a worker: ``kill <pid>`` (and ``docker stop``) reaches only the parent,
which tells the worker through a ``multiprocessing.Event`` the app is never
given (only hypercorn's private attributes hold it, and sse-asgi reads no
other library's private attributes). There hypercorn's ``--graceful-timeout``
is what ends the streams (they are cancelled, and still end the body
cleanly); see the README's "Shutdown" section for that trade-off.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import weakref
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from ._eventloop import call_soon_threadsafe, running_loop

if TYPE_CHECKING:
    from ._event import ServerSentEvent

__all__ = [
    "RunningStream",
    "Shutdown",
    "close_all_streams",
    "install_signal_hook",
    "shutdown",
    "uninstall_signal_hook",
]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# With a default disposition, the signal is delivered again after the streams
# ended: at most this long after it arrived, plus a moment for the server.
_DEFAULT_ACTION_DELAY = 1.5
_DEFAULT_ACTION_SETTLE = 0.5


class RunningStream(Protocol):
    """What the registry holds: the send loop, or an ``event_stream()``'s producer."""

    def close(self, final_event: ServerSentEvent | None = None) -> None:
        """End the stream (called on its event loop): send ``final_event``, then finish."""


class Shutdown:
    """This process's shutdown state: open streams, the signal hook, and loops told to stop.

    ``hook_wanted``: whether :meth:`open` hooks the signals (the environment's
    ``SSE_ASGI_SIGNAL_HOOK``, until :func:`uninstall_signal_hook`).
    """

    def __init__(self, *, hook_wanted: bool) -> None:
        self.hook_wanted = hook_wanted
        #: The final event every stream gets on a signal (install_signal_hook's).
        self.final_event: ServerSentEvent | None = None
        #: The open streams, each with its event loop (see ``running_loop()``).
        self.streams: dict[RunningStream, object] = {}
        # The event loops a signal told to stop: streams starting there end at once.
        self._stopping: weakref.WeakSet[object] = weakref.WeakSet()
        # Signal number -> the hooks installed for it, oldest first: one per
        # foreign handler chained onto (see _Hook).
        self._chained: dict[int, list[_Hook]] = {}

    # -- the registry: streams starting and ending ----------------------------------

    def open(self, stream: RunningStream) -> bool:
        """Register a stream starting on the running loop; True if that loop is shutting down.

        Also the one place the signal hook is installed from (when wanted).
        """
        if self.hook_wanted:
            self.hook_signals()
        loop = running_loop()
        self.streams[stream] = loop
        return loop in self._stopping

    def discard(self, stream: RunningStream) -> None:
        """Forget a stream that ended; once none is left, forget handlers no longer chained."""
        self.streams.pop(stream, None)
        if not self.streams:
            self._forget_unhooked()

    def _forget_unhooked(self) -> None:
        """Drop the hooks no longer current, and with them the handlers they chained onto."""
        for signum, hooks in list(self._chained.items()):
            current = signal.getsignal(signum)
            if current in hooks:  # those above it chained onto handlers since replaced
                del hooks[hooks.index(current) + 1 :]
            else:  # a server put its own back
                del self._chained[signum]

    def close_all(self, final_event: ServerSentEvent | None = None) -> int:
        """End every open stream now (on the calling loop's thread); how many there were."""
        streams = list(self.streams)
        for stream in streams:
            stream.close(final_event)
        return len(streams)

    # -- the signal hook ------------------------------------------------------------------

    def hook_signals(self) -> bool:
        """Chain onto SIGINT and SIGTERM's current handling, unless chained already.

        Only from the main thread (``signal.signal()`` works only there);
        returns whether both signals are hooked.
        """
        if threading.current_thread() is not threading.main_thread():
            return False  # embedders call close_all_streams()
        self._forget_unhooked()
        hooked = 0
        for signum in _SIGNALS:
            current = signal.getsignal(signum)
            if current in self._chained.get(signum, ()):
                hooked += 1
            elif current is not None:  # None: installed outside Python, leave it alone
                # A server installed its own (over ours, maybe: it restores ours when
                # it stops): chain onto it with a new hook, leaving the one it keeps
                # chained onto what was before it.
                hook = _Hook(self, current)
                self._chained.setdefault(signum, []).append(hook)
                signal.signal(signum, hook)
                hooked += 1
        return hooked == len(_SIGNALS)

    def unhook_signals(self) -> None:
        """Restore what the hook chained onto, and stop hooking new streams."""
        self.hook_wanted = False
        if threading.current_thread() is not threading.main_thread():
            return  # no handler can be restored from here: ours stay, still chaining
        for signum, hooks in list(self._chained.items()):
            current = signal.getsignal(signum)
            if current in hooks:
                signal.signal(signum, current.chained)
        self._chained.clear()

    def on_signal(self, signum: int, frame: FrameType | None, chained: Any) -> None:
        """A hook's signal: end every stream, then apply ``chained``, the disposition before it."""
        # A signal handler runs in the main thread between two bytecodes, maybe in
        # the middle of the event loop: only schedule work, with the thread- and
        # signal-safe call_soon of each loop. No IO, no logging.
        self._schedule_close_all()
        self._forget_unhooked()  # a stopped server's handler, kept since it put ours back
        if callable(chained):
            chained(signum, frame)
        elif chained == signal.SIG_DFL:
            # Terminating right now would cut every stream off mid-flight: let them
            # end first, then let the default action happen after all.
            signal.signal(signum, signal.SIG_DFL)  # a second signal terminates at once
            threading.Thread(target=self._deliver_default, args=(signum,), daemon=True).start()
        # SIG_IGN: the streams end, the signal stays otherwise ignored.

    def _schedule_close_all(self) -> None:
        by_loop: dict[object, list[RunningStream]] = {}
        for stream, loop in list(self.streams.items()):
            by_loop.setdefault(loop, []).append(stream)
        for loop, streams in by_loop.items():
            self._stopping.add(loop)

            def close(streams: list[RunningStream] = streams) -> None:
                for stream in streams:
                    stream.close(self.final_event)

            with contextlib.suppress(RuntimeError):  # that loop is already closed
                call_soon_threadsafe(loop)(close)

    def _deliver_default(self, signum: int) -> None:
        deadline = time.monotonic() + _DEFAULT_ACTION_DELAY
        while self.streams and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(_DEFAULT_ACTION_SETTLE)  # the server may finish on its own meanwhile
        os.kill(os.getpid(), signum)


class _Hook:
    """The hook's handler for one signal, chained onto the disposition it replaced.

    One per installation, holding what it chained onto: a server that took
    a hook for the "original" handler and puts it back when it stops gets
    back one chained onto what was there before that server -- not onto the
    stopped server's own handler.
    """

    __slots__ = ("chained", "shutdown")

    def __init__(self, shutdown: Shutdown, chained: Any) -> None:
        self.shutdown = shutdown
        self.chained = chained

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.shutdown.on_signal(signum, frame, self.chained)


#: This process's shutdown state.
shutdown = Shutdown(hook_wanted=os.environ.get("SSE_ASGI_SIGNAL_HOOK", "1") != "0")


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
    return shutdown.close_all(final_event)


def install_signal_hook(final_event: ServerSentEvent | None = None) -> bool:
    """Chain onto this process's SIGINT/SIGTERM handling to end open streams on shutdown.

    Done automatically whenever a stream starts (unless
    ``SSE_ASGI_SIGNAL_HOOK=0``); call it yourself to choose ``final_event``,
    the event every stream gets before it ends. On a signal, open streams
    are ended on their own event loops and the previous disposition then
    applies as before: a server's handler is called, an ignored signal stays
    ignored, and a default one (terminate) is delivered again once the
    streams have ended (within 2 s). Signals can be hooked only from the
    main thread; returns whether both are hooked.

    Example:

    ```py
    from sse_asgi import ServerSentEvent, install_signal_hook

    print(install_signal_hook(ServerSentEvent(event="shutdown", data="bye", retry=1000)))
    #> True
    ```
    """
    shutdown.final_event = final_event
    return shutdown.hook_signals()


def uninstall_signal_hook() -> None:
    """Restore what the hook chained onto, and stop hooking new streams automatically.

    Example:

    ```py
    from sse_asgi import uninstall_signal_hook

    uninstall_signal_hook()  # e.g. when your app handles shutdown itself
    ```
    """
    shutdown.unhook_signals()
