"""Client-side decoding: sse-asgi's EventDecoder vs httpx-sse, sseclient-py, openai's and
anthropic's internal decoders and a naive ``bytes.split`` floor -- same bytes, same run.

Every decoder gets the same chunks from memory and must find the same number
of events. Rounds are interleaved (each round runs every decoder once on the
workload) and each cell is the best round's CPU time: on a shared machine
noise only ever adds time. The floor splits on blank lines and keeps ``data: `` lines:
not spec-exact (it ignores every other field, CR line ends, the BOM...), just
the least work any decoder can do in Python.

httpx-sse runs its own line decoder and field decoder, fed by the incremental
UTF-8 decoder that ``httpx.Response.iter_text`` uses (so httpx's response
machinery is not counted, as for the others). openai and anthropic run their
SDKs' internal ``SSEDecoder.iter_bytes``; sseclient-py its ``SSEClient.events``.

Then: a spec-conformance table computed from actual runs (each decoder on
small streams, compared with tests/spec_oracle.py, a transcription of the
spec's algorithm, including when each event becomes available); the time
for one long line trickled in 1 KiB chunks (linear or not); and the
end-to-end table: uvicorn (core 0, ``decode_app.py``) streaming N token
events to httpx clients (core 1), async then sync, each reading them

- raw, with no decoding: the floor;
- with ``aiter_events`` / ``iter_events``: our decoder over httpx's bytes;
- with ``AsyncEventSource`` / ``EventSource``: our client, the decoder plus
  the EventSource processing model -- its CPU per event over the bare
  decoder's is the number it is held to (at most +10%);
- with httpx-sse's ``aiter_sse`` / ``iter_sse``, and (sync) sseclient-py.

Each reader must read every byte or every event (the count and the last
event's data are checked); rounds rotate the order; each cell is the best
round, in events/s (wall clock) and in the client thread's CPU per event.

Run: ``python benchmarks/decode.py`` (``--quick`` for a smoke run,
``--e2e-only`` / ``--no-e2e`` for one part).
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import sys
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.spec_oracle

import httpx
from _common import command_line, table, versions
from _servers import CLIENT_CORE, pin_client, uvicorn
from anthropic._streaming import SSEDecoder as AnthropicDecoder
from decode_app import bodies, token_event
from httpx_sse import aconnect_sse, connect_sse
from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
from httpx_sse._decoders import SSELineDecoder
from openai._streaming import SSEDecoder as OpenAIDecoder
from sseclient import SSEClient

from sse_asgi import EventDecoder, aiter_events, iter_events
from sse_asgi.client import AsyncEventSource, EventSource
from tests import spec_oracle

Decode = Callable[[list[bytes]], int]  # chunks -> number of events

# -- the decoders, each as its users run it -----------------------------------------------------


def ours(chunks: list[bytes]) -> int:
    decoder = EventDecoder()
    n = 0
    for chunk in chunks:
        n += len(decoder.feed(chunk))
    return n


def httpx_sse_events(chunks: Iterable[bytes]) -> Iterator[Any]:
    """httpx-sse's ``EventSource.iter_sse`` minus httpx's Response: text -> lines -> events."""
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # httpx's TextDecoder
    lines = SSELineDecoder()
    sse = HttpxSSEDecoder()
    for chunk in chunks:
        text = text_decoder.decode(chunk)
        if text:
            for line in lines.decode(text):
                event = sse.decode(line.rstrip("\n"))
                if event is not None:
                    yield event
    text = text_decoder.decode(b"", True)
    rest = (lines.decode(text) if text else []) + lines.flush()
    for line in rest:
        event = sse.decode(line.rstrip("\n"))
        if event is not None:
            yield event


def httpx_sse(chunks: list[bytes]) -> int:
    return sum(1 for _ in httpx_sse_events(chunks))


def openai(chunks: list[bytes]) -> int:
    return sum(1 for _ in OpenAIDecoder().iter_bytes(iter(chunks)))


def anthropic(chunks: list[bytes]) -> int:
    return sum(1 for _ in AnthropicDecoder().iter_bytes(iter(chunks)))


def sseclient_events(chunks: Iterable[bytes]) -> Iterator[Any]:
    return SSEClient(iter(chunks)).events()


def sseclient(chunks: list[bytes]) -> int:
    return sum(1 for _ in sseclient_events(chunks))


def floor(chunks: list[bytes]) -> int:
    """Blank-line split and the first ``data: `` line only: the least work a Python decoder can do."""
    n = 0
    pending: list[bytes] = []
    sep = eol = b""
    for chunk in chunks:
        if b"\n" not in chunk:  # no blank line can end in it
            pending.append(chunk)
            continue
        if pending:
            pending.append(chunk)
            chunk = b"".join(pending)
        if not sep:  # LF or CRLF, as the first line end says
            eol = b"\r\n" if chunk[chunk.index(b"\n") - 1 : chunk.index(b"\n")] == b"\r" else b"\n"
            sep = eol + eol
        blocks = chunk.split(sep)
        rest = blocks.pop()
        pending = [rest] if rest else []
        for block in blocks:
            start = block.find(b"data: ")
            if start >= 0:
                end = block.find(eol, start)
                block[start + 6 : end if end >= 0 else len(block)].decode()
                n += 1
    return n


DECODERS: dict[str, Decode] = {
    "naive bytes.split floor (not spec-exact)": floor,
    "sse-asgi EventDecoder.feed": ours,
    "httpx-sse": httpx_sse,
    "openai (internal SSEDecoder)": openai,
    "anthropic (internal SSEDecoder)": anthropic,
    "sseclient-py": sseclient,
}
OURS, HTTPX_SSE = "sse-asgi EventDecoder.feed", "httpx-sse"

# -- the workloads: same bytes for every decoder -------------------------------------------------


def chunked(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def anthropic_event(i: int) -> bytes:
    words = (" the", " quick", " brown", " fox", " jumps", " over", " lazy", " dogs", ".", "\\n")
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"' + words[i % len(words)].encode() + b'"}}\n\n'
    )


def unicode_event(i: int) -> bytes:
    words = (" 世界", " café", " 😀", " naïve", " данные", " the", " ünïcödé", "。")
    return (
        'data: {"choices":[{"delta":{"content":"' + words[i % len(words)] + '"}}]}\n\n'
    ).encode()


def big_event(i: int, size: int) -> bytes:
    body = (b'{"rows":[' + b'"0123456789abcdefghijklmnopqrstuvwxyz",' * (size // 39))[: size - 2]
    return b"data: " + body + b"]}\n\n"


def workloads(quick: bool) -> list[tuple[str, list[bytes], int, bool]]:
    """(label, chunks, events, counts toward a target)."""
    n = 2_000 if quick else 20_000
    events = [token_event(i) for i in range(n)]
    lf = b"".join(events)
    crlf = lf.replace(b"\n", b"\r\n")
    big_n = 20 if quick else 200
    big = b"".join(big_event(i, 64 * 1024) for i in range(big_n))
    byte_n = 100 if quick else 1_000
    anth = b"".join(anthropic_event(i) for i in range(n))
    with_ids = b"".join(b"id: %d\n%s" % (i, event) for i, event in enumerate(events))
    uni = b"".join(unicode_event(i) for i in range(n))
    return [
        ("LLM tokens, LF, 4 KiB chunks", chunked(lf, 4096), n, True),
        ("LLM tokens, LF, 64 KiB chunks", chunked(lf, 65536), n, True),
        ("LLM tokens, CRLF, 4 KiB chunks", chunked(crlf, 4096), n, True),
        ("LLM tokens, CRLF, 64 KiB chunks", chunked(crlf, 65536), n, True),
        ("64 KiB events, 64 KiB chunks", chunked(big, 65536), big_n, True),
        (
            "LLM tokens, 1-byte chunks",
            chunked(lf[: len(b"".join(events[:byte_n]))], 1),
            byte_n,
            True,
        ),
        ("event: + data: (Anthropic style), 4 KiB", chunked(anth, 4096), n, False),
        ("id: + data: (resumable tokens), 4 KiB", chunked(with_ids, 4096), n, False),
        (
            "id: + data: (resumable tokens), CRLF, 4 KiB",
            chunked(with_ids.replace(b"\n", b"\r\n"), 4096),
            n,
            False,
        ),
        ("non-ASCII tokens (UTF-8), 4 KiB chunks", chunked(uni, 4096), n, False),
    ]


TARGETS = {
    "LLM tokens, LF, 4 KiB chunks": 2.0,
    "LLM tokens, LF, 64 KiB chunks": 2.0,
    "LLM tokens, CRLF, 4 KiB chunks": 2.0,
    "LLM tokens, CRLF, 64 KiB chunks": 2.0,
    "64 KiB events, 64 KiB chunks": 1.3,
    "LLM tokens, 1-byte chunks": 2.0,
}


def best_cpu_ns(chunks: list[bytes], rounds: int) -> dict[str, float]:
    """Each decoder's best CPU time on ``chunks`` over interleaved rounds.

    CPU time of this thread, not wall time: on a shared machine the wall clock
    also counts the turns other processes take on this core.
    """
    best = dict.fromkeys(DECODERS, float("inf"))
    for _ in range(rounds):
        for name, decode in DECODERS.items():
            start = time.thread_time_ns()
            decode(chunks)
            best[name] = min(best[name], time.thread_time_ns() - start)
    return best


def throughput(rounds: int, quick: bool) -> tuple[str, list[str]]:
    rows = []
    met = []
    for label, chunks, n, _ in workloads(quick):
        for name, decode in DECODERS.items():
            got = decode(chunks)  # also the warm-up
            if got != n:
                raise RuntimeError(f"{name} found {got} events in {label!r}, not {n}")
        result = best_cpu_ns(chunks, rounds)
        size = sum(map(len, chunks))
        rate = {name: n / (ns / 1e9) for name, ns in result.items()}
        ratio = rate[OURS] / rate[HTTPX_SSE]
        cells: list[object] = [label]
        for name in DECODERS:
            mb = f" ({size / result[name] * 1e3:,.0f} MB/s)" if "64 KiB events" in label else ""
            cells.append(f"{rate[name]:,.0f}{mb}")
        cells.append(f"{ratio:.2f}x")
        rows.append(cells)
        if label in TARGETS:
            target = TARGETS[label]
            met.append(
                f"{label}: {ratio:.2f}x httpx-sse (target {target}x: {'met' if ratio >= target else 'NOT met'})"
            )
    headers = ["workload (events/s)", *DECODERS, "sse-asgi ÷ httpx-sse"]
    return table(headers, rows), met


# -- spec conformance, from actual runs ------------------------------------------------------------

CASES: list[tuple[str, list[bytes]]] = [
    ("BOM", [b"\xef\xbb\xbfdata: a\n\n"]),
    ("`retry: +5`", [b"retry: +5\ndata: a\n\n"]),
    ("`retry:  5` (two spaces)", [b"retry:  5\ndata: a\n\n"]),
    ("`retry: ٣` (non-ASCII digit)", ["retry: ٣\ndata: a\n\n".encode()]),
    ("id-only block dispatched", [b"id: 1\n\ndata: a\n\n"]),
    ("event-only block dispatched", [b"event: x\n\ndata: a\n\n"]),
    ("CR at chunk end held back", [b"data: a\r\r", b"data: b\r\r"]),
    ("CR line ends", [b"data: a\rdata: b\r\r"]),
    ("CRLF split across chunks", [b"data: a\r", b"\n\r\n"]),
    ("invalid UTF-8 (raises or differs)", [b"data: \xff\xfe\n\n"]),
    ("UTF-8 split across chunks", [b"data: \xe4", b"\xb8\x96\n\n"]),
    ("id with NUL", [b"id: 1\n\nid: a\0b\ndata: x\n\n"]),
    ("id kept for later events", [b"id: 1\ndata: a\n\ndata: b\n\n"]),
    ("one leading space only", [b"data:  two\n\n"]),
    ("field names case-sensitive", [b"Data: x\ndata: y\n\n"]),
    (
        "U+2028, VT, FF, FS, NEL are no line ends",
        ["data: a\u2028b\x0bc\x0cd\x1ce\x85f\n\n".encode()],
    ),
    ("unfinished event at the end", [b"data: a\n\ndata: b"]),
    ("empty data", [b"data\n\n"]),
]

Seen = list[tuple[tuple[str, str, str, object], int]]  # (event, chunks consumed when it came out)


def _norm(event: Any) -> tuple[str, str, str, object]:
    return (event.event or "message", event.data, event.id or "", event.retry)


def _from_generator(make: Callable[[Iterator[bytes]], Iterable[Any]], chunks: list[bytes]) -> Seen:
    consumed = 0

    def source() -> Iterator[bytes]:
        nonlocal consumed
        for chunk in chunks:
            consumed += 1
            yield chunk

    return [(_norm(event), consumed) for event in make(source())]


def _ours_seen(chunks: list[bytes]) -> Seen:
    decoder = EventDecoder()
    return [(_norm(e), k) for k, chunk in enumerate(chunks, 1) for e in decoder.feed(chunk)]


CONFORMANCE: dict[str, Callable[[list[bytes]], Seen]] = {
    OURS: _ours_seen,
    HTTPX_SSE: lambda c: _from_generator(httpx_sse_events, c),
    "openai (internal SSEDecoder)": lambda c: _from_generator(OpenAIDecoder().iter_bytes, c),
    "anthropic (internal SSEDecoder)": lambda c: _from_generator(AnthropicDecoder().iter_bytes, c),
    "sseclient-py": lambda c: _from_generator(sseclient_events, c),
}


def expected(chunks: list[bytes]) -> Seen:
    """What the spec says, and after which chunk each event is complete."""
    seen: Seen = []
    for k in range(1, len(chunks) + 1):
        events = spec_oracle.parse(b"".join(chunks[:k])).events
        seen += [((e.type, e.data, e.last_event_id, e.retry), k) for e in events[len(seen) :]]
    return seen


def conformance() -> str:
    rows = []
    for name, run in CONFORMANCE.items():
        departures = []
        for label, chunks in CASES:
            try:
                ok = run(chunks) == expected(chunks)
            except Exception as exc:  # a decoder that raises on valid-per-spec input departs
                departures.append(f"{label} ({type(exc).__name__})")
                continue
            if not ok:
                departures.append(label)
        rows.append(
            [name, f"{len(CASES) - len(departures)}/{len(CASES)}", "; ".join(departures) or "none"]
        )
    return table(["decoder", "cases as the spec says", "departs from the spec on"], rows)


# -- one long line, trickled: linear or not ---------------------------------------------------------


def trickle(quick: bool) -> str:
    sizes = [1, 2] if quick else [1, 2, 4, 8]
    rows = []
    for name, decode in DECODERS.items():
        cells: list[object] = [name]
        slow = False
        for mib in sizes:
            if slow:
                cells.append("—")
                continue
            stream = b"data: " + b"x" * (mib << 20) + b"\n\n"
            chunks = chunked(stream, 1024)
            start = time.thread_time()
            got = decode(chunks)
            elapsed = time.thread_time() - start
            if got != 1:
                raise RuntimeError(f"{name}: {got} events from one long line")
            cells.append(f"{elapsed:.3f}")
            slow = elapsed > 3  # the next size would take minutes if it is quadratic
        rows.append(cells)
    headers = ["decoder", *(f"{mib} MiB line, s" for mib in sizes)]
    return table(headers, rows) + "\n(— : not run, the previous size took over 3 s)"


# -- end to end: uvicorn -> httpx, our decoder and our client ----------------------------------------

Tally = tuple[int, str]  # (events, or bytes for a floor; the last event's data)


async def _atally(events: AsyncIterable[Any]) -> Tally:
    n, last = 0, ""
    async for event in events:
        n += 1
        last = event.data
    return n, last


def _tally(events: Iterable[Any]) -> Tally:
    n, last = 0, ""
    for event in events:
        n += 1
        last = event.data
    return n, last


async def _raw_async(client: httpx.AsyncClient, url: str) -> Tally:
    total = 0
    async with client.stream("GET", url) as response:
        async for chunk in response.aiter_bytes():
            total += len(chunk)
    return total, ""


async def _aiter_events(client: httpx.AsyncClient, url: str) -> Tally:
    async with client.stream("GET", url) as response:
        return await _atally(aiter_events(response.aiter_bytes()))


async def _async_event_source(client: httpx.AsyncClient, url: str) -> Tally:
    async with AsyncEventSource(url, client=client, reconnect=False) as source:
        return await _atally(source)


async def _httpx_sse_async(client: httpx.AsyncClient, url: str) -> Tally:
    async with aconnect_sse(client, "GET", url) as source:
        return await _atally(source.aiter_sse())


def _raw_sync(client: httpx.Client, url: str) -> Tally:
    total = 0
    with client.stream("GET", url) as response:
        for chunk in response.iter_bytes():
            total += len(chunk)
    return total, ""


def _iter_events(client: httpx.Client, url: str) -> Tally:
    with client.stream("GET", url) as response:
        return _tally(iter_events(response.iter_bytes()))


def _event_source(client: httpx.Client, url: str) -> Tally:
    with EventSource(url, client=client, reconnect=False) as source:
        return _tally(source)


def _httpx_sse_sync(client: httpx.Client, url: str) -> Tally:
    with connect_sse(client, "GET", url) as source:
        return _tally(source.iter_sse())


def _sseclient_sync(client: httpx.Client, url: str) -> Tally:
    with client.stream("GET", url) as response:
        return _tally(sseclient_events(response.iter_bytes()))


ASYNC_FLOOR, ASYNC_DECODER, ASYNC_CLIENT, ASYNC_PEER = (
    "httpx aiter_bytes, no decoding (floor)",
    "sse-asgi aiter_events",
    "sse-asgi AsyncEventSource",
    "httpx-sse aiter_sse",
)
SYNC_FLOOR, SYNC_DECODER, SYNC_CLIENT, SYNC_PEER = (
    "httpx iter_bytes, no decoding (floor)",
    "sse-asgi iter_events",
    "sse-asgi EventSource",
    "httpx-sse iter_sse",
)
ASYNC_READERS: dict[str, Callable[[httpx.AsyncClient, str], Awaitable[Tally]]] = {
    ASYNC_FLOOR: _raw_async,
    ASYNC_DECODER: _aiter_events,
    ASYNC_CLIENT: _async_event_source,
    ASYNC_PEER: _httpx_sse_async,
}
SYNC_READERS: dict[str, Callable[[httpx.Client, str], Tally]] = {
    SYNC_FLOOR: _raw_sync,
    SYNC_DECODER: _iter_events,
    SYNC_CLIENT: _event_source,
    SYNC_PEER: _httpx_sse_sync,
    "sseclient-py SSEClient.events": _sseclient_sync,
}
FLOORS = (ASYNC_FLOOR, SYNC_FLOOR)


@dataclass
class Timings:
    """Per reader: events/s (wall clock) and the client's CPU ns per event, one entry a round."""

    rates: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, n: int, wall_s: float, cpu_ns: int) -> None:
        self.rates.setdefault(name, []).append(n / wall_s)
        self.cpu.setdefault(name, []).append(cpu_ns / n)

    def best_rate(self, name: str) -> float:
        return max(self.rates[name])

    def best_cpu(self, name: str) -> float:
        return min(self.cpu[name])


