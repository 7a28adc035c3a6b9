"""Stream options: checked once, typed at every entry point, one frozen settings object."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

import pytest

from sse_asgi import EventSourceResponse, event_stream
from sse_asgi._options import DEFAULT_SETTINGS, StreamOptions, StreamSettings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("ping_interval", 0),
        ("ping_interval", -1),
        ("send_timeout", 0),
        ("first_event_grace", -0.1),
        ("coalesce", -1),
        ("ping_interval", "15"),
        ("ping_interval", float("nan")),
        ("first_event_grace", None),
    ],
)
def test_invalid_timing_options(option: str, value: Any) -> None:
    with pytest.raises((ValueError, TypeError), match=option):
        EventSourceResponse([], **{option: value})
    with pytest.raises((ValueError, TypeError), match=option):
        StreamSettings(**{option: value})


def test_event_stream_checks_its_options_the_same_way() -> None:
    with pytest.raises(ValueError, match="ping_interval"):
        event_stream([], ping_interval=0)


def test_the_keyword_options_are_the_settings_fields() -> None:
    """StreamOptions (what callers pass) and StreamSettings (what streams read) agree."""
    options = typing.get_type_hints(StreamOptions)
    fields = {
        field.name: hint
        for field in dataclasses.fields(StreamSettings)
        if field.init
        for name, hint in typing.get_type_hints(StreamSettings).items()
        if name == field.name
    }
    assert options == fields


def test_settings_are_frozen_and_derived_once() -> None:
    settings = StreamSettings(ping_comment="keepalive", item_type=list[int])
    assert settings.ping_bytes == b": keepalive\n\n"
    assert settings.encode_item(("1", 2)) == b"data: [1,2]\n\n"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.ping_interval = 1  # type: ignore[misc]


def test_streams_without_options_share_the_default_settings() -> None:
    assert EventSourceResponse([]).settings is DEFAULT_SETTINGS
    assert EventSourceResponse([], send_timeout=5).settings.send_timeout == 5


def test_no_entry_point_takes_untyped_options() -> None:
    """No ``**options: Any`` (or untyped ``**kwargs``) anywhere in the package, but the two
    FastAPI wrappers that pass FastAPI's own arguments through."""
    passthrough = {("fastapi.py", "__init__"), ("fastapi.py", "sse_endpoint")}
    untyped = []
    for path in (ROOT / "sse_asgi").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            kwarg = node.args.kwarg
            if kwarg is None or (path.name, node.name) in passthrough:
                continue
            annotation = ast.unparse(kwarg.annotation) if kwarg.annotation else "untyped"
            if annotation in ("untyped", "Any"):
                untyped.append(
                    f"{path.name}:{node.lineno} {node.name}(**{kwarg.arg}: {annotation})"
                )
    assert not untyped, untyped


@pytest.mark.timeout(300)
def test_every_entry_point_types_every_option(tmp_path: Path) -> None:
    """mypy rejects a wrongly typed option at each entry point (and accepts right ones)."""
    program = tmp_path / "entry_points.py"
    program.write_text(
        textwrap.dedent(
            """
            from sse_asgi import EventSourceResponse
            from sse_asgi.fastapi import EventSourceResponse as FastAPIResponse
            from sse_asgi.starlette import EventSourceResponse as StarletteResponse

            EventSourceResponse([], ping_interval=5, send_timeout=None, coalesce=0.01)
            StarletteResponse([], ping_interval=5, on_disconnect=lambda: None)
            StarletteResponse.with_options(first_event_grace=0, ping_comment="hi")
            FastAPIResponse.with_options(send_timeout=30.0)

            EventSourceResponse([], ping_interval="5")  # error 1
            StarletteResponse([], send_timeout="never")  # error 2
            StarletteResponse.with_options(coalesce=[0.01])  # error 3
            FastAPIResponse.with_options(ping_comment=1)  # error 4
            EventSourceResponse([], ping_intervall=5)  # error 5: no such option
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(program)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    lines = sorted({int(line.split(":")[1]) for line in errors})
    assert lines == [11, 12, 13, 14, 15], result.stdout
