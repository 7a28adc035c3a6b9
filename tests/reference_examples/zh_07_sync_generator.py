# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 208-224), section
# "同步生成器". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference.
# reference: begin
from collections.abc import Iterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    name: str
    description: str | None = None


@app.get("/items/stream", response_class=EventSourceResponse)
def sse_items() -> Iterable[Item]:
    """同步生成器示例"""
    items = [
        Item(name="商品A", description="描述A"),
        Item(name="商品B", description="描述B"),
    ]
    for item in items:
        yield item
# reference: end
