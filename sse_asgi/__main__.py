r"""``python -m sse_asgi URL``: print an event stream as it arrives, reconnecting like a browser.

Each event is printed as ``type [id]: data`` (continuation lines of the data
indented, control characters escaped, so nothing a server sends can move the
terminal's cursor or fake a line); ``--json`` prints one JSON object per
event and line, ``--raw`` the body's bytes as received (gzip undone). Exits
0 when the stream ends (a 204, the end of a stream that does not reconnect,
``--max-events``) or on Ctrl-C, and 1 with a one-line reason when the
connection fails.

Example (shell commands; :func:`main` runs them from Python):

```bash
python -m sse_asgi http://127.0.0.1:8000/ticks --max-events 3
python -m sse_asgi https://api.example.com/v1/chat -H 'Authorization: Bearer ...' \
    --data '{"stream": true}' -H 'Content-Type: application/json' --json
```
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING

import orjson

from ._decoder import ReceivedEvent

if TYPE_CHECKING:
    from .client import EventSource

__all__ = ["format_event", "main"]

# C0 and C1 controls other than TAB, and DEL: escaped in the human format.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def format_event(event: ReceivedEvent) -> str:
    r"""One event for a human: ``type [id]: data``, then the data's other lines indented.

    Example:

    ```py
    from sse_asgi import ReceivedEvent
    from sse_asgi.__main__ import format_event

    print(repr(format_event(ReceivedEvent(data="a\nb\x1b[2J", event="update", id="7"))))
    #> 'update [7]: a\n  b\\x1b[2J\n'
    ```
    """
    head = f"{event.event} [{event.id}]" if event.id else event.event
    text = f"{head}: {event.data}".replace("\n", "\n  ")
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], text) + "\n"


def _json_line(event: ReceivedEvent) -> str:
    fields = {"event": event.event, "data": event.data, "id": event.id, "retry": event.retry}
    return orjson.dumps(fields).decode() + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sse_asgi",
        description="Print a text/event-stream as it arrives, reconnecting like a browser's "
        "EventSource (Last-Event-ID, retry, 204 to stop).",
    )
    parser.add_argument("url", metavar="URL")
    parser.add_argument(
        "-X",
        "--request",
        dest="method",
        metavar="METHOD",
        help="HTTP method (default: GET, or POST with --data)",
    )
    parser.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'Name: value'",
        help="a request header (repeatable)",
    )
    parser.add_argument("-d", "--data", help="the request body (sent again on each reconnection)")
    parser.add_argument(
        "--last-event-id", default="", metavar="ID", help="resume after this event id"
    )
    reconnect = parser.add_mutually_exclusive_group()
    reconnect.add_argument(
        "--no-reconnect",
        dest="reconnect",
        action="store_false",
        default=None,
        help="stop when the stream ends instead of reconnecting",
    )
    reconnect.add_argument(
        "--reconnect",
        dest="reconnect",
        action="store_true",
        help="reconnect a POST stream too (the request is sent again)",
    )
    parser.add_argument("--max-events", type=_positive, metavar="N", help="stop after N events")
    parser.add_argument(
        "--retry",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="reconnection delay until the server sets one (default: 3)",
    )
    parser.add_argument(
        "--max-attempts",
        type=_positive,
        metavar="N",
        help="give up after N failed connection attempts in a row",
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        metavar="SECONDS",
        help="reconnect when no byte arrived for this long",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON object per event and line")
    output.add_argument("--raw", action="store_true", help="the bytes as received")
    return parser  # fmt: skip


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _headers(parser: argparse.ArgumentParser, values: list[str]) -> list[tuple[str, str]]:
    headers = []
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip():
            parser.error(f"a header is 'Name: value', got {value!r}")
        headers.append((name.strip(), content.strip()))
    return headers


def main(argv: Sequence[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Example (nothing listens on port 1; the reason goes to stderr):

    ```py
    from sse_asgi.__main__ import main

    print(main(["http://127.0.0.1:1/ticks", "--max-attempts", "1"]))  # the exit status
    #> 1
    ```
    """
    parser = _parser()
    args = parser.parse_args(argv)
    headers = _headers(parser, args.headers)
    out = sys.stdout if stdout is None else stdout
    try:
        from .client import EventSource
    except ImportError as exc:  # httpx is an optional dependency
        print(f"sse_asgi: {exc}: pip install 'sse-asgi[client]'", file=sys.stderr)
        return 1
    try:
        source = EventSource(
            args.url, method=args.method or ("POST" if args.data is not None else "GET"),
            headers=headers, content=args.data, last_event_id=args.last_event_id,
            reconnect=args.reconnect, retry=args.retry, max_retry=max(30.0, args.retry),
            max_attempts=args.max_attempts, read_timeout=args.read_timeout,
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    formatter: Callable[[ReceivedEvent], str] | None = format_event
    if args.json:
        formatter = _json_line
    elif args.raw:
        formatter = None
        raw = getattr(out, "buffer", None)
        source._on_chunk = lambda chunk: _write_raw(out, raw, chunk)
    return _run(source, formatter, out, args.max_events)


def _write_raw(out: IO[str], raw: IO[bytes] | None, chunk: bytes) -> None:
    if raw is None:  # a text-only stream (tests): the bytes as UTF-8 text
        out.write(chunk.decode("utf-8", "replace"))
    else:
        out.flush()
        raw.write(chunk)
        raw.flush()


def _run(
    source: EventSource, formatter: Callable[[ReceivedEvent], str] | None, out: IO[str],
    limit: int | None,
) -> int:  # fmt: skip
    count = 0
    try:
        with source:
            for event in source:
                if formatter is not None:
                    out.write(formatter(event))
                    out.flush()
                count += 1
                if limit is not None and count >= limit:
                    break
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `| head`: the reader is gone, which is not our failure
        return 0
    except Exception as exc:  # the reason, on one line, for a person or a script
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(f"sse_asgi: {type(exc).__name__}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
