"""End-to-end streaming throughput through uvicorn: sse-asgi vs the peers vs the floor.

uvicorn (uvloop + httptools) serves each app on core 0; this client reads on
core 1. Each request streams N events (``event: tick``, ``id``, JSON data)
and ends; we time it to the last byte and read the server's CPU time from
/proc. The floor is a bare ASGI app sending pre-encoded bytes, one ``send``
per event. sse-asgi runs with its defaults: keep-alive and disconnect
detection on. Rounds are interleaved; the table shows medians, and each
ratio is the median of the per-round ratios to the floor.

Run: ``python benchmarks/stream.py`` (``--quick`` for a smoke run; ``--cases
small model`` for the event-object tables only).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, table, versions
from _servers import Server, http_get, pin_client, read_all, uvicorn

# small / model: each library's event object with event, id and data; small-plain /
# model-plain: plain items yielded as they are (data only) -- bulk streams, and
# the typed FastAPI style.
CASES = ("small", "model", "small-plain", "model-plain")
TARGETS = {
    "floor (pre-encoded, 1 send/event)": "benchmarks.apps:floor",
    "sse-asgi": "benchmarks.apps:ours",
    "sse-asgi, coalesce=0.01": "benchmarks.apps:ours_coalesced",
    "sse-starlette": "benchmarks.apps:sse_starlette",
    "fastapi.sse": "benchmarks.apps:fastapi_sse",
}
FLOOR = "floor (pre-encoded, 1 send/event)"


def one_run(server: Server, n: int, case: str) -> tuple[float, float]:
    """(events per second, server CPU µs per event) for one request of n events."""
    payload, _, shape = case.partition("-")
    path = f"/?n={n}&payload={payload}&shape={shape or 'event'}"
    if server.name == "fastapi.sse" and case == "model-plain":
        path = f"/models?n={n}"  # FastAPI types a stream by its route's annotation
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    sock = http_get(server.port, path)
    data = read_all(sock)
    elapsed = time.perf_counter() - started
    sock.close()
    cpu = server.cpu_seconds() - cpu_before
    got = data.count(b"\n\n")
    if got != n:
        raise RuntimeError(f"{server.name}: expected {n} events, got {got}")
    return n / elapsed, cpu / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args()
    cases = [case for case in CASES if case in args.cases]
    n, rounds = (2_000, 1) if args.quick else (args.events, args.rounds)
    pin_client()
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(uvicorn(name, target)) for name, target in TARGETS.items()
        }
        for payload in cases:
            for name, server in servers.items():
                # Warm up: every app builds its payloads (and the floor its
                # bytes) here, outside the timed runs.
                one_run(server, n // 10 if name == "fastapi.sse" else n, payload)
            for _ in range(rounds):
                for name, server in servers.items():
                    # The slowest peer gets fewer events; rates stay comparable.
                    count = n // 10 if name == "fastapi.sse" else n
                    results.setdefault((name, payload), []).append(one_run(server, count, payload))
    med = {
        key: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        for key, runs in results.items()
    }
    print(f"# stream: uvicorn, server on core 0, client on core 1, {n:,} events/request, "
          f"median of {rounds} interleaved rounds")  # fmt: skip
    print(versions("sse-asgi", "uvicorn", "uvloop", "httptools", "fastapi", "sse-starlette"))
    titles = {
        "small": "event objects (event + id + small dict data)",
        "model": "event objects (event + id + 6-field pydantic model data)",
        "small-plain": "plain items (small dicts yielded as they are: bulk streams)",
        "model-plain": "plain items (pydantic models in a typed stream, FastAPI's `-> AsyncIterable[Model]`)",
    }
    for case in cases:
        rows = []
        floor_runs = results[(FLOOR, case)]
        for name in TARGETS:
            rate, cpu = med[(name, case)]
            # Each ratio compares runs of the same round, taken seconds apart,
            # so that the machine's slow phases hit both sides alike.
            runs = results[(name, case)]
            rate_ratio = statistics.median(
                r[0] / f[0] for r, f in zip(runs, floor_runs, strict=True)
            )
            cpu_ratio = statistics.median(
                r[1] / f[1] for r, f in zip(runs, floor_runs, strict=True)
            )
            rows.append(
                [name, f"{rate:,.0f}", f"{rate_ratio:.2f}x", f"{cpu:.1f}", f"{cpu_ratio:.2f}x"]
            )
        print(f"\n## {titles[case]}\n")
        print(table(["server", "events/s", "× floor", "server CPU µs/event", "× floor"], rows))
    print()
    print(f"command: {command_line()}")


if __name__ == "__main__":
    main()