def _check(name: str, n: int, got: Tally) -> None:
    """Every reader must have read the whole stream: all the bytes, or every event."""
    if name in FLOORS:
        expected: Tally = (sum(map(len, bodies(n))), "")
    else:
        expected = (n, token_event(n - 1)[len(b"data: ") : -2].decode())
    if got != expected:
        raise RuntimeError(
            f"{name}: read {got[0]:,} (last data {got[1][:40]!r}), not {expected[0]:,}"
        )


def _rotated(names: Sequence[str], shift: int) -> list[str]:
    """``names`` starting at ``shift``: each round runs them in another order, so drift hits all alike."""
    shift %= len(names)
    return [*names[shift:], *names[:shift]]


def _measure_async(url: str, n: int, rounds: int, timings: Timings) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            for round_ in range(rounds + 1):  # round 0 warms up (and the server builds its bodies)
                for name in _rotated(list(ASYNC_READERS), round_):
                    start, start_cpu = time.perf_counter(), time.thread_time_ns()
                    got = await ASYNC_READERS[name](client, url)
                    cpu_ns, wall = time.thread_time_ns() - start_cpu, time.perf_counter() - start
                    _check(name, n, got)
                    if round_:
                        timings.add(name, n, wall, cpu_ns)

    asyncio.run(main())


