"""``_eventloop.swap_current_task``: another task made asyncio's current one, and back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from sse_asgi._eventloop import _swap_in_current_tasks, swap_current_task

pytestmark = pytest.mark.anyio

Swap = Callable[[asyncio.AbstractEventLoop, "asyncio.Task[Any] | None"], "asyncio.Task[Any] | None"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    "swap",
    [
        pytest.param(swap_current_task, id="this-python"),
        pytest.param(_swap_in_current_tasks, id="python-3.10-3.11-way"),
    ],
)
async def test_swap_current_task_and_back(swap: Swap) -> None:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    other = loop.create_task(asyncio.sleep(10))
    try:
        assert swap(loop, other) is me
        assert asyncio.current_task() is other
        assert swap(loop, None) is other
        assert asyncio.current_task() is None
        assert swap(loop, me) is None
        assert asyncio.current_task() is me
    finally:
        other.cancel()
    with pytest.raises(asyncio.CancelledError):
        await other
