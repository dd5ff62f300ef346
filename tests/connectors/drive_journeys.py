"""What the drive journeys in the browser share: a WebDAV share with a few public-service
files (its fixtures, `share_server` and `share_site`, are in this folder's conftest) and the
check made on each page (axe-core, no sideways scrolling, a screenshot at both sizes)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, ViewportSize

from tests.support.browser import serious_violations
from tests.support.rag import FICHE_MD, OTHER_MD

SIZES = {
    "desktop": ViewportSize(width=1440, height=900),
    "phone": ViewportSize(width=375, height=812),
}
APP_PASSWORD = "mot-de-passe-application"


def share(tmp_path: Path) -> Path:
    """A folder as a service shares it: a fiche at the top, a sub-folder with two more."""
    root = tmp_path / "Partage"
    (root / "Procédures").mkdir(parents=True)
    (root / "carte-identite.md").write_text(FICHE_MD, encoding="utf-8")
    (root / "Procédures" / "permis.md").write_text(OTHER_MD, encoding="utf-8")
    (root / "Procédures" / "horaires.txt").write_text(
        "La mairie est ouverte du lundi au vendredi, de 9 h à 17 h.", encoding="utf-8"
    )
    return root


async def check(page: Page, name: str, folder: Path, *, in_view: str = "") -> None:
    """No serious axe-core violation, no sideways scrolling; a screenshot at both sizes, of
    the whole page, or of the window with `in_view` shown."""
    for label, size in SIZES.items():
        await page.set_viewport_size(size)
        assert await serious_violations(page) == [], f"{name} at {label}"
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways at {label}"
        if in_view:
            await page.locator(in_view).scroll_into_view_if_needed()
        path = str(folder / f"{name}-{label}.png")
        await page.screenshot(path=path, full_page=not in_view)
    await page.set_viewport_size(SIZES["desktop"])
