"""A stream's options: typed keyword arguments in, one frozen, checked settings object out.

:class:`StreamOptions` is the type of the options every entry point takes as
keyword arguments (``EventSourceResponse(content, **options)``, the Starlette
and FastAPI classes and their ``with_options()``); :class:`StreamSettings`
is what they become, checked once: the one object the send loop, its timing
policy and ``event_stream()`` read. The test suite holds the two field lists
to each other.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ._event import ServerSentEvent
from ._item_encoder import item_encoder

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pydantic depends on typing_extensions, so it is always there
    from typing_extensions import Unpack

__all__ = ["DEFAULT_SETTINGS", "StreamOptions", "StreamSettings", "Unpack", "check_seconds"]

OnError = Callable[[Exception], ServerSentEvent | None]
OnDisconnect = Callable[[], Awaitable[None] | None]


class StreamOptions(TypedDict, total=False):
    """The options of a streaming response, as keyword arguments (see ``EventSourceResponse``)."""

    ping_interval: float | None
    ping_comment: str
    send_timeout: float | None
    item_type: Any
    serializer: Callable[[Any], bytes] | None
    on_error: OnError | None
    on_disconnect: OnDisconnect | None
    first_event_grace: float
    coalesce: float | None


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """A stream's options, checked (``ValueError``/``TypeError`` at construction), and what follows.

    Shared by every stream built with the same options: nothing in it changes
    while streams run. ``ping_bytes`` (the keep-alive comment's frame) and
    ``encode_item`` (the per-item encoding function) are derived from the
    options once.
    """

    ping_interval: float | None = 15.0
    ping_comment: str = "ping"
    send_timeout: float | None = 30.0
    item_type: Any = None
    serializer: Callable[[Any], bytes] | None = None
    on_error: OnError | None = None
    on_disconnect: OnDisconnect | None = None
    first_event_grace: float = 0.5
    coalesce: float | None = None
    ping_bytes: bytes = field(init=False, repr=False, compare=False)
    encode_item: Callable[[object], bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_seconds("ping_interval", self.ping_interval, allow_zero=False)
        check_seconds("send_timeout", self.send_timeout, allow_zero=False)
        check_seconds("first_event_grace", self.first_event_grace, allow_none=False)
        check_seconds("coalesce", self.coalesce)
        ping = ServerSentEvent(comment=self.ping_comment).encode()
        object.__setattr__(self, "ping_bytes", ping)
        encode = item_encoder(self.item_type, serializer=self.serializer)
        object.__setattr__(self, "encode_item", encode)

    @classmethod
    def of(cls, options: StreamOptions) -> StreamSettings:
        """The settings for ``options``: the shared defaults when there are none."""
        return cls(**options) if options else DEFAULT_SETTINGS


def check_seconds(
    name: str, value: float | None, *, allow_zero: bool = True, allow_none: bool = True
) -> None:
    """Raise unless ``value`` is a number of seconds (``TypeError``) in range (``ValueError``)."""
    if value is None:
        if not allow_none:
            raise ValueError(f"{name} must be a number of seconds, not None")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise TypeError(f"{name} must be a number of seconds or None, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0 (use None to disable)"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


#: The settings of a stream given no options, shared by all of them.
DEFAULT_SETTINGS = StreamSettings()
