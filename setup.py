"""What pyproject.toml cannot say: which C extensions to build, and where.

Every ``.c`` file under ``sse_asgi/`` is an optional extension module of the
same dotted name, with a pure-Python twin that runs wherever the extension
is missing. They use CPython's C API, so they are built on CPython only:
other implementations (PyPy, GraalPy) get the twins. ``optional=True``:
where compiling fails (no C compiler), the install goes on without them.
"""

from __future__ import annotations

import platform
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent


def extensions(implementation: str) -> list[Extension]:
    """The extension modules to build on this Python implementation."""
    if implementation != "CPython":
        return []
    return [
        Extension(
            ".".join(source.relative_to(ROOT).with_suffix("").parts),
            [source.relative_to(ROOT).as_posix()],  # setuptools wants relative paths
            optional=True,
        )
        for source in sorted((ROOT / "sse_asgi").rglob("*.c"))
    ]


if __name__ == "__main__":  # as the build backend runs it; tests import extensions()
    setup(ext_modules=extensions(platform.python_implementation()))
