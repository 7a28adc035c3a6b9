# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 227-262), section
# "实时通知系统". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference.
# reference: begin
import asyncio
from collections.abc import AsyncIterable
from datetime import datetime
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()
# 存储活跃连接
active_connections: list = []


@app.get("/notifications/stream", response_class=EventSourceResponse)
async def stream_notifications() -> AsyncIterable[ServerSentEvent]:
    """实时通知流"""
    queue = asyncio.Queue()
    active_connections.append(queue)
    try:
        while True:
            # 等待新通知
            notification = await queue.get()
            yield ServerSentEvent(
                data=notification,
                event="notification"
            )
    except asyncio.CancelledError:
        active_connections.remove(queue)


async def send_notification(message: str):
    """向所有连接发送通知"""
    notification = {
        "message": message,
        "timestamp": datetime.now().isoformat()
    }
    for queue in active_connections:
        await queue.put(notification)


@app.post("/notifications")
async def create_notification(message: str):
    """创建新通知"""
    await send_notification(message)
    return {"status": "sent"}
# reference: end
