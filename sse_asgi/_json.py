"""Serialization: Python values to compact UTF-8 JSON bytes, with FastAPI's values.

The yardstick is what ``fastapi.sse`` sends, so that switching changes no
value a client receives (only the spacing: ours is compact UTF-8):

- a pydantic model as the whole of ``ServerSentEvent.data`` is serialized like
  ``model.model_dump_json()`` (:func:`dumps`); as an untyped item of a FastAPI
  stream, by alias (:func:`dumps_by_alias`), as FastAPI's
  ``jsonable_encoder`` does;
- everything else gets the values of ``json.dumps(jsonable_encoder(value))``
  with non-finite floats as ``null``: models inside containers by alias,
  ``Decimal`` as an int or a float, ``timedelta`` as seconds, sets and
  tuples as lists, datetimes in ISO format, and non-``str`` dict keys
  converted as ``json.dumps`` converts them (``None`` -> ``"null"``,
  ``True`` -> ``"true"``, ``float("inf")`` -> ``"Infinity"``, ``1.5`` ->
  ``"1.5"``).

orjson does the common cases (dicts, lists, str, numbers, dataclasses,
datetime, UUID, Enum) in native code; :func:`json_default`, its hook, splices
nested models in as ``orjson.Fragment`` and converts the types orjson does
not know. What orjson refuses (non-``str`` keys, ints beyond 64 bits, lone
surrogates) goes to ``_fallback``, a Python walk with
``jsonable_encoder``'s rules.

Two things ``jsonable_encoder`` does are deliberately left out: it drops
dict keys that start with ``"_sa"`` (its SQLAlchemy guard) and serializes
unknown objects through ``vars()``; here keys are never dropped and unknown
objects raise :class:`TypeError`.

Every output is a single line: compact JSON escapes CR and LF inside strings,
which is what lets the encoder put it on one ``data:`` line unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import ipaddress
import json
import math
import re
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import PurePath
from types import GeneratorType
from typing import Any

import orjson
import pydantic_core
from pydantic import BaseModel, NameEmail, SecretBytes, SecretStr, TypeAdapter

from ._errors import InvalidEventError, describe_char

__all__ = [
    "ORJSON_NATIVE",
    "ORJSON_OPTION",
    "dumps",
    "dumps_by_alias",
    "item_serializer",
    "json_default",
]

_Fragment = orjson.Fragment
_orjson_dumps = orjson.dumps
#: The ``option=`` of every orjson call that serializes user data: datetimes go
#: to json_default, which writes isoformat() as FastAPI does -- orjson 3.13
#: writes ``time(microsecond=10000..99999)`` wrong and drops the seconds of a
#: UTC offset that has them (old local mean times).
ORJSON_OPTION = orjson.OPT_PASSTHROUGH_DATETIME


def _model_json_options() -> dict[str, Any]:
    # Serialize a model as its own model_dump_json() would. Newer pydantic
    # leaves by_alias to the model's config (None); older releases, which
    # FastAPI 0.100 needs, pass False and their serializer defaults to True.
    default = inspect.signature(BaseModel.model_dump_json).parameters["by_alias"].default
    return {} if default is None else {"by_alias": default}


# How a model that is the whole of ``ServerSentEvent.data`` is serialized.
_MODEL_OPTIONS = _model_json_options()
# How every other model is: FastAPI's jsonable_encoder dumps by alias.
_BY_ALIAS: dict[str, Any] = {"by_alias": True}
# Exact types orjson serializes itself: checked first, as a set lookup, because a
# failed attribute lookup on them (looking for a pydantic serializer) is slow.
ORJSON_NATIVE = frozenset({dict, list, str, int, float, bool, tuple, type(None)})


def _decimal(value: Decimal) -> int | float:
    # jsonable_encoder's rule: an int when there is no fractional exponent.
    exponent = value.as_tuple().exponent
    return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)


def _isoformat(value: datetime.date | datetime.time) -> str:
    return value.isoformat()


def _pattern(value: re.Pattern[Any]) -> Any:
    return value.pattern


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise _not_serializable(value, " (not UTF-8)") from None


# The leaf conversions of FastAPI's jsonable_encoder, by type; subclasses are
# found through _LEAF_BASES (the order matters only for classes with two bases).
_LEAVES: dict[type, Callable[[Any], Any]] = {
    bytes: _text,
    datetime.datetime: _isoformat,
    datetime.date: _isoformat,
    datetime.time: _isoformat,
    datetime.timedelta: datetime.timedelta.total_seconds,
    Decimal: _decimal,
    uuid.UUID: str,
    re.Pattern: _pattern,
    ipaddress.IPv4Address: str,
    ipaddress.IPv4Interface: str,
    ipaddress.IPv4Network: str,
    ipaddress.IPv6Address: str,
    ipaddress.IPv6Interface: str,
    ipaddress.IPv6Network: str,
    NameEmail: str,
    SecretStr: str,
    SecretBytes: str,
    pydantic_core.Url: str,
    pydantic_core.MultiHostUrl: str,
}
_LEAF_BASES = tuple(_LEAVES)
_SEQUENCES = (list, tuple, set, frozenset, deque, GeneratorType)
_UNKNOWN = object()


def _leaf(value: Any) -> Any:
    """``value`` as jsonable_encoder turns a non-container into JSON, or ``_UNKNOWN``."""
    convert = _LEAVES.get(type(value))
    if convert is None:
        if isinstance(value, PurePath):
            return str(value)
        if isinstance(value, pydantic_core.PydanticUndefinedType):
            return None
        convert = next((_LEAVES[base] for base in _LEAF_BASES if isinstance(value, base)), None)
        if convert is None:
            return _UNKNOWN
    return convert(value)


def json_default(value: Any) -> Any:
    """orjson's ``default`` hook: what orjson does not know, converted as FastAPI does.

    A pydantic model (nested: a top-level one never gets here) becomes its
    own JSON by alias, spliced in as an ``orjson.Fragment``; ``Decimal``,
    ``timedelta``, sets, ``bytes``, paths, IP addresses and friends become
    what ``jsonable_encoder`` makes of them; anything else raises
    :class:`TypeError`, which sends :func:`dumps` to its Python walk.
    """
    serializer = getattr(type(value), "__pydantic_serializer__", None)
    if serializer is not None:
        return _Fragment(serializer.to_json(value, **_BY_ALIAS))
    if isinstance(value, _SEQUENCES):  # set, frozenset, deque, generator, named tuple
        return list(value)
    if isinstance(value, float):  # a float subclass
        return float(value)
    if isinstance(value, Mapping):
        return dict(value)
    converted = _leaf(value)
    if converted is _UNKNOWN:
        raise TypeError
    return converted


def dumps(value: Any) -> bytes:
    r"""Serialize ``value`` to compact UTF-8 JSON (no ASCII escaping), as ``fastapi.sse`` does.

    A pydantic model is serialized like its ``model_dump_json()``; any other
    value gets the JSON value ``fastapi.sse`` sends for it (see the module
    docstring). Raises :class:`TypeError` naming the type when ``value`` (or
    something inside it) is not JSON-serializable, and
    :class:`InvalidEventError` for a string that cannot be UTF-8 encoded (a
    lone surrogate).

    Example:

    ```py
    from sse_asgi._json import dumps

    print(dumps({"msg": "héllo", None: 1, 2.5: float("inf")}))
    #> b'{"msg":"h\xc3\xa9llo","null":1,"2.5":null}'
    ```
    """
    return _dumps(value, _MODEL_OPTIONS)


def dumps_by_alias(value: Any) -> bytes:
    """:func:`dumps`, with a model at the top serialized by alias too.

    This is what ``fastapi.sse`` does with an item of a stream whose type is
    not declared (``jsonable_encoder``, which dumps models by alias).

    Example:

    ```py
    from pydantic import BaseModel, Field

    from sse_asgi._json import dumps_by_alias


    class Person(BaseModel):
        full_name: str = Field(alias="fullName")


    print(dumps_by_alias(Person(fullName="Ada")))
    #> b'{"fullName":"Ada"}'
    ```
    """
    if type(value) in ORJSON_NATIVE:  # the per-item hot path: one call into orjson
        try:
            return _orjson_dumps(value, default=json_default, option=ORJSON_OPTION)
        except TypeError:
            return _fallback(value, _BY_ALIAS)
    return _dumps(value, _BY_ALIAS)


# Compact JSON never contains a raw line break: an item encoder needs no check.
dumps_by_alias.single_line = True  # type: ignore[attr-defined]


def _dumps(value: Any, model_options: dict[str, Any]) -> bytes:
    if type(value) not in ORJSON_NATIVE:
        # A model at the top (the common case of a typed stream) goes straight
        # to its own serializer: through orjson's default hook it costs ~1 µs more.
        serializer = getattr(type(value), "__pydantic_serializer__", None)
        if serializer is not None:
            try:
                return serializer.to_json(value, **model_options)  # type: ignore[no-any-return]
            except pydantic_core.PydanticSerializationError:
                return _fallback(value, model_options)
    try:
        return _orjson_dumps(value, default=json_default, option=ORJSON_OPTION)
    except TypeError:
        return _fallback(value, model_options)


def _fallback(value: Any, model_options: dict[str, Any]) -> bytes:
    """What :func:`dumps` does when orjson or a model's serializer cannot: a Python walk.

    Converts ``value`` with FastAPI's ``jsonable_encoder`` rules (dict keys
    included), then writes the result.
    """
    try:
        tree = _jsonable(value, model_options)
    except RecursionError:
        raise TypeError(
            "ServerSentEvent.data is not JSON serializable: nested too deeply"
        ) from None
    try:
        return _orjson_dumps(tree)
    except TypeError:
        pass  # ints beyond 64 bits, lone surrogates, more than 255 levels
    text = json.dumps(tree, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError as exc:
        char = describe_char(exc.object[exc.start])
        raise InvalidEventError(
            "data", f"contains {char}, which cannot be encoded as UTF-8"
        ) from None


def _not_serializable(value: Any, detail: str = "") -> TypeError:
    kind = type(value).__qualname__
    return TypeError(
        f"ServerSentEvent.data is not JSON serializable: object of type {kind!r}{detail}"
    )


def _model_data(value: Any, options: dict[str, Any]) -> Any:
    """A model as JSON-ready Python: ``model_dump(mode="json")``, as jsonable_encoder does."""
    try:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", **options)
        # Anything else with a pydantic serializer: its JSON, read back.
        serializer = type(value).__pydantic_serializer__
        return json.loads(serializer.to_json(value, **options))
    except pydantic_core.PydanticSerializationError as exc:
        raise _not_serializable(value, f" ({exc})") from None


def _jsonable(value: Any, model_options: dict[str, Any] = _BY_ALIAS) -> Any:
    """``value`` as JSON-ready Python, by FastAPI's ``jsonable_encoder`` rules.

    The result holds only dicts with ``str`` keys, lists, str, int, bool,
    None and finite floats. The checks run in jsonable_encoder's order.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return _object(value)
    if kind is list:
        return [_jsonable(item) for item in value]
    if getattr(kind, "__pydantic_serializer__", None) is not None and not (
        dataclasses.is_dataclass(value)
    ):
        return _jsonable(_model_data(value, model_options))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return _object({field.name: getattr(value, field.name) for field in fields})
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (str, int)):  # subclasses; bool is an int
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return _object(value)
    if isinstance(value, _SEQUENCES):
        return [_jsonable(item) for item in value]
    converted = _leaf(value)
    if converted is not _UNKNOWN:
        return _jsonable(converted)
    if isinstance(value, Mapping):
        return _object(dict(value))
    raise _not_serializable(value)


