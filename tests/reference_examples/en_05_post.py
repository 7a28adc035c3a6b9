# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From FastAPI's English SSE guide (fastapi-sse-guide.en.txt, lines 422-440),
# section "SSE with POST".
# Verbatim; tests/test_reference_examples.py checks it against the reference.
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
    words = prompt.text.split()
    for word in words:
        yield ServerSentEvent(data=word, event="token")
    yield ServerSentEvent(raw_data="[DONE]", event="done")
# reference: end
