"""Background task progress with FastAPI and ``Broadcast``: watch a job from start to finish.

Shows ``POST /tasks`` starting a job that publishes its progress to topic
``task:<id>``, and ``GET /tasks/<id>/progress`` streaming it: ``progress``
events, then one ``done`` (or ``failed``) event, after which the stream ends.
A subscriber that comes late -- or reconnects -- loses nothing: the broadcast
replays what it missed (the ``progress_url`` that ``POST /tasks`` returns
starts after the job's ``queued`` event; a reconnecting browser's
``Last-Event-ID`` takes over from there). Jobs run in a task group of the
app's lifespan, so they outlive the request that started them and are
cancelled at shutdown. In memory by default; set ``REDIS_URL`` to run on Redis
(``sse_asgi.redis.RedisBroadcast``): any worker can then serve any task's
progress.

Run it with ``python examples/task_progress.py``, then
``curl -X POST http://127.0.0.1:8000/tasks`` and
``curl -N "http://127.0.0.1:8000<progress_url from the answer>"``.
In a browser, close the ``EventSource`` on ``done``: otherwise it reconnects
when the stream ends, as ``EventSource`` always does.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from fastapi import FastAPI, Header

from sse_asgi import Broadcast, MemoryBackend
from sse_asgi.fastapi import EventSourceResponse, EventSourceRoute, ServerSentEvent

logger = logging.getLogger(__name__)

#: The fake job's steps and the seconds each takes (tests lower it).
STEPS = 10
STEP_DELAY = 0.5
#: Events kept per task: enough for a whole job, so a late subscriber sees everything.
HISTORY = 100


def make_broadcast(redis_url: str | None) -> Broadcast:
    """In memory (this process only), or on Redis when a URL is given."""
    if redis_url:
        # Imported only when used: the in-memory version needs no redis package.
        from sse_asgi.redis import RedisBroadcast

        return RedisBroadcast(redis_url, history=HISTORY)
    # A finished task's history stays (here, in memory; on Redis, as a stream):
    # sse-asgi cannot drop a topic yet, so a long-running app would grow.
    return Broadcast(MemoryBackend(history=HISTORY))


async def do_step(step: int) -> None:
    """One step of the (fake) work."""
    await anyio.sleep(STEP_DELAY)


async def run_job(broadcast: Broadcast, topic: str) -> None:
    """Run the job, publishing progress after each step, then the outcome."""
    try:
        for step in range(1, STEPS + 1):
            await do_step(step)
            progress = {"step": step, "of": STEPS, "percent": step * 100 // STEPS}
            await broadcast.publish(topic, ServerSentEvent(data=progress, event="progress"))
    except Exception as exc:
        # Subscribers wait for a final event: a failure must be one too. (Not
        # re-raised: that would bring down the task group, and every job in it.)
        logger.exception("%s failed", topic)
        await broadcast.publish(topic, ServerSentEvent(data={"error": str(exc)}, event="failed"))
        return
    await broadcast.publish(topic, ServerSentEvent(data={"percent": 100}, event="done"))


def create_app(redis_url: str | None = None) -> FastAPI:
    """The app, on the in-memory broadcast or, given ``redis_url``, on Redis."""
    broadcast = make_broadcast(redis_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with broadcast, anyio.create_task_group() as jobs:
            app.state.jobs = jobs
            yield
            jobs.cancel_scope.cancel()  # shutting down: stop unfinished jobs

    app = FastAPI(title="sse-asgi: task progress", lifespan=lifespan)
    app.router.route_class = EventSourceRoute
    app.state.broadcast = broadcast

    @app.post("/tasks", status_code=202)
    async def start_task() -> dict[str, str]:
        task_id = uuid.uuid4()
        topic = f"task:{task_id}"
        # Published before the job starts, its id marks the beginning of the
        # task's history: a subscriber starting after it misses nothing.
        queued = await broadcast.publish(topic, ServerSentEvent(data={}, event="queued"))
        app.state.jobs.start_soon(run_job, broadcast, topic)
        return {
            "task_id": str(task_id),
            "progress_url": f"/tasks/{task_id}/progress?after={queued}",
        }

    @app.get("/tasks/{task_id}/progress", response_class=EventSourceResponse)
    async def task_progress(
        task_id: uuid.UUID,  # not any string: it becomes a topic name
        after: str | None = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> AsyncIterable[ServerSentEvent]:
        resume = last_event_id or after  # a reconnect goes on from where it was
        async with broadcast.subscribe(f"task:{task_id}", last_event_id=resume) as events:
            async for event in events:
                yield event
                if event.event in ("done", "failed"):
                    return  # the job is over, and so is its stream

    return app


app = create_app(os.environ.get("REDIS_URL"))


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
