"""Chromium's six connections per origin over HTTP/1.1, and none of that over HTTP/2.

One hypercorn serves ``tests/h2_app.py`` over TLS (HTTP/2, by ALPN) with a
certificate made here, and over plain HTTP/1.1 on a second port. The page
opens ten ``EventSource``\\ s to its own origin. Over HTTP/2 all ten stream at
once on one connection; over HTTP/1.1 six do, on six connections, and the
seventh waits until one of them closes. Checked from both ends: what the page
received, the protocol Chromium reports (``nextHopProtocol``), and what the
server saw (streams open at once, client ports, HTTP versions).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pytest

from tests.servers import RunningServer, free_port, run_server

from .conftest import WAIT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.real_component("chromium")

SOURCES = 10
CONNECTING, OPEN, CLOSED = 0, 1, 2


@dataclass
class Origins:
    server: RunningServer
    https: str  # HTTP/2
    http: str  # HTTP/1.1

    def stats(self, key: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.http}/stats?key={key}", timeout=5) as response:
            return cast("dict[str, Any]", json.load(response))

    def release(self, key: str) -> None:
        """End every stream of ``key``; their reconnections get 204 and stop."""
        with urllib.request.urlopen(f"{self.http}/release?key={key}", timeout=5):
            pass


@pytest.fixture(scope="module")
def origins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Origins]:
    import trustme  # a throwaway certificate authority, for this test only

    folder = tmp_path_factory.mktemp("h2-tls")
    certificate = trustme.CA().issue_cert("127.0.0.1")
    certificate.private_key_pem.write_to_path(str(folder / "key.pem"))
    certificate.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    plain = free_port()
    tls = ["--certfile", str(folder / "cert.pem"), "--keyfile", str(folder / "key.pem")]
    args = [*tls, "--insecure-bind", f"127.0.0.1:{plain}"]
    with run_server("hypercorn", folder, app="tests.h2_app:app", options=args) as server:
        yield Origins(server, f"https://127.0.0.1:{server.port}", f"http://127.0.0.1:{plain}")


@pytest.fixture
def page_at(browser: Browser) -> Iterator[Callable[[str], Page]]:
    contexts = []

    def open_page(url: str) -> Page:
        # The certificate is self-signed: Chromium is told to accept it.
        context = browser.new_context(ignore_https_errors=True)
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{url}/")
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


def sources(page: Page) -> list[dict[str, int]]:
    """Per source: ``events`` received, ``opens``, and its ``readyState``."""
    return cast(
        "list[dict[str, int]]",
        page.evaluate(
            "window.sources.map(s => ({events: s.events.length, opens: s.opens,"
            " readyState: s.es.readyState}))"
        ),
    )


def protocols(page: Page, key: str) -> set[str]:
    """``nextHopProtocol`` of the page itself and of every finished stream of ``key``."""
    return set(
        page.evaluate(
            """(key) => [
                performance.getEntriesByType("navigation")[0].nextHopProtocol,
                ...performance.getEntriesByType("resource")
                    .filter(e => e.name.includes(`key=${key}&`)).map(e => e.nextHopProtocol),
            ]""",
            key,
        )
    )


def finish(page: Page, origins: Origins, key: str) -> None:
    origins.release(key)
    page.wait_for_function("window.sources.every(s => s.es.readyState === 2)")


def test_http2_streams_ten_eventsources_on_one_connection(
    page_at: Callable[[str], Page], origins: Origins
) -> None:
    page = page_at(origins.https)
    page.evaluate(f"openSources('h2', {SOURCES})")
    # Every source streams: each has received several ticks, all at once.
    page.wait_for_function("window.sources.every(s => s.events.length >= 4)")
    assert all(source["readyState"] == OPEN for source in sources(page))
    seen = origins.stats("h2")
    assert seen["open"] == seen["max_open"] == SOURCES
    assert seen["versions"] == ["2"]
    assert len(seen["ports"]) == 1  # one TCP connection

    # Closing one resets its HTTP/2 stream: its generator ends, the others go on.
    page.evaluate("window.sources[0].es.close()")
    deadline = time.monotonic() + WAIT_MS / 1000
    while "h2-0" not in origins.stats("h2")["closed"]:
        assert time.monotonic() < deadline, "the closed source's generator is still running"
        time.sleep(0.02)
    page.wait_for_function("window.sources.slice(1).every(s => s.events.length >= 8)")
    assert origins.stats("h2")["open"] == SOURCES - 1
    finish(page, origins, "h2")
    assert protocols(page, "h2") == {"h2"}


def test_http11_holds_the_seventh_eventsource_until_a_connection_frees(
    page_at: Callable[[str], Page], origins: Origins
) -> None:
    page = page_at(origins.http)
    page.evaluate(f"openSources('h1', {SOURCES})")
    page.wait_for_function("window.sources.filter(s => s.events.length >= 4).length === 6")
    states = sources(page)
    waiting = [source for source in states if source["events"] == 0]
    assert len(waiting) == SOURCES - 6
    assert all(source["readyState"] == CONNECTING for source in waiting)
    seen = origins.stats("h1")
    assert seen["open"] == seen["max_open"] == 6
    assert seen["versions"] == ["1.1"]
    assert len(seen["ports"]) == 6  # six TCP connections, one stream each

    # Closing one frees a connection: exactly one waiting source gets it.
    page.evaluate("window.sources.find(s => s.events.length > 0).es.close()")
    page.wait_for_function("window.sources.filter(s => s.events.length > 0).length === 7")
    assert sum(source["events"] == 0 for source in sources(page)) == SOURCES - 7
    assert origins.stats("h1")["max_open"] == 6  # never seven at once
    finish(page, origins, "h1")
    assert protocols(page, "h1") == {"http/1.1"}
