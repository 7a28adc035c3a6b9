"""A chat reply streamed over POST with FastAPI, read by a browser with ``fetch()`` and by Python.

Shows SSE over POST (``EventSource`` can only GET): ``POST /chat/stream``
takes a JSON body and streams ``event: token`` events, then ``event: done``
whose data is ``[DONE]`` (``raw_data``: not JSON). Two clients read it:

- the page at ``/``, whose script reads the response with ``fetch()`` and
  ``getReader()`` and parses it exactly like the spec's decoder (and
  ``sse_asgi.EventDecoder``): CR, LF and CRLF line ends, even split between
  chunks; one leading space stripped; data lines joined with "\\n"; a blank
  line dispatches; an unfinished last event is dropped;
- :func:`ask`, for Python services: ``sse_asgi.aiter_events`` over
  ``httpx.AsyncClient().stream(...)``.

Run it with ``python examples/chat_stream.py`` and open http://127.0.0.1:8000/
-- or, with it running, ``python examples/chat_stream.py ask "Hello there"``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterable, Callable

import anyio
import httpx
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from sse_asgi import aiter_events
from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute, ServerSentEvent

#: Seconds between two tokens (tests lower it).
TOKEN_DELAY = 0.1


class Prompt(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


app = FastAPI(title="sse-asgi: chat stream")
app.router.route_class = EventSourceRoute


@app.post("/chat/stream", response_class=EventSourceResponse)
async def stream_chat(prompt: Prompt) -> AsyncIterable[ServerSentEvent]:
    # The body is validated before the stream starts: a bad one gets a plain
    # 422, not a 200 with an error event.
    reply = f"You said: {prompt.text}"
    for token in re.findall(r"\S+\s*", reply):  # words with their spaces: they join back
        yield ServerSentEvent(data={"token": token}, event="token")
        await anyio.sleep(TOKEN_DELAY)
    yield ServerSentEvent(raw_data="[DONE]", event="done")


async def ask(
    client: httpx.AsyncClient, text: str, on_token: Callable[[str], None] | None = None
) -> str:
    """POST ``text`` and return the whole reply, passing each token to ``on_token`` as it comes."""
    tokens: list[str] = []
    done = False
    async with client.stream("POST", "/chat/stream", json={"text": text}) as response:
        response.raise_for_status()
        # aiter_events decodes exactly like a browser: events arrive whole, in
        # order, however the network split the bytes. The server ends the body
        # right after [DONE], so the loop ends by itself.
        async for event in aiter_events(response.aiter_bytes()):
            if event.event == "token":
                tokens.append(event.json()["token"])
                if on_token is not None:
                    on_token(tokens[-1])
            elif event.event == "done" and event.data == "[DONE]":
                done = True
    if not done:  # the connection dropped mid-reply
        raise httpx.ReadError("the stream ended before [DONE]: the reply is incomplete")
    return "".join(tokens)


# The browser's reader, kept in one string so that the tests run it (in Node)
# against sse_asgi.EventDecoder. It follows the HTML spec's "event stream
# interpretation" step by step; only `retry` has no use without reconnection.
SSE_READER_JS = r"""
// Parse text/event-stream text fed in pieces; call onEvent({type, data, lastEventId}).
function sseParser(onEvent) {
  let buffer = "";           // an unfinished line
  let afterCR = false;       // the last piece ended with CR: a LF opening the next one is its CRLF
  let data = "", type = "", lastEventId = "";
  const parser = { retry: null, feed };

  function processLine(line) {
    if (line === "") {                  // a blank line dispatches the event
      if (data !== "") {                // no data: nothing to dispatch
        onEvent({ type: type || "message", data: data.slice(0, -1), lastEventId });
      }
      data = ""; type = "";
      return;
    }
    if (line[0] === ":") return;        // a comment
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);  // one space, no more
    if (field === "data") data += value + "\n";
    else if (field === "event") type = value;
    else if (field === "id") { if (!value.includes("\0")) lastEventId = value; }
    else if (field === "retry") { if (/^[0-9]+$/.test(value)) parser.retry = parseInt(value, 10); }
  }

  function feed(text) {
    if (afterCR && text !== "") {
      if (text[0] === "\n") text = text.slice(1);
      afterCR = false;
    }
    buffer += text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer[i];
      if (c !== "\r" && c !== "\n") continue;
      processLine(buffer.slice(start, i));
      if (c === "\r") {
        if (i + 1 === buffer.length) afterCR = true;
        else if (buffer[i + 1] === "\n") i++;
      }
      start = i + 1;
    }
    buffer = buffer.slice(start);
  }
  return parser;
}

// The events of a fetch() response, as an async iterator. Leaving the loop
// early (break) cancels the request.
async function* readEvents(response) {
  const reader = response.body.getReader();
  // UTF-8, invalid bytes as U+FFFD, one leading BOM skipped: as the spec says.
  const decoder = new TextDecoder();
  const ready = [];
  const parser = sseParser((event) => ready.push(event));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;  // an unfinished last event is dropped
      // {stream: true}: a character split between two chunks stays whole.
      parser.feed(decoder.decode(value, { stream: true }));
      yield* ready.splice(0);
    }
  } finally {
    await reader.cancel();
  }
}
"""

PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>sse-asgi: chat stream</title>
<form id="form">
  <input id="text" size="50" value="Hello there, how are you?" autofocus>
  <button>Send</button>
</form>
<p id="reply"></p>
<p id="status"></p>
<script>
/* SSE_READER_JS */
document.getElementById("form").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const reply = document.getElementById("reply");
  const status = document.getElementById("status");
  reply.textContent = "";
  status.textContent = "streaming";
  const response = await fetch("/chat/stream", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text: document.getElementById("text").value }),
  });
  if (!response.ok) {
    status.textContent = "error " + response.status;
    return;
  }
  for await (const event of readEvents(response)) {
    if (event.type === "done") break;  // event.data is "[DONE]"
    if (event.type === "token") reply.textContent += JSON.parse(event.data).token;
  }
  status.textContent = "done";
});
</script>
</html>
""".replace("/* SSE_READER_JS */", SSE_READER_JS)


@app.get("/", response_class=HTMLResponse)
async def page() -> str:
    return PAGE


async def _ask_from_terminal(text: str) -> None:
    async with httpx.AsyncClient(base_url="http://127.0.0.1:8000", timeout=None) as client:
        await ask(client, text, on_token=lambda token: print(token, end="", flush=True))
    print()


if __name__ == "__main__":
    if sys.argv[1:2] == ["ask"]:
        anyio.run(_ask_from_terminal, " ".join(sys.argv[2:]) or "Hello there")
    else:
        import uvicorn

        uvicorn.run(app, host="127.0.0.1", port=8000)
