"""Sessions beyond the main test run: other FastAPI releases, packaging, benchmarks, lint.

``python -m nox -l`` lists them. The main test suite is the README's test
command (``python -m pytest``), which ``.ci/run`` runs on every Python we
claim.
"""

from __future__ import annotations

import re
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import nox

# uv (a dev dependency) makes environments in seconds; venv where it is missing.
nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite, as the README runs it."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """mypy --strict and ruff (also run inside the test suite)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "mypy")
    session.run("python", "-m", "ruff", "check", ".")
    session.run("python", "-m", "ruff", "format", "--check", ".")


# The oldest FastAPI we support, with the pydantic and Starlette of its day:
# FastAPI 0.100.1 imports with pydantic 2.0-2.6 only, and its Starlette 0.27
# needs httpx < 0.28 for TestClient.
OLDEST = ["fastapi==0.100.1", "pydantic==2.0.3", "httpx<0.28"]
# What an old FastAPI/Starlette says about today's anyio and pydantic is
# theirs to fix, not a failure of ours.
OLD_WARNINGS = [
    "-W", "ignore::DeprecationWarning",
    "-W", "ignore::ResourceWarning",
    "-W", "ignore::pytest.PytestUnraisableExceptionWarning",
]  # fmt: skip


@nox.session
def fastapi_oldest(session: nox.Session) -> None:
    """The FastAPI and Starlette integration (and the core) on FastAPI 0.100.1."""
    session.install(*OLDEST, "pytest", "pytest-timeout", "hypothesis", "trio", "anyio")
    session.install("-e", ".")
    session.run(
        "python", "-c", "import fastapi, pydantic; print(fastapi.__version__, pydantic.VERSION)"
    )
    session.run(
        "python", "-m", "pytest", *OLD_WARNINGS,
        "tests/test_fastapi.py", "tests/test_reference_examples.py", "tests/test_starlette.py",
        "tests/test_encoder.py", "tests/test_wire_properties.py", "tests/test_response.py",
        "tests/test_fastapi_compat.py", "tests/test_json.py",
        *session.posargs,
    )  # fmt: skip


# Releases whose machinery differs from both the oldest and the newest: 0.134
# reads stream annotations but has no fastapi.sse; 0.136 has fastapi.sse and
# copies routes on include_router; 0.138 includes routers by context, before
# FastAPI passed an included route's item type on (0.140.8).
@nox.session
@nox.parametrize("fastapi", ["0.134.0", "0.136.3", "0.138.2"])
def fastapi_releases(session: nox.Session, fastapi: str) -> None:
    """The FastAPI integration on the middle releases it must also work on."""
    session.install(
        f"fastapi=={fastapi}", "httpx", "pytest", "pytest-timeout", "hypothesis", "trio"
    )
    session.install("-e", ".")
    session.run(
        "python", "-m", "pytest", *OLD_WARNINGS,
        "tests/test_fastapi.py", "tests/test_fastapi_compat.py", "tests/test_json.py",
        "tests/test_reference_examples.py", *session.posargs,
    )  # fmt: skip


ROOT = Path(__file__).resolve().parent


def _version() -> str:
    text = (ROOT / "sse_asgi" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match, "sse_asgi/__init__.py has no __version__"
    return match.group(1)


# The core suite, which the sdist installed without a C compiler must pass.
CORE_TESTS = [
    "tests/test_encoder.py", "tests/test_wire_properties.py", "tests/test_decoder.py",
    "tests/test_event.py", "tests/test_public_api.py", "tests/test_response.py",
    "tests/test_starlette.py", "tests/test_fastapi.py", "tests/test_broadcast.py",
    "tests/test_packaging.py",
]  # fmt: skip
# What a pure-Python wheel must not hold: C sources and compiled modules.
NATIVE_SUFFIXES = (".c", ".h", ".pyx", ".pxd", ".pyi", ".so", ".pyd", ".dylib", ".dll")


@nox.session(venv_backend="venv")  # python -m build wants pip
def packaging(session: nox.Session) -> None:
    """Release checks: build, twine check, one pure wheel, an sdist install without a C compiler."""
    session.install("build", "twine", "uv")
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT), silent=True)
    version = _version()
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    for built in (sdist, wheel):
        if not built.name.startswith((f"sse_asgi-{version}-", f"sse_asgi-{version}.tar.gz")):
            session.error(f"{built.name} does not carry version {version}")
    session.run("python", "-m", "twine", "check", "--strict", str(sdist), str(wheel))
    _check_wheel(session, wheel, version)
    _check_sdist_without_compiler(session, sdist, tmp)


