# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 383-413), section
# "连接管理". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference.
# reference: begin
import asyncio
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()


class ConnectionManager:
    def __init__(self):
        self.connections: dict[str, list[asyncio.Queue]] = {}

    async def connect(self, channel: str) -> asyncio.Queue:
        queue = asyncio.Queue()
        if channel not in self.connections:
            self.connections[channel] = []
        self.connections[channel].append(queue)
        return queue

    def disconnect(self, channel: str, queue: asyncio.Queue):
        if channel in self.connections:
            self.connections[channel].remove(queue)

    async def broadcast(self, channel: str, message: dict):
        if channel in self.connections:
            for queue in self.connections[channel]:
                await queue.put(message)


manager = ConnectionManager()


@app.get("/stream/{channel}", response_class=EventSourceResponse)
async def stream(channel: str) -> AsyncIterable[ServerSentEvent]:
    queue = await manager.connect(channel)
    try:
        while True:
            message = await queue.get()
            yield ServerSentEvent(data=message)
    except asyncio.CancelledError:
        manager.disconnect(channel, queue)
# reference: end
