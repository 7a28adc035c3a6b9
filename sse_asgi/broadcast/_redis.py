"""The Redis backend: Redis Streams shared by every worker (``pip install "sse-asgi[redis]"``).

Publishing runs one Lua script, atomically: it appends the event to the
topic's stream (its history, the replay source) and to one ``live`` stream
that every worker's reader follows -- one connection, one ``XREAD`` of one
stream, whatever the number of topics its subscribers watch -- and trims
both. The ``live`` stream's id is the event's position; the wire id is
``<epoch>-<ms>-<seq>``, the epoch naming the Redis dataset, so that an id
from before Redis lost its data is not taken for a new one. See
``_redis_scripts`` for the keys.

When the reader's deliveries are not continuous -- it fell behind the
``live`` stream's trimming, or the dataset changed under it -- every
subscriber catches up from the topic streams (or gets the reset event if
they lost events too): no silent loss.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio
from anyio.abc import TaskGroup
from redis import exceptions as redis_errors
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .._event import ServerSentEvent, event_from_json
from .._json import dumps
from ._backend import BroadcastBackend, Entry, Listener, Lost, Position, Replay
from ._errors import BroadcastClosedError, BroadcastUnavailableError
from ._front import Broadcast, Overflow
from ._ids import death_bucket, is_epoch, new_epoch, parse_counter, same_epoch
from ._redis_scripts import DELETE, PUBLISH, READ

__all__ = ["RedisBackend", "RedisBroadcast"]

logger = logging.getLogger("sse_asgi")

_FAILURES = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
_MAX_ID_PART = 2**64 - 1  # a stream id is two unsigned 64-bit numbers
_RETRIED = [redis_errors.ConnectionError, redis_errors.TimeoutError]
# Seconds a new subscriber waits at most for the reader to pass what this
# process published before it came (see RedisBackend.ready).
CATCH_UP_WAIT = 1.0
_LIVE_FIELDS = ("epoch", "previous_id", "topic")  # besides the event's, in the live stream


class RedisBackend(BroadcastBackend):
    """Events in Redis Streams, shared by every process that uses the same Redis and ``prefix``.

    - ``url``: where Redis is (6.2 or newer; not Redis Cluster); or pass
      ``client``, a ``redis.asyncio.Redis`` we use as it is and never close
      (the reader opens its own connection with the same settings).
    - ``history``: how many events each topic keeps (``XTRIM MAXLEN``).
    - ``max_age``: seconds; older events are trimmed (``MINID``), never
      replayed, and an idle topic's keys expire (``PEXPIRE``) that long after
      its last event.
    - ``max_bytes``: the most bytes of event fields each topic keeps (the
      oldest go first); each publish then also reads the entries it trims.
    - ``live_backlog``: how many recent events the shared ``live`` stream
      keeps (each a copy of the event): a reader that falls further behind
      makes its subscribers catch up from the topic streams.
    - ``block``: the longest blocking read, in seconds; a reader with nothing
      to read checks this often that Redis did not lose its data.

    A publish that meets a stale pooled connection (say, after Redis
    restarted) is retried once on a new one before it raises
    :class:`~sse_asgi.BroadcastUnavailableError` (redis-py's ``Retry``; a
    ``client`` passed in keeps its own policy). A retried publish whose first
    attempt did reach Redis is stored twice, under two ids.

    ```py
    import os

    import anyio

    from sse_asgi import Broadcast
    from sse_asgi.redis import RedisBackend


    async def main():
        # Two workers of one app: the same Redis, the same prefix.
        url = os.environ["REDIS_URL"]
        worker_a = Broadcast(RedisBackend(url, prefix="myapp:sse:"))
        worker_b = Broadcast(RedisBackend(url, prefix="myapp:sse:"))
        async with worker_a, worker_b, worker_b.subscribe("news") as events:
            await worker_a.publish("news", "from worker A")
            print((await anext(events)).data)
            #> from worker A


    anyio.run(main)
    ```
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Redis | None = None,
        prefix: str = "sse-asgi:",
        history: int = 1000,
        max_age: float | None = None,
        max_bytes: int | None = None,
        live_backlog: int = 1000,
        block: float = 5.0,
        reconnect_delays: tuple[float, float] = (0.05, 2.0),
    ) -> None:
        if type(history) is not int or history < 1:
            raise ValueError(f"history must be an int >= 1, got {history!r}")
        if max_age is not None and not max_age >= 0.001:
            raise ValueError(f"max_age must be >= 0.001 s (or None), got {max_age}")
        if max_bytes is not None and (type(max_bytes) is not int or max_bytes < 1):
            raise ValueError(f"max_bytes must be an int >= 1 (or None), got {max_bytes!r}")
        if type(live_backlog) is not int or live_backlog < 1:
            raise ValueError(f"live_backlog must be an int >= 1, got {live_backlog!r}")
        self.url = url
        self.prefix = prefix
        self.history = history
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.live_backlog = live_backlog
        self._block_ms = max(1, int(block * 1000))
        self._delays = reconnect_delays
        self._max_age_ms = "" if max_age is None else str(max(1, round(max_age * 1000)))
        self._max_bytes = "" if max_bytes is None else str(max_bytes)
        self._state_key = f"{prefix}state"
        self._live_key = f"{prefix}live"
        self._deaths_key = f"{prefix}deaths"
        self._client = client
        self._own_client = client is None
        self._scripts: tuple[Any, Any, Any] | None = None
        self._listener: Listener | None = None
        # The reader's place: the dataset's epoch, the last position delivered,
        # and the last id read from the live stream (the same, unless someone
        # else wrote to it).
        self._epoch: str | None = None
        self._last: str | None = None
        self._cursor = "0-0"
        self._failure: Exception | None = None  # the reader's, until it has its place
        self._failures = 0  # how many of its attempts to get its place failed
        self._retry_now: anyio.Event | None = None  # set: the reader retries without waiting
        # The newest id a publish from this process returned: a subscriber
        # that comes after it starts after it (see ready()).
        self._published: Position | None = None
        self._changed: anyio.Event | None = None  # set (and replaced) when either changes
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------

    async def start(self, listener: Listener, task_group: TaskGroup | None) -> None:
        if task_group is None:
            raise RuntimeError(
                "RedisBroadcast reads from Redis in the background: enter it with "
                "`async with broadcast:` (in your app's lifespan) before using it"
            )
        self._listener = listener
        self._changed = anyio.Event()
        self._retry_now = anyio.Event()
        if self._client is None:
            self._client = Redis.from_url(
                self.url, retry=Retry(NoBackoff(), 1), retry_on_error=_RETRIED
            )
        client = self._client
        self._scripts = tuple(client.register_script(s) for s in (PUBLISH, READ, DELETE))  # type: ignore[assignment]
        task_group.start_soon(self._read_forever, name="sse-asgi redis reader")

    async def ready(self) -> None:
        # Before the reader has its place, a subscriber could not know where
        # live events start: it waits for it, or fails while Redis is down --
        # told by an attempt made after it came, not by one before (Redis may
        # be back while the reader waits out its back-off: it retries now).
        seen = self._failures
        while self._last is None:
            if self._closed:
                raise BroadcastClosedError("this broadcast is closed")
            if self._failure is not None and self._failures > seen:
                raise BroadcastUnavailableError(
                    f"cannot reach Redis at {self.url}: {self._failure}"
                )
            assert self._changed is not None, "start() first"
            assert self._retry_now is not None, "start() first"
            if self._failure is not None:
                self._retry_now.set()
            await self._changed.wait()
        published = self._published
        if published is not None:
            # What this process published before this subscriber came is not
            # for it: wait for the reader to pass it (it usually has), but not
            # for long -- a reader cut off from Redis must not hold up a
            # subscriber, which then may also get those few earlier events.
            with anyio.move_on_after(CATCH_UP_WAIT):
                await self.delivered(published)

    async def delivered(self, position: Position) -> None:
        # Woken after each batch the reader takes from the live stream, and
        # when the epoch changes (its subscribers were told to resync).
        epoch = position.id.partition("-")[0]
        while not self._closed:
            last = self._last
            if last is not None and (self._epoch != epoch or _key(last) >= position.key):
                return
            assert self._changed is not None, "start() first"
            await self._changed.wait()

    def _signal(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        if changed is not None:
            changed.set()

    async def aclose(self) -> None:
        self._closed = True
        self._signal()
        if self._client is not None and self._own_client:
            await self._client.aclose()
        self._client = None

    # -- ids ----------------------------------------------------------------------------

    def parse(self, event_id: str) -> Position | None:
        epoch, dash, rest = event_id.partition("-")
        if not dash or not is_epoch(epoch):
            return None
        ms, dash, seq = rest.partition("-")
        if not dash:
            return None
        ms_value = parse_counter(ms, _MAX_ID_PART)
        seq_value = parse_counter(seq, _MAX_ID_PART)
        if ms_value is None or seq_value is None:
            return None
        # Whether it is this dataset's is for Redis to say (in read()).
        return Position(event_id, (ms_value, seq_value))

    def head(self) -> Position | None:
        if self._epoch is None or self._last is None:
            return None
        return _position(self._epoch, self._last)

    def _stream_key(self, topic: str) -> str:
        return f"{self.prefix}stream:{topic}"

    def _meta_key(self, topic: str) -> str:
        return f"{self.prefix}meta:{topic}"

    # -- publishing, replay, deletion ----------------------------------------------------------

    async def publish(self, topic: str, event: ServerSentEvent) -> str:
        publish, _, _ = self._require_scripts()
        keys = [
            self._state_key,
            self._live_key,
            self._stream_key(topic),
            self._meta_key(topic),
            self._deaths_key,
        ]
        args = [
            new_epoch(),
            topic,
            self.history,
            self.live_backlog,
            self._max_age_ms,
            self._max_bytes,
            death_bucket(topic),
            *_event_fields(event),
        ]
        try:
            epoch, raw_id = await publish(keys=keys, args=args)
        except _FAILURES as exc:
            raise BroadcastUnavailableError(
                f"cannot publish to Redis at {self.url}: {exc}"
            ) from exc
        position = _position(_text(epoch), _text(raw_id))
        last = self._published
        if last is None or not same_epoch(last.id, position.id) or last.key < position.key:
            self._published = position
        return position.id

    async def read(
        self,
        topics: Sequence[str],
        after: Position,
        *,
        limit: int,
        max_bytes: int,
        newest: bool = False,
    ) -> Replay:
        _, read, _ = self._require_scripts()
        keys = [self._state_key, self._deaths_key]
        for topic in topics:
            keys += [self._stream_key(topic), self._meta_key(topic)]
        epoch, _, raw = after.id.partition("-")
        args = [new_epoch(), epoch, raw, limit, max_bytes, "1" if newest else "0"]
        args += [self._max_age_ms, *(death_bucket(topic) for topic in topics)]
        try:
            result = await read(keys=keys, args=args)
        except _FAILURES as exc:
            raise BroadcastUnavailableError(f"cannot read from Redis at {self.url}: {exc}") from exc
        epoch, last, status = _text(result[0]), _text(result[1]), _text(result[2])
        if status != "ok":
            lost: Lost = "unknown" if status == "unknown" else "expired"
            return Replay([], _position(epoch, last), complete=True, lost=lost)
        entries = []
        for i in range(5, len(result), 3):
            topic = topics[int(result[i]) - 1]
            entry = _entry(epoch, _text(result[i + 1]), topic, _pairs(result[i + 2]))
            if entry is not None:
                entries.append(entry)
        complete = _text(result[4]) == "1"
        return Replay(entries, _position(epoch, _text(result[3])), complete=complete)

    async def delete(self, topic: str) -> None:
        _, _, delete = self._require_scripts()
        keys = [self._state_key, self._stream_key(topic), self._meta_key(topic), self._deaths_key]
        try:
            await delete(keys=keys, args=[new_epoch(), death_bucket(topic)])
        except _FAILURES as exc:
            raise BroadcastUnavailableError(f"cannot reach Redis at {self.url}: {exc}") from exc

    def _require_scripts(self) -> tuple[Any, Any, Any]:
        if self._scripts is None:
            raise RuntimeError("RedisBackend is not started: use `async with broadcast:`")
        return self._scripts

    # -- the reader -------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        delay, failing = self._delays[0], False
        while True:
            reader = self._new_reader()
            try:
                await self._sync(reader)
                if failing:
                    logger.warning("Redis at %s is reachable again; resuming reads", self.url)
                    failing, delay = False, self._delays[0]
                await self._follow(reader)
            except _FAILURES as exc:
                if not failing:
                    logger.warning("Redis at %s unreachable (%s); reconnecting", self.url, exc)
                    failing = True
                if self._last is None:
                    self._failure = exc
                    self._failures += 1
                    self._signal()
                assert self._retry_now is not None
                with anyio.move_on_after(delay):
                    await self._retry_now.wait()  # a subscriber is waiting for its place
                self._retry_now = anyio.Event()
                delay = min(delay * 2, self._delays[1])
            finally:
                with anyio.CancelScope(shield=True):
                    await reader.aclose()

    def _new_reader(self) -> Redis:
        """A dedicated connection for blocking reads, with the client's settings.

        Its socket timeout must outlast a blocking read (redis-py's default,
        5 s, would cut reads of `block` = 5 s off), yet stay bounded so that
        a half-open connection is still noticed. It does not retry: the
        reader's own loop reconnects.
        """
        settings: dict[str, Any] = {
            "socket_timeout": self._block_ms / 1000 + 5,
            "retry": Retry(NoBackoff(), 0),
            "client_name": "sse-asgi-reader",
        }
        if self._client is not None and not self._own_client:
            pool = self._client.connection_pool
            settings = {**pool.connection_kwargs, **settings}
            return Redis(
                connection_pool=ConnectionPool(
                    connection_class=pool.connection_class, max_connections=1, **settings
                ),
                single_connection_client=True,
            )
        return Redis.from_url(self.url, single_connection_client=True, **settings)

    async def _sync(self, reader: Redis) -> None:
        """Learn the dataset's epoch and newest position; if either changed, everyone catches up.

        On the first connection (subscribers may have started before it), and
        whenever the epoch changed (Redis lost its data): subscribers then
        read the rest, or get a reset, through read().
        """
        _, read, _ = self._require_scripts()
        result = await read(
            keys=[self._state_key, self._deaths_key],
            args=[new_epoch(), "", "", 0, 0, "0", ""],
            client=reader,
        )
        epoch, last = _text(result[0]), _text(result[1])
        if epoch != self._epoch:
            first = self._last is None
            self._epoch, self._last, self._cursor = epoch, last, last
            assert self._listener is not None
            self._listener.resync()
            if first:
                self._failure = None
            self._signal()  # for ready(), and delivered() of the old epoch

    async def _follow(self, reader: Redis) -> None:
        while True:
            response: Any = await reader.xread(
                {self._live_key: self._cursor}, count=512, block=self._block_ms
            )
            if not response:
                await self._sync(reader)  # quiet: has the dataset changed under us?
                continue
            for entries in _stream_entries(response):
                for raw_id, fields in entries:
                    self._accept(_text(raw_id), fields)
            self._signal()  # the head moved: for delivered()

    def _accept(self, raw_id: str, fields: Mapping[Any, Any]) -> None:
        """One entry of the live stream: the next position; an event, if anyone here wants it."""
        listener = self._listener
        assert listener is not None
        self._cursor = raw_id
        pairs = {_name(name): value for name, value in fields.items()}
        try:
            epoch, previous, topic = (_text(pairs.pop(name)) for name in _LIVE_FIELDS)
        except (KeyError, UnicodeDecodeError):
            # Not written by us (someone else's data under our keys): skip it.
            logger.exception("skipping Redis stream entry %s: not one of sse-asgi's", raw_id)
            return
        gap = epoch != self._epoch or previous != self._last
        self._epoch, self._last = epoch, raw_id
        if gap:
            # Trimmed before we read it, or a new dataset: what subscribers
            # missed is in the topic streams (or lost, and they get a reset).
            listener.resync()
        if listener.watches(topic):
            entry = _entry(epoch, raw_id, topic, pairs)
            if entry is not None:
                listener.deliver(entry)


class RedisBroadcast(Broadcast):
    """A :class:`~sse_asgi.Broadcast` over Redis Streams, for apps running several workers.

    Same interface as the in-memory one; see :class:`RedisBackend` for the
    Redis options. Use ``async with broadcast:`` (in the lifespan): it runs
    this process's reader.

    ```py
    import os

    import anyio

    from sse_asgi.redis import RedisBroadcast


    async def main():
        broadcast = RedisBroadcast(os.environ["REDIS_URL"], history=5000, max_age=3600)
        async with broadcast, broadcast.subscribe("orders") as events:
            event_id = await broadcast.publish("orders", {"id": 7, "status": "shipped"})
            event = await anext(events)
            print(event.id == event_id, event.data)
            #> True {'id': 7, 'status': 'shipped'}


    anyio.run(main)
    ```
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Redis | None = None,
        prefix: str = "sse-asgi:",
        history: int = 1000,
        max_age: float | None = None,
        max_bytes: int | None = None,
        live_backlog: int = 1000,
        buffer: int = 256,
        overflow: Overflow = "disconnect",
        reset_event: str = "reset",
    ) -> None:
        backend = RedisBackend(
            url,
            client=client,
            prefix=prefix,
            history=history,
            max_age=max_age,
            max_bytes=max_bytes,
            live_backlog=live_backlog,
        )
        super().__init__(backend, buffer=buffer, overflow=overflow, reset_event=reset_event)


# -- entries <-> stream fields --------------------------------------------------------------


def _event_fields(event: ServerSentEvent) -> list[str | bytes]:
    """An id-less event as stream fields, named as the event's own fields.

    ``data`` is its JSON text (as the event sends it), the others as they are;
    absent fields are not stored.
    """
    fields: list[str | bytes] = []
    if event.data is not None:
        fields += ["data", dumps(event.data)]  # the JSON the event sends
    for name in ("raw_data", "event", "comment"):
        value = getattr(event, name)
        if value is not None:
            fields += [name, value]
    if event.retry is not None:
        fields += ["retry", str(event.retry)]
    return fields


def _entry(epoch: str, raw_id: str, topic: str, fields: Mapping[str, Any]) -> Entry | None:
    """The entry for a stream entry's fields; None (logged) if they are not an event of ours."""
    event_id = f"{epoch}-{raw_id}"
    try:
        event = _event(fields, event_id)
    except (ValueError, UnicodeDecodeError):  # InvalidEventError, JSONDecodeError too
        # Not written by us (someone else's data under our keys): skip it.
        logger.exception("skipping Redis stream entry %s of topic %r", raw_id, topic)
        return None
    return Entry(event_id, _key(raw_id), topic, event)


def _event(fields: Mapping[str, Any], event_id: str) -> ServerSentEvent:
    def text(name: str) -> str | None:
        value = fields.get(name)
        return None if value is None else _text(value)

    retry_text = text("retry")
    retry = None if retry_text is None else int(retry_text)
    event, comment = text("event"), text("comment")
    data = text("data")
    if data is None:
        raw_data = text("raw_data")
        return ServerSentEvent(
            raw_data=raw_data, event=event, id=event_id, retry=retry, comment=comment
        )
    return event_from_json(data, event=event, id=event_id, retry=retry, comment=comment)


def _stream_entries(response: Any) -> Iterable[Any]:
    """The entries of each stream in an XREAD reply, RESP2 (a list) or RESP3 (a dict)."""
    items = response.items() if isinstance(response, Mapping) else response
    for _, entries in items:
        if (
            entries
            and isinstance(entries[0], list)
            and entries[0]
            and isinstance(entries[0][0], list)
        ):
            entries = entries[0]  # RESP3 wraps them once more
        yield entries


def _pairs(flat: Sequence[Any]) -> dict[str, Any]:
    return {_name(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def _position(epoch: str, raw_id: str) -> Position:
    return Position(f"{epoch}-{raw_id}", _key(raw_id))


def _key(raw_id: str) -> tuple[int, int]:
    ms, _, seq = raw_id.partition("-")
    return (int(ms), int(seq))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _name(value: Any) -> str:
    """A field name as text; an undecodable one cannot be one of ours."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
