# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 119-126), section
# "原始数据发送", the "data 和 raw_data 的区别" fragment: three yield statements, put
# into a minimal app (the scaffolding outside the reference markers is ours).
# tests/test_reference_examples.py checks the marked part against the reference.
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()


@app.get("/data-vs-raw-data", response_class=EventSourceResponse)
async def data_vs_raw_data() -> AsyncIterable[ServerSentEvent]:
    # reference: begin
    # data:JSON 序列化
    yield ServerSentEvent(data="hello")
    # 发送: data: "hello" (带引号)
    yield ServerSentEvent(data={"msg": "hello"})
    # 发送: data: {"msg":"hello"}
    # raw_data:原始字符串
    yield ServerSentEvent(raw_data="hello")
    # 发送: data: hello (不带引号)
    # reference: end
