"""The models page in Chromium: each chat model a member may use, its description, speed and
the answer benchmark's figures (from the file shipped in the package), in French."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from autan.chat.model_figures import figures_of
from autan.llm.config import ModelConfig, ModelsConfig, ReplicaConfig
from autan.llm.embedded.weights import CATALOGUE, DEFAULT_CHAT_MODEL
from tests.support.browser import check_page, screenshot_folder
from tests.support.web import PASSWORD, PEOPLE, Site, run_site
from tests.test_people_browser import new_page, sign_in

pytestmark = pytest.mark.slow

PACKAGED = CATALOGUE[DEFAULT_CHAT_MODEL]


@pytest.fixture
async def site(tmp_path: Path, database_url: str) -> AsyncIterator[Site]:
    # Model servers are never called by this page: the replicas need not answer.
    replica = [ReplicaConfig(url="http://127.0.0.1:9/v1")]
    models = ModelsConfig(
        models=[
            ModelConfig(
                id=PACKAGED.name,
                display_name=PACKAGED.display_name,
                description=PACKAGED.description,
                context_length=2048,
                replicas=replica,
            ),
            ModelConfig(id="grand", description="Modèle distant", replicas=replica),
        ]
    )
    async with run_site(tmp_path, database_url, models) as running:
        yield running


async def test_the_models_page_shows_each_models_figures(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    figures = figures_of(PACKAGED.name)
    assert figures is not None, "the default model ships with benchmark figures"
    base = site.autan.base_url
    errors: list[str] = []
    context, page = await new_page(browser, errors)
    await sign_in(page, base, PEOPLE["member_a"][0], PASSWORD)
    await page.wait_for_url(f"{base}/")
    await page.get_by_role("link", name="Modèles").first.click()
    await page.wait_for_url(f"{base}/models")
    packaged = page.locator("section", has=page.get_by_role("heading", name=PACKAGED.display_name))
    text = await packaged.inner_text()
    assert PACKAGED.description in text
    assert f"{figures['decode_tokens_per_s']:.0f} jetons/s" in text
    assert f"{int(figures['contains_gold'] * 100 + 0.5)} %" in text
    assert f"Mesuré sur {figures['questions']} questions" in text
    remote = await page.locator(
        "section", has=page.get_by_role("heading", name="grand")
    ).inner_text()
    assert "Modèle distant" in remote and "Pas mesuré" in remote
    await check_page(page, "models", screenshot_folder(tmp_path))
    await context.close()
    assert errors == []
