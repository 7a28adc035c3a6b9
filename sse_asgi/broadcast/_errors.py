"""The broadcast's errors."""

from __future__ import annotations

from .._errors import SSEError

__all__ = ["BroadcastClosedError", "BroadcastUnavailableError"]


class BroadcastClosedError(SSEError):
    """The broadcast was closed: no more publishing or subscribing.

    ```py
    import anyio

    from sse_asgi import Broadcast, BroadcastClosedError


    async def main():
        broadcast = Broadcast()
        await broadcast.aclose()
        try:
            await broadcast.publish("news", "late")
        except BroadcastClosedError as error:
            print(error)
            #> this broadcast is closed


    anyio.run(main)
    ```
    """


class BroadcastUnavailableError(SSEError):
    """The broadcast's backend cannot be reached: the event was not published (or read).

    ```py
    import anyio

    from sse_asgi import Broadcast, BroadcastUnavailableError
    from sse_asgi.redis import RedisBackend


    async def main():
        # Nothing listens on port 1: the Redis backend cannot be reached.
        async with Broadcast(RedisBackend("redis://127.0.0.1:1/0")) as broadcast:
            try:
                await broadcast.publish("news", {"n": 1})
            except BroadcastUnavailableError:
                print("not published: retry, or report the failure")
                #> not published: retry, or report the failure


    anyio.run(main)
    ```
    """
