"""Consuming a stream end to end: sse_asgi.client vs httpx-sse and sseclient-py, and the floors.

uvicorn (pinned to one core) serves the same pre-built bytes to every
client: N events shaped like an LLM token stream (``id: <i>`` and
``data: {"choices":[{"index":0,"delta":{"content":" tok<i>"}}]}``), written
in 64 KiB sends so the server is never the bottleneck. Each client (pinned
to the other core) reads the whole stream over one httpx connection pool:

- raw bytes: ``response.aiter_bytes()`` read and dropped -- the floor;
- ``aiter_events`` / ``iter_events``: our decoder over the same bytes;
- ``AsyncEventSource`` / ``EventSource``: our client (the decoder plus the
  EventSource processing model); its overhead over ``aiter_events`` is the
  number the client is held to (<= 10%);
- httpx-sse (``aconnect_sse`` / ``connect_sse``) and sseclient-py (sync,
  over ``iter_bytes``).

Every run checks the event count and the last event. The best of
interleaved rounds (the order rotates each round), from one invocation:
noise on a shared machine only ever adds time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, table, versions
from _servers import pin_client, uvicorn

CHUNK = 64 * 1024
DATA = b'{"choices":[{"index":0,"delta":{"content":" tok%d"}}]}'
T = TypeVar("T")


@cache
def stream_bytes(n: int) -> bytes:
    return b"".join(b"id: %d\ndata: %s\n\n" % (i, DATA % i) for i in range(n))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``/?n=N``: N events, then the end of the body."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    n = int(parse_qs(scope["query_string"].decode())["n"][0])
    body = stream_bytes(n)
    headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for start in range(0, len(body), CHUNK):
        await send(
            {"type": "http.response.body", "body": body[start : start + CHUNK], "more_body": True}
        )
    await send({"type": "http.response.body", "body": b""})


def expected_last(n: int) -> tuple[str, str]:
    return str(n - 1), (DATA % (n - 1)).decode()


# Each reader returns (events, last id, last data); the raw floors return (bytes, "", "").
Reader = Callable[[Any, str], Any]


async def raw_async(client: Any, url: str) -> tuple[int, str, str]:
    total = 0
    async with client.stream("GET", url) as response:
        async for chunk in response.aiter_bytes():
            total += len(chunk)
    return total, "", ""


async def decoder_async(client: Any, url: str) -> tuple[int, str, str]:
    from sse_asgi import aiter_events

    count, last = 0, None
    async with client.stream("GET", url) as response:
        async for event in aiter_events(response.aiter_bytes()):
            count += 1
            last = event
    assert last is not None
    return count, last.id or "", last.data


async def ours_async(client: Any, url: str) -> tuple[int, str, str]:
    from sse_asgi.client import AsyncEventSource

    count, last = 0, None
    async with AsyncEventSource(url, client=client, reconnect=False) as source:
        async for event in source:
            count += 1
            last = event
    assert last is not None
    return count, last.id or "", last.data


async def httpx_sse_async(client: Any, url: str) -> tuple[int, str, str]:
    from httpx_sse import aconnect_sse

    count, last = 0, None
    async with aconnect_sse(client, "GET", url) as source:
        async for event in source.aiter_sse():
            count += 1
            last = event
    assert last is not None
    return count, last.id or "", last.data


def raw_sync(client: Any, url: str) -> tuple[int, str, str]:
    total = 0
    with client.stream("GET", url) as response:
        for chunk in response.iter_bytes():
            total += len(chunk)
    return total, "", ""


def decoder_sync(client: Any, url: str) -> tuple[int, str, str]:
    from sse_asgi import iter_events

    count, last = 0, None
    with client.stream("GET", url) as response:
        for event in iter_events(response.iter_bytes()):
            count += 1
            last = event
    assert last is not None
    return count, last.id or "", last.data


def ours_sync(client: Any, url: str) -> tuple[int, str, str]:
    from sse_asgi.client import EventSource

    count, last = 0, None
    with EventSource(url, client=client, reconnect=False) as source:
        for event in source:
            count += 1
            last = event
    assert last is not None
    return count, last.id or "", last.data


def httpx_sse_sync(client: Any, url: str) -> tuple[int, str, str]:
    from httpx_sse import connect_sse

    count, last = 0, None
    with connect_sse(client, "GET", url) as source:
        for event in source.iter_sse():
            count += 1
            last = event
    assert last is not None
    return count, last.id or "", last.data


def sseclient_py_sync(client: Any, url: str) -> tuple[int, str, str]:
    import sseclient

    count, last = 0, None
    with client.stream("GET", url) as response:
        for event in sseclient.SSEClient(response.iter_bytes()).events():
            count += 1
            last = event
    assert last is not None
    return count, last.id or "", last.data


ASYNC_READERS: dict[str, Callable[[Any, str], Awaitable[tuple[int, str, str]]]] = {
    "raw bytes (aiter_bytes)": raw_async,
    "aiter_events": decoder_async,
    "sse-asgi AsyncEventSource": ours_async,
    "httpx-sse aconnect_sse": httpx_sse_async,
}
SYNC_READERS: dict[str, Callable[[Any, str], tuple[int, str, str]]] = {
    "raw bytes (iter_bytes)": raw_sync,
    "iter_events": decoder_sync,
    "sse-asgi EventSource": ours_sync,
    "httpx-sse connect_sse": httpx_sse_sync,
    "sseclient-py": sseclient_py_sync,
}


def check(name: str, n: int, result: tuple[int, str, str]) -> None:
    count, last_id, last_data = result
    if last_id == "" and last_data == "":  # a raw floor: bytes
        if count != len(stream_bytes(n)):
            raise RuntimeError(f"{name}: {count} bytes, expected {len(stream_bytes(n))}")
        return
    if count != n or (last_id, last_data) != expected_last(n):
        raise RuntimeError(f"{name}: {count} events, last {(last_id, last_data)}")


def rotated(readers: dict[str, T], shift: int) -> list[tuple[str, T]]:
    items = list(readers.items())
    shift %= len(items)
    return items[shift:] + items[:shift]


def measure_async(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    import anyio
    import httpx

    async def main() -> dict[str, list[float]]:
        times: dict[str, list[float]] = {name: [] for name in ASYNC_READERS}
        async with httpx.AsyncClient(timeout=None) as client:
            for round_ in range(rounds + 1):  # round 0 warms up
                for name, read in rotated(ASYNC_READERS, round_):
                    started = time.perf_counter()
                    result = await read(client, url)
                    elapsed = time.perf_counter() - started
                    check(name, n, result)
                    if round_:
                        times[name].append(elapsed)
        return times

    return anyio.run(main)


def measure_sync(url: str, n: int, rounds: int) -> dict[str, list[float]]:
    import httpx

    times: dict[str, list[float]] = {name: [] for name in SYNC_READERS}
    with httpx.Client(timeout=None) as client:
        for round_ in range(rounds + 1):
            for name, read in rotated(SYNC_READERS, round_):
                started = time.perf_counter()
                result = read(client, url)
                elapsed = time.perf_counter() - started
                check(name, n, result)
                if round_:
                    times[name].append(elapsed)
    return times


def rows(times: dict[str, list[float]], n: int, floor: str, decoder: str) -> list[list[str]]:
    best = {name: min(values) for name, values in times.items()}
    out = []
    for name, seconds in best.items():
        overhead = "" if name == floor else f"{(seconds / best[decoder] - 1) * 100:+.1f}%"
        out.append(
            [
                name,
                f"{n / seconds:,.0f}",
                f"{seconds / n * 1e6:.2f}",
                f"{seconds / best[floor]:.2f}x",
                overhead,
            ]
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    n, rounds = (2_000, 1) if args.quick else (args.events, args.rounds)
    pin_client()
    print(versions("httpx", "httpx-sse", "sseclient-py", "uvicorn"))
    print(f"`{command_line()}`: {n:,} events ({len(stream_bytes(n)):,} bytes), "
          f"best of {rounds} interleaved rounds\n")  # fmt: skip
    headers = ["client", "events/s", "µs/event", "÷ raw bytes", "vs our decoder"]
    with uvicorn("client-bench", "benchmarks.client:app") as server:
        url = f"http://127.0.0.1:{server.port}/?n={n}"
        async_times = measure_async(url, n, rounds)
        sync_times = measure_sync(url, n, rounds)
    print("async (asyncio):\n")
    print(table(headers, rows(async_times, n, "raw bytes (aiter_bytes)", "aiter_events")))
    print("\nsync:\n")
    print(table(headers, rows(sync_times, n, "raw bytes (iter_bytes)", "iter_events")))


if __name__ == "__main__":
    main()
