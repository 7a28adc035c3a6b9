# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 129-156), section
# "断点续传". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference.
# reference: begin
from collections.abc import AsyncIterable
from typing import Annotated
from fastapi import FastAPI, Header
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    price: float


items = [
    Item(name=f"商品{i}", price=i * 10.0)
    for i in range(100)
]


@app.get("/items/stream", response_class=EventSourceResponse)
async def stream_items(
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID")] = None,
) -> AsyncIterable[ServerSentEvent]:
    """支持断点续传的流式接口"""
    # 从上次断开的位置继续
    start = last_event_id + 1 if last_event_id is not None else 0
    for i, item in enumerate(items):
        if i < start:
            continue # 跳过已发送的事件
        yield ServerSentEvent(
            data=item,
            id=str(i), # 设置事件 ID
            event="item"
        )
# reference: end
