"""ns per event to encode typical events: sse-asgi vs fastapi.sse vs sse-starlette vs a floor.

Each cell is the whole per-event cost a user pays: building the event object
(where the library has one) and turning it into bytes, exactly as each
library's streaming path does it. The floor is hand-written formatting with
no event object and no checks: ``f"data: {orjson.dumps(x).decode()}\\n\\n"``
(for models, the model's own ``__pydantic_serializer__.to_json``).

Run: ``python benchmarks/encode.py`` (``--quick`` for a smoke run). Needs the
dev extra (``pip install -e ".[dev]"``) for the peers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_line, interleaved, pin_to_core, table, versions
from apps import Model

from sse_asgi import ServerSentEvent
from sse_asgi._item_encoder import item_encoder

SMALL = {"i": 1, "msg": "hello"}
MODEL = Model(id=1, name="Plumbus", price=32.99, in_stock=True, tags=["a", "b"], note=None)
RAW = "2025-01-01 INFO  Application started on port 8000"
RAW5 = "\n".join(f"2025-01-01 INFO  line {i} of a multi-line log record" for i in range(5))
EVENT, ID = "tick", "12345"

Row = dict[str, Callable[[], object]]


def floor_rows() -> dict[str, Row]:
    dumps, to_json = orjson.dumps, MODEL.__pydantic_serializer__.to_json

    def raw5(s: str) -> str:
        return "data: " + s.replace("\n", "\ndata: ")

    return {
        "small dict": {"floor": lambda: f"data: {dumps(SMALL).decode()}\n\n".encode()},
        "small dict + id/event": {
            "floor": lambda: f"event: {EVENT}\ndata: {dumps(SMALL).decode()}\nid: {ID}\n\n".encode()
        },
        "6-field model": {"floor": lambda: f"data: {to_json(MODEL).decode()}\n\n".encode()},
        "6-field model + id/event": {
            "floor": lambda: (
                f"event: {EVENT}\ndata: {to_json(MODEL).decode()}\nid: {ID}\n\n".encode()
            )
        },
        "raw string": {"floor": lambda: f"data: {RAW}\n\n".encode()},
        "raw string + id/event": {
            "floor": lambda: f"event: {EVENT}\ndata: {RAW}\nid: {ID}\n\n".encode()
        },
        "5-line raw string": {"floor": lambda: f"{raw5(RAW5)}\n\n".encode()},
        "5-line raw string + id/event": {
            "floor": lambda: f"event: {EVENT}\n{raw5(RAW5)}\nid: {ID}\n\n".encode()
        },
    }


def ours(rows: dict[str, Row]) -> None:
    """sse-asgi: plain items as EventSourceResponse encodes them, and event objects."""
    plain = item_encoder()  # what EventSourceResponse does with an untyped plain item
    typed = item_encoder(Model)  # ...and with item_type=Model (or `-> AsyncIterable[Model]`)
    name = "sse-asgi"
    rows["small dict"][name] = lambda: plain(SMALL)
    rows["6-field model"][name] = lambda: typed(MODEL)
    add_event_rows(rows, name, ServerSentEvent)


def add_event_rows(rows: dict[str, Row], name: str, sse: Callable[..., Any]) -> None:
    rows["small dict + id/event"][name] = lambda: sse(data=SMALL, event=EVENT, id=ID).encode()
    rows["6-field model + id/event"][name] = lambda: sse(data=MODEL, event=EVENT, id=ID).encode()
    rows["raw string"][name] = lambda: sse(raw_data=RAW).encode()
    rows["raw string + id/event"][name] = lambda: sse(raw_data=RAW, event=EVENT, id=ID).encode()
    rows["5-line raw string"][name] = lambda: sse(raw_data=RAW5).encode()
    rows["5-line raw string + id/event"][name] = lambda: sse(
        raw_data=RAW5, event=EVENT, id=ID
    ).encode()


def fastapi_rows(rows: dict[str, Row]) -> None:
    """fastapi.sse's per-item path (fastapi/routing.py, ``_serialize_sse_item``), step by step."""
    try:
        from fastapi.encoders import jsonable_encoder
        from fastapi.sse import ServerSentEvent as FSSE
        from fastapi.sse import format_sse_event
    except ImportError:
        return
    typed = TypeAdapter(Model)

    def plain_untyped(item: Any) -> bytes:  # no return annotation: jsonable_encoder + json
        return format_sse_event(data_str=json.dumps(jsonable_encoder(item)))

    def plain_typed(item: Any) -> bytes:  # `-> AsyncIterable[Model]`: validate + dump_json
        return format_sse_event(data_str=typed.dump_json(typed.validate_python(item)).decode())

    def event(ev: FSSE) -> bytes:
        if ev.raw_data is not None:
            data_str: str | None = ev.raw_data
        elif ev.data is not None:
            if hasattr(ev.data, "model_dump_json"):
                data_str = ev.data.model_dump_json()
            else:
                data_str = json.dumps(jsonable_encoder(ev.data))
        else:
            data_str = None
        return format_sse_event(
            data_str=data_str, event=ev.event, id=ev.id, retry=ev.retry, comment=ev.comment
        )

    name = "fastapi.sse"
    rows["small dict"][name] = lambda: plain_untyped(SMALL)
    rows["small dict + id/event"][name] = lambda: event(FSSE(data=SMALL, event=EVENT, id=ID))
    rows["6-field model"][name] = lambda: plain_typed(MODEL)
    rows["6-field model + id/event"][name] = lambda: event(FSSE(data=MODEL, event=EVENT, id=ID))
    rows["raw string"][name] = lambda: event(FSSE(raw_data=RAW))
    rows["raw string + id/event"][name] = lambda: event(FSSE(raw_data=RAW, event=EVENT, id=ID))
    rows["5-line raw string"][name] = lambda: event(FSSE(raw_data=RAW5))
    rows["5-line raw string + id/event"][name] = lambda: event(
        FSSE(raw_data=RAW5, event=EVENT, id=ID)
    )