def _measure_sync(url: str, n: int, rounds: int, timings: Timings) -> None:
    with httpx.Client(timeout=60) as client:
        for round_ in range(rounds + 1):
            for name in _rotated(list(SYNC_READERS), round_):
                start, start_cpu = time.perf_counter(), time.thread_time_ns()
                got = SYNC_READERS[name](client, url)
                cpu_ns, wall = time.thread_time_ns() - start_cpu, time.perf_counter() - start
                _check(name, n, got)
                if round_:
                    timings.add(name, n, wall, cpu_ns)


def _overhead(t: Timings, client: str, decoder: str) -> tuple[float, float]:
    """The client's extra time over the bare decoder: (CPU, wall clock), as fractions."""
    cpu = t.best_cpu(client) / t.best_cpu(decoder) - 1
    wall = t.best_rate(decoder) / t.best_rate(client) - 1
    return cpu, wall


def _e2e_rows(
    t: Timings, api: str, readers: Iterable[str], decoder: str, peer: str
) -> list[list[object]]:
    rows: list[list[object]] = []
    for name in readers:
        over = "" if name in FLOORS else f"{_overhead(t, name, decoder)[0]:+.1%}"
        rows.append(
            [
                api,
                name,
                f"{t.best_rate(name):,.0f}",
                f"{min(t.rates[name]):,.0f}–{t.best_rate(name):,.0f}",
                f"{t.best_rate(name) / t.best_rate(peer):.2f}x",
                f"{t.best_cpu(name):,.0f}",
                f"{t.best_cpu(peer) / t.best_cpu(name):.2f}x",
                over,
            ]
        )
    return rows


