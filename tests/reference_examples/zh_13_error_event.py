# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 350-366), section
# "服务端错误". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference.
# reference: begin
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()


@app.get("/stream", response_class=EventSourceResponse)
async def stream() -> AsyncIterable[ServerSentEvent]:
    try:
        for i in range(10):
            if i == 5:
                raise ValueError("模拟错误")
            yield ServerSentEvent(data={"count": i})
    except Exception as e:
        # 发送错误事件
        yield ServerSentEvent(
            data={"error": str(e)},
            event="error"
        )
# reference: end
