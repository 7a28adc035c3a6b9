"""The build configuration in the source tree: a pure-Python package, and what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_tests_every_claimed_python() -> None:
    # .ci/run takes its list from the classifiers: it must not have its own.
    script = (ROOT / ".ci" / "run").read_text()
    assert "Programming Language :: Python :: " in script
    assert not re.search(r"\b3\.1[0-9]\b", script), ".ci/run names a Python version itself"


def test_the_package_is_pure_python() -> None:
    # No compiled module earned its place (README, "Compiled code"): the one
    # py3-none-any wheel serves every platform, and no install needs a compiler.
    # A new one comes with a build configuration, a wheel matrix and that
    # paragraph rewritten -- this test is where that is decided.
    native = ("*.c", "*.h", "*.cpp", "*.pyx", "*.pxd", "*.pyi")  # .pyi: a compiled module's stub
    sources = sorted(path for pattern in native for path in (ROOT / "sse_asgi").rglob(pattern))
    assert not sources, f"compiled-module sources in sse_asgi/: {sources}"
    assert not (ROOT / "setup.py").exists()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'build-backend = "setuptools.build_meta"' in pyproject
    assert "ext-modules" not in pyproject
    assert "[tool.cibuildwheel" not in pyproject  # it refuses to build a pure wheel anyway
    assert '"Programming Language :: C' not in pyproject
