"""The wire-format encoder: the frame layout's one owner, byte for byte."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sse_asgi import EventDecoder, ServerSentEvent
from sse_asgi._encoder import (
    comment_lines,
    data_event,
    data_lines,
    event_frame,
    frame_with_id,
    text_event,
)

PACKAGE = Path(__file__).resolve().parent.parent / "sse_asgi"


def test_line_helpers() -> None:
    assert data_lines("a\r\nb\rc") == "data: a\ndata: b\ndata: c\n"
    assert comment_lines("x\ny") == ": x\n: y\n"


def test_a_frame_has_fastapi_sses_field_order() -> None:
    frame = event_frame("c", "tick", b'{"n":1}', None, "7", 1000)
    assert frame == b': c\nevent: tick\ndata: {"n":1}\nid: 7\nretry: 1000\n\n'


def test_raw_data_and_comments_get_a_line_per_line() -> None:
    assert event_frame("a\nb", None, None, "x\r\ny", None, None) == (
        b": a\n: b\ndata: x\ndata: y\n\n"
    )


def test_a_frame_without_fields_is_a_blank_line() -> None:
    assert event_frame(None, None, None, None, None, None) == b"\n"


def test_plain_items_and_serializer_output() -> None:
    assert data_event(b"[1,2]") == b"data: [1,2]\n\n"
    assert text_event('{\n  "a": 1\n}') == b'data: {\ndata:   "a": 1\ndata: }\n\n'


def test_an_id_goes_after_the_data_and_before_retry() -> None:
    assert frame_with_id(b"data: 1\n\n", "7", None) == b"data: 1\nid: 7\n\n"
    assert frame_with_id(b"data: 1\nretry: 5\n\n", "7", 5) == b"data: 1\nid: 7\nretry: 5\n\n"


one_line = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\0"), max_size=12
)
any_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


@given(
    comment=st.none() | any_text,
    event=st.none() | one_line,
    data=st.none() | st.integers() | one_line,
    raw_data=st.none() | any_text,
    retry=st.none() | st.integers(min_value=0, max_value=10**9),
    id=one_line,
)
def test_stamping_an_id_is_building_the_event_with_it(
    comment: str | None,
    event: str | None,
    data: object,
    raw_data: str | None,
    retry: int | None,
    id: str,
) -> None:
    if data is not None:
        raw_data = None
    fields = {"comment": comment, "event": event, "data": data, "raw_data": raw_data}
    without_id = ServerSentEvent(**fields, retry=retry)  # type: ignore[arg-type]
    stamped = frame_with_id(without_id.encode(), id, retry)
    assert stamped == ServerSentEvent(**fields, retry=retry, id=id).encode()  # type: ignore[arg-type]
    assert EventDecoder().feed(stamped + b"data: next\n\n")[-1].id == id


# What a frame looks like from outside: a field name (or a comment's colon) at
# the start of a line of a bytes literal, or a blank line inside one; in a str
# literal (not a docstring: prose has blank lines and "id: ..."), a field name
# at the start of a line or a comment line ending in a line break.
FRAME_BYTES = re.compile(rb"^(data|event|id|retry):|^: |\n\n", re.MULTILINE)
FRAME_STR = re.compile(r"^(data|event|id|retry):|^:[^\n]*\n", re.MULTILINE)


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring constants in ``tree``."""
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, owners)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _looks_like_frame(value: object) -> bool:
    if isinstance(value, bytes):
        return FRAME_BYTES.search(value) is not None
    return isinstance(value, str) and FRAME_STR.search(value) is not None


@pytest.mark.parametrize(
    ("constant", "frame"),
    [
        (b"x\ndata: y", True),
        (b"x\nid: 1\n", True),
        (b": ping", True),
        (b"a\n\nb", True),
        ("x\ndata: y", True),
        (": ping\n\n", True),
        ("retry: 5\n", True),
        (": ", False),  # a message's separator
        ("a\n\nb", False),  # prose, a script
        (b"data", False),
    ],
)
def test_the_frame_patterns(constant: str | bytes, frame: bool) -> None:
    assert _looks_like_frame(constant) is frame


def test_no_other_module_writes_or_reads_frame_bytes() -> None:
    """The encoder writes frames and the decoder reads them; no other module holds frame bytes."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("_encoder.py", "_decoder.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or id(node) in docstrings:
                continue
            if _looks_like_frame(node.value):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    assert not found, found