def _check_wheel(session: nox.Session, wheel: Path, version: str) -> None:
    """One wheel for every platform and Python: tagged pure, holding no compiled code."""
    if wheel.name != f"sse_asgi-{version}-py3-none-any.whl":
        session.error(f"{wheel.name} is not the pure-Python wheel sse_asgi-{version}-py3-none-any")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"sse_asgi-{version}.dist-info/WHEEL").decode()
    fields = [line.partition(": ") for line in metadata.splitlines() if ": " in line]
    tags = [value for key, _, value in fields if key == "Tag"]
    if tags != ["py3-none-any"] or ("Root-Is-Purelib", ": ", "true") not in fields:
        session.error(f"{wheel.name}'s WHEEL file does not say pure Python:\n{metadata}")
    native = [name for name in names if name.endswith(NATIVE_SUFFIXES)]
    if native:
        session.error(f"{wheel.name} ships C sources or compiled modules: {native}")
    if "sse_asgi/py.typed" not in names:
        session.error(f"{wheel.name} lacks sse_asgi/py.typed")
    session.log(f"{wheel.name}: {len(names)} files, tagged {tags[0]}, no C source or binary")


def _check_sdist_without_compiler(session: nox.Session, sdist: Path, tmp: Path) -> None:
    """What a user who installs from the sdist (``--no-binary``, a distribution's packager) gets
    where no C compiler exists."""
    source = tmp / "sdist"
    shutil.rmtree(source, ignore_errors=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(source, filter="data")
    (unpacked,) = source.iterdir()
    native = sorted(p for p in unpacked.rglob("*") if p.suffix in NATIVE_SUFFIXES)
    if native:
        session.error(f"the sdist ships C sources or compiled modules: {native}")
    venv = tmp / "no-compiler"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("uv", "venv", "-q", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    # CC=false: every compiler call fails, as where none is installed: neither
    # sse-asgi nor any dependency the dev extra pulls in may need one. The
    # sdist is built by setuptools (PEP 517), as pip would build it; no cache,
    # so that no wheel built elsewhere is reused.
    session.run(
        "uv", "pip", "install", "-q", "--no-cache", "--python", python, f"{sdist}[dev]",
        env={"CC": "false", "CXX": "false"},
    )  # fmt: skip
    # The tests import the installed package, not the unpacked source.
    shutil.rmtree(unpacked / "sse_asgi")
    probe = (
        "import pathlib, sse_asgi\n"
        "package = pathlib.Path(sse_asgi.__file__).parent\n"
        "assert 'site-packages' in package.parts, package\n"
        "print('installed without a compiler:', sse_asgi.__version__)\n"
    )
    with session.chdir(unpacked):
        session.run(python, "-c", probe, external=True)
        session.run(
            python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CORE_TESTS, external=True
        )


def _benchmark_scripts() -> list[Path]:
    """Every script in benchmarks/ (a module run as ``__main__``; not a helper or a served app)."""
    scripts = sorted((ROOT / "benchmarks").glob("[!_]*.py"))
    return [path for path in scripts if 'if __name__ == "__main__":' in path.read_text()]


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Every benchmark, printing the README's tables."""
    session.install("-e", ".[dev]")
    for script in _benchmark_scripts():
        session.run("python", str(script.relative_to(ROOT)), *session.posargs)
