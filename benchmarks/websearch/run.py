"""Web search benchmark: the 535 service-public fiches served as HTML pages on loopback
behind a SearXNG-speaking engine (same fixture as the tests: word-overlap ranking), and the
535 service-public questions.

For each question: the engine's own hit@3 for the plain question, then Autan's web search
(`WebSearch.find`: query rewrite, engine, safe fetching of 3 pages + spares, trafilatura,
best passage), timed. Reported: share of questions whose pages read include the fiche that
answers them, citation precision (the cited passage is verbatim on the cited page), and the
seconds the search step adds before the model's first token (model time excluded).

    .venv/bin/python -m benchmarks.websearch.run [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
from tests.support.websearch import FakePage, web_fixture

from autan.websearch.addresses import DomainRules
from autan.websearch.engine import SearxngEngine
from autan.websearch.fetcher import SafeFetcher, client_session
from autan.websearch.service import WebSearch
from autan.websearch.settings import WebSettings

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"


def _data_dir() -> Path:
    # The worktree sits in /work/wt/<name>, the main checkout in /work/main: ../shared either way.
    for base in (ROOT.parent / "shared", ROOT.parent.parent / "shared"):
        if (base / "data" / "service-public").exists():
            return base / "data" / "service-public"
    raise SystemExit("../shared/data/service-public is missing: this benchmark needs it")


def load(limit: int) -> tuple[list[FakePage], list[dict[str, str]]]:
    folder = _data_dir()
    pages = []
    for line in (folder / "fiches.jsonl").read_text(encoding="utf-8").splitlines():
        fiche = json.loads(line)
        title = fiche["text"].split("\n", 1)[0][:90]
        pages.append(FakePage(f"/fiches/{fiche['id']}", title, fiche["text"], None))
    questions = [
        json.loads(line)
        for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return pages, questions[:limit]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(limit: int) -> dict[str, Any]:
    pages, questions = load(limit)
    texts = {p.path: f"{p.title}\n{p.text}" for p in pages}  # what the page shows
    async with web_fixture(pages) as web:
        settings = WebSettings(
            searxng_url=web.engine_url,
            allowed_hosts=web.site_host,
            engine_timeout=20,
            fetch_timeout=20,
            read_budget=40,
        )
        async with aiohttp.ClientSession() as engine_http, client_session(settings) as pages_http:
            engine = SearxngEngine(
                engine_http, web.engine_url, timeout=20, user_agent=settings.user_agent
            )
            search = WebSearch(engine, SafeFetcher(pages_http, settings), settings)
            rows: list[dict[str, Any]] = []
            for item in questions:
                wanted = web.url(f"/fiches/{item['fiche_id']}")
                started = time.perf_counter()
                plain = await engine.search(item["question"], lang="fr", limit=3)
                engine_seconds = time.perf_counter() - started
                findings = await search.find(item["question"], DomainRules(), "fr")
                read = [s.url for s in findings.sources]
                verbatim = [
                    " ".join(s.passage.split())[:200]
                    in " ".join(texts[s.url.removeprefix(web.site_url)].split())
                    for s in findings.sources
                ]
                rows.append(
                    {
                        "engine_hit3": wanted in [r.url for r in plain],
                        "read_hit": wanted in read,
                        "pages_read": len(read),
                        "verbatim": verbatim,
                        "engine_seconds": engine_seconds,
                        "search_seconds": findings.seconds,
                    }
                )
    n = len(rows)
    seconds = [r["search_seconds"] for r in rows]
    cited = [v for r in rows for v in r["verbatim"]]
    return {
        "questions": n,
        "pages": len(pages),
        "engine_hit3": sum(r["engine_hit3"] for r in rows) / n,
        "read_hit": sum(r["read_hit"] for r in rows) / n,
        "pages_read_mean": statistics.mean(r["pages_read"] for r in rows),
        "citation_precision": sum(cited) / len(cited) if cited else 0.0,
        "search_p50": pct(seconds, 0.5),
        "search_p95": pct(seconds, 0.95),
        "engine_p50": pct([r["engine_seconds"] for r in rows], 0.5),
        "load": os.getloadavg(),
    }


def write(result: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in result["load"])
    table = "\n".join(
        [
            "# Web search benchmark",
            "",
            f"{result['questions']} service-public questions, {result['pages']} fiches served "
            "as HTML on loopback behind a SearXNG-speaking engine (word-overlap ranking, the "
            "tests' fixture). Model time excluded. `.venv/bin/python -m benchmarks.websearch.run`",
            "",
            "| measure | value |",
            "|---|---|",
            f"| engine hit@3 (plain question) | {result['engine_hit3']:.1%} |",
            f"| answering fiche among the pages read | {result['read_hit']:.1%} |",
            f"| pages read per question (mean) | {result['pages_read_mean']:.2f} |",
            f"| citation precision (passage verbatim on the cited page) | "
            f"{result['citation_precision']:.1%} |",
            f"| time added before the first token, p50 | {result['search_p50']:.3f} s |",
            f"| time added before the first token, p95 | {result['search_p95']:.3f} s |",
            f"| engine alone, p50 | {result['engine_p50']:.3f} s |",
            "",
            f"Machine load (1, 5, 15 min) at the end: {load} — 2 cores shared with other work.",
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "websearch.md").write_text(table, encoding="utf-8")
    (RESULTS / "websearch.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=535, help="Questions asked.")
    args = parser.parse_args()
    print(write(asyncio.run(run(args.limit))))  # noqa: T201


if __name__ == "__main__":
    main()
