"""The timing policy of one stream: what is due next, and why. Pure: no IO, no clock.

Like h11's ``_state.py`` beside its ``_connection.py``, the decisions live
here and the IO around them elsewhere. The send loop records facts in a
:class:`StreamTiming` -- when the stream started, when the headers went out,
when a send started and ended, when the current batch must be flushed --
and asks it two questions, always passing ``now`` (seconds on the
``time.monotonic`` clock): when must the timer next wake
(:meth:`~StreamTiming.next_due`), and what is due now
(:meth:`~StreamTiming.due`). The drivers (``_asyncio_driver``,
``_anyio_driver``) turn the first answer into a loop timer or a deadline;
the send loop acts on the second.

The rules, in the order :meth:`~StreamTiming.due` applies them:

- **send timeout**: a send has been in flight for ``send_timeout`` s -- the
  client stopped reading. While a send is in flight nothing else is due: the
  connection is not idle, and one send at a time goes out.
- **coalescing flush**: the batch being gathered is ``coalesce`` s old (the
  iterator stalled): send it. A batch is also sent by the pump as soon as it
  holds :data:`COALESCE_MAX_BYTES` (:meth:`~StreamTiming.batch_full`).
- **first-event grace**: ``first_event_grace`` s after the start without an
  item: send the headers (an exception raised before the first item can
  otherwise still become an HTTP error).
- **ping**: nothing sent for ``ping_interval`` s: send the keep-alive comment.

And two more, for the end of the stream and for other streams:

- **the wait for the end of the body** (:func:`end_of_body_deadline`): after
  a send timeout, or once the iterator is done, the last bytes wait for the
  server to take them -- with no deadline (the client reads again, or
  leaves), until shutdown cuts it to :data:`FINAL_SEND_TIMEOUT`.
- **fairness** (:meth:`~StreamTiming.fairness_checked`): the pump lets
  other tasks run at least every :data:`FAIRNESS_INTERVAL` s (give or take
  one item), counted from the last time they ran. Once the count runs out
  (``fair_until``, compared with ``now`` at every send: no call on the
  per-event path), the pump watches its next await of the iterator: if it
  suspended, other tasks ran and nothing is owed (a stream fed by a
  broadcast subscription never yields on top of its waits); if not, the
  pump yields. Only that one await in each interval is watched, because
  watching one by hand costs what sending an event does -- unless the
  iterator counts its suspensions (``_suspension.CountsSuspensions``, as a
  broadcast subscription does): then it is two reads of that count.
"""

from __future__ import annotations

import enum
from typing import Protocol

__all__ = [
    "COALESCE_MAX_BYTES",
    "FAIRNESS_INTERVAL",
    "FINAL_SEND_TIMEOUT",
    "Due",
    "StreamTiming",
    "TimingSettings",
    "end_of_body_deadline",
]

#: A coalesced batch is sent once it holds this many bytes.
COALESCE_MAX_BYTES = 64 * 1024
#: The pump lets other tasks run at least this often (seconds), even when the
#: iterator and the server never suspend: other connections must run.
FAIRNESS_INTERVAL = 0.005
#: How long the last bytes may take once shutdown (``close()``) or the server ended a stream (s).
FINAL_SEND_TIMEOUT = 1.0

_NEVER = float("inf")


class TimingSettings(Protocol):
    """The options the policy reads (``StreamSettings`` has them), in seconds; None: off."""

    @property
    def ping_interval(self) -> float | None: ...
    @property
    def send_timeout(self) -> float | None: ...
    @property
    def first_event_grace(self) -> float: ...
    @property
    def coalesce(self) -> float | None: ...


class Due(enum.Enum):
    """What the timer must do now."""

    NOTHING = "nothing"  # woke early, or a send is in flight within its time
    SEND_TIMEOUT = "send_timeout"  # end the stream: the client stopped reading
    FLUSH = "flush"  # send the coalesced batch
    HEADERS = "headers"  # send the response head: the first item is late
    PING = "ping"  # send the keep-alive comment


