"""Every SSE example of FastAPI's guide and of a Chinese tutorial, on fastapi.sse and on sse-asgi.

``tests/reference_examples/`` holds one file per distinct example of the two
reference texts (FastAPI's English guide and a Chinese tutorial, found in
a copy of which is kept in ``tests/reference_texts/``), copied
verbatim -- the Chinese code with the indentation its text dump lost restored.
Fragments get the minimum scaffolding around them; the copied part lies between
``# reference: begin`` and ``# reference: end`` lines, and
``test_reference_part_is_verbatim`` checks it against the reference text
(lines stripped, blank lines dropped, contiguous).

Each example runs in two variants made from the same file text:

- ``fastapi.sse``: the file as it is;
- ``sse_asgi``: the file after :func:`to_sse_asgi`, which only rewrites the
  ``from fastapi.sse import ...`` line into ``from sse_asgi.fastapi import
  ..., EventSourceRoute`` and adds ``app.router.route_class =
  EventSourceRoute`` after ``app = FastAPI()``.

Each variant is executed as a fresh module (unique name, in ``sys.modules``
while it runs) and driven in-process with :func:`sse_asgi.testing.connect` by
the example's scenario, which returns, for each request, the status, the
content type and the decoded events -- type, id, retry, and data (parsed JSON,
or the raw string when it is not JSON) -- plus the comment lines of the body.
``expected_events.json`` holds what ``fastapi.sse`` produces (regenerate it
with ``python -m tests.test_reference_examples`` on FastAPI >= 0.135); both
variants must produce exactly that. On a FastAPI without ``fastapi.sse``
(< 0.135) only the sse-asgi side runs.

Harness rules, applied identically to both variants (the example code itself
is never edited):

- Names some examples use but never define are injected into the module
  before it runs: ``get_data`` (an async function that yields to the event
  loop once and returns ``{"n": k}`` on its k-th call in that module) and
  ``asyncio`` (the AI-streaming example forgets ``import asyncio``).
- After the module ran, its ``asyncio`` global is replaced by a proxy of the
  asyncio module whose ``sleep(delay)`` is ``anyio.sleep(delay / 100)`` (the
  task-progress example would take 10 s; anyio's sleep also lets trio run
  the examples that only sleep), and a ``datetime`` global that is the
  ``datetime.datetime`` class by one whose ``now()`` is frozen at
  2025-01-01T12:00:00 (the notifications example puts it in its data).
- The ASGI scope says ``spec_version`` 2.3, as uvicorn's does. (Under 2.4
  Starlette's ``StreamingResponse``, which fastapi.sse uses, does not listen
  for ``http.disconnect`` and learns of a disconnect only from ``send``
  raising ``OSError``, which ``connect`` never does: fastapi.sse's infinite
  streams would not end when a scenario leaves them.)
- An exception the app raises after its client left is recorded, not
  raised (a server would only log it): sse-asgi must raise none; fastapi.sse
  (0.165) raises ``BrokenResourceError`` (in an exception group) when a client
  leaves a busy infinite stream (the ``get_data`` keep-alive example), and
  may leave the example's generator unclosed, which trio reports with a
  ``ResourceWarning`` when it is garbage-collected: the fastapi.sse test
  ignores that warning.
- Examples built on ``asyncio.Queue`` run on asyncio only (skipped on trio).
"""

from __future__ import annotations

import asyncio
import datetime
import difflib
import gc
import importlib.util
import itertools
import json
import os
import re
import sys
import types
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import anyio.lowlevel
import pytest
from typing_extensions import Self

from sse_asgi.testing import SSETestStream, connect

