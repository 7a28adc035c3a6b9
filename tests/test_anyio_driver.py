"""The send loop's anyio driver (trio's): the driver contract, on every anyio backend."""

from __future__ import annotations

import pytest

from sse_asgi._anyio_driver import AnyioDriver
from sse_asgi._driver import Driver
from sse_asgi.types import Receive

from .driver_contract import DriverContract, FakeStream, MakeDriver, messages

__all__ = ["messages"]  # the fixture, for this module's tests

pytestmark = pytest.mark.anyio


@pytest.fixture
def make_driver() -> MakeDriver:
    def make(stream: FakeStream, receive: Receive) -> Driver:
        return AnyioDriver(stream, receive)

    return make


class TestDriverContract(DriverContract):
    """What every driver does (``driver_contract``), with this module's ``make_driver``."""
