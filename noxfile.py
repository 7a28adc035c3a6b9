"""Sessions beyond the main test run: other FastAPI releases, benchmarks, lint.

``python -m nox -l`` lists them. The main test suite is the README's test
command (``python -m pytest``), which ``.ci/run`` runs too.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
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


# hypercorn's shutdown changed with Python 3.12.1 (pgjones/hypercorn#308), and the
# C extensions meet another C API there.
@nox.session(python="3.12")
def py312(session: nox.Session) -> None:
    """Shutdown under every server, hypercorn, and the C extensions, on Python 3.12."""
    session.install("-e", ".[dev]")
    session.run(
        "python", "-m", "pytest", "tests/test_e2e_servers.py", "-k", "shutdown or hypercorn",
        *session.posargs,
    )  # fmt: skip
    session.run(
        "python", "-m", "pytest", "tests/test_shutdown.py", "tests/test_next_event.py",
        "tests/test_speedups.py", "tests/test_broadcast.py", *session.posargs,
    )  # fmt: skip


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Every benchmark, printing the README's tables."""
    session.install("-e", ".[dev]")
    for script in ("encode", "stream", "idle", "fanout"):
        session.run("python", f"benchmarks/{script}.py", *session.posargs)
