"""Turning any content into one async iterator for a stream, and closing it again.

Async iterables are used as they are. Sync iterables that cannot block
(lists, tuples, ranges, ...) are walked on the event loop. Every other sync
iterable -- a generator doing blocking IO, typically -- runs in a worker
thread of its own: the thread pulls items ahead into a small bounded buffer
and the event loop takes everything that is ready in one go, so a stream of
N items costs far fewer than N thread hops. The thread also closes the
iterator (``close()`` runs the generator's ``finally`` in the thread that ran
it), and it never runs ahead by more than the buffer.

:func:`aclose_iterator` is how every stream closes the iterator when it
ends: its ``finally`` blocks run at once, bounded in time.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import contextvars
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

import anyio

from ._eventloop import CallSoon, call_soon_threadsafe, running_loop

__all__ = ["CLOSE_TIMEOUT", "ThreadedIterator", "aclose_iterator", "as_async_iterator"]

logger = logging.getLogger("sse_asgi")

T = TypeVar("T")

# Containers whose iteration cannot block: no thread needed.
_INLINE_TYPES = (list, tuple, range, dict, set, frozenset, str, bytes, collections.deque)

_DONE = object()

# Iterator threads still running, for the exit hook.
_running: weakref.WeakSet[ThreadedIterator[Any]] = weakref.WeakSet()
_exit_hook_registered = False
# At interpreter exit, how long stopping iterators may take to close (seconds).
_EXIT_GRACE = 1.0
#: How long closing a stream's iterator may take (seconds).
CLOSE_TIMEOUT = 1.0


def _ensure_exit_hook() -> None:
    global _exit_hook_registered
    if not _exit_hook_registered:
        _exit_hook_registered = True
        atexit.register(_close_at_exit)


def _close_at_exit() -> None:
    """Let iterator threads close their generators before the process ends.

    A server that cancels its requests and exits (hypercorn at the end of its
    graceful timeout, say) can interrupt our wait for a closing iterator; the
    thread would then die with the process, its generator's ``finally``
    never run. Daemon threads still run during ``atexit``: give them a
    bounded moment.
    """
    deadline = time.monotonic() + _EXIT_GRACE
    iterators = list(_running)
    for iterator in iterators:
        iterator._request_stop()
    for iterator in iterators:
        if iterator._thread is not None:
            iterator._thread.join(max(0.0, deadline - time.monotonic()))


def as_async_iterator(content: AsyncIterable[T] | Iterable[T]) -> AsyncIterator[T]:
    """One async iterator over ``content``, whatever kind of iterable it is.

    Example:

    ```py
    import time

    import anyio

    from sse_asgi._iterate import as_async_iterator


    def blocking_generator():
        for n in range(3):
            time.sleep(0.01)  # in a worker thread: never blocks the event loop
            yield n


    async def main():
        print([item async for item in as_async_iterator(blocking_generator())])
        #> [0, 1, 2]


    anyio.run(main)
    ```
    """
    if isinstance(content, AsyncIterable):
        return content.__aiter__()
    if isinstance(content, _INLINE_TYPES):
        return _inline(content)
    if isinstance(content, Iterable):
        return ThreadedIterator(iter(content))
    raise TypeError(
        f"EventSourceResponse content must be an iterable or async iterable, "
        f"not {type(content).__name__}"
    )


async def aclose_iterator(iterator: AsyncIterator[Any]) -> None:
    """Close a stream's iterator (``aclose()``), giving it at most :data:`CLOSE_TIMEOUT` s.

    An exception it raises is logged, not raised: the stream is over either way.
    """
    aclose: Callable[[], Awaitable[object]] | None = getattr(iterator, "aclose", None)
    if aclose is None:
        return
    with anyio.move_on_after(CLOSE_TIMEOUT) as scope:
        try:
            await aclose()
        except Exception:
            logger.exception("Closing the SSE iterator raised")
    if scope.cancelled_caught:
        logger.warning(
            "Closing the SSE iterator took longer than %.1f s; gave up waiting", CLOSE_TIMEOUT
        )


async def _inline(content: Iterable[T]) -> AsyncIterator[T]:
    for item in content:
        yield item


class ThreadedIterator(AsyncIterator[T]):
    r"""An async iterator over a sync iterator that runs in a worker thread.

    The thread starts on the first ``__anext__``. ``aclose()`` asks it to
    stop; the thread then closes the iterator itself (after the item it may
    be producing) and ``aclose()`` returns once that has happened.

    Example:

    ```py
    import io

    import anyio

    from sse_asgi._iterate import ThreadedIterator


    async def main():
        log = io.StringIO("one\ntwo\n")  # or open("big.log"): read in a worker thread
        print([line async for line in ThreadedIterator(log)])
        #> ['one\n', 'two\n']


    anyio.run(main)
    ```
    """

    def __init__(self, iterator: Iterator[T], *, buffer: int = 32) -> None:
        self._iterator = iterator
        self._buffer = buffer
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._shared: collections.deque[T] = collections.deque()  # guarded by _lock
        self._ready: collections.deque[T] = collections.deque()  # event loop only
        self._finished = False
        self._stopping = False
        self._error: BaseException | None = None
        self._wakeup: anyio.Event | None = None
        self._closed: anyio.Event | None = None
        self._call_soon: CallSoon | None = None
        self._thread: threading.Thread | None = None

    def __aiter__(self) -> ThreadedIterator[T]:
        return self

    async def __anext__(self) -> T:
        if self._ready:
            return self._ready.popleft()
        while True:
            with self._lock:
                if self._shared:
                    # Take everything that is ready: one lock per batch, not per item.
                    ready, self._shared = self._shared, collections.deque()
                    self._not_full.notify()
                    self._ready = ready
                    return ready.popleft()
                if self._finished:
                    error, self._error = self._error, None
                    if error is not None:
                        raise error
                    raise StopAsyncIteration
                if self._call_soon is None:
                    self._start()
                wakeup = self._wakeup = anyio.Event()
            await wakeup.wait()

    def _start(self) -> None:
        self._call_soon = call_soon_threadsafe(running_loop())
        self._closed = anyio.Event()
        context = contextvars.copy_context()
        # A daemon thread: a generator blocked forever must not keep the
        # process alive. _close_at_exit gives it a moment to close instead.
        self._thread = threading.Thread(
            target=context.run, args=(self._work,), name="sse-asgi-iterator", daemon=True
        )
        _running.add(self)
        _ensure_exit_hook()
        self._thread.start()

    def _work(self) -> None:
        error: BaseException | None = None
        iterator = self._iterator
        try:
            while not self._stopping:
                item = next(iterator, _DONE)
                if item is _DONE:
                    break
                with self._lock:
                    while len(self._shared) >= self._buffer and not self._stopping:
                        self._not_full.wait()
                    self._shared.append(item)  # type: ignore[arg-type]
                    wakeup, self._wakeup = self._wakeup, None
                if wakeup is not None:
                    self._notify(wakeup.set)
        except BaseException as exc:  # delivered to the loop after the items before it
            error = exc
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    error = error or exc
            with self._lock:
                self._finished = True
                self._error = error
                wakeup, self._wakeup = self._wakeup, None
            if wakeup is not None:
                self._notify(wakeup.set)
            _running.discard(self)
            assert self._closed is not None
            self._notify(self._closed.set)

    def _notify(self, callback: Callable[[], Any]) -> None:
        assert self._call_soon is not None
        # RuntimeError: the event loop is gone, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._call_soon(callback)

    def _request_stop(self) -> bool:
        """Ask the thread to stop; False if it never started."""
        with self._lock:
            self._stopping = True
            self._not_full.notify_all()
            return self._call_soon is not None

    async def aclose(self) -> None:
        """Stop the thread and wait until it has closed the iterator."""
        started = self._request_stop()
        if not started:
            close = getattr(self._iterator, "close", None)
            if close is not None:
                close()
            return
        assert self._closed is not None
        await self._closed.wait()