CLIENT_OVERHEAD_TARGET = 0.10  # the client's CPU per event over the bare decoder's (issue 16)


def end_to_end(n: int, rounds: int) -> tuple[str, list[str]]:
    """The table, and the target lines: uvicorn serving ``n`` token events to each reader."""
    t = Timings()
    with uvicorn("decode", "benchmarks.decode_app:app") as server:
        url = f"http://127.0.0.1:{server.port}/?n={n}"
        _measure_async(url, n, rounds, t)
        _measure_sync(url, n, rounds, t)
    rows = [
        *_e2e_rows(t, "async", ASYNC_READERS, ASYNC_DECODER, ASYNC_PEER),
        *_e2e_rows(t, "sync", SYNC_READERS, SYNC_DECODER, SYNC_PEER),
    ]
    ratio = t.best_rate(ASYNC_DECODER) / t.best_rate(ASYNC_PEER)
    cpu_ratio = t.best_cpu(ASYNC_PEER) / t.best_cpu(ASYNC_DECODER)
    notes = [
        f"end to end: aiter_events {ratio:.2f}x httpx-sse in events/s, {cpu_ratio:.2f}x in client "
        f"CPU per event (target 1.8x events/s: {'met' if ratio >= 1.8 else 'NOT met'})"
    ]
    for client, decoder in ((ASYNC_CLIENT, ASYNC_DECODER), (SYNC_CLIENT, SYNC_DECODER)):
        cpu, wall = _overhead(t, client, decoder)
        verdict = "met" if cpu <= CLIENT_OVERHEAD_TARGET else "NOT met"
        notes.append(
            f"{client} over {decoder}: {cpu:+.1%} client CPU per event, {wall:+.1%} wall clock "
            f"(target at most {CLIENT_OVERHEAD_TARGET:+.0%} CPU: {verdict})"
        )
    headers = [
        "API",
        "reader",
        "events/s (best)",
        "all rounds",
        "÷ httpx-sse",
        "client CPU ns/event (best)",
        "httpx-sse ÷ this (CPU)",
        "CPU over our decoder",
    ]
    return table(headers, rows), notes


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--events", type=int, default=100_000, help="end-to-end events")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end table")
    parser.add_argument("--e2e-only", action="store_true", help="only the end-to-end table")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    # In-memory decoding runs on the client's core, like the end-to-end client.
    pin_client()
    print(
        f"# decode: events/s, same chunks for every decoder, best of {rounds} interleaved rounds, core {CLIENT_CORE}"
    )
    print(
        versions("sse-asgi", "httpx-sse", "openai", "anthropic", "sseclient-py", "httpx", "uvicorn")
    )
    print()
    met: list[str] = []
    if not args.e2e_only:
        text, met = throughput(rounds, args.quick)
        print(text)
        print()
        print("## spec conformance (computed from runs against tests/spec_oracle.py)\n")
        print(conformance())
        print()
        print("## one long data line in 1 KiB chunks (CPU seconds; linear means 2x per 2x)\n")
        print(trickle(args.quick))
    if not args.no_e2e:
        n = 5_000 if args.quick else args.events
        e2e, notes = end_to_end(n, rounds)
        print()
        print(f"## end to end: uvicorn (core 0) -> httpx (core 1), {n:,} token events/request, "
              f"best of {rounds} interleaved rounds (the order rotating)\n")  # fmt: skip
        print(e2e)
        met += notes
    print()
    print("targets:")
    for line in met:
        print(f"- {line}")
    print()
    print(f"command: {command_line()}")


if __name__ == "__main__":
    main()
