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
4. Real connections (issue #17): 1,000 and 10,000 SSE connections to uvicorn
   (uvloop + httptools, pinned to core 0) from a raw-socket client
   (``fanout_client.py``, pinned to core 1), against a floor that keeps a
   list of ``send`` callables and writes pre-encoded bytes to each. Every
   app in each round gets a fresh server (apps interleaved); per app: one
   publish at a time (p50/p99/max latency, server CPU), then a burst of 20
   publishes 100 ms apart (lateness from the scheduled time, CPU per
   publish), RSS and garbage-collector-tracked objects per connection, the
   collector's full passes while publishing, delivered / expected (and
   streams that got events out of order). Rows with ``gc.freeze()`` at
   start-up and once the connections are open show what freezing buys.
   Needs 10,000 + 256 open files (the soft limit is raised; the hard limit
   must allow it). About 8 minutes with the defaults (3 rounds).

Run: ``python benchmarks/fanout.py`` (``--quick`` for a smoke run; ``--part
connections`` or ``--part in-process`` for one half).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, pin_to_core, table, versions
from _servers import CLIENT_CORE, SERVER_CORE, Server, pin_client, uvicorn
from fanout_client import Client, request

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


# -- real connections -----------------------------------------------------------------------

FLOOR = "floor (send callables, bytes)"

# When the app calls gc.freeze(): never, once started (before any connection),
# or once the connections are open.
NEVER, STARTED, CONNECTED = "", "started", "connected"

# name: (uvicorn target, when gc.freeze() is called)
CONNECTION_APPS = {
    FLOOR: ("benchmarks.fanout_app:floor", NEVER),
    "sse-asgi + Broadcast": ("benchmarks.fanout_app:broadcast", NEVER),
    "sse-asgi + Broadcast, gc.freeze() at start-up": ("benchmarks.fanout_app:broadcast", STARTED),
    "sse-asgi + Broadcast, gc.freeze() once connected": (
        "benchmarks.fanout_app:broadcast",
        CONNECTED,
    ),
    "sse-asgi, no Broadcast": ("benchmarks.fanout_app:bare", NEVER),
}
# Short names for --apps.
APP_KEYS = dict(
    zip(
        ["floor", "broadcast", "freeze-started", "freeze-connected", "bare"],
        CONNECTION_APPS,
        strict=True,
    )
)


@dataclass
class Run:
    """One fresh server's measurements."""

    kib_per_connection: float
    objects_per_connection: float  # tracked by the garbage collector
    cpu_ms: list[float]  # server CPU of each single publish
    burst_cpu_ms: float  # server CPU per publish of the burst
    latencies: list[float]  # ms, every delivery of every single publish
    lateness: list[float]  # ms from the scheduled time, every delivery of the burst
    delivered: int
    expected: int
    disordered: int  # streams that got an event twice or out of order
    young_passes: float  # the collector's young passes per publish
    full_passes: int  # the collector's full passes while publishing
    full_ms: float  # ... and their milliseconds