HERE = Path(__file__).resolve().parent
EXAMPLES_DIR = HERE / "reference_examples"
EXPECTED_FILE = EXAMPLES_DIR / "expected_events.json"
# The reference texts, as our users read them, live outside the repository
# (../shared/reference on the team's machines, or $SSE_ASGI_REFERENCE_DIR); a
# copy is kept here so that every machine -- CI's included -- checks the
# examples against the texts, and test_the_kept_reference_texts_are_current
# checks the copy against the originals wherever those are.
REFERENCE_DIR = HERE / "reference_texts"
ORIGINALS_DIR = Path(
    os.environ.get("SSE_ASGI_REFERENCE_DIR", HERE.parent.parent / "shared" / "reference")
)
if not ORIGINALS_DIR.is_dir() and "SSE_ASGI_REFERENCE_DIR" not in os.environ:
    ORIGINALS_DIR = Path("/work/shared/reference")
REFERENCE_FILES = {"en": "fastapi-sse-guide.en.txt", "zh": "fastapi-sse-tutorial.zh.txt"}
BEGIN, END = "# reference: begin", "# reference: end"

HAS_FASTAPI_SSE = importlib.util.find_spec("fastapi.sse") is not None
NO_FASTAPI_SSE = "fastapi.sse does not exist before FastAPI 0.135: only the sse-asgi side runs"

# Examples whose code needs an asyncio event loop (asyncio.Queue).
ASYNCIO_ONLY = {"zh_08_notifications", "zh_09_task_progress", "zh_14_connection_manager"}

FROZEN_NOW = datetime.datetime(2025, 1, 1, 12, 0, 0)
SLEEP_DIVISOR = 100
TIMEOUT = 10.0
# What trio says when an async generator is finalized without having been closed.
UNCLOSED_GENERATOR = "Async generator .* was garbage collected before it had been exhausted"

Record = dict[str, Any]
Results = dict[str, Record]
App = Callable[[Any, Any, Any], Awaitable[None]]


# -- the example files ----------------------------------------------------------


def example_names() -> list[str]:
    return sorted(path.stem for path in EXAMPLES_DIR.glob("*.py"))


def example_source(name: str) -> str:
    return (EXAMPLES_DIR / f"{name}.py").read_text(encoding="utf-8")


def reference_part(source: str) -> list[str]:
    """The lines between the markers (the markers must appear once each, in order)."""
    stripped = [line.strip() for line in source.splitlines()]
    assert stripped.count(BEGIN) == 1, f"need exactly one {BEGIN!r} line"
    assert stripped.count(END) == 1, f"need exactly one {END!r} line"
    start, end = stripped.index(BEGIN), stripped.index(END)
    assert start < end
    return source.splitlines()[start + 1 : end]


def normalise(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip()]


def occurs_contiguously(needle: list[str], haystack: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


IMPORT_LINE = re.compile(r"from fastapi\.sse import (?P<names>[\w ,]+)\n?")
APP_LINE = re.compile(r"app = FastAPI\(\)\n?")


def to_sse_asgi(source: str) -> str:
    """The sse-asgi variant: the import line rewritten, one enabling line added."""
    lines = source.splitlines(keepends=True)
    imports = [i for i, line in enumerate(lines) if IMPORT_LINE.fullmatch(line)]
    apps = [i for i, line in enumerate(lines) if APP_LINE.fullmatch(line)]
    assert len(imports) == 1, "need exactly one top-level 'from fastapi.sse import' line"
    assert len(apps) == 1, "need exactly one top-level 'app = FastAPI()' line"
    match = IMPORT_LINE.fullmatch(lines[imports[0]])
    assert match is not None
    names = match["names"].strip()
    lines[imports[0]] = f"from sse_asgi.fastapi import {names}, EventSourceRoute\n"
    lines.insert(apps[0] + 1, "app.router.route_class = EventSourceRoute\n")
    return "".join(lines)


# -- running one variant as a fresh module --------------------------------------


class ScaledAsyncio(types.ModuleType):
    """The asyncio module, with ``sleep`` 100 times shorter (and runnable on trio)."""

    def __init__(self) -> None:
        super().__init__("asyncio")

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float, result: Any = None) -> Any:
        await anyio.sleep(delay / SLEEP_DIVISOR)
        return result


