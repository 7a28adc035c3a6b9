# The compiled twin of sse_asgi/_event_py.py (sse_asgi/_speedups.c); mypy
# checks the package against this stub, and stubtest holds it to the module.
from typing import Any

from typing_extensions import disjoint_base

__all__ = ["ServerSentEvent", "rebuild"]

@disjoint_base  # a C layout: no class can inherit from it and another such class
class ServerSentEvent:
    """One event to send, validated and encoded when it is created (see sse_asgi._event_py)."""

    def __init__(
        self,
        *,
        data: Any = None,
        raw_data: str | None = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None: ...
    @property
    def data(self) -> Any: ...
    @property
    def raw_data(self) -> str | None: ...
    @property
    def event(self) -> str | None: ...
    @property
    def id(self) -> str | None: ...
    @property
    def retry(self) -> int | None: ...
    @property
    def comment(self) -> str | None: ...
    @property
    def _encoded(self) -> bytes: ...
    def encode(self) -> bytes: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, ...]: ...

def rebuild(
    encoded: bytes,
    data: Any,
    raw_data: str | None,
    event: str | None,
    id: str | None,
    retry: int | None,
    comment: str | None,
    /,
) -> ServerSentEvent: ...
