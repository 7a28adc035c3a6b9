"""Awaiting through ``first_step``/``resume``: the same results as ``await``, and whether it suspended.

Run on asyncio and trio: both drive coroutines only through ``send`` and
``throw``, which the pair forwards -- values, exceptions, cancellation.
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from sse_asgi import EventSourceResponse
from sse_asgi._suspension import counts_suspensions, first_step, resume

from .asgi_fakes import FakeClient, run_response

pytestmark = pytest.mark.anyio


async def awaited(awaitable: Any) -> tuple[bool, Any]:
    """(whether it suspended, its result), awaited the way the send loop's pump does."""
    step, value = first_step(awaitable)
    if step is None:
        return False, value
    return True, await resume(step, value)


async def ready(value: object) -> object:
    return value


async def after_sleeps(value: object, sleeps: int) -> object:
    for _ in range(sleeps):
        await anyio.lowlevel.checkpoint()
    return value


async def test_an_await_that_finishes_at_once_did_not_suspend() -> None:
    assert await awaited(ready(("a", "tuple"))) == (False, ("a", "tuple"))


@pytest.mark.parametrize("sleeps", [1, 3])
async def test_an_await_that_reaches_the_event_loop_suspended(sleeps: int) -> None:
    assert await awaited(after_sleeps("x", sleeps)) == (True, "x")


async def test_an_async_generators_items_arrive_in_order() -> None:
    async def items() -> AsyncIterator[int]:
        yield 0
        await anyio.lowlevel.checkpoint()
        yield 1
        yield 2

    generator = items()
    results = [await awaited(generator.__anext__()) for _ in range(3)]
    assert results == [(False, 0), (True, 1), (False, 2)]
    with pytest.raises(StopAsyncIteration):
        await awaited(generator.__anext__())


async def test_exceptions_propagate_before_and_after_a_suspension() -> None:
    async def fails(sleeps: int) -> None:
        await after_sleeps(None, sleeps)
        raise KeyError(sleeps)

    for sleeps in (0, 1):
        with pytest.raises(KeyError) as info:
            await awaited(fails(sleeps))
        assert info.value.args == (sleeps,)


async def test_values_the_loop_sends_reach_the_awaitable() -> None:
    """An Event set by another task: the wake-up is what the loop sends back in."""
    event = anyio.Event()

    async def set_event() -> None:
        event.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(set_event)
        assert await awaited(event.wait()) == (True, None)


async def test_cancellation_is_thrown_into_the_awaitable() -> None:
    cleaned_up = False

    async def waits_forever() -> None:
        nonlocal cleaned_up
        try:
            await anyio.sleep_forever()
        finally:
            cleaned_up = True

    with anyio.move_on_after(0.01) as scope:
        await awaited(waits_forever())
    assert scope.cancelled_caught
    assert cleaned_up


async def test_an_awaitable_that_handles_a_thrown_exception_goes_on() -> None:
    """A throw the awaitable catches: it keeps going and its result still arrives."""

    async def shielded() -> str:
        with anyio.CancelScope() as inner:
            inner.cancel()
            await anyio.sleep(1)  # cancelled, caught by its own scope
        await anyio.lowlevel.checkpoint()
        return "done"

    assert await awaited(shielded()) == (True, "done")


class BareAwaitable:
    """An awaitable whose iterator has only ``__next__`` (no ``send``/``throw``/``close``),
    as awaitables written in C or Rust for asyncio may be (a broadcast subscription's,
    granian's ``send``): asyncio only ever sends them None. (trio sends values: such an
    awaitable cannot run there, awaited directly or not.)"""

    def __init__(self, inner: Any) -> None:
        self.inner = inner.__await__()

    def __await__(self) -> BareAwaitable:
        return self

    def __iter__(self) -> BareAwaitable:
        return self

    def __next__(self) -> Any:
        return next(self.inner)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("sleeps", [0, 2])
async def test_an_iterator_without_send_is_driven_by_next(sleeps: int) -> None:
    suspended = sleeps > 0
    assert await awaited(BareAwaitable(after_sleeps("v", sleeps))) == (suspended, "v")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_cancelled_iterator_without_throw_raises_at_the_await() -> None:
    with anyio.move_on_after(0.01) as scope:
        await awaited(BareAwaitable(anyio.sleep_forever()))
    assert scope.cancelled_caught


class _Claims:
    def __init__(self, suspensions: Any) -> None:
        self.suspensions = suspensions


