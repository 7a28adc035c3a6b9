"""The public surface: __all__, typing marker, and no framework imports.

Docstrings and their examples: ``test_docs_examples.py``.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import sse_asgi

PUBLIC_MODULES = [
    "sse_asgi",
    "sse_asgi.broadcast",
    "sse_asgi.client",
    "sse_asgi.fastapi",
    "sse_asgi.redis",
    "sse_asgi.starlette",
    "sse_asgi.testing",
    "sse_asgi.types",
]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_all_matches_the_real_exports(module: str) -> None:
    """``__all__`` names only what the module has; the package's is sorted and lists every
    public name it holds from this package (constants included) -- the integration modules
    also hold helpers they import without listing them."""
    mod = importlib.import_module(module)
    if module == "sse_asgi":
        exported = {
            name
            for name, value in vars(mod).items()
            if not name.startswith("_")
            and not inspect.ismodule(value)
            and (getattr(value, "__module__", "").startswith("sse_asgi") or name.isupper())
        }
        listed = set(mod.__all__)
        assert listed >= exported, f"public but not in __all__: {sorted(exported - listed)}"
        assert sorted(mod.__all__) == mod.__all__
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert not missing, f"in __all__ but not defined: {missing}"


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
