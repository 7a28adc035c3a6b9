"""Broadcast: publish once, deliver to every subscriber, replay what a reconnecting client missed.

- :class:`Broadcast`, the front, is the same for every backend: it keeps this
  process's subscriptions and fans each event out to them. Publishing never
  waits for a subscriber: each has a bounded queue (``buffer``), and a full
  one either ends that subscription (``overflow="disconnect"``: the browser
  reconnects and replays from its ``Last-Event-ID``) or drops its oldest
  event (``"drop_oldest"``).
- A :class:`Subscription` resuming after a ``Last-Event-ID`` reads what it
  missed from the backend a page at a time, as its client takes it, then
  hands over to live events without a gap or a duplicate.
- A :class:`BroadcastBackend` stores events and brings them to the front:
  :class:`MemoryBackend` in this process, ``sse_asgi.redis.RedisBackend`` in
  Redis Streams, shared by every worker. Importing this package never
  imports redis.

Ids are ``<epoch>-<position>`` (``<epoch>-<ms>-<seq>`` on Redis): the position
orders every event of the backend, across topics, so a subscription to
several topics has one id like any other, and no id is ever reused. A
``Last-Event-ID`` that is not exactly such an id, or that events were lost
after (trimmed, expired, deleted, or gone with Redis's data), gets the reset
event: no silent gaps. ``Lost`` (``"expired"`` or ``"unknown"``) is the type
of a reset's reason.
"""

from ._backend import BroadcastBackend, Entry, Listener, Lost, Position, Replay
from ._errors import BroadcastClosedError, BroadcastUnavailableError
from ._front import Broadcast
from ._memory import MemoryBackend
from ._subscription import Subscription

__all__ = [
    "Broadcast",
    "BroadcastBackend",
    "BroadcastClosedError",
    "BroadcastUnavailableError",
    "Entry",
    "Listener",
    "Lost",
    "MemoryBackend",
    "Position",
    "Replay",
    "Subscription",
]
