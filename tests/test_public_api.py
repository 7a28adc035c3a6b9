"""The public surface: __all__, docstrings, typing marker, and no framework imports."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import sse_asgi

PUBLIC_MODULES = [
    "sse_asgi",
    "sse_asgi.broadcast",
    "sse_asgi.client",
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
        and (getattr(value, "__module__", "").startswith("sse_asgi") or name.isupper())
    }
    assert set(sse_asgi.__all__) == exported
    assert sorted(sse_asgi.__all__) == sse_asgi.__all__
    for name in sse_asgi.__all__:
        assert hasattr(sse_asgi, name)


def is_documentable(obj: object) -> bool:
    """A class or function, which carries its own docstring (an alias does not).

    On Python 3.10 ``inspect.isclass`` is true for a generic alias such as
    ``Callable[..., T]`` (it passes ``isinstance(alias, type)``), hence the
    ``get_origin`` check.
    """
    if typing.get_origin(obj) is not None:
        return False
    return inspect.isclass(obj) or inspect.isfunction(obj)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_has_a_docstring_with_an_example(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__doc__
    for name in mod.__all__:
        obj = getattr(mod, name)
        if not is_documentable(obj):
            # Type aliases and constants cannot carry a docstring: the module's names them.
            assert f"``{name}``" in mod.__doc__, f"{module}.{name} is not documented"
            continue
        doc = inspect.getdoc(obj) or ""
        assert doc, f"{module}.{name} has no docstring"
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
