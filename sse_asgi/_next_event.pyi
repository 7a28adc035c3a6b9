# A subscription's awaitable on asyncio, in C (sse_asgi/_next_event.c);
# see sse_asgi.broadcast._subscription._NextEvent.
import asyncio
from collections.abc import Generator
from typing import Any

class NextEvent:
    def __new__(cls, subscription: Any, loop: asyncio.AbstractEventLoop) -> NextEvent: ...
    def __await__(self) -> Generator[Any, None, Any]: ...
