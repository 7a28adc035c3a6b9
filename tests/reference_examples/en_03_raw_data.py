# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From FastAPI's English SSE guide (fastapi-sse-guide.en.txt, lines 356-372),
# section "Raw Data".
# Verbatim; tests/test_reference_examples.py checks it against the reference.
# reference: begin
from collections.abc import AsyncIterable

from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()


@app.get("/logs/stream", response_class=EventSourceResponse)
async def stream_logs() -> AsyncIterable[ServerSentEvent]:
    logs = [
        "2025-01-01 INFO  Application started",
        "2025-01-01 DEBUG Connected to database",
        "2025-01-01 WARN  High memory usage detected",
    ]
    for log_line in logs:
        yield ServerSentEvent(raw_data=log_line)
# reference: end
