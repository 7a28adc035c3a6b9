"""Fixtures for the browser tests: headless Chromium (Debian's, not Playwright's download) and uvicorn.

Chromium and the ``playwright`` package are real components: missing, the
tests skip -- or fail under ``SSE_ASGI_REQUIRE_ALL=1``, as CI runs them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.conftest import require_component
from tests.servers import RunningServer, run_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]

#: Playwright's own waits (wait_for_function, evaluate of a promise), in ms.
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        require_component(
            "chromium",
            "no `chromium` or `chromium-browser` on PATH (install it with `apt-get install chromium`)",
        )
        raise AssertionError("unreachable")  # require_component skips or fails
    return path


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_component("playwright", "the `playwright` Python package is not installed")
        raise AssertionError("unreachable") from None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("browser-uvicorn")
    with run_server("uvicorn-h11", folder, app="tests.browser.browser_app:app") as running:
        yield running


@pytest.fixture
def page(browser: Browser, server: RunningServer) -> Iterator[Page]:
    """A fresh browser context on the test page, served same-origin by ``server``."""
    context = browser.new_context()
    try:
        context.set_default_timeout(WAIT_MS)
        opened = context.new_page()
        opened.goto(f"{server.url}/")
        yield opened
    finally:
        context.close()
