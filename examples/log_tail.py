"""``tail -f`` for the browser with Starlette: a log file's records as ``raw_data`` events.

Shows ``raw_data`` (text sent as is, not as JSON) carrying multi-line records
-- a line with a traceback under it is one event, whose data the client
receives with its line breaks intact -- and resuming after
``Last-Event-ID``, which here is the file offset after the last record sent.

Run it with ``python examples/log_tail.py``, then
``curl -N http://127.0.0.1:8000/logs``. It tails ``$LOG_FILE`` if set;
otherwise it writes a demo log (a record a second, sometimes a traceback)
to ``sse-asgi-demo.log`` in the temp folder and tails that.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from itertools import count
from pathlib import Path
from typing import IO

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from sse_asgi.starlette import EventSourceResponse, ServerSentEvent

#: Seconds between looks at the file when there is nothing new (tests lower it).
POLL_INTERVAL = 0.25
#: Seconds between two records of the demo log.
DEMO_INTERVAL = 1.0
#: A new client first gets the records in about this many last bytes, like `tail`.
BACKLOG = 2048

# A record starts with a timestamp; any other line (a traceback, a
# continuation) belongs to the record above it.
RECORD_START = re.compile(rb"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")


async def tail(path: Path, offset: int | None = None) -> AsyncIterator[ServerSentEvent]:
    """The records of ``path`` from byte ``offset`` (default: the last few) on, then new ones."""
    # An async generator, not a sync one: a sync generator waiting for new
    # lines inside itself could not be closed until its next record, so every
    # client that left would leave a thread polling the file.
    # Binary, so that offsets are byte positions a client can resume from.
    async with await anyio.open_file(path, "rb") as log:
        size = await log.seek(0, os.SEEK_END)
        if offset is None or offset > size:  # a new client, or the file was truncated
            offset = await anyio.to_thread.run_sync(_recent_records, log.wrapped, size)
        end = await log.seek(offset)  # the offset after the last complete line read
        pending = b""  # the start of a line still being written
        record: list[bytes] = []
        idle = False
        while True:
            chunk = await log.read(65536)
            if chunk:
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if record and RECORD_START.match(line):
                        yield _event(record, end)
                        record = []
                    record.append(line.removesuffix(b"\r"))
                    end += len(line) + 1
                idle = False
                continue
            if record and idle:
                # Nothing more came for a whole interval: the record is complete.
                yield _event(record, end)
                record = []
            idle = True
            await anyio.sleep(POLL_INTERVAL)


def _recent_records(log: IO[bytes], size: int) -> int:
    """The offset of the first record that starts in the last BACKLOG bytes (or the end)."""
    position = max(0, size - BACKLOG)
    log.seek(position)
    if position:
        position += len(log.readline())  # most likely the middle of a line
    while True:
        line = log.readline()
        if not line.endswith(b"\n") or RECORD_START.match(line):
            return position
        position += len(line)


def _event(record: list[bytes], end: int) -> ServerSentEvent:
    # raw_data sends each line of the record as a `data:` line of its own: the
    # client gets the text back joined with "\n", and no line can forge a field.
    text = b"\n".join(record).decode("utf-8", "replace")
    return ServerSentEvent(raw_data=text, event="log", id=str(end))


async def write_demo_log(path: Path) -> None:
    """Append a record every DEMO_INTERVAL seconds; every fifth one with a traceback."""
    for n in count(1):
        stamp = datetime.now().isoformat(sep=" ", timespec="milliseconds")
        text = f"{stamp} INFO  request {n} served\n"
        if n % 5 == 0:
            text = (
                f"{stamp} ERROR request {n} failed\n"
                "Traceback (most recent call last):\n"
                '  File "app.py", line 42, in handle\n'
                "ValueError: demo failure\n"
            )
        # One write per record, so that a reader never sees half a traceback.
        async with await anyio.open_file(path, "a", encoding="utf-8") as log:
            await log.write(text)
        await anyio.sleep(DEMO_INTERVAL)


def create_app(path: Path, *, write_demo: bool = False) -> Starlette:
    """An app tailing ``path``; with ``write_demo``, it also writes a demo log there."""

    async def logs(request: Request) -> EventSourceResponse:
        # A reconnecting EventSource sends back the last id: our file offset.
        resume = request.headers.get("last-event-id", "")
        offset = int(resume) if resume.isdigit() else None
        return EventSourceResponse(tail(path, offset))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not write_demo:
            yield
            return
        await anyio.Path(path).touch()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(write_demo_log, path)
            yield
            tasks.cancel_scope.cancel()

    return Starlette(routes=[Route("/logs", logs)], lifespan=lifespan)


LOG_FILE = os.environ.get("LOG_FILE")
app = create_app(
    Path(LOG_FILE or Path(tempfile.gettempdir()) / "sse-asgi-demo.log"),
    write_demo=LOG_FILE is None,
)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
