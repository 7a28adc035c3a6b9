"""AI-style token streaming in a bare ASGI app, in the format OpenAI-compatible clients read.

Shows an answer streamed token by token as the (fake) model produces it:
each token is an unnamed event whose data is a JSON chunk
(``{"choices": [{"index": 0, "delta": {"content": " tok"}}]}``), and the
stream ends with ``data: [DONE]`` -- sent with ``raw_data``, because the
sentinel is not JSON. The first event sets ``retry``. When the client goes
away mid-answer, the generator is closed at once: its ``finally`` is where a
real app cancels the upstream model call.

Run it with ``python examples/tokens.py``, then
``curl -N "http://127.0.0.1:8000/?prompt=Server-Sent+Events"``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs

import anyio

from sse_asgi import EventSourceResponse, ServerSentEvent
from sse_asgi.types import Receive, Scope, Send

logger = logging.getLogger(__name__)

#: Seconds the fake model takes per token (tests lower it).
TOKEN_DELAY = 0.05
#: A client that loses the connection mid-answer reconnects after this many ms.
RETRY_MS = 3000
MODEL = "fake-model"


def fake_model(prompt: str) -> Iterator[str]:
    """The reply, in pieces of up to four characters with their leading space, like BPE tokens."""
    reply = f"You asked about {prompt!r}. Here is an answer, streamed one token at a time."
    return iter(re.findall(r"\s*\S{1,4}", reply))


def chunk(content: str | None) -> ServerSentEvent:
    """One ``chat.completion.chunk``; no content means the final, ``finish_reason`` one."""
    delta = {"content": content} if content is not None else {}
    finish = None if content is not None else "stop"
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return ServerSentEvent(
        data={"object": "chat.completion.chunk", "model": MODEL, "choices": [choice]}
    )


async def completion(prompt: str) -> AsyncIterator[ServerSentEvent]:
    """The streamed answer to ``prompt``, ending with ``[DONE]``."""
    # Tells an EventSource how long to wait before retrying if the connection
    # drops mid-answer; clients that read with fetch() ignore it.
    yield ServerSentEvent(comment="generating", retry=RETRY_MS)
    sent = 0
    try:
        for token in fake_model(prompt):
            await anyio.sleep(TOKEN_DELAY)  # the model at work
            yield chunk(token)
            sent += 1
        yield chunk(None)
        yield ServerSentEvent(raw_data="[DONE]")  # `data: [DONE]`, not `data: "[DONE]"`
    finally:
        # Runs at once when the client leaves (sse-asgi closes the generator):
        # stop paying for tokens nobody reads.
        logger.info("generation for %r ended after %d tokens", prompt, sent)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app: ``GET /?prompt=...`` on any path streams the answer."""
    if scope["type"] != "http":
        return  # lifespan: nothing to set up
    query = parse_qs(scope["query_string"].decode("latin-1"))
    prompt = query.get("prompt", ["Server-Sent Events"])[0]
    await EventSourceResponse(completion(prompt))(scope, receive, send)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