def sse_starlette_rows(rows: dict[str, Row]) -> None:
    """sse-starlette's event classes, as its README uses them."""
    try:
        from sse_starlette import JSONServerSentEvent
        from sse_starlette import ServerSentEvent as SSSE
    except ImportError:
        return
    name = "sse-starlette"
    rows["small dict"][name] = lambda: JSONServerSentEvent(SMALL).encode()
    rows["small dict + id/event"][name] = lambda: JSONServerSentEvent(
        SMALL, event=EVENT, id=ID
    ).encode()
    rows["6-field model"][name] = lambda: SSSE(MODEL.model_dump_json()).encode()
    rows["6-field model + id/event"][name] = lambda: SSSE(
        MODEL.model_dump_json(), event=EVENT, id=ID
    ).encode()
    rows["raw string"][name] = lambda: SSSE(RAW).encode()
    rows["raw string + id/event"][name] = lambda: SSSE(RAW, event=EVENT, id=ID).encode()
    rows["5-line raw string"][name] = lambda: SSSE(RAW5).encode()
    rows["5-line raw string + id/event"][name] = lambda: SSSE(RAW5, event=EVENT, id=ID).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (smoke test)")
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    pin_to_core(0)
    rows = floor_rows()
    ours(rows)
    fastapi_rows(rows)
    sse_starlette_rows(rows)
    rounds, seconds = (1, 0.005) if args.quick else (args.rounds, 0.02)
    columns = ["floor", "sse-asgi", "fastapi.sse", "sse-starlette"]
    out = []
    for label, candidates in rows.items():
        # Best of many short interleaved rounds, as timeit advises: on a
        # shared 2-core VM noise only ever adds time, and it comes in bursts.
        result = interleaved(candidates, rounds=rounds, seconds=seconds, summary=min)
        cells: list[object] = [label]
        for column in columns:
            cells.append(f"{result[column]:,.0f}" if column in result else "—")
        ours_ns = result["sse-asgi"]
        cells.append(f"{ours_ns / result['floor']:.2f}x")
        peers = [result[c] for c in ("fastapi.sse", "sse-starlette") if c in result]
        cells.append(f"{min(peers) / ours_ns:.1f}x" if peers else "—")
        out.append(cells)
    print(f"# encode: ns per event (best of {rounds} interleaved rounds, one core)")
    print(versions("sse-asgi", "orjson", "pydantic", "fastapi", "sse-starlette"))
    print()
    print(
        table(
            [
                "event",
                *(f"{c} ns" for c in columns),
                "ours ÷ floor",
                "faster peer ÷ ours",
            ],
            out,
        )
    )
    print()
    print(f"command: {command_line()}")


if __name__ == "__main__":
    main()
