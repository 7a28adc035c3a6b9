# The C speedups' interface (sse_asgi/_speedups.c); see sse_asgi/_event.py.
from collections.abc import Callable
from typing import Any

def configure(
    py_class: type[Any],
    orjson_dumps: Callable[..., bytes],
    json_default: Callable[[Any], Any],
    dumps: Callable[[Any], bytes],
    fallback: Callable[[Any], bytes],
    model_error: type[BaseException],
    model_options: dict[str, Any],
    repr: Callable[[Any], str],
    rebuild: Callable[..., Any],
    /,
) -> type[Any]: ...
def stored(
    encoded: bytes,
    data: Any,
    raw_data: str | None,
    event: str | None,
    id: str | None,
    retry: int | None,
    comment: str | None,
    /,
) -> Any: ...
