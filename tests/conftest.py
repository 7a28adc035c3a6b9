"""Shared fixtures: the anyio backends, and the real-component policy."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

# The machines this runs on are small and noisy: no per-example deadline.
settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")

REQUIRE_ALL = os.environ.get("SSE_ASGI_REQUIRE_ALL") == "1"


@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param("trio", id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every anyio test runs on asyncio and on trio."""
    return str(request.param)


def require_component(name: str, why: str) -> None:
    """Skip the calling test when a real component is missing -- or fail under SSE_ASGI_REQUIRE_ALL=1.

    CI installs every component and sets SSE_ASGI_REQUIRE_ALL=1, so a green
    run never hides a skipped real-component test.
    """
    message = f"{name} is not available: {why}"
    if REQUIRE_ALL:
        pytest.fail(f"{message} (SSE_ASGI_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(message)


def find_executable(*names: str) -> str | None:
    """The first of ``names`` found on PATH, or None."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop combinations that cannot exist, rather than skipping them: redis-py's
    asyncio client runs on asyncio only."""
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        params = params.params if params is not None else {}
        if params.get("anyio_backend") == "trio" and params.get("make_broadcast") == "redis":
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
