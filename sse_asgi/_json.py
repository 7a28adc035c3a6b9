"""Serialization: Python values to compact UTF-8 JSON bytes.

orjson does the common cases (dicts, lists, str, numbers, dataclasses,
datetime, UUID, Enum) in native code; pydantic models are handed to their own
Rust serializer and spliced in as ``orjson.Fragment`` so they never take a
dict round-trip. Anything neither knows natively (Decimal, set, timedelta,
big ints, non-str dict keys, ...) falls back to ``pydantic_core.to_json``.

Every output is a single line: compact JSON escapes CR and LF inside strings,
which is what lets the encoder put it on one ``data:`` line unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pydantic_core
from pydantic import TypeAdapter

from ._errors import InvalidEventError, describe_char

__all__ = ["ORJSON_NATIVE", "dumps", "item_serializer", "json_default"]

_Fragment = orjson.Fragment
# Exact types orjson serializes itself: checked first, as a set lookup, because a
# failed attribute lookup on them (looking for a pydantic serializer) is slow.
ORJSON_NATIVE = frozenset({dict, list, str, int, float, bool, tuple, type(None)})
_to_json = pydantic_core.to_json


def json_default(value: Any) -> Any:
    """orjson's ``default`` hook: pydantic models as a pre-serialized fragment."""
    serializer = getattr(type(value), "__pydantic_serializer__", None)
    if serializer is not None:
        return _Fragment(serializer.to_json(value))
    # orjson turns this into its own TypeError, which sends dumps() to the
    # pydantic fallback that knows Decimal, set, timedelta and friends.
    raise TypeError


def dumps(value: Any) -> bytes:
    """Serialize ``value`` to compact UTF-8 JSON (no ASCII escaping).

    Raises :class:`TypeError` naming the type when ``value`` (or something
    inside it) is not JSON-serializable, and :class:`InvalidEventError` for a
    string that cannot be UTF-8 encoded (a lone surrogate).

    Example::

        >>> dumps({"msg": "héllo", "n": 1})
        b'{"msg":"h\\xc3\\xa9llo","n":1}'
    """
    if type(value) not in ORJSON_NATIVE:
        # A model at the top (the common case of a typed stream) goes straight
        # to its own serializer: through orjson's default hook it costs ~1 µs more.
        serializer = getattr(type(value), "__pydantic_serializer__", None)
        if serializer is not None:
            try:
                return serializer.to_json(value)  # type: ignore[no-any-return]
            except pydantic_core.PydanticSerializationError:
                return _fallback(value)
    try:
        return orjson.dumps(value, default=json_default)
    except TypeError:
        return _fallback(value)


def _fallback(value: Any) -> bytes:
    try:
        return _to_json(value, inf_nan_mode="null")
    except pydantic_core.PydanticSerializationError as exc:
        surrogate = _find_surrogate(value)
        if surrogate is not None:
            raise InvalidEventError(
                "data",
                f"contains {describe_char(surrogate)}, which cannot be encoded as UTF-8",
            ) from None
        raise TypeError(
            f"ServerSentEvent.data is not JSON serializable: {_culprit(exc, value)}"
        ) from None


def _culprit(exc: Exception, value: Any) -> str:
    # pydantic names the innermost unknown type in its message; fall back to
    # the outer type if it ever stops doing so.
    text = str(exc)
    marker = "unknown type: "
    if marker in text:
        return "object of type " + text.split(marker, 1)[1].strip()
    return f"object of type {type(value).__qualname__!r} ({text})"


def _find_surrogate(value: Any, _depth: int = 0) -> str | None:
    """The first lone surrogate in any string inside ``value`` (error path only)."""
    if _depth > 100:
        return None
    if isinstance(value, str):
        for char in value:
            if "\ud800" <= char <= "\udfff":
                return char
        return None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    elif hasattr(value, "__dict__"):
        items = list(vars(value).values())
    else:
        return None
    for item in items:
        found = _find_surrogate(item, _depth + 1)
        if found is not None:
            return found
    return None


def item_serializer(
    item_type: Any,
    *,
    by_alias: bool | None = None,
    from_attributes: bool = False,
    include: Any = None,
    exclude: Any = None,
    exclude_unset: bool = False,
    exclude_defaults: bool = False,
    exclude_none: bool = False,
) -> Callable[[Any], bytes]:
    """A function that validates one item against ``item_type`` and returns its JSON.

    Validation and serialization both run in pydantic's Rust core: an item
    that already is an instance of a model is not copied, a dict is validated
    into the model, and the JSON comes straight from the core serializer with
    no intermediate dict. ``by_alias=None`` follows the model's own
    configuration, as ``model_dump_json()`` does; the other options mean
    what they mean to ``model_dump_json()`` (and to FastAPI's
    ``response_model_*`` settings).

    Example::

        >>> class Item(BaseModel):
        ...     name: str
        >>> item_serializer(Item)({"name": "Plumbus"})
        b'{"name":"Plumbus"}'
    """
    adapter: TypeAdapter[Any] = TypeAdapter(item_type)
    validate = adapter.validator.validate_python
    to_json = adapter.serializer.to_json
    # Only what differs from the serializer's defaults, so the plain case
    # stays a bare call.
    options: dict[str, Any] = {
        key: value
        for key, value, default in (
            ("by_alias", by_alias, None),
            ("include", include, None),
            ("exclude", exclude, None),
            ("exclude_unset", exclude_unset, False),
            ("exclude_defaults", exclude_defaults, False),
            ("exclude_none", exclude_none, False),
        )
        if value is not default
    }

    if not options and not from_attributes:

        def serialize(item: Any) -> bytes:
            return to_json(validate(item))

    else:

        def serialize(item: Any) -> bytes:
            return to_json(validate(item, from_attributes=from_attributes), **options)

    # Compact JSON never contains a raw line break: the framing needs no check.
    serialize.single_line = True  # type: ignore[attr-defined]
    return serialize
