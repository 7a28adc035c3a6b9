"""Broadcast fan-out: one publish to many subscribers, in-process and through uvicorn.

1. In-process, on uvloop: N subscriptions (each its own task, iterating),
   one publish; we time the publish call (the event is then queued at every
   subscriber) and the moment the last subscriber task has run with it.
   Memory backend and Redis (a redis-server on a free port, started here if
   the binary exists, on the other core). Measured with Python's garbage
   collector on, then paused: waking 10,000 tasks allocates a handle for
   each, which sets off collections; the paused column shows the fan-out's
   own cost.
2. Many topics: one subscriber on a busy topic, with 0 or 10,000 other topics
   watched (a subscriber each): the busy topic's delivery rate (8 concurrent
   publishers, events/s at the subscriber; again with the garbage collector
   paused, to tell the collector's cost of 10,000 more live objects from
   the broadcast's) and the latency of subscribing to yet another topic
   (median and p99 of 1,000).
3. A stalled resumer: 1,000 retained events of 64 KiB; 10 clients resume from
   the first, take one event and stop reading. The memory each holds
   (tracemalloc), against the history itself.
4. End to end: 1,000 real SSE connections to uvicorn (uvloop + httptools,
   core 0) from a client on core 1; the server publishes events carrying its
   clock; each connection's receive time gives the publish-to-receive
   latency, reported as p50/p99/max over every delivery.

Run: ``python benchmarks/fanout.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, pin_to_core, table, versions
from _servers import CLIENT_CORE, SERVER_CORE, pin_client, uvicorn

from sse_asgi import Broadcast, MemoryBackend, Subscription

# -- in-process ---------------------------------------------------------------------------


class FloorFanOut:
    """The limit of an asyncio fan-out: each subscriber task awaits a bare future
    whose result is the event, and publishing resolves them all. No ids,
    buffers, replay, duplicate checks or backpressure -- the part of the
    cost that is asyncio's own (waking a task), not the broadcast's.
    """

    def __init__(self) -> None:
        self.waiters: list[asyncio.Future[Any]] = []

    def subscribe(self, topic: str) -> FloorSubscription:
        return FloorSubscription(self)

    async def publish(self, topic: str, data: Any) -> None:
        waiters, self.waiters = self.waiters, []
        for future in waiters:
            future.set_result(data)


class FloorSubscription:
    def __init__(self, fan: FloorFanOut) -> None:
        self.fan = fan
        self.loop = asyncio.get_running_loop()

    async def __aenter__(self) -> FloorSubscription:
        return self

    def __aiter__(self) -> FloorSubscription:
        return self

    def __anext__(self) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        self.fan.waiters.append(future)
        return future

    async def aclose(self) -> None:
        for future in self.fan.waiters:
            if not future.done():
                future.set_exception(StopAsyncIteration())


async def fan_out(
    broadcast: Broadcast | FloorFanOut, subscribers: int, rounds: int
) -> tuple[float, float, float, float]:
    """Median ms for publish() to return and until every subscriber task has the
    event: with Python's garbage collector on, then paused (a diagnostic: what
    of the time is the collector's, set off by the wake-ups' allocations).

    Subscribers are long-lived asyncio tasks iterating their subscription, as
    connections are in a server; publish() returns once the event is queued
    at every one.
    """
    received = 0
    all_there = anyio.Event()

    async def subscriber(subscription: Subscription | FloorSubscription) -> None:
        nonlocal received
        async for _ in subscription:
            received += 1
            if received == subscribers:
                all_there.set()

    async def measure() -> tuple[float, float]:
        nonlocal received, all_there
        publish_ms, reach_ms = [], []
        for round_ in range(rounds):
            received, all_there = 0, anyio.Event()
            await anyio.sleep(0.05)  # every subscriber is waiting again
            started = time.perf_counter()
            await broadcast.publish("fan", {"round": round_})
            publish_ms.append((time.perf_counter() - started) * 1000)
            await all_there.wait()
            reach_ms.append((time.perf_counter() - started) * 1000)
        return statistics.median(publish_ms), statistics.median(reach_ms)

    # Each subscriber is a bare asyncio task, as each connection is under
    # uvicorn (an anyio task group would add its own bookkeeping per task).
    loop = asyncio.get_running_loop()
    subscriptions, tasks = [], []
    for _ in range(subscribers):
        subscription = broadcast.subscribe("fan")
        await subscription.__aenter__()
        subscriptions.append(subscription)
        tasks.append(loop.create_task(subscriber(subscription)))
    try:
        default_gc = await measure()
        gc.disable()
        try:
            paused = await measure()
        finally:
            gc.enable()
    finally:
        for subscription in subscriptions:
            await subscription.aclose()
        await asyncio.gather(*tasks)
    return (*default_gc, *paused)


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    executable = shutil.which("redis-server")
    if executable is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.mkdtemp()
    command = [
        executable,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        folder,
    ]
    if shutil.which("taskset"):
        command = ["taskset", "-c", str(CLIENT_CORE), *command]  # not on our core
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


async def in_process(sizes: list[int], rounds: int, redis_url: str | None) -> list[list[object]]:
    rows: list[list[object]] = []
    floors: dict[int, float] = {}

    def row(name: str, size: int, timings: tuple[float, float, float, float]) -> None:
        ratio = f"{timings[1] / floors[size]:.2f}x"
        rows.append([name, f"{size:,}", *(f"{ms:.1f}" for ms in timings), ratio])

    for size in sizes:
        timings = await fan_out(FloorFanOut(), size, rounds)
        floors[size] = timings[1]
        row("floor (bare futures)", size, timings)
        async with Broadcast(buffer=64) as memory:
            row("memory", size, await fan_out(memory, size, rounds))
    if redis_url is not None:
        from sse_asgi.redis import RedisBroadcast

        for size in sizes:
            async with RedisBroadcast(redis_url, prefix=f"bench-{size}:") as redis:
                row("redis", size, await fan_out(redis, size, rounds))
    return rows


# -- many topics ----------------------------------------------------------------------------


async def busy_topic(broadcast: Broadcast, others: int, events: int) -> tuple[float, float, float]:
    """With ``others`` other topics watched: events/s delivered on a busy topic, and the
    median and p99 ms to subscribe to one more topic."""
    watching = []
    for n in range(others):
        subscription = broadcast.subscribe(f"other:{n}")
        await subscription.__aenter__()
        watching.append(subscription)
    try:
        async with broadcast.subscribe("busy") as busy:
            done = anyio.Event()
            received = 0

            async def consume() -> None:
                nonlocal received
                async for _ in busy:
                    received += 1
                    if received == events:
                        done.set()
                        return
                raise RuntimeError(f"the busy subscriber ended after {received} events")

            async def publish(count: int) -> None:
                for n in range(count):
                    await broadcast.publish("busy", n)

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                started = time.perf_counter()
                for _ in range(8):
                    tg.start_soon(publish, events // 8)
                await done.wait()
                rate = events / (time.perf_counter() - started)
        latencies = []
        for n in range(1000):
            started = time.perf_counter()
            subscription = broadcast.subscribe(f"new:{n}")
            await subscription.__aenter__()
            latencies.append((time.perf_counter() - started) * 1000)
            await subscription.aclose()
    finally:
        for subscription in watching:
            await subscription.aclose()
    latencies.sort()
    return rate, statistics.median(latencies), latencies[int(len(latencies) * 0.99)]


async def many_topics(redis_url: str | None, others: int, events: int) -> list[list[object]]:
    rows: list[list[object]] = []
    # A buffer for every event: the rate, not the overflow policy, is measured.
    makers: list[tuple[str, Callable[[str], Broadcast]]] = [
        ("memory", lambda _: Broadcast(buffer=events))
    ]
    if redis_url is not None:
        from sse_asgi.redis import RedisBroadcast

        makers.append(
            ("redis", lambda prefix: RedisBroadcast(redis_url, prefix=prefix, buffer=events))
        )
    for name, make in makers:
        results = []
        for count in (0, others):
            async with make(f"bench-topics-{count}:") as broadcast:
                rate, median, p99 = await busy_topic(broadcast, count, events)
            gc.disable()
            try:
                async with make(f"bench-topics-{count}-nogc:") as broadcast:
                    paused = (await busy_topic(broadcast, count, events))[0]
            finally:
                gc.enable()
            results.append((rate, paused, median, p99))
        one_rate, one_paused = results[0][0], results[0][1]
        for count, (rate, paused, median, p99) in zip((0, others), results, strict=True):
            rows.append([
                name, f"{count:,}", f"{rate:,.0f}", f"{rate / one_rate:.2f}x",
                f"{paused / one_paused:.2f}x", f"{median:.3f}", f"{p99:.3f}",
            ])  # fmt: skip
    return rows


# -- a stalled resumer -----------------------------------------------------------------------


async def stalled(broadcast: Broadcast, events: int, size: int, clients: int) -> float:
    """MiB each of ``clients`` resuming clients holds once it stops reading."""
    first = await broadcast.publish("history", "first")
    payload = "x" * size
    for _ in range(events):
        await broadcast.publish("history", payload)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        subscriptions = []
        for _ in range(clients):
            subscription = broadcast.subscribe("history", last_event_id=first)
            await subscription.__aenter__()
            await subscription.__anext__()  # one event, then it stops reading
            subscriptions.append(subscription)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    for subscription in subscriptions:
        await subscription.aclose()
    return held / clients / 2**20


async def stalled_resumers(redis_url: str | None, events: int, size: int) -> list[list[object]]:
    rows: list[list[object]] = []
    history_mib = events * (size + 50) / 2**20
    async with Broadcast(MemoryBackend(history=events)) as memory:
        rows.append(
            ["memory", f"{history_mib:.0f}", f"{await stalled(memory, events, size, 10):.2f}"]
        )
    if redis_url is not None:
        from sse_asgi.redis import RedisBroadcast

        async with RedisBroadcast(redis_url, prefix="bench-stalled:", history=events) as redis:
            rows.append(
                ["redis", f"{history_mib:.0f}", f"{await stalled(redis, events, size, 10):.2f}"]
            )
    return rows


# -- end to end -----------------------------------------------------------------------------

_TIME = re.compile(rb'"t":([0-9.e+-]+)')


async def end_to_end(port: int, connections: int, events: int) -> list[float]:
    """Latencies (ms) of every event at every connection."""
    latencies: list[float] = []
    subscribed = 0
    all_subscribed = asyncio.Event()
    done = asyncio.Event()
    delivered = 0
    total = connections * events

    async def listen() -> None:
        nonlocal subscribed, delivered
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.1\r\nHost: bench\r\n\r\n")
        buffer, ready = b"", False
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.time()
            buffer += chunk
            if not ready and b": subscribed" in buffer:
                ready = True
                subscribed += 1
                if subscribed == connections:
                    all_subscribed.set()
            complete, _, buffer = buffer.rpartition(b"\n")
            for match in _TIME.finditer(complete):
                latencies.append((now - float(match.group(1))) * 1000)
                delivered += 1
                if delivered == total:
                    done.set()

    async def publish() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(events):
            writer.write(b"POST /publish HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\n\r\n")
            await reader.readuntil(b"ok")
            await asyncio.sleep(0.05)
        writer.close()

    listeners = [asyncio.create_task(listen()) for _ in range(connections)]
    await asyncio.wait_for(all_subscribed.wait(), 60)
    await publish()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(done.wait(), 30)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    args = parser.parse_args()
    sizes, rounds, connections, events = (
        ([100, 1_000], 2, 100, 5) if args.quick else ([1_000, 10_000], 15, 1_000, 20)
    )
    others, events_busy = (1_000, 800) if args.quick else (10_000, 8_000)
    print(f"# fanout: in-process subscribers on uvloop, median of {rounds} publishes")
    print(versions("sse-asgi", "anyio", "redis", "uvicorn"))
    pin_to_core(SERVER_CORE)  # in-process: Redis (and later the client) on the other core
    with redis_server() as redis_url:
        # On uvloop, as under uvicorn.
        options = {"use_uvloop": True}
        rows = anyio.run(in_process, sizes, rounds, redis_url, backend_options=options)
        topic_rows = anyio.run(many_topics, redis_url, others, events_busy, backend_options=options)
        stalled_rows = anyio.run(
            stalled_resumers, redis_url, 1000, 64 * 1024, backend_options=options
        )
    print()
    headers = ["backend", "subscribers", "publish() ms", "all tasks ran ms"]
    headers += ["publish() ms, GC paused", "all ran ms, GC paused", "all ran ÷ floor"]
    print(table(headers, rows))
    if redis_url is None:
        print("(redis-server not found: the Redis rows are missing)")
    print()
    print(
        f"# many topics: a busy topic's delivery rate ({events_busy:,} events, 8 publishers) "
        f"and subscribe latency, with other topics watched"
    )
    print()
    headers = ["backend", "other topics", "busy topic events/s", "÷ no other topic"]
    headers += ["÷, GC paused", "subscribe ms, median", "subscribe ms, p99"]
    print(table(headers, topic_rows))
    print()
    print("# a stalled resumer: 1,000 retained events of 64 KiB; a client resumes from the first,")
    print("# takes one event and stops reading (mean of 10)")
    print()
    print(table(["backend", "history MiB", "MiB held per stalled resumer"], stalled_rows))

    import uvloop

    e2e_rows: list[list[object]] = []
    os.environ.pop("REDIS_URL", None)
    with uvicorn("fanout", "benchmarks.fanout_app:app") as server:
        pin_client()
        latencies = uvloop.run(end_to_end(server.port, connections, events))
    delivered = len(latencies)
    e2e_rows.append([
        "memory", f"{connections:,}", f"{delivered:,} / {connections * events:,}",
        f"{percentile(latencies, 0.5):.1f}", f"{percentile(latencies, 0.99):.1f}",
        f"{max(latencies):.1f}",
    ])  # fmt: skip
    print()
    print(
        f"# fanout end to end: {connections:,} SSE connections through uvicorn, "
        f"{events} events, server on core 0, client on core {CLIENT_CORE}"
    )
    print()
    print(table(["backend", "connections", "delivered", "p50 ms", "p99 ms", "max ms"], e2e_rows))
    print()
    print(f"command: {command_line()}")


if __name__ == "__main__":
    main()
