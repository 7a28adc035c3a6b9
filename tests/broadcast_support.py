"""What the broadcast tests share: a broadcast on either backend, a real redis-server, helpers.

Test modules take the fixtures by assignment (``make_broadcast =
broadcast_support.make_broadcast``), so that one definition serves them all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from sse_asgi import Broadcast, MemoryBackend, ServerSentEvent, Subscription

from .redis_server import RedisServer, redis_server

Factory = Callable[..., Broadcast]


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; every broadcast gets its own key prefix."""
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def make_broadcast(request: pytest.FixtureRequest, anyio_backend: str) -> Iterator[Factory]:
    """Build a broadcast on the parametrized backend.

    Options: ``history``, ``max_age``, ``max_bytes`` (the backend's) and the
    broadcast's (``buffer``, ``overflow``, ``reset_event``). Two broadcasts
    made by one test share the Redis prefix: two workers of one app.
    """
    if request.param == "memory":

        def memory(
            history: int = 1000,
            max_age: float | None = None,
            max_bytes: int | None = None,
            **options: Any,
        ) -> Broadcast:
            backend = MemoryBackend(history=history, max_age=max_age, max_bytes=max_bytes)
            return Broadcast(backend, **options)

        yield memory
        return
    server: RedisServer = request.getfixturevalue("redis")
    from sse_asgi.redis import RedisBackend

    prefix = f"test-{uuid.uuid4().hex[:8]}:"  # every test gets its own keys

    def redis_broadcast(
        history: int = 1000,
        max_age: float | None = None,
        max_bytes: int | None = None,
        **options: Any,
    ) -> Broadcast:
        backend = RedisBackend(
            server.url, prefix=prefix, history=history, max_age=max_age, max_bytes=max_bytes
        )
        return Broadcast(backend, **options)

    yield redis_broadcast


async def take(subscription: Subscription, count: int, within: float = 5) -> list[ServerSentEvent]:
    """The next ``count`` events, failing after ``within`` seconds."""
    events: list[ServerSentEvent] = []
    if count == 0:
        return events
    with anyio.fail_after(within):
        async for event in subscription:
            events.append(event)
            if len(events) == count:
                break
    return events


async def take_until(
    subscription: Subscription, last_id: str, within: float = 10
) -> list[ServerSentEvent]:
    """Events up to and including the one with id ``last_id``."""
    events: list[ServerSentEvent] = []
    with anyio.fail_after(within):
        async for event in subscription:
            events.append(event)
            if event.id == last_id:
                break
    return events


async def eventually(predicate: Callable[[], bool], within: float = 5) -> None:
    """Poll a condition nothing can be awaited for (a count), with a deadline."""
    with anyio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - a count has no event to await
            await anyio.sleep(0.01)


def registered(broadcast: Broadcast) -> int:
    """Subscriptions in the broadcast's registry -- and it agrees with subscriber_count()."""
    subscriptions = {s for group in broadcast._subscribers.values() for s in group}
    counted = broadcast.subscriber_count()
    assert counted <= len(subscriptions)
    if not subscriptions:
        assert broadcast._subscribers == {}
        assert counted == 0
    return len(subscriptions)


def key_of(broadcast: Broadcast, event_id: str | None) -> tuple[int, ...]:
    """The sortable key of one of the broadcast's ids."""
    assert event_id is not None
    position = broadcast.backend.parse(event_id)
    assert position is not None, event_id
    return position.key


def event_of(size: int) -> str:
    """Data whose event takes about ``size`` bytes."""
    return "x" * size
