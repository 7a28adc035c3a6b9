# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 313-336), section
# "AI 流式输出". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference. The example
# uses asyncio.sleep without importing asyncio: the test provides the name.
# reference: begin
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

app = FastAPI()


class ChatRequest(BaseModel):
    message: str


@app.post("/ai/chat/stream", response_class=EventSourceResponse)
async def chat_stream(request: ChatRequest) -> AsyncIterable[ServerSentEvent]:
    """模拟 AI 流式输出"""
    # 模拟 AI 回复
    response_text = f"收到你的消息:{request.message}。这是一个模拟的 AI 回复,展示流式输出效果。"
    # 逐字输出
    for char in response_text:
        yield ServerSentEvent(
            data={"token": char},
            event="token"
        )
        await asyncio.sleep(0.02) # 模拟生成延迟
    # 发送完成信号
    yield ServerSentEvent(
        raw_data="[DONE]",
        event="done"
    )
# reference: end