class StreamTiming:
    """The facts about one stream's sends, and the decisions that follow from them.

    The facts are attributes the send loop sets (the pump sets
    ``send_started`` and ``last_send`` around every send, with no call:
    they are on the per-event path); every decision is a method of ``now``.
    """

    __slots__ = (
        "batch_due",
        "fair_until",
        "headers_sent",
        "last_send",
        "send_started",
        "settings",
        "started_at",
    )

    def __init__(self, settings: TimingSettings, now: float) -> None:
        self.settings = settings
        #: When the stream started.
        self.started_at = now
        #: Whether the response head was sent.
        self.headers_sent = False
        #: When the send in flight started; None when no send is in flight.
        self.send_started: float | None = None
        #: When the last send ended (the start, until the first one). The pump
        #: records its sends' start instead, to read the clock once per event: a
        #: pump send slower than ``ping_interval`` is followed by a ping at once.
        self.last_send = now
        #: When the batch being gathered must be sent; None without a batch.
        self.batch_due: float | None = None
        #: Once ``now`` passes it, the pump checks whether it lets other tasks run.
        self.fair_until = now + FAIRNESS_INTERVAL

    # -- facts with a rule attached ------------------------------------------------------

    def batch_started(self, now: float) -> None:
        """The first event of a batch was gathered: it may wait ``coalesce`` s for company."""
        coalesce = self.settings.coalesce
        assert coalesce is not None
        self.batch_due = now + coalesce

    def batch_full(self, now: float, size: int) -> bool:
        """Whether a batch of ``size`` bytes must be sent now, without waiting for the timer."""
        return size >= COALESCE_MAX_BYTES or (self.batch_due is not None and now >= self.batch_due)

    # -- decisions -----------------------------------------------------------------------

    def fairness_checked(self, now: float, *, suspended: bool) -> bool:
        """Whether the pump must yield now, having watched one await after ``fair_until``.

        ``suspended``: whether that await suspended the pump (other tasks
        ran). If not, the pump has run ``FAIRNESS_INTERVAL`` s without letting
        them, and must (True). Either way the count restarts at ``now``.
        """
        self.fair_until = now + FAIRNESS_INTERVAL
        return not suspended

    def next_due(self, now: float) -> float:
        """When the timer must next wake: a time on ``now``'s clock, or ``inf`` for never."""
        settings = self.settings
        if self.send_started is not None:
            if settings.send_timeout is None:
                return _NEVER
            return self.send_started + settings.send_timeout
        due = _NEVER
        if not self.headers_sent:
            due = self.started_at + settings.first_event_grace
        if settings.ping_interval is not None:
            due = min(due, self.last_send + settings.ping_interval)
        if self.batch_due is not None:
            due = min(due, self.batch_due)
        if settings.send_timeout is not None:
            # A send may start while the timer sleeps: wake in time to time it out.
            due = min(due, now + settings.send_timeout)
        return due

    def due(self, now: float) -> Due:
        """What is due at ``now`` (the rules in the module docstring, in that order)."""
        # The same sums as next_due(): what it wakes the timer for is due then.
        settings = self.settings
        if self.send_started is not None:
            timeout = settings.send_timeout
            if timeout is not None and now >= self.send_started + timeout:
                return Due.SEND_TIMEOUT
            return Due.NOTHING  # a send is in flight: the connection is not idle
        if self.batch_due is not None and now >= self.batch_due:
            return Due.FLUSH
        if not self.headers_sent and now >= self.started_at + settings.first_event_grace:
            return Due.HEADERS
        ping = settings.ping_interval
        if ping is not None and now >= self.last_send + ping:
            return Due.PING
        return Due.NOTHING


def end_of_body_deadline(now: float, *, closing: bool, deadline: float = _NEVER) -> float:
    """How long the end of the body may wait for the server to take it.

    Forever (``inf``) while the stream is not being closed: the client reads
    again or leaves, and no server lets an app end a response sooner. Once
    it is (shutdown), at most :data:`FINAL_SEND_TIMEOUT` s from ``now`` --
    or ``deadline``, the one already set, if that is sooner. ``now`` and the
    result are on the clock of the cancel scope that waits.
    """
    if not closing:
        return deadline
    return min(deadline, now + FINAL_SEND_TIMEOUT)
