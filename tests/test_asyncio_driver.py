"""The send loop's asyncio driver: the driver contract, on asyncio with and without asyncio.timeout."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from sse_asgi import _asyncio_driver
from sse_asgi._asyncio_driver import AsyncioDriver
from sse_asgi._driver import Driver
from sse_asgi.types import Receive

from .driver_contract import DriverContract, FakeStream, MakeDriver, Messages, messages

__all__ = ["messages"]  # the fixture, for this module's tests

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the driver of asyncio loops only


@pytest.fixture(params=["asyncio.timeout", "anyio.CancelScope"])
def make_driver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> MakeDriver:
    """The driver, with the pump's scope as on Python >= 3.11 and as on 3.10 (no asyncio.timeout)."""
    if request.param == "anyio.CancelScope":
        monkeypatch.setattr(_asyncio_driver, "_asyncio_timeout", None)
    elif _asyncio_driver._asyncio_timeout is None:
        pytest.skip("Python 3.10 has no asyncio.timeout")

    def make(stream: FakeStream, receive: Receive) -> Driver:
        return AsyncioDriver(stream, receive, asyncio.get_running_loop())

    return make


async def test_no_task_outlives_the_driver(make_driver: MakeDriver, messages: Messages) -> None:
    stream = FakeStream(ping_interval=0.01, send_timeout=None, first_event_grace=0)
    before = asyncio.all_tasks()
    with anyio.fail_after(5):
        async with make_driver(stream, messages.receive):
            await stream.fired.wait()  # the watcher, the timer and one action ran
            assert len(asyncio.all_tasks()) > len(before)
    assert asyncio.all_tasks() == before


async def test_a_timeout_error_not_caused_by_cancel_passes_through(
    make_driver: MakeDriver, messages: Messages
) -> None:
    stream = FakeStream(ping_interval=None, send_timeout=None, first_event_grace=0)
    with pytest.raises(TimeoutError):
        async with make_driver(stream, messages.receive):
            raise TimeoutError("the pump's own")


class TestDriverContract(DriverContract):
    """What every driver does (``driver_contract``), with this module's ``make_driver``."""
