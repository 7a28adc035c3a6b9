"""The C twin (sse_asgi/_speedups.c) against the pure-Python one (sse_asgi/_event_py.py).

The C type defers every unusual call to the Python class, so the two must
agree on everything: bytes, fields, repr, and the exact exception for any
input. Hypothesis compares them on random keyword arguments; the rest checks
what only C can get wrong (reference counts, the cycle collector, pickling,
subclasses, module state), that the stub matches the compiled module, and
CI runs the whole suite once more with SSE_ASGI_NO_EXTENSIONS=1.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import gc
import importlib
import importlib.util
import inspect
import os
import pickle
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import sse_asgi
from sse_asgi import _event, _event_py
from sse_asgi._event import event_with_id, rebuild
from sse_asgi._event_py import ServerSentEvent as PyServerSentEvent
from sse_asgi._item_encoder import encode_item

from .conftest import require_component

FIELDS = ("data", "raw_data", "event", "id", "retry", "comment")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _speedups_built() -> None:
    if not _event.SPEEDUPS:
        require_component(
            "sse_asgi._speedups (the C extension)",
            "built without a C compiler, or SSE_ASGI_NO_EXTENSIONS is set; the Python class runs",
        )


CSSE: Any = sse_asgi.ServerSentEvent


class Text(str):
    """A str subclass: both implementations store its plain text."""


class Level(enum.IntEnum):
    SLOW = 3000


class Item(BaseModel):
    name: str
    alias_me: int = Field(default=1, alias="aliasMe")


# Characters that matter to the framing and to UTF-8, plus ordinary text.
special = st.sampled_from(
    ["\n", "\r", "\r\n", "\0", " ", ":", "\u2028", "\x85", "\v", "é", "\ud800"]
)
texts = st.lists(st.one_of(special, st.text(max_size=5)), max_size=6).map("".join)
strings = st.one_of(texts, texts.map(Text), st.integers(), st.binary(max_size=3))
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=2**64),
        st.floats(),
        texts,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(texts, inner, max_size=3),
        st.dictionaries(st.integers(), inner, max_size=2),
    ),
    max_leaves=8,
)
data_values = st.one_of(
    json_values,
    st.builds(Item, name=texts),
    st.sampled_from(
        [
            datetime.date(2025, 1, 2),
            decimal.Decimal("1.5"),
            {1, 2},
            Level.SLOW,
            object(),
            b"bytes",
            [object()],
            float("nan"),
        ]
    ),
)
retries = st.one_of(
    st.integers(min_value=-5, max_value=2**70),
    st.booleans(),
    st.just(Level.SLOW),
    st.floats(),
    texts,
)
field_values = {
    "data": data_values,
    "raw_data": strings,
    "event": strings,
    "id": strings,
    "retry": retries,
    "comment": strings,
}
kwargs_strategy = st.fixed_dictionaries(
    {}, optional={name: st.one_of(st.none(), values) for name, values in field_values.items()}
)


def outcome(cls: Any, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """Everything observable about one call: the event, or the exact exception."""
    try:
        event = cls(*args, **kwargs)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    # data is the caller's own object (identity); the other fields are
    # normalized copies (a str subclass becomes str, an IntEnum an int).
    fields = tuple((type(getattr(event, f)), getattr(event, f)) for f in FIELDS[1:])
    return ("built", event.encode(), repr(event), event.data is kwargs.get("data"), fields)


@given(kwargs_strategy)
@example({"data": {"a": 1}, "raw_data": "x"})
@example({"retry": True})
@example({"retry": -1})
@example({"retry": 2**63})
@example({"id": "a\0b"})
@example({"event": "a\r\nb"})
@example({"raw_data": "\ud800"})
@example({"comment": "a\r\n\rb\n"})
@example({"data": Item(name="x")})
@example({"data": object(), "event": "bad\n"})
def test_same_outcome_as_the_python_class(kwargs: dict[str, Any]) -> None:
    assert outcome(CSSE, **kwargs) == outcome(PyServerSentEvent, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("positional",), {}),
        ((), {"unknown": 1}),
        ((), {"data": 1, "Data": 2}),
    ],
)
def test_bad_calls_raise_what_the_python_class_raises(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    expected = outcome(PyServerSentEvent, *args, **kwargs)
    assert expected[0] == "raised"
    assert outcome(CSSE, *args, **kwargs) == expected


def test_the_public_class_is_the_c_type_with_the_python_docs() -> None:
    assert CSSE is not PyServerSentEvent
    assert CSSE.__doc__ == PyServerSentEvent.__doc__
    # The same parameters (a C type's text signature carries no annotations).
    expected = inspect.signature(PyServerSentEvent).replace(
        return_annotation=inspect.Signature.empty
    )
    expected = expected.replace(
        parameters=[p.replace(annotation=p.empty) for p in expected.parameters.values()]
    )
    assert inspect.signature(CSSE) == expected
    assert CSSE.__name__ == PyServerSentEvent.__name__


@pytest.mark.parametrize("cls", [CSSE, PyServerSentEvent], ids=["C", "Python"])
def test_each_class_names_its_own_module(cls: Any) -> None:
    # What a traceback, a repr of the class and pickle's lookup by name see.
    assert cls.__qualname__ == "ServerSentEvent"
    assert getattr(importlib.import_module(cls.__module__), cls.__qualname__) is cls
    assert CSSE.__module__ == "sse_asgi._speedups"


def test_the_twins_have_the_same_public_names() -> None:
    from sse_asgi import _speedups

    assert _speedups.__all__ == _event_py.__all__ == ["ServerSentEvent", "rebuild"]

    def public(cls: Any) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    assert public(CSSE) == public(PyServerSentEvent)


def test_the_stub_matches_the_compiled_module() -> None:
    # mypy checks sse_asgi against sse_asgi/_speedups.pyi: stubtest holds
    # that stub to what the compiled module really has.
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "sse_asgi._speedups"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_import_of_the_module_has_its_own_state() -> None:
    # Multi-phase initialization (PEP 489): executing the extension again
    # makes a new module with its own type and state, not the cached one.
    spec = importlib.util.find_spec("sse_asgi._speedups")
    assert spec is not None
    assert spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    assert fresh.ServerSentEvent is not CSSE
    event = fresh.ServerSentEvent(data={"a": 1}, event="e")
    assert event.encode() == CSSE(data={"a": 1}, event="e").encode()
    assert type(fresh.rebuild(b"data: 1\n\n", 1, None, None, None, None, None)) is (
        fresh.ServerSentEvent
    )
    with pytest.raises(sse_asgi.InvalidEventError):
        fresh.ServerSentEvent(id="a\nb")
    del fresh, event
    gc.collect()


def test_init_cannot_change_a_built_event() -> None:
    # Immutable, so that no thread can see an event change under it.
    event = CSSE(data=1)
    with pytest.raises(TypeError, match="immutable"):
        event.__init__(data=2)
    assert event.encode() == b"data: 1\n\n"
    empty = CSSE.__new__(CSSE)
    empty.__init__(raw_data="x")  # the one __init__ of an event made by __new__
    assert empty.encode() == b"data: x\n\n"
    with pytest.raises(TypeError, match="immutable"):
        empty.__init__(raw_data="y")


def test_pickle_and_copy_round_trip() -> None:
    event = CSSE(data={"a": [1, 2]}, event="tick", id="7", retry=10, comment="c")
    for clone in (pickle.loads(pickle.dumps(event)), copy.copy(event), copy.deepcopy(event)):
        assert type(clone) is CSSE
        assert clone == event
        assert clone.encode() == event.encode()
    # Unpickling gives whichever implementation is running.
    py = PyServerSentEvent(raw_data="a\nb", id="1")
    clone = pickle.loads(pickle.dumps(py))
    assert type(clone) is CSSE
    assert clone.encode() == py.encode()
    assert clone == CSSE(raw_data="a\nb", id="1")


def test_a_pickle_loads_where_the_extension_is_off() -> None:
    pickled = pickle.dumps(CSSE(data={"a": 1}, event="e", id="1"))
    code = (
        "import pickle, sys\n"
        "from sse_asgi import _event, _event_py\n"
        "event = pickle.loads(sys.stdin.buffer.read())\n"
        "assert not _event.SPEEDUPS and type(event) is _event_py.ServerSentEvent\n"
        "sys.stdout.buffer.write(event.encode())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=pickled,
        env={**os.environ, "SSE_ASGI_NO_EXTENSIONS": "1"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert result.stdout == b'event: e\ndata: {"a":1}\nid: 1\n\n'


def test_rebuilt_events_are_the_c_type() -> None:
    event = CSSE(data=1, retry=5)
    assert type(event_with_id(event, "9")) is CSSE
    assert event_with_id(event, "9").encode() == b"data: 1\nid: 9\nretry: 5\n\n"
    assert type(rebuild(b"data: 1\n\n", 1, None, None, None, None, None)) is CSSE


def test_subclasses_work() -> None:
    class Tagged(CSSE):  # type: ignore[misc]
        def tag(self) -> str:
            return f"<{self.event}>"

    event = Tagged(raw_data="x", event="e")
    assert isinstance(event, CSSE)
    assert event.tag() == "<e>"
    assert event.encode() == b"event: e\ndata: x\n\n"
    assert encode_item(event) == event.encode()
    event.note = "instances of subclasses have a __dict__"
    with pytest.raises(sse_asgi.InvalidEventError):
        Tagged(event="a\nb")


def test_fields_are_read_only() -> None:
    event = CSSE(data=1)
    for name in (*FIELDS, "_encoded"):
        with pytest.raises(AttributeError):
            setattr(event, name, 2)


def test_a_cycle_through_data_is_collected() -> None:
    class Payload(dict[str, Any]):
        pass

    payload = Payload(a=1)
    event = CSSE(data=payload)
    payload["event"] = event  # data -> event -> data
    ref = weakref.ref(payload)
    del payload, event
    gc.collect()
    assert ref() is None


def test_only_events_with_data_are_tracked_by_the_collector() -> None:
    # Without data every field is a str, int or bytes: no cycle is possible.
    assert not gc.is_tracked(CSSE(raw_data="x", event="e", id="1", retry=1, comment="c"))
    assert gc.is_tracked(CSSE(data={"a": 1}))


def test_no_reference_leaks() -> None:
    values = {
        "data": {"a": 1},
        "raw_data": "line one\r\nline two",
        "event": "tick",
        "id": "12345",
        "retry": 10**30,  # not cached by CPython, goes to the Python class
        "comment": "c",
    }
    model = Item(name="m")
    bad = "bad\nevent"

    def build_all() -> None:
        CSSE(**{name: value for name, value in values.items() if name != "data"})
        CSSE(data=values["data"], event=values["event"], id=values["id"], retry=3)
        with pytest.raises(sse_asgi.InvalidEventError):
            CSSE(**values)  # data and raw_data
        CSSE(data=model)
        pickle.loads(pickle.dumps(CSSE(raw_data=values["raw_data"])))
        with pytest.raises(sse_asgi.InvalidEventError):
            CSSE(event=bad)

    build_all()  # warm caches
    before = {name: sys.getrefcount(value) for name, value in values.items()}
    before["model"], before["bad"] = sys.getrefcount(model), sys.getrefcount(bad)
    for _ in range(1000):
        build_all()
    gc.collect()
    after = {name: sys.getrefcount(value) for name, value in values.items()}
    after["model"], after["bad"] = sys.getrefcount(model), sys.getrefcount(bad)
    assert after == before


def test_subclasses_with_their_own_init() -> None:
    class Named(CSSE):  # type: ignore[misc]
        def __init__(self, message: str) -> None:
            super().__init__(data=message, event="named")

    class Defaulted(CSSE):  # type: ignore[misc]
        def __init__(self, **fields: Any) -> None:
            fields.setdefault("event", "default")
            super().__init__(**fields)

    assert Named("hi").encode() == b'event: named\ndata: "hi"\n\n'
    assert Defaulted(data=1).encode() == b"event: default\ndata: 1\n\n"
    assert Defaulted(data=1, event="x").event == "x"
    with pytest.raises(sse_asgi.InvalidEventError, match="event"):
        Defaulted(event="a\nb")


def test_reloading_the_selector_keeps_the_speedups() -> None:
    reloaded = importlib.reload(_event)
    assert reloaded.SPEEDUPS
    assert reloaded.ServerSentEvent is CSSE  # the extension module itself is not re-run
    assert CSSE(data={"a": 1}, event="e").encode() == b'event: e\ndata: {"a":1}\n\n'
    with pytest.raises(sse_asgi.InvalidEventError):
        CSSE(id="a\0b")


def test_freeing_a_long_chain_of_events_does_not_overflow_the_stack() -> None:
    # Each event the data of the next (say, stored events nesting their
    # payloads): freeing the head frees them all, one inside the other.
    code = (
        "from sse_asgi._event import SPEEDUPS, rebuild\n"
        "assert SPEEDUPS\n"
        "head = None\n"
        "for _ in range(1_000_000):\n"
        "    head = rebuild(b'data: 1\\n\\n', head, None, None, None, None, None)\n"
        "del head\n"
        "print('freed')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "freed"


class _CountingSerializer:
    """A hand-made ``__pydantic_serializer__``: counts calls, may fail or return a bytearray."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def to_json(self, value: Any, **options: Any) -> Any:
        self.calls += 1
        outcome = self.outcomes[min(self.calls, len(self.outcomes)) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.mark.parametrize(
    "outcomes",
    [
        (b'"ok"',),
        (bytearray(b'"bytes-like"'),),
        (KeyboardInterrupt(), b'"never"'),
        (RuntimeError("custom"), b'"never"'),
    ],
    ids=["bytes", "bytearray", "interrupt", "error"],
)
def test_model_serializers_are_called_as_the_python_class_calls_them(
    outcomes: tuple[Any, ...],
) -> None:
    results = []
    for cls in (PyServerSentEvent, CSSE):
        serializer = _CountingSerializer(*outcomes)
        payload = type("Payload", (), {"__pydantic_serializer__": serializer})()
        try:
            result: Any = cls(data=payload, event="e").encode()
        except BaseException as exc:  # KeyboardInterrupt must come through as is
            result = (type(exc), str(exc))
        results.append((result, serializer.calls))
    assert results[0] == results[1]


def test_non_ascii_text_is_not_given_a_cached_utf8_copy() -> None:
    # An event keeps its strings: a cached UTF-8 copy inside each would
    # double what a broadcast's history holds.
    text = "é" * 1000
    size = sys.getsizeof(text)
    CSSE(raw_data=text, event=text[:10], id=text[:5], comment=text)
    assert sys.getsizeof(text) == size


def test_a_cycle_through_a_stored_event_without_data_is_collected() -> None:
    box: list[Any] = []
    event = rebuild(b"data: x\n\n", None, box, None, None, None, None)  # type: ignore[arg-type]
    box.append(event)  # box -> event -> box
    assert gc.is_tracked(event)
    marker = _Marker()  # lists cannot be weakly referenced; this rides along
    box.append(marker)
    marker_ref = weakref.ref(marker)
    del box, event, marker
    gc.collect()
    assert marker_ref() is None


class _Marker:
    pass
