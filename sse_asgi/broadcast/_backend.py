"""What a broadcast backend is: the interface, and the values crossing it.

A backend stores events and brings them to the front (:class:`Broadcast`).
It numbers events with positions that order them across every topic it
holds (so that one id says where a subscriber is in all of its topics),
keeps a bounded history per topic, and tells which positions can no longer
be resumed from.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from anyio.abc import TaskGroup

from .._event import ServerSentEvent

__all__ = ["BroadcastBackend", "Entry", "Listener", "Lost", "Position", "Replay"]

Lost = Literal["expired", "unknown"]


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a backend's sequence of events: its wire id and a sortable key.

    Every event published through one backend (to any topic) comes after the
    previous one: a subscriber at a position has had every event of its
    topics up to it. ``key`` orders positions of the same epoch.

    ```py
    import anyio

    from sse_asgi import Broadcast


    async def main():
        async with Broadcast() as broadcast:
            event_id = await broadcast.publish("news", "hi")
            position = broadcast.backend.parse(event_id)  # None if not one of ours
            print(position.id == event_id, position.key, broadcast.backend.parse("1-2"))
            #> True (1,) None


    anyio.run(main)
    ```
    """

    id: str
    key: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Entry(Position):
    """One stored event: its position, its topic, and the event stamped with its id.

    Backends create entries; the broadcast fans them out.

    ```py
    import anyio

    from sse_asgi import Broadcast


    async def main():
        async with Broadcast() as broadcast:
            start = broadcast.backend.head()  # before anything was published
            event_id = await broadcast.publish("news", "hi")
            page = await broadcast.backend.read(["news"], start, limit=1, max_bytes=1024)
            [entry] = page.entries
            print(entry.topic, entry.id == event_id, entry.event.id == event_id, entry.event.data)
            #> news True True hi


    anyio.run(main)
    ```
    """

    topic: str
    event: ServerSentEvent


@dataclass(frozen=True, slots=True)
class Replay:
    """One page of what a backend retained for some topics after a position.

    - ``entries``: events of those topics after the position, oldest first.
    - ``position``: where the reader is once it has them (every event of
      those topics up to it is in ``entries`` or was before the position).
    - ``complete``: ``position`` is the newest position the backend had when
      it answered: nothing was left to read.
    - ``lost``: why the position cannot be resumed from -- ``"expired"``
      (events after it were trimmed, expired or deleted, or the backend lost
      them) or ``"unknown"`` (not a position of this backend's) -- or None.
      With ``lost``, ``entries`` is empty and ``position`` is the newest.

    ```py
    import anyio

    from sse_asgi import Broadcast, MemoryBackend


    async def main():
        async with Broadcast(MemoryBackend(history=2)) as broadcast:
            start = broadcast.backend.head()
            ids = [await broadcast.publish("news", n) for n in range(3)]
            replay = await broadcast.backend.read(["news"], start, limit=64, max_bytes=1 << 20)
            print(replay.entries, replay.lost)  # the first of the three was trimmed
            #> [] expired
            replay = await broadcast.backend.read(
                ["news"], broadcast.backend.parse(ids[0]), limit=64, max_bytes=1 << 20
            )
            print([entry.id for entry in replay.entries] == ids[1:], replay.complete)
            #> True True


    anyio.run(main)
    ```
    """

    entries: list[Entry]
    position: Position
    complete: bool
    lost: Lost | None = None


