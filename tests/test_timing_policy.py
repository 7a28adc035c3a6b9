"""The send loop's timing policy, with fake time: every rule, its order, and its wake-ups."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sse_asgi._timing_policy import (
    COALESCE_MAX_BYTES,
    FAIRNESS_INTERVAL,
    FINAL_SEND_TIMEOUT,
    Due,
    StreamTiming,
    end_of_body_deadline,
)

NEVER = float("inf")


@dataclass(frozen=True)
class Settings:
    """The four options the policy reads, as ``StreamSettings`` has them."""

    ping_interval: float | None = 15.0
    send_timeout: float | None = 30.0
    first_event_grace: float = 0.5
    coalesce: float | None = None


def timing(now: float = 100.0, **options: float | None) -> StreamTiming:
    return StreamTiming(Settings(**options), now)  # type: ignore[arg-type]


def test_a_new_stream_waits_for_its_first_item_for_the_grace_period() -> None:
    t = timing(100.0)
    assert t.next_due(100.0) == 100.5
    assert t.due(100.49) is Due.NOTHING
    assert t.due(100.5) is Due.HEADERS


def test_once_the_headers_are_out_a_silent_stream_is_pinged() -> None:
    t = timing(100.0)
    t.headers_sent = True
    t.last_send = 101.0
    assert t.next_due(101.0) == 116.0  # ping (15 s) before the send-timeout wake-up (30 s)
    assert t.due(115.9) is Due.NOTHING
    assert t.due(116.0) is Due.PING


def test_a_send_resets_the_ping_interval() -> None:
    t = timing(100.0)
    t.headers_sent = True
    t.last_send = 110.0
    assert t.due(116.0) is Due.NOTHING
    assert t.next_due(116.0) == 125.0


def test_without_ping_and_send_timeout_no_timer_runs_at_all() -> None:
    t = timing(100.0, ping_interval=None, send_timeout=None, first_event_grace=0)
    t.headers_sent = True
    assert t.next_due(100.0) == NEVER
    assert t.due(1e9) is Due.NOTHING


def test_an_idle_stream_wakes_in_time_to_time_out_a_send_that_starts_meanwhile() -> None:
    t = timing(100.0, ping_interval=None, send_timeout=30.0)
    t.headers_sent = True
    assert t.next_due(200.0) == 230.0
    assert t.due(200.0) is Due.NOTHING  # nothing due: a wake-up only


def test_a_send_in_flight_times_out_after_send_timeout() -> None:
    t = timing(100.0)
    t.headers_sent = True
    t.send_started = 200.0
    assert t.next_due(200.0) == 230.0
    assert t.due(229.9) is Due.NOTHING
    assert t.due(230.0) is Due.SEND_TIMEOUT


def test_while_a_send_is_in_flight_nothing_else_is_due() -> None:
    t = timing(100.0, coalesce=0.01)
    t.send_started = 100.0  # the headers' send, say, before the grace period ran out
    t.batch_started(100.0)
    assert t.due(100.6) is Due.NOTHING  # grace, batch and ping all overdue: not idle
    assert t.next_due(100.6) == 130.0  # only the send's own timeout


def test_a_send_without_send_timeout_may_take_forever() -> None:
    t = timing(100.0, send_timeout=None)
    t.send_started = 100.0
    assert t.next_due(100.0) == NEVER
    assert t.due(1e9) is Due.NOTHING


def test_a_batch_waits_at_most_coalesce_seconds() -> None:
    t = timing(100.0, coalesce=0.01)
    t.headers_sent = True
    t.last_send = 199.0
    t.batch_started(200.0)
    assert t.batch_due == 200.0 + 0.01
    assert t.next_due(200.0) == t.batch_due
    assert t.due(200.009) is Due.NOTHING
    assert t.due(t.batch_due) is Due.FLUSH


def test_a_batch_is_sent_by_the_pump_when_full_or_overdue() -> None:
    t = timing(100.0, coalesce=0.01)
    t.batch_started(200.0)
    assert not t.batch_full(200.005, COALESCE_MAX_BYTES - 1)
    assert t.batch_full(200.005, COALESCE_MAX_BYTES)
    assert t.batch_full(200.02, 1)


def test_what_is_due_first_when_several_are() -> None:
    t = timing(100.0, coalesce=0.01)
    t.batch_started(100.0)
    assert t.due(200.0) is Due.FLUSH  # before the headers and the ping
    t.batch_due = None
    assert t.due(200.0) is Due.HEADERS  # before the ping
    t.headers_sent = True
    assert t.due(200.0) is Due.PING


def test_the_end_of_the_body_waits_for_the_client_until_shutdown_cuts_it() -> None:
    assert end_of_body_deadline(100.0, closing=False) == NEVER
    assert end_of_body_deadline(100.0, closing=True) == 100.0 + FINAL_SEND_TIMEOUT
    # Shutdown arriving during the wait: at most FINAL_SEND_TIMEOUT from then.
    assert end_of_body_deadline(150.0, closing=True, deadline=NEVER) == 151.0
    assert end_of_body_deadline(150.0, closing=True, deadline=150.5) == 150.5


seconds = st.floats(min_value=0.001, max_value=100.0)
optional_seconds = st.none() | seconds


@given(
    ping=optional_seconds,
    send_timeout=optional_seconds,
    grace=st.floats(min_value=0.0, max_value=100.0),
    coalesce=optional_seconds,
    headers_sent=st.booleans(),
    sending=st.booleans(),
    batching=st.booleans(),
    offsets=st.lists(st.floats(min_value=0.0, max_value=300.0), min_size=3, max_size=3),
)
def test_the_timer_never_sleeps_past_something_due(
    ping: float | None,
    send_timeout: float | None,
    grace: float,
    coalesce: float | None,
    headers_sent: bool,
    sending: bool,
    batching: bool,
    offsets: list[float],
) -> None:
    """Whenever something is due, the timer was due to wake by then; a timer that is not
    due yet has nothing to do."""
    t = timing(
        0.0,
        ping_interval=ping,
        send_timeout=send_timeout,
        first_event_grace=grace,
        coalesce=coalesce,
    )
    t.headers_sent = headers_sent
    t.last_send = offsets[0]
    if sending:
        t.send_started = offsets[0]
    if batching and coalesce is not None:
        t.batch_started(offsets[1])
    now = offsets[0] + offsets[2]
    if t.due(now) is not Due.NOTHING:
        assert t.next_due(now) <= now
    if t.next_due(now) > now:
        assert t.due(now) is Due.NOTHING


@pytest.mark.parametrize("coalesce", [None, 0.0])
def test_batch_started_needs_coalescing_or_sends_at_once(coalesce: float | None) -> None:
    t = timing(100.0, coalesce=coalesce)
    if coalesce is None:
        with pytest.raises(AssertionError):
            t.batch_started(100.0)
    else:
        t.batch_started(100.0)
        assert t.due(100.0) is Due.FLUSH  # coalesce=0: no event waits at all


# -- fairness ------------------------------------------------------------------------------


def test_the_fairness_count_runs_out_after_the_interval() -> None:
    t = timing(100.0)
    assert t.fair_until == 100.0 + FAIRNESS_INTERVAL


def test_a_pump_that_did_not_suspend_yields_and_the_count_restarts() -> None:
    t = timing(100.0)
    now = 100.0 + FAIRNESS_INTERVAL * 1.2  # one watched await after the count ran out
    assert t.fairness_checked(now, suspended=False)
    assert t.fair_until == now + FAIRNESS_INTERVAL


def test_a_pump_that_suspended_owes_nothing_and_the_count_restarts() -> None:
    t = timing(100.0)
    now = 100.0 + FAIRNESS_INTERVAL * 10  # its iterator waited: other tasks ran
    assert not t.fairness_checked(now, suspended=True)
    assert t.fair_until == now + FAIRNESS_INTERVAL


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 0.002)), max_size=60))
def test_other_tasks_run_every_fairness_interval_give_or_take_one_item(
    steps: list[tuple[bool, float]],
) -> None:
    """The pump as it uses the policy: each item takes ``elapsed`` s and its await
    ``suspended`` or not; the await after ``fair_until`` is watched. Other tasks never
    wait longer than the interval plus the one item it takes to find out."""
    now = 100.0
    t = timing(now)
    others_ran = now
    watch = False
    for suspended, elapsed in steps:
        now += elapsed
        if suspended:
            others_ran = now  # whether watched or not, other tasks ran
        if watch:
            watch = False
            if t.fairness_checked(now, suspended=suspended):
                others_ran = now  # the pump yields
        assert now - others_ran <= FAIRNESS_INTERVAL + 2 * 0.002
        watch = now >= t.fair_until