@pytest.mark.parametrize("suspensions", [0, 7])
async def test_an_iterator_with_an_int_count_is_read(suspensions: int) -> None:
    claims: object = _Claims(suspensions)
    assert counts_suspensions(claims) is claims


@pytest.mark.parametrize("suspensions", [None, "3", 1.0, True])
async def test_anything_else_is_watched(suspensions: object) -> None:
    """No int count (a different meaning of the name, say): watched by hand, as any."""
    assert counts_suspensions(_Claims(suspensions)) is None


async def test_an_async_generator_is_watched() -> None:
    async def items() -> AsyncGenerator[int]:
        yield 1

    generator = items()
    assert counts_suspensions(generator) is None
    await generator.aclose()


@types.coroutine
def generator_based(value: object, sleeps: int) -> Generator[Any, Any, object]:
    """A generator-based coroutine (``@types.coroutine``): no ``__await__``, yet awaitable."""
    for _ in range(sleeps):
        yield from anyio.lowlevel.checkpoint().__await__()
    return value


@pytest.mark.parametrize("sleeps", [0, 2])
async def test_a_generator_based_coroutine_is_awaited_as_await_does(sleeps: int) -> None:
    assert await awaited(generator_based("v", sleeps)) == (sleeps > 0, "v")


async def _await_message(awaitable: Any) -> str:
    with pytest.raises(TypeError) as raised:
        await awaitable
    return str(raised.value)


@pytest.mark.parametrize("not_awaitable", [5, "text", iter([1])])
async def test_a_non_awaitable_raises_awaits_own_type_error(not_awaitable: Any) -> None:
    expected = await _await_message(not_awaitable)
    with pytest.raises(TypeError) as raised:
        first_step(not_awaitable)
    assert str(raised.value) == expected


class GeneratorBasedItems:
    """An async iterator whose ``__anext__`` is a generator-based coroutine."""

    def __init__(self, count: int) -> None:
        self.left = count

    def __aiter__(self) -> GeneratorBasedItems:
        return self

    @types.coroutine
    def __anext__(self) -> Generator[Any, Any, dict[str, int]]:
        if self.left == 0:
            raise StopAsyncIteration
        self.left -= 1
        if self.left % 1000 == 0:
            yield from anyio.lowlevel.checkpoint().__await__()  # it suspends now and then
        return {"n": self.left}


async def test_a_stream_from_generator_based_anext_sends_every_event() -> None:
    """The pump watches one ``__anext__()`` per fairness interval through ``first_step``."""
    client = FakeClient()
    with anyio.fail_after(30):
        await run_response(EventSourceResponse(GeneratorBasedItems(20_000)), client)
    assert len(client.events) == 20_000


# The context a traced await sets, as a tracing middleware's send does.
span: contextvars.ContextVar[str] = contextvars.ContextVar("span", default="none")


async def traced(seen: list[str]) -> str:
    """Sets ``span`` across two suspensions and resets it with its token at the end."""
    token = span.set("traced")
    try:
        await anyio.lowlevel.checkpoint()
        seen.append(span.get())
        await anyio.sleep(0.01)
        return span.get()
    finally:
        span.reset(token)  # ValueError in any context but the one it was set in


async def test_resume_runs_the_later_steps_in_the_first_steps_context() -> None:
    """A first step run in another context (a publisher's direct write runs in the
    stream's): the sends after it run there too, and so its token resets there."""
    seen: list[str] = []
    context = contextvars.copy_context()
    step, signal = context.run(first_step, traced(seen))
    assert step is not None
    assert await resume(step, signal, context) == "traced"
    assert seen == ["traced"]
    assert span.get() == "none"
    assert context.run(span.get) == "none"


async def test_resume_throws_in_the_first_steps_context() -> None:
    context = contextvars.copy_context()
    step, signal = context.run(first_step, traced([]))
    assert step is not None
    with anyio.move_on_after(0.001) as scope:  # cancelled in the sleep: thrown in, reset there
        await resume(step, signal, context)
    assert scope.cancelled_caught
    assert context.run(span.get) == "none"


async def test_closing_a_resume_closes_in_the_first_steps_context() -> None:
    context = contextvars.copy_context()
    step, signal = context.run(first_step, traced([]))
    assert step is not None
    rest = resume(step, signal, context)
    rest.send(None)  # the resume's own first step: it yields the awaitable's signal
    rest.close()  # GeneratorExit reaches the awaitable in its context: its finally runs there
    assert context.run(span.get) == "none"
