"""Broadcast fan-out: one publish to many subscribers, in-process and through uvicorn.

1. In-process, on uvloop: N subscriptions (each its own task, iterating),
   one publish; we time the publish call (the event is then queued at every
   subscriber) and the moment the last subscriber task has run with it.
   Memory backend and Redis (a redis-server on a free port, started here if
   the binary exists). Measured with Python's garbage collector on, then
   paused: waking 10,000 tasks allocates a handle for each, which sets off
   collections; the paused column shows the fan-out's own cost.
2. End to end: 1,000 real SSE connections to uvicorn (uvloop + httptools,
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, table, versions
from _servers import CLIENT_CORE, pin_client, uvicorn

from sse_asgi import Broadcast, Subscription

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
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
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
    print(f"# fanout: in-process subscribers on uvloop, median of {rounds} publishes")
    print(versions("sse-asgi", "anyio", "redis", "uvicorn"))
    with redis_server() as redis_url:
        # On uvloop, as under uvicorn.
        rows = anyio.run(in_process, sizes, rounds, redis_url, backend_options={"use_uvloop": True})
    print()
    headers = ["backend", "subscribers", "publish() ms", "all tasks ran ms"]
    headers += ["publish() ms, GC paused", "all ran ms, GC paused", "all ran ÷ floor"]
    print(table(headers, rows))
    if redis_url is None:
        print("(redis-server not found: the Redis rows are missing)")

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
