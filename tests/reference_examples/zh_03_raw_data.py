# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 103-117), section
# "原始数据发送". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference.
# reference: begin
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()


@app.get("/logs/stream", response_class=EventSourceResponse)
async def stream_logs() -> AsyncIterable[ServerSentEvent]:
    """流式返回日志"""
    logs = [
        "2025-01-01 INFO 应用启动",
        "2025-01-01 DEBUG 连接数据库成功",
        "2025-01-01 WARN 内存使用率过高",
        "2025-01-01 ERROR 服务异常",
    ]
    for log_line in logs:
        yield ServerSentEvent(raw_data=log_line)
# reference: end
