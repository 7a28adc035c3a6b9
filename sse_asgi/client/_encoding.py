"""A response's content codings, undone a bounded piece at a time (RFC 9110 section 8.4).

httpx undoes ``Content-Encoding`` itself, but one network read at a time and
whole: a single read of a gzip body can expand a thousandfold, and stacked
codings (``Content-Encoding: gzip, gzip``) turn a few hundred bytes on the
wire into gigabytes in one call. The clients therefore read the raw body and
undo its codings here, where no call returns more than :data:`PIECE_SIZE`
bytes: memory stays bounded whatever a server sends, and a piece at a time
is decoded into events only as the previous ones are consumed.

Requests offer what can be undone this way (:data:`ACCEPT_ENCODING`); a
response using anything else (``br``, ``zstd``, an unknown name, more than
:data:`MAX_CODINGS` stacked) cannot be read.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

__all__ = ["ACCEPT_ENCODING", "MAX_CODINGS", "PIECE_SIZE", "BodyDecoder", "BodyHead", "codings"]

#: The ``Accept-Encoding`` every request sends: the codings zlib undoes with bounded output.
ACCEPT_ENCODING = b"gzip, deflate"

#: Bytes: the most any call of :meth:`BodyDecoder.read` returns.
PIECE_SIZE = 64 * 1024

#: Codings stacked on one body that are undone; each costs about 40 KiB of zlib state.
MAX_CODINGS = 2

# zlib's window bits: +16 reads a gzip wrapper, a negative value a raw deflate stream.
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16}


def codings(content_encoding: str | None) -> list[str] | None:
    """The codings to undo, in the order to undo them; ``None`` if one cannot be.

    Example:

    ```py
    from sse_asgi.client._encoding import codings

    print(codings(None), codings("identity"), codings("deflate, GZip"))
    #> [] [] ['gzip', 'deflate']
    print(codings("br"), codings("gzip, gzip, gzip"))
    #> None None
    ```
    """
    names = [name.strip(" \t").lower() for name in (content_encoding or "").split(",")]
    names = [name for name in names if name and name != "identity"]
    if len(names) > MAX_CODINGS or any(name not in (*_WBITS, "deflate") for name in names):
        return None
    return names[::-1]  # listed in the order they were applied


class BodyDecoder:
    r"""A body's raw bytes in, its content (codings undone) out, a bounded piece at a time.

    :meth:`feed` raw bytes once :meth:`read` returned ``b""``; :meth:`read`
    returns at most :data:`PIECE_SIZE` bytes, ``b""`` when it needs more
    input, and raises ``zlib.error`` on a corrupt body. Bytes after the end
    of a compressed stream are ignored.

    Example:

    ```py
    import gzip

    from sse_asgi.client._encoding import BodyDecoder

    body = BodyDecoder(["gzip"])
    body.feed(gzip.compress(b"data: x\n\n" * 10_000))
    print([len(body.read()) for _ in range(3)], body.read())
    #> [65536, 24464, 0] b''
    ```
    """

    __slots__ = ("_layers", "_pos", "_raw")

    def __init__(self, names: Sequence[str] = ()) -> None:
        # Raw bytes not read yet: _raw from _pos on. An offset, not a shorter
        # copy, so that a big chunk is cut into pieces in linear time.
        self._raw = b""
        self._pos = 0
        self._layers = [_Inflater(name) for name in names]

    def feed(self, data: bytes) -> None:
        """Add raw body bytes."""
        raw, pos = self._raw, self._pos
        self._raw = raw[pos:] + data if pos < len(raw) else data
        self._pos = 0

    def read(self) -> bytes:
        """The next piece of content (at most ``PIECE_SIZE`` bytes), or ``b""``: feed more."""
        return self._pull(len(self._layers))

    def _pull(self, level: int) -> bytes:
        if level == 0:
            raw, pos = self._raw, self._pos
            end = pos + PIECE_SIZE
            if end < len(raw):
                self._pos = end
                return raw[pos:end]
            self._raw, self._pos = b"", 0
            return raw[pos:]  # all of it (not a copy) when it was fed in one piece
        layer = self._layers[level - 1]
        while not (piece := layer.read()):
            more = self._pull(level - 1)
            if not more:
                return b""
            layer.tail += more
        return piece


class _Inflater:
    """One gzip or deflate coding undone, never more than ``PIECE_SIZE`` bytes per call."""

    __slots__ = ("_zlib", "tail")

    def __init__(self, name: str) -> None:
        self._zlib = zlib.decompressobj(_WBITS[name]) if name in _WBITS else None
        #: Input not consumed yet (zlib stops when a call's output reaches its bound).
        self.tail = b""

    def read(self) -> bytes:
        if self._zlib is None:
            # "deflate" means a zlib stream (RFC 9110 8.4.1.2), but some servers
            # send raw deflate: a zlib header's first two bytes are a multiple of 31.
            if len(self.tail) < 2:
                return b""
            header = self.tail[0] << 8 | self.tail[1]
            zlib_stream = self.tail[0] & 0x0F == 8 and header % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if zlib_stream else -zlib.MAX_WBITS)
        if self._zlib.eof:
            self.tail = b""
            return b""
        # Called with no input too: output held back by the bound comes out then.
        piece = self._zlib.decompress(self.tail, PIECE_SIZE)
        self.tail = self._zlib.unconsumed_tail
        return piece


class BodyHead:
    """The first ``limit`` bytes of a body's content, for an error message.

    :meth:`add` takes raw chunks until it returns ``True``: the limit is
    reached, or the coding is one that cannot be undone or the body is
    corrupt (then what was decoded is kept: the status is the error).

    Example:

    ```py
    from sse_asgi.client._encoding import BodyHead

    head = BodyHead("identity", limit=4)
    print(head.add(b"no"), head.add(b"t found"), head.body)
    #> False True b'not '
    ```
    """

    __slots__ = ("_body", "_decoder", "_limit")

    def __init__(self, content_encoding: str | None, *, limit: int) -> None:
        names = codings(content_encoding)
        self._decoder = None if names is None else BodyDecoder(names)
        self._body = bytearray()
        self._limit = limit

    def add(self, chunk: bytes) -> bool:
        """Add a raw chunk of the body; ``True``: read no more."""
        if self._decoder is None:
            return True
        self._decoder.feed(chunk)
        try:
            while len(self._body) < self._limit and (piece := self._decoder.read()):
                self._body += piece
        except zlib.error:
            self._decoder = None
            return True
        return len(self._body) >= self._limit

    @property
    def body(self) -> bytes:
        """The content so far, at most ``limit`` bytes."""
        return bytes(self._body[: self._limit])
