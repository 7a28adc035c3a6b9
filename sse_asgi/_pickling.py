"""What unpickling an event calls: :func:`restore`, which builds the twin this process runs.

Both twins' ``__reduce__`` name :func:`restore` (``sse_asgi._event_py`` and
``sse_asgi._speedups``), so an event pickled in a process with the C
extension loads in one without it, and the other way round. Which twin it
builds is ``sse_asgi._event``'s choice, handed down here by
:func:`unpickle_as` when it chooses -- before any event can be unpickled,
since every import of a twin goes through the package, which imports
``sse_asgi._event`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["restore", "unpickle_as"]

# The chosen twin's rebuild(encoded, data, raw_data, event, id, retry, comment).
_rebuild: Callable[..., Any] | None = None


def unpickle_as(rebuild: Callable[..., Any]) -> None:
    """Make :func:`restore` build events with ``rebuild``, the chosen twin's."""
    global _rebuild
    _rebuild = rebuild


def restore(
    encoded: bytes,
    data: Any,
    raw_data: str | None,
    event: str | None,
    id: str | None,
    retry: int | None,
    comment: str | None,
    /,
) -> Any:
    r"""What unpickling an event calls: the event, as the twin that runs here.

    Both twins' ``__reduce__`` name this function, so an event pickled in a
    process with the C extension loads in one without it, and the other way
    round.

    Example:

    ```py
    import pickle

    from sse_asgi import ServerSentEvent

    print(pickle.loads(pickle.dumps(ServerSentEvent(data=1))).encode())
    #> b'data: 1\n\n'
    ```
    """
    assert _rebuild is not None, "sse_asgi._event chooses the twin first"
    return _rebuild(encoded, data, raw_data, event, id, retry, comment)
