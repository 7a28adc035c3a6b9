"""Direct writes through real servers: parked streams, a client that stops reading.

``tests.parked_app`` serves ``EventSourceResponse(broadcast.subscribe("feed"))``
over each server; a publish then writes to every parked connection through
the server's own ``send`` -- and, for a client whose TCP window is full, the
server's flow control makes that write wait, so it is handed to the stream,
which ends it after its send timeout. Meanwhile every reading client gets
every event, in order, without waiting for the stalled one.
"""

from __future__ import annotations

import re
import selectors
import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest

from .raw_clients import Clients, Reader
from .servers import run_server

# asyncio servers park the streams; hypercorn's trio worker does not (and shields
# its writes from cancellation, so no send timeout ends a stalled client there).
KINDS = ["uvicorn-httptools", "uvicorn-h11", "hypercorn", "granian", "hypercorn-trio"]
READERS = 20
SEND_TIMEOUT = 2.0
EVENT_BYTES = 16_384


def open_readers(clients: Clients, path: str, count: int) -> None:
    """Open ``count`` readers without waiting for an event (a subscription sends none)."""
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", clients.port), timeout=10)
        reader = Reader(sock, path)
        sock.setblocking(False)
        clients.selector.register(sock, selectors.EVENT_READ, reader)
        clients.readers.append(reader)


def stats(client: httpx.Client) -> dict[str, int]:
    result: dict[str, int] = orjson.loads(client.get("/stats").content)
    return result


def has(reader: Reader, seq: int) -> bool:
    """Whether the last event ``reader`` received whole is number ``seq`` (without
    decoding the whole body each time)."""
    tail = bytes(reader.body[-(EVENT_BYTES + 200) :])
    return tail.endswith(b"\n\n") and b'data: {"seq":%d,' % seq in tail


def seqs(reader: Reader) -> list[int]:
    return [orjson.loads(event.data)["seq"] for event in reader.events]


CASES = [
    *(pytest.param(kind, "", id=kind) for kind in KINDS),
    # Every send through a middleware's anyio.Lock: the lock is taken in the
    # publisher's call, as the stream's task, and released by that task.
    pytest.param("uvicorn-httptools", "&lock=1", id="uvicorn-httptools-locked-send"),
]


@pytest.mark.parametrize(("kind", "query"), CASES)
def test_a_stalled_client_is_timed_out_while_readers_get_every_event(
    kind: str, query: str, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    parks = kind != "hypercorn-trio"
    with (
        run_server(
            kind, tmp_path, app="tests.parked_app:app", env={"SSE_ASGI_MARKERS": str(markers)}
        ) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        clients = Clients(server.port)
        try:
            open_readers(clients, f"/events?timeout=30{query}", READERS)
            clients.open_stalled(f"/events?timeout={SEND_TIMEOUT}{query}", 1)
            clients.service_until(
                lambda: stats(http)["subscribers"] == READERS + 1, 20, "subscriptions"
            )
            if parks:
                clients.service_until(
                    lambda: stats(http)["parked"] == READERS + 1, 20, "parked streams"
                )
            else:
                assert stats(http)["parked"] == 0
            seq, slowest = 0, 0.0
            started = time.monotonic()
            # An event every 20 ms or more (so the stalled subscriber, its write handed
            # over, stays within its 256-event buffer) until its send timeout has ended
            # it -- on trio, where writes are shielded, 60 events.
            while "stopped reading" not in server.log() if parks else seq < 60:
                assert time.monotonic() - started < 60, f"no send timeout:\n{server.log()[-3000:]}"
                http.post(f"/publish?seq={seq}&size={EVENT_BYTES}").raise_for_status()
                took = clients.service_until(
                    lambda: all(has(r, seq) for r in clients.readers),  # noqa: B023
                    10,
                    f"event {seq} at every reader",
                )
                slowest = max(slowest, took)
                seq += 1
                clients.service_for(0.02)
            if parks:  # the stalled one unsubscribed; every reader's stream parked once more
                clients.service_until(lambda: stats(http)["subscribers"] == READERS, 10, "its end")
                # ... but for a send that always waits (the lock): each stream's
                # first write was handed over, and a stream whose write had to
                # wait parks no more (woken per event, as before parking).
                again = 0 if "lock" in query else READERS
                clients.service_until(lambda: stats(http)["parked"] == again, 10, "re-parking")
            else:
                assert stats(http)["parked"] == 0
        finally:
            clients.close()
        log = server.log()
    for reader in clients.readers:
        assert seqs(reader) == list(range(seq)), reader.problem()
    assert slowest < 5.0  # the stalled client held nobody up (generous: a loaded machine)
    assert list(markers.glob("stalled-*")), "the stalled client's write never waited"
    timed_out = re.findall(r"stopped reading for 2\.0 s", log)
    assert len(timed_out) == (1 if parks else 0), log[-3000:]
    assert not re.search(r"ERROR|CRITICAL|Traceback|Exception", log), log[-5000:]
