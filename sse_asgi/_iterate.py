"""Turning any content into one async iterator for the send loop.

Async iterables are used as they are. Sync iterables that cannot block
(lists, tuples, ranges, ...) are walked on the event loop. Every other sync
iterable -- a generator doing blocking IO, typically -- runs in a worker
thread of its own: the thread pulls items ahead into a small bounded buffer
and the event loop takes everything that is ready in one go, so a stream of
N items costs far fewer than N thread hops. The thread also closes the
iterator (``close()`` runs the generator's ``finally`` in the thread that ran
it), and it never runs ahead by more than the buffer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

import anyio

__all__ = ["ThreadedIterator", "as_async_iterator"]

T = TypeVar("T")

# Containers whose iteration cannot block: no thread needed.
_INLINE_TYPES = (list, tuple, range, dict, set, frozenset, str, bytes, collections.deque)

_DONE = object()


def as_async_iterator(content: AsyncIterable[T] | Iterable[T]) -> AsyncIterator[T]:
    """One async iterator over ``content``, whatever kind of iterable it is.

    Example::

        async for item in as_async_iterator(blocking_generator()):
            ...  # runs in a worker thread, never blocks the loop
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


async def _inline(content: Iterable[T]) -> AsyncIterator[T]:
    for item in content:
        yield item


def _loop_callback() -> Callable[[Callable[[], object]], object]:
    """A thread-safe "run this soon on the current event loop" for asyncio or trio."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        import trio

        token = trio.lowlevel.current_trio_token()
        return token.run_sync_soon
    return loop.call_soon_threadsafe


class ThreadedIterator(AsyncIterator[T]):
    """An async iterator over a sync iterator that runs in a worker thread.

    The thread starts on the first ``__anext__``. ``aclose()`` asks it to
    stop; the thread then closes the iterator itself (after the item it may
    be producing) and ``aclose()`` returns once that has happened.

    Example::

        async for line in ThreadedIterator(open("big.log")):
            ...
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
        self._call_soon: Callable[[Callable[[], object]], object] | None = None

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
        self._call_soon = _loop_callback()
        self._closed = anyio.Event()
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(self._work,), name="sse-asgi-iterator", daemon=True
        ).start()

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
            assert self._closed is not None
            self._notify(self._closed.set)

    def _notify(self, callback: Callable[[], Any]) -> None:
        assert self._call_soon is not None
        # RuntimeError: the event loop is gone, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._call_soon(callback)

    async def aclose(self) -> None:
        """Stop the thread and wait until it has closed the iterator."""
        with self._lock:
            self._stopping = True
            self._not_full.notify_all()
            started = self._call_soon is not None
        if not started:
            close = getattr(self._iterator, "close", None)
            if close is not None:
                close()
            return
        assert self._closed is not None
        await self._closed.wait()
