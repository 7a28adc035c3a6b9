# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, line 347), section
# "自动保活": one statement sending a comment by hand, put into a minimal app (the
# scaffolding outside the reference markers is ours).
from collections.abc import AsyncIterable
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

app = FastAPI()


@app.get("/comment", response_class=EventSourceResponse)
async def comment() -> AsyncIterable[ServerSentEvent]:
    # reference: begin
    yield ServerSentEvent(comment="保活心跳")
    # reference: end
