"""The broadcast's front: publish, subscribe, and this process's subscriptions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

from .._errors import InvalidEventError
from .._event import ServerSentEvent
from ._backend import BroadcastBackend, Entry
from ._errors import BroadcastClosedError
from ._fan_out import FanOut
from ._ids import check_topic
from ._memory import MemoryBackend
from ._subscription import Subscription

__all__ = ["MAX_TOPICS_PER_SUBSCRIPTION", "Broadcast", "Overflow"]

Overflow = Literal["disconnect", "drop_oldest"]

# Topics may come from a request (rooms, users): one subscription may not
# register without bound.
MAX_TOPICS_PER_SUBSCRIPTION = 1000


class Broadcast:
    """Publish events to topics; subscribe streams to them, with replay on reconnect.

    - ``backend``: where events live; :class:`MemoryBackend` (this process
      only) by default, ``sse_asgi.redis.RedisBackend`` for many workers.
    - ``buffer``: events queued per subscriber before ``overflow`` applies;
      also the most a subscriber catching up holds.
    - ``overflow``: ``"disconnect"`` (default) ends a subscriber that falls
      ``buffer`` events behind -- its browser reconnects and replays from its
      ``Last-Event-ID``, so it loses nothing the history still holds -- or
      ``"drop_oldest"`` drops its oldest queued event (and a reconnecting
      client gets only the newest ``buffer`` events it missed).
    - ``reset_event``: the event type sent first to a client whose
      ``Last-Event-ID`` cannot be resumed (events after it are gone, or it
      is unknown), so it can resync; its data is ``{"reason": "expired" |
      "unknown", "last_event_id": ...}`` (the id, cut to 64 characters) and
      its id the newest position.

    Use it as an async context manager (e.g. in your app's lifespan) so the
    backend starts and, at the end, every subscription ends.

    ```py
    from collections.abc import AsyncIterable
    from typing import Annotated

    import anyio
    from fastapi import FastAPI, Header

    from sse_asgi import Broadcast, ServerSentEvent
    from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute
    from sse_asgi.testing import connect

    broadcast = Broadcast()
    app = FastAPI()  # with lifespan=..., enter `async with broadcast:` there
    app.router.route_class = EventSourceRoute


    @app.post("/notify")
    async def notify(message: str) -> None:
        await broadcast.publish("notifications", {"message": message})


    @app.get("/notifications", response_class=EventSourceResponse)
    async def notifications(
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> AsyncIterable[ServerSentEvent]:
        async with broadcast.subscribe("notifications", last_event_id=last_event_id) as events:
            async for event in events:
                yield event


    async def main():
        async with broadcast, connect(app, "/notifications") as stream:
            await notify("hi")
            print((await anext(stream)).data)
            #> {"message":"hi"}


    anyio.run(main)
    ```
    """

    def __init__(
        self,
        backend: BroadcastBackend | None = None,
        *,
        buffer: int = 256,
        overflow: Overflow = "disconnect",
        reset_event: str = "reset",
    ) -> None:
        if type(buffer) is not int or buffer < 1:
            raise ValueError(f"buffer must be an int >= 1, got {buffer!r}")
        if overflow not in ("disconnect", "drop_oldest"):
            raise ValueError(f"overflow must be 'disconnect' or 'drop_oldest', not {overflow!r}")
        try:
            ServerSentEvent(event=reset_event)
        except InvalidEventError as exc:
            raise ValueError(f"reset_event is not a valid event type: {exc}") from exc
        self.backend = backend if backend is not None else MemoryBackend()
        self.buffer = buffer
        self.overflow: Overflow = overflow
        self.reset_event = reset_event
        # Per topic, in subscription order (a dict as an ordered set): a publish
        # wakes subscribers in the order their tasks were made.
        self._subscribers: dict[str, dict[Subscription, None]] = {}
        self._fan_out = FanOut(buffer)
        self._state: Literal["new", "starting", "running", "closed"] = "new"
        self._started = anyio.Event()
        self._task_group: TaskGroup | None = None

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Broadcast:
        # The task group lives as long as the broadcast: backends run their
        # background work (Redis's reader, the memory backend's expiry) in it.
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await self._ensure_started()
        except BaseException as exc:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        finally:
            task_group, self._task_group = self._task_group, None
            if task_group is not None:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(exc_type, exc, tb)

    async def _ensure_started(self) -> None:
        while not self._running():
            if self._closed():
                raise BroadcastClosedError("this broadcast is closed")
            if self._state == "starting":  # by another task: wait for its outcome
                await self._started.wait()
                continue
            self._state = "starting"
            try:
                await self.backend.start(_Listener(self), self._task_group)
            except BaseException:
                if self._state == "starting":
                    self._state = "new"  # the next call tries again
                raise
            finally:
                started, self._started = self._started, anyio.Event()
                started.set()
            if self._state == "starting":
                self._state = "running"

    def _running(self) -> bool:
        return self._state == "running"

    def _closed(self) -> bool:
        return self._state == "closed"

    async def aclose(self) -> None:
        """End every subscription (their streams finish cleanly) and close the backend."""
        if self._state == "closed":
            return
        self._state = "closed"
        self._started.set()  # anyone waiting for a start: it is closed
        for subscribers in list(self._subscribers.values()):
            for subscription in subscribers:
                subscription.end()
        self._subscribers.clear()
        await self.backend.aclose()

    # -- publishing ---------------------------------------------------------------------

    async def publish(self, topic: str, event: Any) -> str:
        """Publish ``event`` to ``topic``: a :class:`ServerSentEvent` without id, or any data.

        Returns the id the broadcast assigned: the event's ``id`` on the
        wire, never reused, increasing within the topic. Never waits for
        subscribers. ``topic``: 1 to 1024 characters.

        ```py
        import anyio

        from sse_asgi import Broadcast


        async def main():
            async with Broadcast() as broadcast, broadcast.subscribe("jobs:42") as events:
                event_id = await broadcast.publish("jobs:42", {"progress": 0.5})
                event = await anext(events)
                print(event.id == event_id, event.data)
                #> True {'progress': 0.5}


        anyio.run(main)
        ```
        """
        topic = check_topic(topic)
        if not isinstance(event, ServerSentEvent):
            event = ServerSentEvent(data=event)
        elif event.id is not None:
            raise ValueError("the broadcast assigns event ids: publish events without an id")
        await self._ensure_started()
        return await self.backend.publish(topic, event)

    # -- subscribing -----------------------------------------------------------------------

    def subscribe(
        self,
        topics: str | Sequence[str],
        *,
        last_event_id: str | None = None,
        filter: Callable[[ServerSentEvent], bool] | None = None,
    ) -> Subscription:
        """An async iterator (and async context manager) of this topic's events.

        It first replays what the client missed after ``last_event_id`` (the
        ``Last-Event-ID`` header of a reconnecting browser; anything that is
        not an id of this broadcast's gets the reset event), then continues
        live. Give several topics (at most 1000, distinct) to merge them, in
        publish order; ``filter`` keeps only the events it returns True for
        (say, the current user's). Hand it straight to
        ``EventSourceResponse``, which closes it when the client leaves.

        ```py
        import anyio

        from sse_asgi import Broadcast, EventSourceResponse, last_event_id
        from sse_asgi.testing import connect

        broadcast = Broadcast()


        async def app(scope, receive, send):
            events = broadcast.subscribe("chat:lobby", last_event_id=last_event_id(scope))
            await EventSourceResponse(events)(scope, receive, send)


        async def main():
            async with broadcast:
                seen = await broadcast.publish("chat:lobby", "hello")
                missed = await broadcast.publish("chat:lobby", "you missed this")
                async with connect(app, last_event_id=seen) as stream:  # a reconnecting browser
                    event = await anext(stream)
                    print(event.data, event.id == missed)
                    #> "you missed this" True


        anyio.run(main)
        ```
        """
        names = (topics,) if isinstance(topics, str) else tuple(topics)
        if not names:
            raise ValueError("subscribe to at least one topic")
        if len(names) > MAX_TOPICS_PER_SUBSCRIPTION:
            raise ValueError(
                f"at most {MAX_TOPICS_PER_SUBSCRIPTION} topics per subscription, got {len(names)}"
            )
        names = tuple(check_topic(name) for name in names)
        if len(set(names)) != len(names):
            raise ValueError(f"topics must be distinct: {names!r}")
        if last_event_id is not None and not isinstance(last_event_id, str):
            raise TypeError(f"last_event_id is a str or None, not {type(last_event_id).__name__}")
        return Subscription(self, names, last_event_id or None, filter)

    def subscriber_count(self, topic: str | None = None) -> int:
        """How many subscriptions this process has, to ``topic`` or in all.

        A subscription counts once it has started (entered, or iterated once):
        from then on it receives every event published.
        """
        if topic is not None:
            return sum(1 for s in self._subscribers.get(topic, ()) if s.counts())
        return len(
            {s for subscribers in self._subscribers.values() for s in subscribers if s.counts()}
        )

    async def delete_topic(self, topic: str) -> None:
        """Forget a topic's history (say, of a finished job); its subscribers stay subscribed.

        A client resuming from an id of the deleted history gets the reset
        event (unless it had seen all of it); the topic's next events get
        new ids, never reused ones.

        ```py
        import anyio

        from sse_asgi import Broadcast


        async def main():
            async with Broadcast() as broadcast:
                started = await broadcast.publish("job:7", {"status": "running"})
                await broadcast.publish("job:7", {"status": "done"})
                await broadcast.delete_topic("job:7")
                # A client resuming from before the deletion lost events: it is told.
                async with broadcast.subscribe("job:7", last_event_id=started) as events:
                    event = await anext(events)
                    print(event.event, event.data["reason"])
                    #> reset expired


        anyio.run(main)
        ```
        """
        topic = check_topic(topic)
        await self._ensure_started()
        await self.backend.delete(topic)

    # -- this process's subscriptions ---------------------------------------------------------

    def _register(self, subscription: Subscription) -> None:
        if not self._running():  # checked by the caller after its last await
            raise BroadcastClosedError("this broadcast is closed")
        for topic in subscription.topics:
            self._subscribers.setdefault(topic, {})[subscription] = None

    def _unregister(self, subscription: Subscription) -> None:
        for topic in subscription.topics:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.pop(subscription, None)
                if not subscribers:
                    del self._subscribers[topic]


class _Listener:
    """The broadcast as its backend sees it (:class:`~sse_asgi.broadcast.Listener`)."""

    __slots__ = ("_broadcast", "_fan_out", "_subscribers")

    def __init__(self, broadcast: Broadcast) -> None:
        self._broadcast = broadcast
        self._subscribers = broadcast._subscribers
        self._fan_out = broadcast._fan_out

    def deliver(self, entry: Entry) -> None:
        subscribers = self._subscribers.get(entry.topic)
        if subscribers:
            self._fan_out.offer_all(subscribers, entry)

    def watches(self, topic: str) -> bool:
        return topic in self._subscribers

    def resync(self) -> None:
        for subscription in {s for group in self._subscribers.values() for s in group}:
            subscription.fall_behind()
