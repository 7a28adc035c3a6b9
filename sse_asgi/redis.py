"""Broadcast across workers and hosts with Redis Streams (``pip install "sse-asgi[redis]"``).

Example::

    from sse_asgi.redis import RedisBroadcast

    broadcast = RedisBroadcast("redis://127.0.0.1:6379/0", history=1000)

    @asynccontextmanager
    async def lifespan(app):
        async with broadcast:  # runs this process's reader
            yield

Each topic is one Redis stream (``<prefix><topic>``), trimmed to its last
``history`` entries (and to ``max_age`` seconds, if set). The stream id Redis
assigns is the event's SSE id, so a client can reconnect to any worker, or
after a restart, and resume from its ``Last-Event-ID``.

Each process runs one reader -- one connection, one blocking ``XREAD`` over
every topic its subscribers watch -- and fans events out to them locally:
never a Redis connection or a blocking read per client. When the connection
drops, the reader reconnects with backoff and resumes from the last id it
delivered, so subscribers lose nothing Redis kept; meanwhile ``publish``
raises :class:`~sse_asgi.BroadcastUnavailableError` instead of dropping events.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import orjson
from anyio.abc import TaskGroup
from redis import exceptions as redis_errors
from redis.asyncio import ConnectionPool, Redis

from ._broadcast import (
    Broadcast,
    BroadcastBackend,
    BroadcastUnavailableError,
    Entry,
    Overflow,
    Replay,
)
from ._event import ServerSentEvent, event_with_id, stored_event

__all__ = ["RedisBackend", "RedisBroadcast"]

logger = logging.getLogger("sse_asgi")

_FAILURES = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
_START = "0-0"  # the id before any entry


class RedisBackend(BroadcastBackend):
    """Events in Redis Streams, shared by every process that uses the same Redis and ``prefix``.

    - ``url``: where Redis is; or pass ``client``, a ``redis.asyncio.Redis``
      for publishing and replays (the reader opens its own connection from
      the same settings).
    - ``history``: how many events each topic keeps (``XADD MAXLEN``: each
      publish trims about one entry); ``max_age``: also drop events older
      than this many seconds (``XTRIM MINID``).
    - ``block``: the longest blocking read, in seconds (the reader is woken
      at once when this process starts watching a new topic).

    Example::

        broadcast = Broadcast(RedisBackend("redis://redis:6379/0", prefix="myapp:sse:"))
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Redis | None = None,
        prefix: str = "sse-asgi:",
        history: int = 1000,
        max_age: float | None = None,
        block: float = 5.0,
        reconnect_delays: tuple[float, float] = (0.05, 2.0),
    ) -> None:
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        if max_age is not None and max_age <= 0:
            raise ValueError(f"max_age must be > 0 (or None), got {max_age}")
        self.url = url
        self.prefix = prefix
        self.history = history
        self.max_age = max_age
        self._block_ms = max(1, int(block * 1000))
        self._delays = reconnect_delays
        self._client = client
        self._own_client = client is None
        self._deliver: Callable[[str, Entry], None] | None = None
        # topic -> the id of the last event delivered here (reading resumes after it)
        self._watched: dict[str, str] = {}
        self._reader_id: int | None = None
        self._reading = False  # inside a blocking XREAD
        self._idle = anyio.Event()  # set when there is something to watch
        self._add_script: Any = None

    # -- lifecycle ------------------------------------------------------------------

    async def start(
        self, deliver: Callable[[str, Entry], None], task_group: TaskGroup | None
    ) -> None:
        if task_group is None:
            raise RuntimeError(
                "RedisBroadcast reads from Redis in the background: enter it with "
                "`async with broadcast:` (in your app's lifespan) before using it"
            )
        self._deliver = deliver
        if self._client is None:
            self._client = Redis.from_url(self.url)
        task_group.start_soon(self._read_forever, name="sse-asgi redis reader")

    async def aclose(self) -> None:
        if self._client is not None and self._own_client:
            await self._client.aclose()
        self._client = None

    # -- ids ----------------------------------------------------------------------------

    def order(self, topic: str, event_id: str) -> tuple[int, ...] | None:
        ms, _, seq = event_id.partition("-")
        if not (ms.isdigit() and seq.isdigit()):
            return None
        return (int(ms), int(seq))

    def live_head(self, topic: str) -> Entry | str | None:
        return self._watched.get(topic)

    def _key(self, topic: str) -> str:
        return self.prefix + topic

    # -- publishing and replay ------------------------------------------------------------

    async def publish(self, topic: str, event: ServerSentEvent) -> Entry:
        client = self._require_client()
        packed = _pack(event)
        oldest = "" if self.max_age is None else f"{int((time.time() - self.max_age) * 1000)}-0"
        try:
            raw_id = await self._add(
                keys=[self._key(topic)],
                args=[self.history, packed["e"], packed["m"], oldest],
                client=client,
            )
        except _FAILURES as exc:
            raise BroadcastUnavailableError(
                f"cannot publish to Redis at {self.url}: {exc}"
            ) from exc
        return self._entry(topic, _text(raw_id), event)

    def _entry(self, topic: str, event_id: str, unstamped: ServerSentEvent) -> Entry:
        key = self.order(topic, event_id)
        assert key is not None
        stamped = event_with_id(unstamped, event_id)
        return Entry(topic, event_id, key, stamped, unstamped, key[0] / 1000)

    async def replay(self, topic: str, after: str | None) -> Replay:
        client = self._require_client()
        key = self._key(topic)
        try:
            head = self._watched.get(topic)
            if head is None:
                # Start watching at the newest entry *before* reading the
                # replay: whatever comes after it is read live, so the replay
                # below (which runs up to now) leaves no gap.
                newest = await client.xrevrange(key, "+", "-", count=1)
                head = self._watched.setdefault(topic, _text(newest[0][0]) if newest else _START)
                await self._wake_reader()
            if after is None:
                return Replay([], head)
            after_key = self.order(topic, after)
            if after_key is None:
                return Replay([], head, "unknown")
            try:
                info = await client.xinfo_stream(key)
            except redis_errors.ResponseError:  # no such stream: nothing was ever published
                return Replay([], head, None if after_key == (0, 0) else "unknown")
            last = self.order(topic, _text(info["last-generated-id"]))
            if last is None or after_key > last:
                return Replay([], head, "unknown")  # an id this stream never gave
            first: Any = await client.xrange(key, "-", "+", count=1)
            if not first:
                lost_all = after_key < last  # everything after it was trimmed
                return Replay([], head, "expired" if lost_all else None)
            first_id, first_fields = first[0]
            if after_key < (self.order(topic, _text(first_id)) or (0, 0)):
                # Entries before the oldest kept one were trimmed. Each entry
                # records its predecessor: if that is newer than the client's
                # position, events it never saw are gone.
                previous = self.order(topic, _text(_field(first_fields, "p")))
                if previous is not None and after_key < previous:
                    return Replay([], head, "expired")
            entries: Any = await client.xrange(key, f"({after}", "+")
        except _FAILURES as exc:
            raise BroadcastUnavailableError(f"cannot read from Redis at {self.url}: {exc}") from exc
        return Replay([self._unpack(topic, _text(i), f) for i, f in entries], head)

    async def unwatch(self, topic: str) -> None:
        self._watched.pop(topic, None)

    async def delete(self, topic: str) -> None:
        try:
            await self._require_client().delete(self._key(topic))
        except _FAILURES as exc:
            raise BroadcastUnavailableError(f"cannot reach Redis at {self.url}: {exc}") from exc

    @property
    def _add(self) -> Any:
        if self._add_script is None:
            self._add_script = self._require_client().register_script(_ADD)
        return self._add_script

    def _require_client(self) -> Redis:
        if self._client is None:
            raise RuntimeError("RedisBackend is not started: use `async with broadcast:`")
        return self._client

    # -- the reader -------------------------------------------------------------------------

    async def _wake_reader(self) -> None:
        """A topic was added: make the reader include it now, not after its current read."""
        self._idle.set()
        if self._reading and self._reader_id is not None and self._client is not None:
            # On failure the read still ends within `block`.
            with contextlib.suppress(redis_errors.RedisError):
                await self._client.client_unblock(self._reader_id)

    async def _read_forever(self) -> None:
        delay, failing = self._delays[0], False
        while True:
            reader = self._new_reader()
            try:
                self._reader_id = int(await reader.client_id())
                if failing:
                    logger.warning("Redis at %s is reachable again; resuming reads", self.url)
                    failing, delay = False, self._delays[0]
                await self._read(reader)
            except _FAILURES as exc:
                if not failing:
                    logger.warning("Redis at %s unreachable (%s); reconnecting", self.url, exc)
                    failing = True
                await anyio.sleep(delay)
                delay = min(delay * 2, self._delays[1])
            finally:
                self._reader_id = None
                self._reading = False
                with anyio.CancelScope(shield=True):
                    await reader.aclose()

    def _new_reader(self) -> Redis:
        """A dedicated connection for blocking reads, with the client's settings.

        Its socket timeout must outlast a blocking read (redis-py's default,
        5 s, would cut reads of `block` = 5 s off), yet stay bounded so that
        a half-open connection is still noticed.
        """
        timeout = self._block_ms / 1000 + 5
        if self._client is not None and not self._own_client:
            pool = self._client.connection_pool
            settings = {**pool.connection_kwargs, "socket_timeout": timeout}
            return Redis(
                connection_pool=ConnectionPool(
                    connection_class=pool.connection_class, max_connections=1, **settings
                ),
                single_connection_client=True,
            )
        return Redis.from_url(self.url, single_connection_client=True, socket_timeout=timeout)

    async def _read(self, reader: Redis) -> None:
        deliver = self._deliver
        assert deliver is not None
        prefix = len(self.prefix)
        while True:
            if not self._watched:
                self._idle = anyio.Event()
                await self._idle.wait()
                continue
            streams: Any = {self._key(topic): position for topic, position in self._watched.items()}
            self._reading = True
            try:
                response: Any = await reader.xread(streams, count=512, block=self._block_ms)
            finally:
                self._reading = False
            items = response.items() if isinstance(response, Mapping) else (response or ())
            for raw_key, entries in items:
                topic = _text(raw_key)[prefix:]
                if topic not in self._watched:
                    continue  # nobody here listens any more
                if isinstance(entries, list) and entries and isinstance(entries[0], list):
                    entries = entries[0]  # RESP3 wraps them once more
                for raw_id, fields in entries:
                    entry = self._unpack(topic, _text(raw_id), fields)
                    self._watched[topic] = entry.id
                    deliver(topic, entry)

    def _unpack(self, topic: str, event_id: str, fields: Mapping[Any, Any]) -> Entry:
        return self._entry(topic, event_id, _unpack_event(_field(fields, "e"), _field(fields, "m")))


