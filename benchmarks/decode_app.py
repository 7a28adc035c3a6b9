"""The server of ``benchmarks/decode.py``'s end-to-end row: LLM token events, as fast as possible.

``/?n=N`` streams N pre-encoded OpenAI-style token events in sends of about
64 KiB, so that the server is never what limits the client's rate.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from sse_asgi.types import Receive, Scope, Send

SEND_SIZE = 64 * 1024


def token_event(i: int) -> bytes:
    """One OpenAI-style chat completion chunk: ``data: {...}`` and a blank line."""
    words = (" the", " quick", " brown", " fox", " jumps", " over", " lazy", " dogs", ".", "\\n")
    return (
        b'data: {"id":"chatcmpl-AbCdEf0123456789","object":"chat.completion.chunk",'
        b'"created":1732870000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":'
        b'"fp_0ba0d124f1","choices":[{"index":0,"delta":{"content":"'
        + words[i % len(words)].encode()
        + b'"},"logprobs":null,"finish_reason":null}]}\n\n'
    )


_bodies: dict[int, list[bytes]] = {}


def bodies(n: int) -> list[bytes]:
    """The sends for n events, built once (the warm-up request pays for it)."""
    if n not in _bodies:
        out, pending, size = [], [], 0
        for i in range(n):
            event = token_event(i)
            pending.append(event)
            size += len(event)
            if size >= SEND_SIZE:
                out.append(b"".join(pending))
                pending, size = [], 0
        out.append(b"".join(pending))
        _bodies[n] = out
    return _bodies[n]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return  # no lifespan: uvicorn starts without one
    n = int(parse_qs(scope["query_string"].decode()).get("n", ["1000"])[0])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )
    for body in bodies(n):
        await send({"type": "http.response.body", "body": body, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
