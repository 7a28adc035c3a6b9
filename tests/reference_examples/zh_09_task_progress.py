# mypy: ignore-errors
# ruff: noqa
# fmt: off
# From the Chinese SSE tutorial (fastapi-sse-tutorial.zh.txt, lines 264-311), section
# "任务进度追踪". Verbatim, with the Python indentation the text dump lost restored;
# tests/test_reference_examples.py checks it against the reference.
# reference: begin
import asyncio
from collections.abc import AsyncIterable
from fastapi import FastAPI, BackgroundTasks
from fastapi.sse import EventSourceResponse, ServerSentEvent
import uuid

app = FastAPI()
# 任务进度存储
task_progress: dict[str, int] = {}
task_queues: dict[str, asyncio.Queue] = {}


async def process_task(task_id: str):
    """模拟长时间运行的任务"""
    for i in range(101):
        task_progress[task_id] = i
        if task_id in task_queues:
            await task_queues[task_id].put({
                "progress": i,
                "status": "processing" if i < 100 else "completed"
            })
        await asyncio.sleep(0.1) # 模拟工作


@app.post("/tasks/start")
async def start_task(background_tasks: BackgroundTasks):
    """启动后台任务"""
    task_id = str(uuid.uuid4())
    task_queues[task_id] = asyncio.Queue()
    task_progress[task_id] = 0
    background_tasks.add_task(process_task, task_id)
    return {"task_id": task_id}


@app.get("/tasks/{task_id}/progress", response_class=EventSourceResponse)
async def stream_progress(task_id: str) -> AsyncIterable[ServerSentEvent]:
    """流式返回任务进度"""
    queue = task_queues.get(task_id)
    if not queue:
        yield ServerSentEvent(
            data={"error": "任务不存在"},
            event="error"
        )
        return
    try:
        while True:
            progress = await queue.get()
            yield ServerSentEvent(
                data=progress,
                event="progress"
            )
            if progress.get("status") == "completed":
                break
    finally:
        del task_queues[task_id]
# reference: end
