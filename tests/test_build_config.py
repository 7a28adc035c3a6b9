"""The build configuration in the source tree: which extensions setup.py builds, what CI runs."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def test_ci_tests_every_claimed_python() -> None:
    # .ci/run takes its list from the classifiers: it must not have its own.
    script = (ROOT / ".ci" / "run").read_text()
    assert "Programming Language :: Python :: " in script
    assert not re.search(r"\b3\.1[0-9]\b", script), ".ci/run names a Python version itself"


def setup_py() -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "setup.py"), run_name="setup_py_under_test")


def test_extensions_are_built_on_cpython_only() -> None:
    extensions = setup_py()["extensions"]
    for implementation in ("PyPy", "GraalVM", "Jython", "IronPython"):
        assert extensions(implementation) == []
    built = extensions("CPython")
    assert "sse_asgi._speedups" in {extension.name for extension in built}
    for extension in built:
        assert extension.optional, extension.name  # no compiler: the install goes on
        for source in extension.sources:
            assert not Path(source).is_absolute()
            assert (ROOT / source).is_file()
