"""The arena, its leaderboard and a questionnaire in a real browser (Debian's Chromium), with
seeded votes and answers: axe and reflow checks at desktop and phone widths, screenshots, and
any script error on a page fails the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload, Locator, Page

from autan.devtools.demo import SeedPlan, seed
from tests.support.browser import DESKTOP, PHONE, check_page, screenshot_folder
from tests.support.browser_visits import WIDE, visit
from tests.support.chat_turns import scripted_site
from tests.support.library import database
from tests.support.web import Site

pytestmark = pytest.mark.slow
MODELS = ("albert-small", "albert-large")
# The end of the pair just above the composer, which sticks to the bottom of the window.
SHOW_PAIR_END = """() => {
  const pair = [...document.querySelectorAll("article.message-pair")].pop();
  const composer = document.getElementById("composer");
  const below = pair.getBoundingClientRect().bottom - composer.getBoundingClientRect().top;
  window.scrollBy(0, below + 8);
}"""
# Answer B's "Réponse arrêtée." just above the composer (A is above B on a phone).
SHOW_LAST_STOPPED = """() => {
  const note = [...document.querySelectorAll("article.message-pair .status-note")].pop();
  const composer = document.getElementById("composer");
  note.scrollIntoView({block: "center"});
  const over = note.getBoundingClientRect().bottom - composer.getBoundingClientRect().top;
  if (over > 0) window.scrollBy(0, over + 8);
}"""
# The source answer B's "[1]" opened, in the middle of the window above the composer.
SHOW_CITED = """() => {
  const item = [...document.querySelectorAll("article.message-pair li.cited")].pop();
  const composer = document.getElementById("composer");
  item.scrollIntoView({block: "center"});
  const over = item.getBoundingClientRect().bottom - composer.getBoundingClientRect().top;
  if (over > 0) window.scrollBy(0, over + 8);
}"""
# Answer B's code block and web link, in the middle of the window above the composer.
SHOW_CODE = """() => {
  const block = [...document.querySelectorAll('article.message-pair [data-side="b"] pre')].pop();
  const composer = document.getElementById("composer");
  block.scrollIntoView({block: "center"});
  const link = block.nextElementSibling;
  const over = link.getBoundingClientRect().bottom - composer.getBoundingClientRect().top;
  if (over > 0) window.scrollBy(0, over + 8);
}"""
# The latest pair's vote is open: both answers have ended.
VOTE_OPEN = """() => {
  const vote = [...document.querySelectorAll("article.message-pair button[value=a]")].pop();
  return Boolean(vote) && !vote.disabled;
}"""
NOTE = (
    "# Note de service\n\n"
    "La prime de fin d'année des agents est versée le 15 décembre, avec le traitement du "
    "mois. Son montant est de 450 euros pour un agent à temps plein.\n"
)


@pytest.fixture
async def site(tmp_path: Path, sqlite_databases: object) -> AsyncIterator[Site]:
    database_url: str = sqlite_databases.new()  # type: ignore[attr-defined]
    async with scripted_site(tmp_path, database_url, MODELS, embeddings=True) as running:
        async with database(running) as session:
            await seed(session, SeedPlan("agri", users=80, requests=2000, days=120, models=MODELS))
        yield running


async def test_arena_questionnaire_and_leaderboard(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    async with visit(browser, base, "member_a", viewport=DESKTOP) as member:
        await arena_and_questionnaire(member.page, base, folder)
    # The referent's leaderboard and the questionnaire's results.
    async with visit(browser, base, "ref_a", viewport=DESKTOP) as referent:
        await leaderboard_and_results(referent.page, base, folder)


async def arena_and_questionnaire(page: Page, base: str, folder: Path) -> None:
    # The chat offers the waiting questionnaire in a card, without blocking anything.
    card = page.locator("#questionnaire-card")
    await card.wait_for()
    assert "(anonyme)" in await card.inner_text()
    await check_page(page, "questionnaire-card", folder, full_page=False)

    # The arena: two anonymous answers side by side, a vote, the models revealed.
    await page.get_by_role("link", name="Comparer deux modèles").click()
    await page.get_by_role("heading", name="Comparer deux modèles").wait_for()
    await page.get_by_label("Votre question").fill("Rédige une note de synthèse sur le télétravail")
    await page.get_by_label("Cas d'usage").select_option("writing")
    await page.get_by_role("button", name="Obtenir deux réponses").click()
    await page.get_by_role("heading", name="Réponse A").wait_for()
    blind = await page.locator("main").inner_text()
    assert not any(m in blind for m in MODELS)
    await check_page(page, "arena-answers", folder)
    await page.get_by_role("button", name="A est meilleure").click()
    await page.get_by_text("Vous avez choisi la réponse A.").wait_for()
    revealed = await page.locator("main").inner_text()
    assert all(m in revealed for m in MODELS)
    await check_page(page, "arena-revealed", folder)

    # The questionnaire, answered from the card.
    await page.goto(f"{base}/")
    await card.get_by_role("link", name="Répondre").click()
    await page.get_by_text("Ce questionnaire est anonyme").wait_for()
    await check_page(page, "questionnaire-form", folder)
    await page.get_by_label("4", exact=True).first.check()
    await page.get_by_label("Synthèses").check()
    await page.get_by_label("4. Une suggestion ?").fill("Des réponses plus courtes")
    await page.get_by_role("button", name="Envoyer mes réponses").click()
    await page.get_by_role("heading", name="Merci").wait_for()
    await page.goto(f"{base}/")
    await page.wait_for_load_state("networkidle")
    assert await card.count() == 0


async def leaderboard_and_results(page: Page, base: str, folder: Path) -> None:
    await page.goto(f"{base}/admin/orgs/agri/arena")
    await page.get_by_role("heading", name="Comparaison de modèles").wait_for()
    assert await page.locator("#board-table tbody tr").count() == 2
    await check_page(page, "arena-leaderboard", folder)
    await page.get_by_role("link", name="Questionnaires").click()
    await page.get_by_role("link", name="Votre avis sur l'assistant (démonstration)").click()
    await page.get_by_text("Taux de réponse par mois").first.wait_for()
    assert await page.locator("svg.chart rect").count() > 5
    await check_page(page, "questionnaire-results", folder)
    await page.goto(f"{base}/admin/orgs/agri/questionnaires")
    await check_page(page, "questionnaire-editor", folder)


async def test_two_answers_to_compare_in_the_chat(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    """From the composer, by keyboard: two anonymous answers stream side by side (stacked on
    a phone), the vote names the models, and the pair stays in the conversation."""
    folder = screenshot_folder(tmp_path)
    base = site.autan.base_url
    async with visit(browser, base, "member_a") as member:
        await pair_in_the_chat(member.page, base, folder)
        await grounded_and_stopped_pairs(member.page, base, folder)


async def pair_in_the_chat(page: Page, base: str, folder: Path) -> None:
    await page.get_by_label("Votre message").fill("Rédige une note sur le télétravail")
    await page.get_by_role("button", name="Deux réponses à comparer").focus()
    await page.keyboard.press("Enter")
    pair = page.locator("article.message-pair")
    first_vote = pair.get_by_role("button", name="A est meilleure")
    await first_vote.wait_for()
    await page.wait_for_function(
        "() => !document.querySelector('article.message-pair button[value=a]').disabled"
    )
    await page.wait_for_url(f"{base}/c/**")
    assert "télétravail" in await page.locator("#chat-title").inner_text()
    path = page.url.removeprefix(base)
    await page.locator(f'#conversation-list a[href="{path}"]').wait_for()
    blind = await pair.inner_text()
    assert "télétravail" in blind and not any(m in blind for m in MODELS)
    assert await pair.locator(".arena-answer .message-body p").count() == 2
    await check_page(page, "chat-pair", folder, full_page=False)
    await shots(page, folder, "chat-pair")

    # The vote, by keyboard: a use case from the list, then "A is better".
    await pair.get_by_label("Cas d'usage").select_option("writing")
    await first_vote.focus()
    await page.keyboard.press("Enter")
    result = pair.locator(".pair-result")
    await result.wait_for()
    revealed = await result.inner_text()
    assert "Vous avez choisi la réponse A." in revealed
    assert all(m in revealed for m in MODELS)
    tagged = await pair.inner_text()
    assert all(m in tagged for m in MODELS)
    await check_page(page, "chat-pair-revealed", folder, full_page=False)
    await shots(page, folder, "chat-pair-revealed")

    # The next question is an ordinary turn of the same conversation.
    url = page.url
    await page.get_by_label("Votre message").fill("Merci, et une conclusion ?")
    await page.keyboard.press("Enter")
    await page.locator("article.message-assistant:not(.message-pair)").last.wait_for()
    await page.wait_for_function("() => !document.querySelector('#send').disabled")
    assert page.url == url
    await page.reload()
    assert await page.locator("article.message-assistant").count() == 3
    # On a reload the pair is two answers of the conversation, with a link to its comparison.
    await page.get_by_role("link", name="Voir la comparaison de ces deux réponses").wait_for()


async def grounded_and_stopped_pairs(page: Page, base: str, folder: Path) -> None:
    """A pair in a conversation with a file attached lists the file's passage under both
    answers, each answer's "[1]" a link to its own list, its code block highlighted with a
    copy button and its web link opening a new tab (before any reload, as after one); Stop
    ends both answers, each keeping its words and saying it was stopped."""
    await page.get_by_role("link", name="Nouvelle conversation").first.click()
    await page.wait_for_url(f"{base}/")
    note = FilePayload(name="note-de-service.md", mimeType="text/markdown", buffer=NOTE.encode())
    await page.set_input_files("#attach", files=[note])
    await page.locator('[data-status="ready"]').wait_for()
    compare = page.get_by_role("button", name="Deux réponses à comparer")
    # The scripted model repeats the question, so both answers say "[4]" (beyond their one
    # source) before their own "[1]"; "[code]" adds a code block and a web link to each.
    await page.get_by_label("Votre message").fill(
        "Quand la prime de fin d'année est-elle versée ? Voir [4] [code]"
    )
    await compare.click()
    pair = page.locator("article.message-pair").last
    await page.wait_for_function(VOTE_OPEN)
    # The conversation opened by the file takes the question's words as its title.
    assert "prime de fin d'année" in await page.locator("#chat-title").inner_text()
    sources = pair.locator(".arena-answer section.sources")
    assert await sources.count() == 2
    for index in range(2):
        assert "note-de-service.md" in await sources.nth(index).inner_text()
    live_links = await live_citations(pair)
    live_markup = await live_code_and_link(pair)
    await shots(page, folder, "chat-pair-code", SHOW_CODE)
    await check_page(page, "chat-pair-sources", folder, full_page=False)
    await shots(page, folder, "chat-pair-sources")
    # By keyboard, answer B's "[1]" opens answer B's source, not answer A's.
    await pair.locator('.arena-answer[data-side="b"] a.citation').focus()
    await page.keyboard.press("Enter")
    cited = pair.locator(".sources li.cited")
    await cited.wait_for()
    assert await cited.count() == 1
    assert await cited.get_attribute("id") == live_links["b"][0]
    assert await cited.locator("details").evaluate("(d) => d.open")
    assert await page.evaluate("() => document.activeElement.closest('li.cited') !== null")
    await shots(page, folder, "chat-pair-cited", SHOW_CITED)

    await page.get_by_label("Votre message").fill("Un long exposé sur la prime [slow]")
    await compare.click()
    pair = page.locator("article.message-pair").last
    for side in ("a", "b"):
        await pair.locator(f'.arena-answer[data-side="{side}"] .message-body li').nth(2).wait_for()
    await page.get_by_role("button", name="Arrêter").click()
    await pair.get_by_text("Réponse arrêtée.").first.wait_for()
    assert await pair.get_by_text("Réponse arrêtée.").count() == 2
    await page.wait_for_function("() => !document.querySelector('#send').disabled")
    assert await page.get_by_role("button", name="Arrêter").is_hidden()
    for side in ("a", "b"):
        written = await pair.locator(
            f'.arena-answer[data-side="{side}"] .message-body'
        ).inner_text()
        assert written.startswith("Voici une réponse") and "Fin de la réponse" not in written
    assert await pair.get_by_role("button", name="A est meilleure").is_enabled()
    await shots(page, folder, "chat-pair-stopped", SHOW_LAST_STOPPED)
    # Reloaded: both stored answers of the stopped pair say so.
    await page.reload()
    await page.get_by_text("Réponse arrêtée.").first.wait_for()
    assert await page.get_by_text("Réponse arrêtée.").count() == 2
    # The grounded pair's answers, now ordinary answers, link their "[1]" with the markup
    # they had live (same styles, same place in the keyboard order).
    for side, (target, markup) in live_links.items():
        reloaded = page.locator(f'article.message-assistant a.citation[href="#{target}"]')
        assert await reloaded.evaluate("(a) => a.outerHTML") == markup
        # Its code block and web link too (highlighted, copy button, new tab).
        answer = page.locator(f'article.message-assistant:has(a.citation[href="#{target}"])')
        assert await code_and_link(answer.locator(".message-body")) == live_markup[side]


async def live_citations(pair: Locator) -> dict[str, tuple[str, str]]:
    """Each side's "[1]" is a link to that side's own first source, "[4]" (no such source)
    stays text; by side, the source's id and the link's markup."""
    found: dict[str, tuple[str, str]] = {}
    for side in ("a", "b"):
        answer = pair.locator(f'.arena-answer[data-side="{side}"]')
        body = answer.locator(".message-body")
        links = body.locator("a.citation")
        assert await links.count() == 1
        assert await links.inner_text() == "[1]"
        assert await links.get_attribute("aria-label") == "Source 1"
        assert "[4]" in await body.inner_text()
        target = (await links.get_attribute("href") or "").removeprefix("#")
        # The source it names is under this answer.
        assert await answer.locator(f'.sources li[id="{target}"]').count() == 1
        found[side] = (target, await links.evaluate("(a) => a.outerHTML"))
    assert found["a"][0] != found["b"][0]
    return found


async def live_code_and_link(pair: Locator) -> dict[str, tuple[str, str]]:
    """Each side's answer is rendered as an answer is while it streams: by side, the markup
    of its code block and of its web link."""
    return {
        side: await code_and_link(pair.locator(f'.arena-answer[data-side="{side}"] .message-body'))
        for side in ("a", "b")
    }


async def code_and_link(body: Locator) -> tuple[str, str]:
    """The answer's one code block is highlighted and has its copy button, its one web link
    opens a new tab without handing over the page; their markup."""
    block = body.locator("pre")
    assert await block.count() == 1
    code = block.locator("> code")
    assert await code.get_attribute("data-highlighted") == "yes"
    assert "hljs" in (await code.get_attribute("class") or "").split()
    assert await code.locator('span[class^="hljs-"]').count() > 0
    assert await block.locator("> button.copy-code").inner_text() == "Copier le code"
    link = body.locator('a[href^="https://"]')
    assert await link.count() == 1
    assert await link.get_attribute("target") == "_blank"
    assert await link.get_attribute("rel") == "noopener noreferrer nofollow"
    return (
        await block.evaluate("(pre) => pre.outerHTML"),
        await link.evaluate("(a) => a.outerHTML"),
    )


async def shots(page: Page, folder: Path, name: str, show: str = SHOW_PAIR_END) -> None:
    """The screenshots the brief asks for: 1440x900 and a 375x812 phone, what a user sees
    (`show` scrolls to it)."""
    for label, size in (("desktop", WIDE), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.evaluate(show)
        await page.screenshot(path=str(folder / f"{name}-{label}.png"))
    await page.set_viewport_size(WIDE)