class FrozenDatetime(datetime.datetime):
    """``datetime.datetime`` whose ``now()`` is always :data:`FROZEN_NOW`."""

    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> Self:
        return cls(*FROZEN_NOW.timetuple()[:6], tzinfo=tz)


def make_get_data() -> Callable[[], Awaitable[dict[str, int]]]:
    counter = itertools.count(1)

    async def get_data() -> dict[str, int]:
        await anyio.lowlevel.checkpoint()
        return {"n": next(counter)}

    return get_data


_module_numbers = itertools.count()


@contextmanager
def load(name: str, variant: str) -> Iterator[types.ModuleType]:
    """Execute one variant of an example as a fresh module, registered while in use."""
    source = example_source(name)
    if variant == "sse_asgi":
        source = to_sse_asgi(source)
    module_name = f"_reference_example_{name}_{variant}_{next(_module_numbers)}"
    module = types.ModuleType(module_name)
    module.__file__ = str(EXAMPLES_DIR / f"{name}.py")
    module.__dict__.update(get_data=make_get_data(), asyncio=asyncio)
    sys.modules[module_name] = module
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
        if module.__dict__.get("asyncio") is asyncio:
            module.__dict__["asyncio"] = ScaledAsyncio()
        if module.__dict__.get("datetime") is datetime.datetime:
            module.__dict__["datetime"] = FrozenDatetime
        yield module
    finally:
        del sys.modules[module_name]


class Harness:
    """One variant of one example, loaded, and the client side of its requests."""

    def __init__(self, module: types.ModuleType) -> None:
        self.m = module
        #: Exceptions the app raised after its client had left (see the module
        #: docstring), as reprs: holding them would keep their frames alive.
        self.late_errors: list[str] = []

    def app(self) -> App:
        """The app behind a scope with ``spec_version`` 2.3, as uvicorn's."""
        app: App = self.m.app

        async def wrapper(scope: Any, receive: Any, send: Any) -> None:
            scope = {**scope, "asgi": {**scope["asgi"], "spec_version": "2.3"}}
            client_left = False

            async def watched_receive() -> Any:
                nonlocal client_left
                message = await receive()
                client_left = message["type"] == "http.disconnect"
                return message

            try:
                await app(scope, watched_receive, send)
            except Exception as exc:
                if not client_left:
                    raise
                self.late_errors.append(repr(exc))  # what a server would only log

        return wrapper


# -- requests and their normalised records --------------------------------------


def normalise_data(data: str) -> dict[str, Any]:
    try:
        return {"json": json.loads(data)}
    except ValueError:
        return {"raw": data}


def record(stream: SSETestStream, events: list[Any], *, complete: bool | None = None) -> Record:
    text = stream.received.decode("utf-8")
    comments = [
        line[1:].removeprefix(" ") for line in re.split(r"\r\n|\r|\n", text) if line[:1] == ":"
    ]
    result: Record = {
        "status": stream.status,
        "content_type": stream.headers.get("content-type"),
        "events": [
            {"event": e.event, "id": e.id, "retry": e.retry, "data": normalise_data(e.data)}
            for e in events
        ],
        "comments": comments,
    }
    if complete is not None:
        result["complete"] = complete
    return result


@asynccontextmanager
async def request(h: Harness, path: str, **kwargs: Any) -> AsyncIterator[SSETestStream]:
    with anyio.fail_after(TIMEOUT):
        async with connect(h.app(), path, **kwargs) as stream:
            yield stream


async def read_all(h: Harness, path: str, **kwargs: Any) -> Record:
    """A finite stream (or a plain response), read to its end."""
    async with request(h, path, **kwargs) as stream:
        events = [event async for event in stream]
        await stream.wait_complete()
        return record(stream, events, complete=stream.complete)


