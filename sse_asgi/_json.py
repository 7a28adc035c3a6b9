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

import dataclasses
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pydantic_core
from pydantic import BaseModel, TypeAdapter

from ._errors import InvalidEventError, describe_char

__all__ = [
    "MODEL_OPTIONS",
    "ORJSON_NATIVE",
    "dumps",
    "item_serializer",
    "json_default",
    "json_fallback",
]

_Fragment = orjson.Fragment


def _model_json_options() -> dict[str, Any]:
    # Serialize a model as its own model_dump_json() would. Newer pydantic
    # leaves by_alias to the model's config (None); older releases, which
    # FastAPI 0.100 needs, pass False and their serializer defaults to True.
    default = inspect.signature(BaseModel.model_dump_json).parameters["by_alias"].default
    return {} if default is None else {"by_alias": default}


def _fallback_options() -> dict[str, Any]:
    # NaN as null, like orjson -- where pydantic-core has the option.
    try:
        pydantic_core.to_json(float("nan"), inf_nan_mode="null")
    except TypeError:
        return {}
    return {"inf_nan_mode": "null"}


MODEL_OPTIONS = _model_json_options()
_FALLBACK_OPTIONS = _fallback_options()
# Exact types orjson serializes itself: checked first, as a set lookup, because a
# failed attribute lookup on them (looking for a pydantic serializer) is slow.
ORJSON_NATIVE = frozenset({dict, list, str, int, float, bool, tuple, type(None)})
_to_json = pydantic_core.to_json


def json_default(value: Any) -> Any:
    """orjson's ``default`` hook: pydantic models as a pre-serialized fragment."""
    serializer = getattr(type(value), "__pydantic_serializer__", None)
    if serializer is not None:
        return _Fragment(serializer.to_json(value, **MODEL_OPTIONS))
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
                return serializer.to_json(value, **MODEL_OPTIONS)  # type: ignore[no-any-return]
            except pydantic_core.PydanticSerializationError:
                return json_fallback(value)
    try:
        return orjson.dumps(value, default=json_default)
    except TypeError:
        return json_fallback(value)


def json_fallback(value: Any) -> bytes:
    """What :func:`dumps` does when orjson or a model's serializer cannot: pydantic-core."""
    try:
        return _to_json(value, **_FALLBACK_OPTIONS)
    except pydantic_core.PydanticSerializationError:
        surrogate = _find_surrogate(value)
        if surrogate is not None:
            raise InvalidEventError(
                "data",
                f"contains {describe_char(surrogate)}, which cannot be encoded as UTF-8",
            ) from None
        raise TypeError(
            f"ServerSentEvent.data is not JSON serializable: {_culprit(value)}"
        ) from None


def _culprit(value: Any) -> str:
    """Name the innermost value nothing can serialize (error path only)."""
    for leaf in _walk(value, into_objects=False):
        if isinstance(leaf, str):
            continue
        try:
            _to_json(leaf, **_FALLBACK_OPTIONS)
        except pydantic_core.PydanticSerializationError:
            return f"object of type {type(leaf).__qualname__!r}"
    return f"object of type {type(value).__qualname__!r}"


def _find_surrogate(value: Any) -> str | None:
    """The first lone surrogate in a string inside ``value`` (error path only)."""
    for leaf in _walk(value, into_objects=True):
        if isinstance(leaf, str):
            for char in leaf:
                if 0xD800 <= ord(char) <= 0xDFFF:
                    return char
    return None


def _walk(value: Any, *, into_objects: bool) -> Iterator[Any]:
    """The leaves of ``value``: what is not a container (or, with ``into_objects``,
    not a model or dataclass instance either). Walks what the serializers walk
    -- never arbitrary objects' attributes (a class's are a maze) -- and each
    object once.
    """
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack += list(item)
        elif (
            into_objects
            and not isinstance(item, type)
            and (isinstance(item, BaseModel) or dataclasses.is_dataclass(item))
        ):
            stack += list(vars(item).values())
        else:
            yield item


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
            (
                "by_alias",
                by_alias if by_alias is not None else MODEL_OPTIONS.get("by_alias"),
                None,
            ),
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
