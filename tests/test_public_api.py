"""The public surface: __all__, docstrings, typing marker, and no framework imports."""

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
    "sse_asgi.redis",
    "sse_asgi.fastapi",
    "sse_asgi.starlette",
    "sse_asgi.testing",
    "sse_asgi.types",
]


def test_all_matches_the_real_exports() -> None:
    exported = {
        name
        for name, value in vars(sse_asgi).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and getattr(value, "__module__", "").startswith("sse_asgi")
    }
    assert set(sse_asgi.__all__) == exported
    assert sorted(sse_asgi.__all__) == sse_asgi.__all__
    for name in sse_asgi.__all__:
        assert hasattr(sse_asgi, name)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_has_a_docstring_with_an_example(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__doc__
    for name in mod.__all__:
        obj = getattr(mod, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            # Type aliases and constants cannot carry a docstring: the module's names them.
            assert f"``{name}``" in mod.__doc__, f"{module}.{name} is not documented"
            continue
        doc = inspect.getdoc(obj) or ""
        assert doc, f"{module}.{name} has no docstring"
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert "Example" in doc, f"{module}.{name}'s docstring has no example"
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or (
                    not callable(member) and not isinstance(member, property)
                ):
                    continue
                assert inspect.getdoc(member), f"{module}.{name}.{attr} has no docstring"


def test_package_is_typed() -> None:
    assert (Path(sse_asgi.__file__).parent / "py.typed").is_file()


def test_importing_sse_asgi_imports_no_framework() -> None:
    code = (
        "import sys, sse_asgi, sse_asgi.broadcast, sse_asgi.testing\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'starlette', 'fastapi', 'redis', 'httpx', 'uvicorn'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