class Listener(Protocol):
    """What a backend delivers to: the broadcast's side of :meth:`BroadcastBackend.start`.

    A :class:`Broadcast` hands one to its backend's ``start``; a backend of
    your own calls it for every event.

    ```py
    import anyio

    from sse_asgi import Broadcast, Listener, MemoryBackend


    class Recording(MemoryBackend):
        async def start(self, listener: Listener, task_group) -> None:
            self.listener = listener
            await super().start(listener, task_group)


    async def main():
        backend = Recording()
        async with Broadcast(backend) as broadcast:
            print(backend.listener.watches("news"))  # a subscriber to "news" here?
            #> False
            async with broadcast.subscribe("news"):
                print(backend.listener.watches("news"))
                #> True


    anyio.run(main)
    ```
    """

    def deliver(self, entry: Entry) -> None:
        """Queue ``entry`` at every subscriber of its topic; on the event loop, never blocks."""

    def watches(self, topic: str) -> bool:
        """True if this process has a subscriber to ``topic`` (so the entry is worth building)."""

    def resync(self) -> None:
        """Deliveries were not continuous: every subscriber catches up from the backend."""


class BroadcastBackend(ABC):
    """Where a :class:`Broadcast` stores events and how they reach this process.

    A backend orders every event it stores (across topics) by position, keeps
    a bounded history per topic, and calls its listener's ``deliver`` for
    every event published -- from any process, for a shared backend -- in
    that order. If it cannot (a reader that fell behind, a store that lost
    its data), it calls ``resync``: subscribers then catch up through
    :meth:`read`, which must say when they cannot. Positions are never
    reused, even after :meth:`delete` or data loss.

    ```py
    from sse_asgi import Broadcast, BroadcastBackend, MemoryBackend

    backend: BroadcastBackend = MemoryBackend(history=100, max_age=600)
    broadcast = Broadcast(backend)
    print(broadcast.backend is backend)
    #> True
    ```
    """

    @abstractmethod
    async def start(self, listener: Listener, task_group: TaskGroup | None) -> None:
        """Begin delivering events; called once, before the first publish or subscribe.

        ``task_group`` runs for as long as the broadcast (``async with
        broadcast``) and hosts any background task the backend needs; it is
        None when the broadcast is used without ``async with``.
        """

    @abstractmethod
    async def publish(self, topic: str, event: ServerSentEvent) -> str:
        """Store an id-less event, deliver it, and return its id."""

    @abstractmethod
    def parse(self, event_id: str) -> Position | None:
        """The position an id of this backend's names, or None; never raises.

        Strict: only the exact form this backend writes, in range.
        """

    @abstractmethod
    def head(self) -> Position | None:
        """The newest position delivered to this process, without IO; None before :meth:`ready`.

        A subscriber registered now gets, through ``deliver``, every event after it.
        """

    async def ready(self) -> None:  # noqa: B027 - optional hook
        """Return once :meth:`head` is known; a subscriber awaits it before registering.

        A shared backend whose head lags behind what this process published
        (its reader has not read it yet) should also wait, briefly, for the
        head to pass that: a subscriber that comes after a ``publish`` returned
        starts after that event.

        Raise :class:`~sse_asgi.BroadcastUnavailableError` if it cannot be
        known now (a shared store that cannot be reached).
        """

    async def delivered(self, position: Position) -> None:  # noqa: B027 - optional hook
        """Return once :meth:`head` is at or past ``position``, a position :meth:`read` returned.

        A subscriber that has read the history up to ``position`` awaits it
        before it goes live: live events continue from the head, and a
        shared backend's head may still be behind what Redis (say) answered
        -- the client's id came from another worker, or this process's
        reader lags -- so going live there would send the client events it
        already had. Also returns if the backend's epoch changed (it called
        ``resync``) or it is closed. The default returns at once: right for a
        backend whose head is never behind its reads, as in memory.
        """

    @abstractmethod
    async def read(
        self,
        topics: Sequence[str],
        after: Position,
        *,
        limit: int,
        max_bytes: int,
        newest: bool = False,
    ) -> Replay:
        """One page of ``topics``' retained events after ``after``, merged in order.

        At most ``limit`` events, and no more than ``max_bytes`` of them (but
        at least one). ``newest``: the newest ``limit`` events after ``after``, skipping
        older ones -- what a subscriber dropping its oldest events keeps.
        """

    @abstractmethod
    async def delete(self, topic: str) -> None:
        """Forget everything stored for ``topic``; its next event starts a new generation."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Stop delivering and release connections."""
