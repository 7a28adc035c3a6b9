"""sse-asgi as installed: one version, the Pythons it claims, the twin it falls back to.

These run on any install (cibuildwheel runs them on each wheel, ``nox -s
packaging`` on the sdist installed without a C compiler); what needs the
source tree is in ``test_build_config.py``, and the release checks that need
a build (sdist and wheels, ``twine check``) are ``nox -s packaging``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import subprocess
import sys

import pytest
from packaging.specifiers import SpecifierSet

import sse_asgi


def test_the_version_is_the_installed_metadata() -> None:
    # sse_asgi.__version__ is the one source; pyproject.toml reads it.
    assert sse_asgi.__version__ == importlib.metadata.version("sse-asgi")


def claimed_pythons() -> list[str]:
    """The 3.x versions the classifiers name (.ci/run tests each of them)."""
    classifiers = importlib.metadata.metadata("sse-asgi").get_all("Classifier") or []
    pattern = re.compile(r"Programming Language :: Python :: (3\.\d+)")
    found = [m.group(1) for c in classifiers if (m := pattern.fullmatch(c))]
    return sorted(found, key=lambda v: int(v.split(".")[1]))


def test_requires_python_claims_exactly_the_classified_pythons() -> None:
    versions = claimed_pythons()
    assert versions, "no per-version classifier"
    minors = [int(v.split(".")[1]) for v in versions]
    assert minors == list(range(minors[0], minors[-1] + 1)), "a gap between claimed versions"
    spec = SpecifierSet(importlib.metadata.metadata("sse-asgi")["Requires-Python"])
    for version in versions:
        assert f"{version}.0" in spec
    assert f"3.{minors[0] - 1}.99" not in spec
    assert f"3.{minors[-1] + 1}.0" not in spec


def test_this_python_is_one_we_claim() -> None:
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in claimed_pythons()


PROBE = (
    "import sse_asgi\n"
    "from sse_asgi import _event, _event_py\n"
    "assert sse_asgi.ServerSentEvent is _event_py.ServerSentEvent, sse_asgi.ServerSentEvent\n"
    "assert not _event.SPEEDUPS\n"
    "print(sse_asgi.ServerSentEvent(data={'a': 1}, id='1').encode())\n"
)


def run_probe(prelude: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "SSE_ASGI_NO_EXTENSIONS"}
    result = subprocess.run(
        [sys.executable, "-c", prelude + PROBE],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_without_the_extension_the_pure_python_twin_runs() -> None:
    # What PyPy, or CPython without a C compiler, gets: the module is absent.
    out = run_probe("import sys\nsys.modules['sse_asgi._speedups'] = None  # not built\n")
    assert out == """b'data: {"a":1}\\nid: 1\\n\\n'"""


@pytest.mark.parametrize("value", ["1", "yes"])
def test_no_extensions_chooses_the_pure_python_twin(value: str) -> None:
    out = run_probe("", SSE_ASGI_NO_EXTENSIONS=value)
    assert out == """b'data: {"a":1}\\nid: 1\\n\\n'"""
