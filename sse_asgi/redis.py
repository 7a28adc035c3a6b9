"""Broadcast across workers and hosts with Redis Streams (``pip install "sse-asgi[redis]"``).

Example::

    from sse_asgi.redis import RedisBroadcast

    broadcast = RedisBroadcast("redis://127.0.0.1:6379/0", history=1000)

    @asynccontextmanager
    async def lifespan(app):
        async with broadcast:  # runs this process's reader
            yield

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
