# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 56-80), section
# "ServerSentEvent 模型". Verbatim, with the Python indentation the text dump lost
# restored; tests/test_reference_examples.py checks it against the reference.
# reference: begin
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    price: float


items = [
    Item(name="商品A", price=32.99),
    Item(name="商品B", price=999.99),
    Item(name="商品C", price=49.99),
]


@app.get("/items/stream", response_class=EventSourceResponse)
async def stream_items() -> AsyncIterable[ServerSentEvent]:
    """流式返回带完整 SSE 字段的商品列表"""
    # 发送注释(用于保持连接或调试)
    yield ServerSentEvent(comment="开始推送商品更新")
    for i, item in enumerate(items):
        yield ServerSentEvent(
            data=item, # 数据负载
            event="item_update", # 事件类型
            id=str(i + 1), # 事件 ID
            retry=5000 # 重连间隔(毫秒)
        )
# reference: end
