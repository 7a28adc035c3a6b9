"""Every example of the README's "Consuming streams" section, run against the scenario server.

The examples read ``http://127.0.0.1:8000/ticks``; here that URL is the
``resume`` scenario (four events over three connections, then a 204).
"""

from __future__ import annotations

import io
import re
import shlex
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from sse_asgi.__main__ import main
from sse_asgi.testing import connect

from .client_app import requests_seen, serve
from .servers import ROOT, RunningServer

EXAMPLE_URL = "http://127.0.0.1:8000/ticks"


def section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## Consuming streams\n")
    return readme[start : readme.index("\n## ", start + 1)]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), flags=re.DOTALL)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(tmp_path_factory.mktemp("readme-uvicorn")) as running:
        yield running


def scenario(server: RunningServer, code: str) -> tuple[str, str]:
    key = uuid.uuid4().hex
    return code.replace(EXAMPLE_URL, f"{server.url}/scenario/resume?key={key}"), key


def test_the_section_has_its_examples() -> None:
    assert len(blocks("python")) == 4
    assert (
        sum(
            line.startswith("python -m sse_asgi") for b in blocks("bash") for line in b.splitlines()
        )
        == 3
    )


@pytest.mark.parametrize("index", range(4))
def test_python_example(
    server: RunningServer, capsys: pytest.CaptureFixture[str], index: int
) -> None:
    code, key = scenario(server, blocks("python")[index])
    assert EXAMPLE_URL not in code
    namespace: dict[str, Any] = {}
    if "async def relay" in code:
        exec(code, namespace)

        async def browse() -> list[str]:
            async with connect(namespace["relay"], "/") as stream:
                return [f"{e.event} {e.id} {e.data}" async for e in stream]

        printed = "\n".join(anyio.run(browse)) + "\n"
    else:
        if "\nasync with" in code:  # top-level await: run it in a coroutine
            code = "async def _example():\n" + textwrap.indent(code, "    ")
            exec(code, namespace)
            anyio.run(namespace["_example"])
        else:
            exec(code, namespace)
        printed = capsys.readouterr().out
    if 'method="POST"' in code:
        assert printed == "one\ntwo\n"  # a POST stream ends with its body
        assert [r["body"] for r in requests_seen(server, key)] == ['{"model":"...","stream":true}']
        return
    assert printed == "message 1 one\nupdate 2 two\nmessage 2 three\nmessage 3 four\nlines\n"
    assert len(requests_seen(server, key)) == 3


def test_command_line_examples(server: RunningServer) -> None:
    lines = [
        line for b in blocks("bash") for line in b.splitlines() if line.startswith("python -m")
    ]
    for line in lines:
        command, _ = scenario(server, line)
        out = io.StringIO()
        assert main(shlex.split(command)[3:], stdout=out) == 0
        assert "one" in out.getvalue()
