"""``_eventloop``: making another task asyncio's current one, and back, the way this
Python offers (3.12+: asyncio's hook; 3.10 and 3.11: its dict) -- CI runs each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sse_asgi._eventloop import current_tasks, swap_current_task

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_current(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None) -> Any:
    """What ``SendLoop.deliver`` does, one way or the other."""
    if swap_current_task is not None:
        return swap_current_task(loop, task)
    assert current_tasks is not None
    previous = current_tasks.get(loop)
    if task is None:
        current_tasks.pop(loop, None)
    else:
        current_tasks[loop] = task
    return previous


def test_this_python_offers_one_way() -> None:
    assert (swap_current_task is None) != (current_tasks is None)


async def test_another_task_made_current_and_back() -> None:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    other = loop.create_task(asyncio.sleep(10))
    try:
        assert make_current(loop, other) is me
        assert asyncio.current_task() is other
        assert make_current(loop, None) is other
        assert asyncio.current_task() is None
        assert make_current(loop, me) is None
        assert asyncio.current_task() is me
    finally:
        other.cancel()
    with pytest.raises(asyncio.CancelledError):
        await other
