# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 426-443), section
# "资源限制". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference. The example
# calls get_data without defining it: the test provides it.
# reference: begin
import asyncio
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()


@app.get("/stream", response_class=EventSourceResponse)
async def stream() -> AsyncIterable[ServerSentEvent]:
    max_events = 1000
    count = 0
    while count < max_events:
        data = await get_data()
        yield ServerSentEvent(data=data)
        count += 1
    # 发送结束事件
    yield ServerSentEvent(
        data={"message": "流结束"},
        event="end"
    )
# reference: end