def cpu_ns(pid: int) -> int:
    """CPU time (user + system, ns) of every thread of process ``pid`` so far."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with (
            contextlib.suppress(FileNotFoundError),
            open(f"/proc/{pid}/task/{task}/schedstat") as f,
        ):
            total += int(f.read().split()[0])
    return total


async def stats(port: int) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(await request(port, "GET", "/stats"))
    return result


async def arrived(client: Client, seconds: float) -> None:
    """Until every expected event arrived; a stream the server ended is an error."""
    if not await client.wait(seconds) and client.lost:
        raise RuntimeError(f"the server closed {client.lost} streams")


async def measure(server: Server, connections: int, freeze: str, publishes: int, burst: int) -> Run:
    """Open the connections, then: single publishes, each measured alone (CPU,
    latency), and a burst of ``burst`` publishes 100 ms apart (lateness)."""
    port, pid = server.port, server.process.pid
    client = Client()
    await stats(port)  # warm up: first request, imports
    await asyncio.sleep(0.3)
    if freeze == STARTED:
        await request(port, "POST", "/freeze")
    rss_before = server.rss_kib()
    objects_before = int(await request(port, "GET", "/objects"))
    await client.connect(port, connections)
    await client.until("response heads", 120)
    for _ in range(1200):  # the server has registered every stream
        if (await stats(port))["subscribers"] >= connections:
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError(f"{server.name}: not every stream subscribed")
    await asyncio.sleep(0.5)
    kib = (server.rss_kib() - rss_before) / connections
    objects = (int(await request(port, "GET", "/objects")) - objects_before) / connections
    if freeze == CONNECTED:
        await request(port, "POST", "/freeze")
    seq = 0
    delivered = expected = disordered = 0

    async def publish_one() -> tuple[float, list[float]]:
        nonlocal seq, delivered, expected, disordered
        seq += 1
        client.expect(connections)
        started_cpu, started = cpu_ns(pid), time.monotonic()
        await request(port, "POST", f"/publish?seq={seq}")
        await arrived(client, 60)
        await asyncio.sleep(0.1)  # what the publish set off (a collection, say) is counted
        cpu_ms = (cpu_ns(pid) - started_cpu - idle * (time.monotonic() - started)) / 1e6
        latencies, got, bad = client.take([seq])
        delivered, expected, disordered = delivered + got, expected + connections, disordered + bad
        return cpu_ms, latencies

    idle = 0.0
    await publish_one()  # warm up
    delivered = expected = disordered = 0
    # The server's CPU at rest (timers), subtracted from each measurement.
    started_cpu, started = cpu_ns(pid), time.monotonic()
    await asyncio.sleep(0.5)
    idle = (cpu_ns(pid) - started_cpu) / (time.monotonic() - started)
    before = await stats(port)
    cpu: list[float] = []
    latencies: list[float] = []
    for _ in range(publishes):
        await asyncio.sleep(0.2)
        cpu_ms, more = await publish_one()
        cpu.append(cpu_ms)
        latencies.extend(more)

    first = seq + 1
    seq += burst
    client.expect(connections * burst)
    started_cpu, started = cpu_ns(pid), time.monotonic()
    await request(port, "POST", f"/burst?count={burst}&interval=0.1&first={first}")
    await arrived(client, 60)
    await asyncio.sleep(0.1)
    burst_cpu = (cpu_ns(pid) - started_cpu - idle * (time.monotonic() - started)) / 1e6 / burst
    lateness, got, bad = client.take(list(range(first, seq + 1)))
    delivered, expected = delivered + got, expected + connections * burst
    disordered += bad
    after = await stats(port)
    client.close()
    return Run(
        kib, objects, cpu, burst_cpu, latencies, lateness, delivered, expected, disordered,
        (after["young_passes"] - before["young_passes"]) / (publishes + burst),
        after["full_passes"] - before["full_passes"], after["full_ms"] - before["full_ms"],
    )  # fmt: skip


def one_server(
    target: str, freeze: str, name: str, connections: int, publishes: int, burst: int
) -> Run:
    import uvloop

    with uvicorn(name, target) as server:
        gc.disable()  # the client's own collector must not pause what it measures
        try:
            return uvloop.run(measure(server, connections, freeze, publishes, burst))
        finally:
            gc.enable()


def connection_tables(
    apps: dict[str, tuple[str, str]], sizes: list[int], rounds: int, publishes: int, burst: int
) -> tuple[list[list[object]], list[list[object]]]:
    """Every app at every size, a fresh server each, apps interleaved within each
    round; per app the mean of its rounds' CPU and memory, and percentiles over
    every delivery of every round."""
    cost_rows: list[list[object]] = []
    latency_rows: list[list[object]] = []
    for size in sizes:
        runs: dict[str, list[Run]] = {name: [] for name in apps}
        for _ in range(rounds):
            for name, (target, freeze) in apps.items():
                runs[name].append(one_server(target, freeze, name, size, publishes, burst))
        floor = _summary(runs[FLOOR])
        for name, app_runs in runs.items():
            s = _summary(app_runs)
            cost_rows.append([
                name, f"{size:,}",
                f"{s['cpu']:.1f}", f"{s['cpu'] / floor['cpu']:.2f}x",
                f"{s['burst_cpu']:.1f}", f"{s['burst_cpu'] / floor['burst_cpu']:.2f}x",
                f"{s['kib']:.1f}", f"{s['kib'] / floor['kib']:.2f}x", f"{s['objects']:.0f}",
                f"{s['young_passes']:.1f}", f"{s['full_passes']:.0f} / {s['full_ms']:,.0f}",
                f"{s['delivered']:,.0f} / {s['expected']:,.0f}"
                + (f" ({s['disordered']:.0f} disordered)" if s["disordered"] else ""),
            ])  # fmt: skip
            latency_rows.append([
                name, f"{size:,}",
                f"{s['p50']:.1f}", f"{s['p99']:.1f}", f"{s['max']:.1f}",
                f"{s['p99'] / floor['p99']:.2f}x",
                f"{s['late_p50']:.1f}", f"{s['late_p99']:.1f}", f"{s['late_max']:.1f}",
                f"{s['late_p99'] / floor['late_p99']:.2f}x",
            ])  # fmt: skip
    return cost_rows, latency_rows


def _summary(runs: list[Run]) -> dict[str, float]:
    latencies = [ms for run in runs for ms in run.latencies]
    lateness = [ms for run in runs for ms in run.lateness]
    return {
        "cpu": statistics.mean(ms for run in runs for ms in run.cpu_ms),
        "burst_cpu": statistics.mean(run.burst_cpu_ms for run in runs),
        "kib": statistics.median(run.kib_per_connection for run in runs),
        "objects": statistics.median(run.objects_per_connection for run in runs),
        "young_passes": statistics.mean(run.young_passes for run in runs),
        "full_passes": sum(run.full_passes for run in runs) / len(runs),
        "full_ms": sum(run.full_ms for run in runs) / len(runs),
        "delivered": sum(run.delivered for run in runs),
        "expected": sum(run.expected for run in runs),
        "disordered": sum(run.disordered for run in runs),
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
        "late_p50": percentile(lateness, 0.5),
        "late_p99": percentile(lateness, 0.99),
        "late_max": max(lateness, default=float("nan")),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def check_fd_limit(connections: int) -> None:
    """The client holds every connection (and the server as many): both need the fds."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections + 256
    if hard < needed:
        sys.exit(
            f"{connections:,} connections need {needed:,} open files; the hard limit is {hard:,}. "
            f"Raise it first (as root: ulimit -Hn {needed}), or pass --connections."
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument(
        "--part", choices=["all", "in-process", "connections"], default="all", help="what to run"
    )
    parser.add_argument(
        "--connections", default="1000,10000", help="real-connection sizes, comma-separated"
    )
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers per app and size")
    parser.add_argument("--publishes", type=int, default=10, help="single publishes per server")
    parser.add_argument(
        "--apps", default=",".join(APP_KEYS), help=f"real-connection rows, of {', '.join(APP_KEYS)}"
    )
    parser.add_argument(
        "--add-app",
        action="append",
        default=[],
        metavar="NAME=MODULE:APP",
        help="one more real-connection row (a variant to compare, e.g. a patched send loop)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    if args.part != "connections":
        run_in_process(quick=args.quick)
    if args.part != "in-process":
        sizes = [100, 1000] if args.quick else [int(n) for n in args.connections.split(",")]
        rounds, publishes = (1, 3) if args.quick else (args.rounds, args.publishes)
        apps = {FLOOR: CONNECTION_APPS[FLOOR]}  # every ratio is to it
        apps.update((APP_KEYS[key], CONNECTION_APPS[APP_KEYS[key]]) for key in args.apps.split(","))
        for extra in args.add_app:
            name, _, target = extra.partition("=")
            apps[name] = (target, NEVER)
        run_connections(apps, sizes, rounds, publishes)
    print()
    print(f"command: {command_line()}  ({time.monotonic() - started:.0f} s)")


def run_in_process(*, quick: bool) -> None:
    sizes, rounds = ([100, 1_000], 2) if quick else ([1_000, 10_000], 15)
    others, events_busy = (1_000, 800) if quick else (10_000, 8_000)
    print(f"# fanout: in-process subscribers on uvloop, median of {rounds} publishes")
    print(versions("sse-asgi", "anyio", "redis", "uvicorn"))
    pin_to_core(SERVER_CORE)  # in-process: Redis on the other core
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


def run_connections(
    apps: dict[str, tuple[str, str]], sizes: list[int], rounds: int, publishes: int
) -> None:
    check_fd_limit(max(sizes))
    pin_client()
    burst = 20
    cost_rows, latency_rows = connection_tables(apps, sizes, rounds, publishes, burst)
    print()
    print(
        f"# real connections: uvicorn (uvloop + httptools) on core {SERVER_CORE}, "
        f"a raw-socket client on core {CLIENT_CORE}; {rounds} fresh servers per row "
        f"(apps interleaved), {publishes} single publishes and a burst of {burst} each"
    )
    print(versions("sse-asgi", "anyio", "uvicorn", "uvloop", "httptools"))
    print()
    headers = ["server", "connections", "CPU ms / publish", "× floor"]
    headers += ["CPU ms / publish, burst", "× floor", "KiB / connection", "× floor"]
    headers += ["GC-tracked objects / connection", "young GC passes / publish"]
    headers += ["full GC passes / ms", "delivered"]
    print(table(headers, cost_rows))
    print()
    headers = ["server", "connections", "one publish p50 ms", "p99 ms", "max ms", "p99 × floor"]
    headers += [f"burst of {burst}, late p50 ms", "p99 ms", "max ms", "p99 × floor"]
    print(table(headers, latency_rows))


if __name__ == "__main__":
    main()
