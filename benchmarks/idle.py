"""Memory (KiB) and asyncio tasks per idle open SSE connection, for 1,000 connections.

For each app (the floor, sse-asgi, sse-starlette, fastapi.sse) a fresh
uvicorn (uvloop + httptools, pinned to core 0) serves ``/idle``: one event,
then nothing until the client leaves -- a notification feed at rest. We open
N connections, wait for each one's first event, and read the server's RSS
and task count before and after. The floor is a bare ASGI app that sends a
pre-encoded event and awaits ``receive()``: one task per connection, no timer.
sse-asgi runs with its defaults (keep-alive timer and disconnect watcher on).

Run: ``python benchmarks/idle.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, table, versions
from _servers import Server, http_get, pin_client, read_all, uvicorn

TARGETS = {
    "floor (bare ASGI, 1 task)": "benchmarks.apps:floor",
    "sse-asgi": "benchmarks.apps:ours",
    "sse-starlette": "benchmarks.apps:sse_starlette",
    "fastapi.sse": "benchmarks.apps:fastapi_sse",
}
FLOOR = "floor (bare ASGI, 1 task)"


def tasks(server: Server) -> int:
    sock = http_get(server.port, "/tasks")
    body = read_all(sock).split(b"\r\n\r\n", 1)[1]
    sock.close()
    return int(body)


def open_idle(server: Server) -> socket.socket:
    sock = http_get(server.port, "/idle", close=False)
    received = b""
    while b"\n\n" not in received.split(b"\r\n\r\n", 1)[-1]:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"{server.name}: connection closed early")
        received += chunk
    return sock


def one_round(name: str, target: str, n: int) -> tuple[float, float]:
    with uvicorn(name, target) as server:
        for _ in range(3):  # warm up: imports, first-request caches
            open_idle(server).close()
        tasks_before = tasks(server)
        rss_before = server.rss_kib()
        sockets = [open_idle(server) for _ in range(n)]
        rss_after = server.rss_kib()
        tasks_after = tasks(server)
        for sock in sockets:
            sock.close()
    return (rss_after - rss_before) / n, (tasks_after - tasks_before) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 connections, one round")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, rounds = (100, 1) if args.quick else (args.connections, args.rounds)
    pin_client()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in TARGETS}
    for _ in range(rounds):
        for name, target in TARGETS.items():
            samples[name].append(one_round(name, target, n))
    medians = {
        name: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs))
        for name, runs in samples.items()
    }
    floor_kib = medians[FLOOR][0]
    rows = [
        [name, f"{kib:.1f}", f"{kib / floor_kib:.2f}x", f"{count:.2f}"]
        for name, (kib, count) in medians.items()
    ]
    print(f"# idle: {n:,} open connections, uvicorn on core 0, median of {rounds} fresh servers")
    print(versions("sse-asgi", "uvicorn", "uvloop", "fastapi", "sse-starlette"))
    print()
    print(table(["server", "KiB per connection", "× floor", "tasks per connection"], rows))
    print()
    print(f"command: {command_line()}")


if __name__ == "__main__":
    main()
