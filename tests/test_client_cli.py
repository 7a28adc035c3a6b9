"""``python -m sse_asgi URL`` against the scenario server: in-process, and as a real process."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sse_asgi.__main__ import main

from .client_app import SCENARIOS, last_event_ids, requests_seen, scenario_url, serve
from .servers import ROOT, RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serve(tmp_path_factory.mktemp("cli-uvicorn")) as running:
        yield running


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), stdout=out)
    return status, out.getvalue()


def test_prints_each_event_and_reconnects(server: RunningServer) -> None:
    url, key = scenario_url(server, "resume")
    assert run(url) == (
        0,
        "message [1]: one\nupdate [2]: two\nmessage [2]: three\nmessage [3]: four\n  lines\n",
    )
    assert last_event_ids(server, key) == [None, "2", "3"]  # the 204 ended it: exit 0


def test_json_prints_one_object_per_line(server: RunningServer) -> None:
    url, _ = scenario_url(server, "resume")
    status, out = run(url, "--json", "--max-events", "2")
    assert status == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"event": "message", "data": "one", "id": "1", "retry": 20},
        {"event": "update", "data": "two", "id": "2", "retry": None},
    ]


def test_raw_prints_the_bytes_as_received(server: RunningServer) -> None:
    url, _ = scenario_url(server, "wire")
    status, out = run(url, "--raw")
    sent = b"".join(p for p in SCENARIOS["wire"].steps[0].parts if isinstance(p, bytes))
    assert (status, out) == (0, sent.decode())


def test_request_options(server: RunningServer) -> None:
    url, key = scenario_url(server, "resume")
    status, out = run(
        url, "--data", '{"q": 1}', "-H", "Accept: text/event-stream, application/json",
        "--last-event-id", "0",
    )  # fmt: skip
    assert status == 0
    assert out == "message [1]: one\nupdate [2]: two\n"  # a POST is not reconnected
    [request] = requests_seen(server, key)
    assert (request["method"], request["body"], request["last_event_id"]) == (
        "POST",
        '{"q": 1}',
        "0",
    )
    assert request["accept"] == "text/event-stream, application/json"

    url, key = scenario_url(server, "resume")
    assert run(url, "-X", "POST", "--reconnect", "--max-events", "3")[0] == 0
    assert [r["method"] for r in requests_seen(server, key)] == ["POST", "POST"]

    url, key = scenario_url(server, "resume")
    assert run(url, "--no-reconnect")[1].count("\n") == 2
    assert len(requests_seen(server, key)) == 1


def test_204_exits_0_silently(server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = scenario_url(server, "immediate_204")
    assert run(url) == (0, "")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("status_500", "EventSourceError: HTTP 500 Internal Server Error from http://"),
        ("text_plain", "EventSourceError: HTTP 200 with Content-Type 'text/plain', not text/"),
    ],
)
def test_a_failure_exits_1_with_one_line(
    server: RunningServer, capsys: pytest.CaptureFixture[str], scenario: str, reason: str
) -> None:
    url, _ = scenario_url(server, scenario)
    assert run(url) == (1, "")
    err = capsys.readouterr().err
    assert err.startswith(f"sse_asgi: {reason}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [["-H", "no colon"], ["--max-events", "0"], ["--retry", "-1"], ["--json", "--raw"]],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["http://127.0.0.1:1/", *argv])
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def command(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sse_asgi", url, *args],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_ctrl_c_exits_0(server: RunningServer) -> None:
    url, _ = scenario_url(server, "endless")
    process = command(url)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "message [1]: one\n"  # it is reading
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert (process.returncode, err) == (0, "")
    assert "Traceback" not in out


def test_a_real_process_fails_with_one_line(server: RunningServer) -> None:
    url, _ = scenario_url(server, "status_500")
    process = command(url)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert out == ""
    assert err.startswith("sse_asgi: EventSourceError: HTTP 500")
    assert err.count("\n") == 1


def test_without_httpx_it_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "from sse_asgi.__main__ import main\n"
        "sys.exit(main(['http://127.0.0.1:1/']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "pip install 'sse-asgi[client]'" in result.stderr
