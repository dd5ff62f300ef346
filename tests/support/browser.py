"""Debian's Chromium driven by Playwright, axe-core, and the pages' screenshots."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=375, height=812)
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


def screenshot_folder(tmp_path: Path) -> Path:
    """docs/screenshots/ when AUTAN_SCREENSHOTS=1 (to refresh the README's), else tmp_path."""
    folder = SCREENSHOTS if os.environ.get("AUTAN_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
async def _chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for the session: launching it costs seconds, a context does not."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium package is not installed (scripts/test.sh installs it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser(_chromium: Browser) -> AsyncIterator[Browser]:
    """The session's Chromium for one test; each test opens its own contexts (cookies,
    storage and pages are per context), and whatever it leaves open is closed after it."""
    assert _chromium.is_connected(), "Chromium died during an earlier test"
    yield _chromium
    for context in _chromium.contexts:
        await context.close()


async def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        """() => axe.run(document, {runOnly: {type: "tag",
             values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def check_page(page: Page, name: str, folder: Path, *, full_page: bool = True) -> None:
    """No serious axe-core violation and no sideways scrolling (WCAG 1.4.10, reflow) at
    desktop and phone widths; a screenshot of each into `folder`.

    `full_page=False` shows what a user sees in the window (the chat keeps its composer at
    the bottom of the window, which a full-page capture would draw over the messages).
    """
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        assert await serious_violations(page) == [], f"{name} at {label}"
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways at {size['width']} px"
        await page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=full_page)
    await page.set_viewport_size(DESKTOP)
