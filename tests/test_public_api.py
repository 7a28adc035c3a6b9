"""The public surface: __all__, typing marker, and no framework imports.

Docstrings and their examples: ``test_docs_examples.py``.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import sse_asgi


def test_all_matches_the_real_exports() -> None:
    exported = {
        name
        for name, value in vars(sse_asgi).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and (getattr(value, "__module__", "").startswith("sse_asgi") or name.isupper())
    }
    assert set(sse_asgi.__all__) == exported
    assert sorted(sse_asgi.__all__) == sse_asgi.__all__
    for name in sse_asgi.__all__:
        assert hasattr(sse_asgi, name)


def test_package_is_typed() -> None:
    assert (Path(sse_asgi.__file__).parent / "py.typed").is_file()


def test_importing_sse_asgi_imports_no_framework() -> None:
    code = (
        "import sys, sse_asgi, sse_asgi.broadcast, sse_asgi.testing, sse_asgi.__main__\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'starlette', 'fastapi', 'redis', 'httpx', 'uvicorn', 'hypercorn', 'h2', 'trio',"
        " 'litestar', 'quart', 'werkzeug', 'django'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
