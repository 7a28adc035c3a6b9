"""The send loop's anyio driver (trio's): the driver contract, on every anyio backend."""

from __future__ import annotations

import pytest

from sse_asgi._anyio_driver import AnyioDriver
from sse_asgi._driver import Driver
from sse_asgi.types import Receive

from .driver_contract import (
    FakeStream,
    MakeDriver,
    messages,
    test_a_failing_receive_is_reported_once,
    test_a_stream_ending_before_it_starts_is_cancelled_at_once,
    test_a_timer_action_in_progress_is_stopped_with_the_body,
    test_an_outer_cancellation_is_not_swallowed,
    test_cancel_ends_the_body_and_is_swallowed,
    test_other_exceptions_pass_through,
    test_rescheduling_brings_an_earlier_due_time_forward,
    test_the_timer_fires_when_the_policy_says_and_not_before,
    test_the_watcher_reads_until_the_client_leaves,
)

__all__ = [
    "messages",
    "test_a_failing_receive_is_reported_once",
    "test_a_stream_ending_before_it_starts_is_cancelled_at_once",
    "test_a_timer_action_in_progress_is_stopped_with_the_body",
    "test_an_outer_cancellation_is_not_swallowed",
    "test_cancel_ends_the_body_and_is_swallowed",
    "test_other_exceptions_pass_through",
    "test_rescheduling_brings_an_earlier_due_time_forward",
    "test_the_timer_fires_when_the_policy_says_and_not_before",
    "test_the_watcher_reads_until_the_client_leaves",
]

pytestmark = pytest.mark.anyio


@pytest.fixture
def make_driver() -> MakeDriver:
    def make(stream: FakeStream, receive: Receive) -> Driver:
        return AnyioDriver(stream, receive)

    return make