def _object(value: dict[Any, Any]) -> dict[str, Any]:
    # Two steps, as FastAPI takes them: keys converted to JSON-ready values
    # (equal ones merge, as in any dict), then written as json.dumps writes keys.
    converted = {_key_value(key): _jsonable(item) for key, item in value.items()}
    return {_key_text(key): item for key, item in converted.items()}


def _key_value(key: Any) -> Any:
    """A dict key as jsonable_encoder converts it (floats kept, even non-finite ones)."""
    if isinstance(key, enum.Enum):
        return key.value
    if isinstance(key, (str, int, float)) or key is None:
        return key
    converted = _leaf(key)
    return key if converted is _UNKNOWN else converted


def _key_text(key: Any) -> str:
    """A JSON-ready key as ``json.dumps`` writes it."""
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, float):
        if math.isnan(key):
            return "NaN"
        if math.isinf(key):
            return "Infinity" if key > 0 else "-Infinity"
        return float.__repr__(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(
        "ServerSentEvent.data is not JSON serializable: dict keys must be str, int, float, "
        f"bool or None, not {type(key).__qualname__!r}"
    )


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

    Example:

    ```py
    from pydantic import BaseModel

    from sse_asgi._json import item_serializer


    class Item(BaseModel):
        name: str


    print(item_serializer(Item)({"name": "Plumbus"}))
    #> b'{"name":"Plumbus"}'
    ```
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
                by_alias if by_alias is not None else _MODEL_OPTIONS.get("by_alias"),
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
