"""The dashboard demo (``examples/dashboard.py``) in headless Chromium, served by uvicorn.

A user's path through it: the page loads and its four panels connect; a
notification published through the form comes back through the stream; a
network drop makes every stream reconnect and resume from its
``Last-Event-ID``; the job reaches 100 %, and a screenshot is taken (into the
test's temporary folder) and checked. Last, Ctrl-C stops the server at once
with the page still connected.
"""

from __future__ import annotations

import contextlib
import json
import signal
import struct
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

import pytest

from examples.dashboard import DEFAULT_ANSWER
from sse_asgi import iter_events
from tests.servers import RunningServer, run_server

from .conftest import WAIT_MS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.real_component("chromium")

#: The panels fed by an EventSource; the fourth (the answer) is read with fetch().
STREAM_PANELS = ["progress-panel", "notifications-panel", "logs-panel"]

#: The bar's fill once the job is done: --ok in dashboard.css.
DONE_RGB = (0x1F, 0x9D, 0x55)

#: A fast dashboard: a 3 s job, then a long rest at 100 % so the screenshot catches it.
FAST = {
    "DASHBOARD_JOB_SECONDS": "3",
    "DASHBOARD_JOB_PAUSE": "120",
    "DASHBOARD_LOG_INTERVAL": "0.15",
    "DASHBOARD_TOKEN_DELAY": "0.01",
}


