"""Visits of the site in Chromium: a page signed in as one of the test people, script errors
watched, and the desktop and phone screenshots of what a user sees."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, ViewportSize

from tests.support.browser import PHONE, serious_violations
from tests.support.web import PASSWORD, PEOPLE

WIDE = ViewportSize(width=1440, height=900)


@dataclass
class Visit:
    """A page in a context of its own, and the script errors it has raised so far."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)


async def sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form; the chat page follows."""
    await page.goto(f"{base}/login")
    await page.get_by_label("Adresse électronique").fill(email)
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{base}/")


@contextlib.asynccontextmanager
async def visit(
    browser: Browser, base: str, who: str | None = None, *, viewport: ViewportSize = WIDE
) -> AsyncIterator[Visit]:
    """A French page signed in as `who` (one of `PEOPLE`; None: signed out); any script
    error on it fails the test once the visit ends."""
    # axe-core is injected as an inline script, which the pages' CSP would refuse.
    context = await browser.new_context(viewport=viewport, locale="fr-FR", bypass_csp=True)
    try:
        page = await context.new_page()
        page.set_default_timeout(60_000)
        opened = Visit(context, page)
        page.on("pageerror", lambda e: opened.errors.append(str(e)))
        if who is not None:
            await sign_in(page, base, PEOPLE[who][0])
        yield opened
        assert opened.errors == [], opened.errors
    finally:
        await context.close()


# Scroll an element into the middle of the window, then up above the chat's composer if it
# sticks over it (on a phone the composer takes half the window).
INTO_VIEW = """(element) => {
  element.scrollIntoView({block: "center"});
  const composer = document.getElementById("composer");
  if (!composer) return;
  const over = element.getBoundingClientRect().bottom - composer.getBoundingClientRect().top;
  if (over > 0) window.scrollBy(0, over + 8);
}"""


async def shots(page: Page, folder: Path, name: str, shown: str = "") -> None:
    """Screenshots at 1440x900 and 375x812, each without serious axe-core violations, the
    `shown` element (else the page's end) in view."""
    for label, size in (("desktop", WIDE), ("phone", PHONE)):
        await page.set_viewport_size(size)
        if shown:
            await page.locator(shown).first.evaluate(INTO_VIEW)
        else:
            await page.evaluate("() => scrollTo(0, document.scrollingElement.scrollHeight)")
        assert await serious_violations(page) == [], f"{name} at {label}"
        await page.screenshot(path=str(folder / f"{name}-{label}.png"))
    await page.set_viewport_size(WIDE)
