"""The client's body reader: content codings undone, a bounded piece at a time, without copies."""

from __future__ import annotations

import gzip
import tracemalloc

from sse_asgi.client._encoding import PIECE_SIZE, BodyDecoder


def read_all(body: BodyDecoder) -> list[bytes]:
    pieces = []
    while piece := body.read():
        pieces.append(piece)
    return pieces


def test_a_chunk_up_to_a_piece_comes_out_as_it_is() -> None:
    chunk = bytes(range(256)) * (PIECE_SIZE // 256)
    body = BodyDecoder()
    body.feed(chunk)
    [piece] = read_all(body)
    assert piece is chunk  # a network read (64 KiB at most) is never copied


def test_a_big_chunk_is_cut_into_pieces_in_order() -> None:
    chunk = bytes(range(256)) * (PIECE_SIZE // 256) * 3 + b"tail"
    body = BodyDecoder()
    body.feed(chunk)
    pieces = read_all(body)
    assert [len(p) for p in pieces] == [PIECE_SIZE] * 3 + [4]
    assert b"".join(pieces) == chunk


def test_what_is_fed_before_the_rest_is_read_follows_it() -> None:
    body = BodyDecoder()
    body.feed(b"a" * (PIECE_SIZE + 1))
    assert body.read() == b"a" * PIECE_SIZE
    body.feed(b"bc")
    assert read_all(body) == [b"abc"]


def test_a_big_chunk_is_read_without_copying_what_remains() -> None:
    # Cutting the rest off after each piece would copy it each time: time
    # growing with the square of the chunk, and twice its size at the peak.
    chunk = b"x" * (16 << 20)
    body = BodyDecoder()
    body.feed(chunk)
    tracemalloc.start()
    try:
        total = 0
        while piece := body.read():
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == len(chunk)
    assert peak < 4 * PIECE_SIZE


def test_a_compressed_body_comes_out_whole_in_bounded_pieces() -> None:
    content = b"data: x\n\n" * 50_000
    body = BodyDecoder(["gzip"])
    body.feed(gzip.compress(content))
    pieces = read_all(body)
    assert max(map(len, pieces)) == PIECE_SIZE
    assert b"".join(pieces) == content
