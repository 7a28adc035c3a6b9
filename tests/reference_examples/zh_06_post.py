# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 164-185), section
# "POST 请求支持". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference.
# reference: begin
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

app = FastAPI()


class Prompt(BaseModel):
    text: str


@app.post("/chat/stream", response_class=EventSourceResponse)
async def stream_chat(prompt: Prompt) -> AsyncIterable[ServerSentEvent]:
    """流式聊天接口(模拟 AI 输出)"""
    # 模拟逐字输出
    words = prompt.text.split()
    for word in words:
        yield ServerSentEvent(
            data={"token": word},
            event="token"
        )
    # 发送完成信号
    yield ServerSentEvent(
        raw_data="[DONE]",
        event="done"
    )
# reference: end