@contextlib.contextmanager
def dashboard_page(
    browser: Browser, tmp_path: Path, env: dict[str, str]
) -> Iterator[tuple[RunningServer, Page]]:
    """uvicorn serving the dashboard app, and a 1280 px wide page on it."""
    with run_server("uvicorn-h11", tmp_path, app="examples.dashboard:app", env=env) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            context.set_default_timeout(WAIT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{server.url}/")
            yield server, page
            assert errors == [], errors  # no uncaught exception in the page's script
        finally:
            context.close()


def wait_connected(page: Page) -> None:
    for panel in STREAM_PANELS:
        page.wait_for_selector(f"#{panel}[data-state=open]")


def publish(server: RunningServer, text: str) -> str:
    """POST a notification as another client would; return its id."""
    request = urllib.request.Request(
        f"{server.url}/notifications",
        data=json.dumps({"text": text}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201
        return cast("str", json.load(response)["id"])


def data_ids(page: Page, selector: str) -> list[str]:
    return cast(
        "list[str]", page.eval_on_selector_all(selector, "(els) => els.map((e) => e.dataset.id)")
    )


def replayed_ids(server: RunningServer, path: str, after: str, until: str) -> list[str]:
    """The ids a client resuming ``path`` after ``after`` gets, up to ``until``: what the
    server holds, to compare with what the page shows."""
    request = urllib.request.Request(f"{server.url}{path}", headers={"last-event-id": after})
    ids = []
    with urllib.request.urlopen(request, timeout=5) as response:
        for event in iter_events(iter(lambda: response.read1(65536), b"")):
            if event.event == "message":
                ids.append(event.id)
                if event.id == until:
                    return ids
    raise AssertionError(f"{path} ended before {until}: {ids}")


def test_dashboard_end_to_end(browser: Browser, tmp_path: Path) -> None:
    with dashboard_page(browser, tmp_path, FAST) as (server, page):
        # All four panels connect; the page asks its first question by itself.
        wait_connected(page)
        page.wait_for_selector("#answer-panel[data-state=done]")
        assert page.text_content("#answer") == DEFAULT_ANSWER
        assert page.text_content("#summary") == "3/3 streams open · 0 reconnects"

        # Publish through the form: it appears through the stream, not by local insertion.
        text = f"Hello from the browser test {uuid.uuid4().hex[:8]}"
        page.fill("#notify-text", text)
        page.click("#notify-send")
        mine = page.locator("#notifications li", has_text=text)
        mine.wait_for()
        assert mine.get_attribute("data-id")  # it carries the broadcast's id
        assert page.input_value("#notify-text") == ""

        # A network drop: every stream ends; one notification is published while
        # the browser is away, and arrives exactly once after it reconnects.
        page.click("#drop")
        page.wait_for_selector("#notifications-panel[data-state=reconnecting]")
        missed = f"Published while disconnected {uuid.uuid4().hex[:8]}"
        missed_id = publish(server, missed)
        for panel in STREAM_PANELS:
            page.wait_for_selector(f"#{panel}[data-state=open][data-reconnects='1']")
        page.locator("#notifications li", has_text=missed).wait_for()
        assert page.text_content("#summary") == "3/3 streams open · 3 reconnects"
        assert page.text_content("#logs-panel [data-role=reconnects]") == "1 reconnect"
        notification_ids = data_ids(page, "#notifications li")
        assert missed_id in notification_ids
        assert len(notification_ids) == len(set(notification_ids))  # replayed, not repeated
        # The log resumed after its Last-Event-ID too: in order, no gap, no repeat --
        # exactly what the server replays after the first record the page shows.
        log_ids = data_ids(page, "#log .record[data-id]")
        server_ids = replayed_ids(server, "/events/logs", log_ids[0], log_ids[-1])
        assert log_ids[1:] == server_ids
        multi = page.locator("#log .record.multi").first
        assert "\n" in (multi.text_content() or "")  # a multi-line record, shown as one

        # The job reaches 100 % (the bar filled and its transition over), then the screenshot.
        page.wait_for_selector("#progress[aria-valuenow='100']")
        page.wait_for_function(
            """() => {
                const fill = document.getElementById("progress-fill").getBoundingClientRect();
                const bar = document.getElementById("progress").getBoundingClientRect();
                return Math.abs(fill.width - bar.width) < 0.5;
            }"""
        )
        job = page.text_content("#job-name")
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        # Still the same finished job after the shot: the picture shows it at 100 %.
        assert page.get_attribute("#progress", "aria-valuenow") == "100"
        assert page.text_content("#progress-label") == "100%"
        assert page.text_content("#job-name") == job
        bar = page.locator("#progress").bounding_box()
        assert bar is not None

    width, height, pixel = read_png(shot)
    assert width == 1280
    assert 800 <= height <= 1400
    assert shot.stat().st_size > 30_000  # text, colours: not a blank page
    # The bar's pixels, across its whole width, are the "done" fill colour.
    y = int(bar["y"] + bar["height"] / 2)
    for fraction in (0.02, 0.25, 0.5, 0.75, 0.98):
        x = int(bar["x"] + bar["width"] * fraction)
        assert close(pixel(x, y), DONE_RGB), (fraction, pixel(x, y))
    # And beside it, the page's white panel: the check is not vacuous.
    assert close(pixel(int(bar["x"]) - 6, y), (255, 255, 255))


def test_ctrl_c_exits_at_once_with_the_page_connected(browser: Browser, tmp_path: Path) -> None:
    slow_answer = {**FAST, "DASHBOARD_TOKEN_DELAY": "0.5"}  # still streaming at Ctrl-C
    with dashboard_page(browser, tmp_path, slow_answer) as (server, page):
        wait_connected(page)
        page.wait_for_selector("#answer-panel[data-state=streaming]")

        server.signal(signal.SIGINT)
        elapsed = server.wait(timeout=10)

        assert elapsed < 2.0, (elapsed, server.log())
        assert "Traceback" not in server.log(), server.log()
        # The page saw each stream end: the EventSources try to reconnect, and the
        # answer, a fetch() stream, is shown cut short.
        for panel in STREAM_PANELS:
            page.wait_for_selector(f"#{panel}[data-state=reconnecting]")
        page.wait_for_selector("#answer-panel[data-state=interrupted]")


# -- a small PNG reader (the test needs no imaging library) ---------------------------------


def read_png(path: Path) -> tuple[int, int, PixelReader]:
    """Width, height and a pixel reader of an 8-bit RGB(A), non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"corrupt {kind!r} chunk"
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
        if kind == b"IEND":
            break
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert color in (2, 6), color  # RGB or RGBA: what Chromium writes
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)  # all of it: a truncated or corrupt image fails here
    assert len(raw) == height * (1 + width * channels)
    return width, height, PixelReader(raw, width * channels, channels)


class PixelReader:
    """``reader(x, y)`` is the RGB of a pixel; rows are unfiltered on demand, top down
    (each row's filter may refer to the one above), so reading near the top is quick."""

    def __init__(self, raw: bytes, stride: int, channels: int) -> None:
        self.raw, self.stride, self.channels = raw, stride, channels
        self.rows: list[bytearray] = []

    def __call__(self, x: int, y: int) -> tuple[int, int, int]:
        while len(self.rows) <= y:
            self.rows.append(self.unfilter(len(self.rows)))
        row, i = self.rows[y], x * self.channels
        return row[i], row[i + 1], row[i + 2]

    def unfilter(self, y: int) -> bytearray:
        """Undo row ``y``'s filter (None, Sub, Up, Average or Paeth)."""
        stride, bpp = self.stride, self.channels
        start = y * (stride + 1)
        kind, row = self.raw[start], bytearray(self.raw[start + 1 : start + 1 + stride])
        previous = self.rows[y - 1] if y else bytearray(stride)
        for i in range(stride):
            left = row[i - bpp] if i >= bpp else 0
            up = previous[i]
            up_left = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                row[i] = (row[i] + best) & 0xFF
        return row


def close(rgb: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, expected, strict=True))
