"""Any content as one async iterator: async iterables, containers on the loop, sync iterators in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.abc
import pytest

from sse_asgi import (
    EventSourceResponse,
)
from sse_asgi.testing import connect

from .asgi_fakes import FakeClient, app_for, run_response

pytestmark = pytest.mark.anyio


async def test_sync_generator_runs_in_a_worker_thread_without_blocking_the_loop() -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()
    progressed = 0

    def gen() -> Iterator[int]:
        for i in range(5):
            threads.add(threading.get_ident())
            time.sleep(0.02)  # blocking: would freeze the loop if run on it
            yield i

    async def ticker() -> None:
        nonlocal progressed
        while True:
            progressed += 1
            await anyio.sleep(0.005)

    client = FakeClient()
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await run_response(EventSourceResponse(gen()), client)
        tg.cancel_scope.cancel()
    assert [e.data for e in client.events] == ["0", "1", "2", "3", "4"]
    assert loop_thread not in threads
    assert len(threads) == 1
    assert progressed >= 5  # the loop kept running while the generator slept


async def test_sync_generator_items_cross_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    from sse_asgi import _iterate

    wakeups = 0
    original = _iterate.ThreadedIterator._notify

    def counting_notify(self: Any, callback: Any) -> None:
        nonlocal wakeups
        wakeups += 1
        original(self, callback)

    monkeypatch.setattr(_iterate.ThreadedIterator, "_notify", counting_notify)
    client = FakeClient()
    await run_response(EventSourceResponse(x for x in range(2000)), client)
    assert len(client.events) == 2000
    # Far fewer event-loop hops than items (one per item without batching).
    # How many items each hop takes depends on how the two threads are
    # scheduled: on a loaded 2-core machine it fell to ~10, hence the margin.
    assert wakeups < 500


async def test_lists_are_iterated_on_the_loop() -> None:
    from sse_asgi._iterate import ThreadedIterator, as_async_iterator

    assert not isinstance(as_async_iterator([1, 2]), ThreadedIterator)
    assert isinstance(as_async_iterator(iter([1, 2])), ThreadedIterator)
    with pytest.raises(TypeError, match="iterable"):
        as_async_iterator(5)  # type: ignore[arg-type]


async def test_a_sync_generator_blocked_for_good_is_given_up_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop, inside = threading.Event(), threading.Event()

    def stuck() -> Iterator[int]:
        yield 1
        inside.set()
        stop.wait(30)  # blocked inside: no thread can be interrupted there
        yield 2  # pragma: no cover

    try:
        async with connect(app_for(stuck), finish_timeout=5) as stream:
            assert (await anext(stream)).data == "1"
            # Leave only once the generator is stuck (an idle one closes at once).
            assert await anyio.to_thread.run_sync(inside.wait, 5)
            started = time.monotonic()
        # The client left; closing waited its bounded second, then moved on.
        assert 0.9 < time.monotonic() - started < 4
        assert "gave up waiting" in caplog.text
    finally:
        stop.set()  # let the abandoned thread finish
