"""sse-asgi as installed: one version, the Pythons it claims, pure Python.

These run on any install (``nox -s packaging`` runs them on the sdist
installed without a C compiler); what needs the source tree is in
``test_build_config.py``, and the release checks that need a build (the
sdist and the one ``py3-none-any`` wheel, ``twine check``) are ``nox -s
packaging``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import re
import sys

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


def test_every_module_that_runs_is_python_source() -> None:
    # The package and every public module, as a user imports them: nothing
    # compiled of ours loads (an old build's leftover in a working tree is
    # never imported, and never packaged: MANIFEST.in).
    public = ["broadcast", "client", "fastapi", "redis", "starlette", "testing", "types"]
    for name in [*public, "__main__"]:
        importlib.import_module(f"sse_asgi.{name}")
    loaded = {name: m for name, m in sys.modules.items() if name.split(".")[0] == "sse_asgi"}
    assert len(loaded) > 20, sorted(loaded)
    for name, module in loaded.items():
        spec = module.__spec__
        assert spec is not None, name
        assert spec.origin is not None, name
        assert spec.origin.endswith(".py"), f"{name} loads {spec.origin}"
        assert not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader), name
