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


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Every benchmark, printing the README's tables."""
    session.install("-e", ".[dev]")
    for script in ("encode", "stream", "idle", "fanout"):
        session.run("python", f"benchmarks/{script}.py", *session.posargs)
