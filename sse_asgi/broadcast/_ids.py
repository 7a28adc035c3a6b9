"""Event ids: strict parsing, epochs, bounded summaries, and where topic deaths are recorded.

Every id a broadcast sends is ``<epoch>-<position>``: the epoch (16 lowercase
hex digits) names one store of events -- a :class:`MemoryBackend` instance,
or one Redis dataset -- and the position counts every event published to any
topic of that store, so it orders events across topics and is never reused.
An id that does not parse exactly, or names another epoch, is unknown: the
subscriber gets the reset event, never an exception.
"""

from __future__ import annotations

import secrets
import zlib

__all__ = [
    "DEATH_BUCKETS",
    "MAX_LAST_EVENT_ID",
    "MAX_TOPIC_LENGTH",
    "check_topic",
    "death_bucket",
    "is_epoch",
    "new_epoch",
    "parse_counter",
    "same_epoch",
    "summary",
]

# Longer than any id we send (16 + 1 + 20 + 1 + 20 characters): a longer
# header is unknown without looking at it.
MAX_LAST_EVENT_ID = 64

# What a reset event repeats of an id it could not resume from.
_SUMMARY_CHARS = 64

# Topic names often come from URLs (a room, a user): bounded, and text that
# UTF-8 can carry (Redis keys, the tombstone hash).
MAX_TOPIC_LENGTH = 1024

# A topic's generation ends when it is deleted or expires; its last position
# is then recorded in one of these buckets (by a hash of the name), so that an
# id from before can be told from one that lost nothing. Bounded whatever the
# number of topics; two topics sharing a bucket can only cause a spare reset.
DEATH_BUCKETS = 4096

_EPOCH_LENGTH = 16
_HEX = frozenset("0123456789abcdef")
_MAX_DIGITS = 20  # 2**64 - 1 has 20


def new_epoch() -> str:
    """16 random lowercase hex digits."""
    return secrets.token_hex(_EPOCH_LENGTH // 2)


def is_epoch(text: str) -> bool:
    """True if ``text`` has an epoch's exact form."""
    return len(text) == _EPOCH_LENGTH and _HEX.issuperset(text)


def same_epoch(first_id: str, second_id: str) -> bool:
    """True if two ids of ours (``<epoch>-...``) name the same epoch."""
    return first_id[: _EPOCH_LENGTH + 1] == second_id[: _EPOCH_LENGTH + 1]


def parse_counter(text: str, maximum: int) -> int | None:
    """``text`` as a non-negative int if it is canonical ASCII decimal <= ``maximum``, else None.

    ``str.isdigit()`` alone accepts "²" and other Unicode digits, and
    ``int()`` accepts "+1", " 1", "1_0" and refuses more than 4,300 digits:
    only 1 to 20 ASCII digits, without a leading zero, get as far as ``int()``.
    """
    if not 0 < len(text) <= _MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    if text[0] == "0" and len(text) > 1:
        return None
    value = int(text)
    return value if value <= maximum else None


def summary(last_event_id: str) -> str:
    """A bounded, printable rendering of a client's id, for the reset event's data."""
    text = last_event_id
    if len(text) > _SUMMARY_CHARS:
        text = f"{text[:_SUMMARY_CHARS]}... ({len(last_event_id)} characters)"
    # A lone surrogate (possible in a str, never from HTTP) would not encode.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def death_bucket(topic: str) -> int:
    """Which tombstone bucket records the deaths of ``topic``'s generations."""
    return zlib.crc32(topic.encode()) % DEATH_BUCKETS


def check_topic(topic: object) -> str:
    """``topic`` if it is a usable topic name; else ValueError (TypeError for a non-str)."""
    if not isinstance(topic, str):
        raise TypeError(f"a topic is a str, not {type(topic).__name__}")
    topic = str.__new__(str, topic)  # a StrEnum member or other subclass: its plain text
    if not 0 < len(topic) <= MAX_TOPIC_LENGTH:
        raise ValueError(f"a topic has 1 to {MAX_TOPIC_LENGTH} characters, got {len(topic)}")
    try:
        topic.encode()
    except UnicodeEncodeError:
        raise ValueError("a topic must be valid text (it contains a lone surrogate)") from None
    return topic