# XADD, recording the id of the entry before it (so that a replay can tell
# whether anything a client never saw was trimmed), then trim by age.
# KEYS: stream; ARGV: maxlen, encoded event, meta, minimum id or "".
_ADD = """
local ok, info = pcall(redis.call, 'XINFO', 'STREAM', KEYS[1])
local previous = '0-0'
if ok then
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then previous = info[i + 1] end
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*',
                      'e', ARGV[2], 'm', ARGV[3], 'p', previous)
if ARGV[4] ~= '' then redis.call('XTRIM', KEYS[1], 'MINID', ARGV[4]) end
return id
"""


def _field(fields: Mapping[Any, Any], name: str) -> Any:
    return fields[name.encode()] if name.encode() in fields else fields[name]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pack(event: ServerSentEvent) -> dict[str, bytes]:
    """An id-less event as stream fields: its exact bytes, plus its fields for other workers."""
    meta: dict[str, Any] = {}
    for name in ("raw_data", "event", "retry", "comment"):
        value = getattr(event, name)
        if value is not None:
            meta[name] = value
    encoded = event.encode()
    if event.data is not None:
        meta["data"] = True  # its JSON is on the event's one "data: " line
    return {"e": encoded, "m": orjson.dumps(meta)}


def _unpack_event(encoded: bytes, raw_meta: bytes) -> ServerSentEvent:
    meta = orjson.loads(raw_meta)
    data = None
    if meta.pop("data", False):
        start = 6 if encoded.startswith(b"data: ") else encoded.index(b"\ndata: ") + 7
        data = orjson.loads(encoded[start : encoded.index(b"\n", start)])
    return stored_event(encoded, data=data, **meta)


class RedisBroadcast(Broadcast):
    """A :class:`~sse_asgi.Broadcast` over Redis Streams, for apps running several workers.

    Same interface as the in-memory one; see :class:`RedisBackend` for the
    Redis options. Use ``async with broadcast:`` (in the lifespan): it runs
    this process's reader.

    Example::

        broadcast = RedisBroadcast(os.environ["REDIS_URL"], history=5000, max_age=3600)
        event_id = await broadcast.publish("orders", {"id": 7, "status": "shipped"})
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Redis | None = None,
        prefix: str = "sse-asgi:",
        history: int = 1000,
        max_age: float | None = None,
        buffer: int = 256,
        overflow: Overflow = "disconnect",
        reset_event: str = "reset",
    ) -> None:
        backend = RedisBackend(url, client=client, prefix=prefix, history=history, max_age=max_age)
        super().__init__(backend, buffer=buffer, overflow=overflow, reset_event=reset_event)
