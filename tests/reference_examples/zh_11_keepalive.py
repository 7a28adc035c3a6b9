# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 339-345), section
# "自动保活": a route without its module. The imports and the app before the
# reference markers are ours; the example calls get_data without defining it: the
# test provides it.
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()


# reference: begin
# FastAPI 自动发送保活,无需手动处理
@app.get("/stream", response_class=EventSourceResponse)
async def stream() -> AsyncIterable[ServerSentEvent]:
    while True:
        data = await get_data()
        yield ServerSentEvent(data=data)
# FastAPI 自动处理保活
# reference: end
