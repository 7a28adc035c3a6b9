# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 22-39), section
# "基本使用". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference.
# reference: begin
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    description: str | None = None


items = [
    Item(name="Plumbus", description="多功能家用设备"),
    Item(name="Portal Gun", description="传送门开启装置"),
    Item(name="Meeseeks Box", description="召唤 Meeseeks 的盒子"),
]


@app.get("/items/stream", response_class=EventSourceResponse)
async def sse_items() -> AsyncIterable[Item]:
    """流式返回商品列表"""
    for item in items:
        yield item
# reference: end