async def read_some(h: Harness, path: str, count: int, **kwargs: Any) -> Record:
    """The first ``count`` events of an infinite stream; leaving disconnects."""
    async with request(h, path, **kwargs) as stream:
        events = await stream.events(count)
        return record(stream, events)


async def plain(h: Harness, path: str, **kwargs: Any) -> Record:
    """A non-SSE response: status and JSON body."""
    async with request(h, path, **kwargs) as stream:
        await stream.wait_complete()
        return {"status": stream.status, "json": json.loads(stream.received)}


async def wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(TIMEOUT):
        # Polls the example's own state: there is no event to wait on.
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.001)


# -- one scenario per example ---------------------------------------------------

Scenario = Callable[[Harness], Awaitable[Results]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        SCENARIOS[name] = function
        return function

    return register


def gets(*paths: str) -> Scenario:
    """A scenario reading each path's finite stream to its end."""

    async def run(h: Harness) -> Results:
        return {f"GET {path}": await read_all(h, path) for path in paths}

    return run


for _name, _paths in {
    "en_01_items": (
        "/items/stream",
        "/items/stream-no-async",
        "/items/stream-no-annotation",
        "/items/stream-no-async-no-annotation",
    ),
    "en_02_server_sent_event": ("/items/stream",),
    "en_03_raw_data": ("/logs/stream",),
    "zh_01_items": ("/items/stream",),
    "zh_02_server_sent_event": ("/items/stream",),
    "zh_03_raw_data": ("/logs/stream",),
    "zh_04_data_vs_raw_data": ("/data-vs-raw-data",),
    "zh_07_sync_generator": ("/items/stream",),
    "zh_12_comment": ("/comment",),
    "zh_13_error_event": ("/stream",),
    "zh_15_resource_limits": ("/stream",),
}.items():
    SCENARIOS[_name] = gets(*_paths)


@scenario("en_04_resume")
async def en_resume(h: Harness) -> Results:
    # The guide reads the header with Header(): its name is last-event-id.
    return {
        "GET /items/stream": await read_all(h, "/items/stream"),
        "GET /items/stream, Last-Event-ID: 0": await read_all(
            h, "/items/stream", last_event_id="0"
        ),
        "GET /items/stream, Last-Event-ID: 2": await read_all(
            h, "/items/stream", last_event_id="2"
        ),
        "GET /items/stream, Last-Event-ID: x": await read_all(
            h, "/items/stream", last_event_id="x"
        ),
    }


@scenario("zh_05_resume")
async def zh_resume(h: Harness) -> Results:
    # Header(alias="Last-Event-ID"); header names are case-insensitive.
    return {
        "GET /items/stream": await read_all(h, "/items/stream"),
        "GET /items/stream, Last-Event-ID: 96": await read_all(
            h, "/items/stream", last_event_id="96"
        ),
        "GET /items/stream, Last-Event-ID: 99": await read_all(
            h, "/items/stream", last_event_id="99"
        ),
        "GET /items/stream, Last-Event-ID: x": await read_all(
            h, "/items/stream", last_event_id="x"
        ),
    }


@scenario("en_05_post")
async def en_post(h: Harness) -> Results:
    return {
        "POST /chat/stream": await read_all(
            h, "/chat/stream", method="POST", json={"text": "Hello brave new world"}
        ),
        "POST /chat/stream, invalid body": await read_all(
            h, "/chat/stream", method="POST", json={"prompt": "no text"}
        ),
    }


@scenario("zh_06_post")
async def zh_post(h: Harness) -> Results:
    return {
        "POST /chat/stream": await read_all(
            h, "/chat/stream", method="POST", json={"text": '你好 世界 "quoted" 😀'}
        ),
    }


@scenario("zh_08_notifications")
async def zh_notifications(h: Harness) -> Results:
    results: Results = {}

    async def listen() -> None:
        results["GET /notifications/stream"] = await read_some(h, "/notifications/stream", 2)

    async with anyio.create_task_group() as tg:
        tg.start_soon(listen)
        await wait_until(lambda: len(h.m.active_connections) == 1)
        for message in ("hello", "系统维护通知"):
            path = f"/notifications?message={quote(message)}"
            results[f"POST {path}"] = await plain(h, path, method="POST")
    # The stream's `except asyncio.CancelledError` removed its queue.
    results["active connections after the client left"] = {"count": len(h.m.active_connections)}
    return results


@scenario("zh_09_task_progress")
async def zh_task_progress(h: Harness) -> Results:
    results: Results = {}
    async with request(h, "/tasks/start", method="POST") as started:
        await started.wait_complete()
        task_id = json.loads(started.received)["task_id"]
        assert str(uuid.UUID(task_id)) == task_id
        results["POST /tasks/start"] = {"status": started.status, "json": {"task_id": "<uuid>"}}
        # The background task runs while the client reads the progress.
        results["GET /tasks/<task_id>/progress"] = await read_all(h, f"/tasks/{task_id}/progress")
    results["task state after the stream"] = {
        "progress": h.m.task_progress[task_id],
        "queue deleted": task_id not in h.m.task_queues,
    }
    results["GET /tasks/unknown/progress"] = await read_all(h, "/tasks/unknown/progress")
    return results


@scenario("zh_10_ai_chat")
async def zh_ai_chat(h: Harness) -> Results:
    return {
        "POST /ai/chat/stream": await read_all(
            h, "/ai/chat/stream", method="POST", json={"message": "你好"}
        ),
    }


@scenario("zh_11_keepalive")
async def zh_keepalive(h: Harness) -> Results:
    return {"GET /stream (first 5 events)": await read_some(h, "/stream", 5)}


@scenario("zh_14_connection_manager")
async def zh_connection_manager(h: Harness) -> Results:
    results: Results = {}

    async def listen(channel: str, count: int) -> None:
        results[f"GET /stream/{channel}"] = await read_some(h, f"/stream/{channel}", count)

    def subscribers(channel: str) -> int:
        return len(h.m.manager.connections.get(channel, []))

    async with anyio.create_task_group() as tg:
        tg.start_soon(listen, "news", 2)
        tg.start_soon(listen, "sports", 1)
        await wait_until(lambda: subscribers("news") == 1 and subscribers("sports") == 1)
        await h.m.manager.broadcast("news", {"headline": "第一条"})
        await h.m.manager.broadcast("weather", {"nobody": "listens"})
        await h.m.manager.broadcast("sports", {"score": [1, 0]})
        await h.m.manager.broadcast("news", {"headline": "second", "n": 2})
    # The stream's `except asyncio.CancelledError` disconnected each queue.
    results["subscribers after the clients left"] = {
        "news": subscribers("news"),
        "sports": subscribers("sports"),
    }
    return results


async def run_example(name: str, variant: str, backend: str) -> tuple[Results, Harness]:
    if backend != "asyncio" and name in ASYNCIO_ONLY:
        pytest.skip("the example uses asyncio.Queue, which needs the asyncio event loop")
    with load(name, variant) as module:
        library = module.EventSourceResponse.__module__.partition(".")[0]
        assert library == {"sse_asgi": "sse_asgi", "fastapi_sse": "fastapi"}[variant]
        harness = Harness(module)
        return await SCENARIOS[name](harness), harness


def expected(name: str) -> Results:
    data: dict[str, Results] = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    return data[name]


# -- the tests ------------------------------------------------------------------

EXAMPLES = example_names()


def test_every_example_has_a_scenario_and_expected_events() -> None:
    assert len(EXAMPLES) == 20
    assert sorted(SCENARIOS) == EXAMPLES
    data = json.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    assert sorted(data) == EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_reference_part_is_verbatim(name: str) -> None:
    """The copy is the reference text's, checked against that text itself."""
    ours = normalise(reference_part(example_source(name)))
    assert ours, "empty reference part"
    path = REFERENCE_DIR / REFERENCE_FILES[name[:2]]
    reference = normalise(path.read_text(encoding="utf-8").splitlines())
    assert occurs_contiguously(ours, reference), f"{name} is not a verbatim part of {path.name}"


@pytest.mark.parametrize("file_name", sorted(REFERENCE_FILES.values()))
def test_the_kept_reference_texts_are_current(file_name: str) -> None:
    """The copy in tests/reference_texts/ is the original's, byte for byte, where the
    original is (the team's machines); elsewhere there is nothing to compare with."""
    original = ORIGINALS_DIR / file_name
    if not original.is_file():
        pytest.skip(f"no original reference text at {original} (set SSE_ASGI_REFERENCE_DIR)")
    assert (REFERENCE_DIR / file_name).read_bytes() == original.read_bytes(), (
        f"tests/reference_texts/{file_name} differs from {original}: copy it again"
    )


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_sse_asgi_variant_changes_only_the_import_and_adds_one_line(name: str) -> None:
    before = example_source(name).splitlines()
    after = to_sse_asgi(example_source(name)).splitlines()
    changes = [line for line in difflib.ndiff(before, after) if line[:2] in ("- ", "+ ")]
    assert len(changes) == 3, changes
    removed = [line[2:] for line in changes if line.startswith("- ")]
    added = [line[2:] for line in changes if line.startswith("+ ")]
    assert len(removed) == 1
    assert removed[0].startswith("from fastapi.sse import ")
    assert sorted(added) == sorted(
        [
            "app.router.route_class = EventSourceRoute",
            removed[0].replace("from fastapi.sse ", "from sse_asgi.fastapi ")
            + ", EventSourceRoute",
        ]
    )


@pytest.mark.anyio
@pytest.mark.parametrize("name", EXAMPLES)
async def test_sse_asgi_gives_the_expected_events(name: str, anyio_backend: str) -> None:
    ours, harness = await run_example(name, "sse_asgi", anyio_backend)
    assert ours == expected(name)
    assert harness.late_errors == []


@pytest.mark.anyio
@pytest.mark.skipif(not HAS_FASTAPI_SSE, reason=NO_FASTAPI_SSE)
@pytest.mark.filterwarnings(f"ignore:{UNCLOSED_GENERATOR}:ResourceWarning")
@pytest.mark.parametrize("name", EXAMPLES)
async def test_fastapi_sse_gives_the_expected_events_and_the_same_as_sse_asgi(
    name: str, anyio_backend: str
) -> None:
    theirs, their_harness = await run_example(name, "fastapi_sse", anyio_backend)
    if their_harness.late_errors:
        gc.collect()  # an unclosed generator is finalized while the filter is on
    ours, harness = await run_example(name, "sse_asgi", anyio_backend)
    assert harness.late_errors == []
    assert ours == theirs
    assert theirs == expected(name)


def dump(value: Any, depth: int = 0) -> str:
    """JSON with one event per line."""
    inner = " " * (depth + 1)
    if isinstance(value, dict) and value and not {"event", "data"} <= value.keys():
        items = [f"{inner}{dump(k)}: {dump(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [f"{inner}{dump(v, depth + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * depth + "]"
    return json.dumps(value, ensure_ascii=False)


async def generate() -> dict[str, Results]:
    return {name: (await run_example(name, "fastapi_sse", "asyncio"))[0] for name in EXAMPLES}


if __name__ == "__main__":
    # Regenerate expected_events.json (from fastapi.sse, FastAPI >= 0.135).
    if not HAS_FASTAPI_SSE:
        sys.exit(NO_FASTAPI_SSE)
    results = anyio.run(generate, backend="asyncio")
    EXPECTED_FILE.write_text(dump(results) + "\n", encoding="utf-8")
    print(f"wrote {EXPECTED_FILE}")
