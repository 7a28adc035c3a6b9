"""Broadcast across workers and hosts with Redis Streams (``pip install "sse-asgi[redis]"``).

```py
import os
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette

from sse_asgi.redis import RedisBroadcast

broadcast = RedisBroadcast(os.environ["REDIS_URL"], history=1000)


@asynccontextmanager
async def lifespan(app):
    async with broadcast:  # runs this process's reader
        yield


app = Starlette(lifespan=lifespan)


async def main():
    async with lifespan(app):
        print(broadcast.subscriber_count())
        #> 0


anyio.run(main)
```

Each topic's history is one Redis stream; every event also goes to one shared
stream that each process's reader follows -- one connection and one
``XREAD`` of one stream per process, however many topics its clients watch.
A client can reconnect to any worker, or after a restart, and resume from
its ``Last-Event-ID``; if Redis lost the events it missed (restarted without
persistence, flushed, failed over), it gets the reset event instead.
"""

from __future__ import annotations

from .broadcast._redis import RedisBackend, RedisBroadcast

__all__ = ["RedisBackend", "RedisBroadcast"]
