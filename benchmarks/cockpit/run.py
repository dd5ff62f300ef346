"""Cockpit figures with many usage rows: seed an organisation, time `cockpit.overview`.

Usage: .venv/bin/python benchmarks/cockpit/run.py [--requests N] [--users N] [--url DB_URL]
Writes benchmarks/results/cockpit.md and .json. Times the service call that the usage page
makes (the page adds template rendering on top).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from autan.accounts.repository import org_by_slug
from autan.core.db import create_engine, session_factory
from autan.core.migrate import upgrade
from autan.devtools.demo import SeedPlan, seed
from autan.footprint.cockpit import footprint
from autan.insights import cockpit
from autan.insights.cockpit import Filters, Granularity
from autan.usage.models import UsageDay, UsageUserDay, UsageUserPeriod

RESULTS = Path(__file__).resolve().parents[1] / "results"
VIEWS = {
    "30 days per day": (30, Granularity.DAY, ""),
    "90 days per week": (90, Granularity.WEEK, ""),
    "365 days per month": (365, Granularity.MONTH, ""),
    "365 days per month, web only": (365, Granularity.MONTH, "web"),
}


async def main(
    url: str, requests: int, users: int, runs: int, *, reseed: bool = True
) -> dict[str, object]:
    engine = create_engine(url)
    await upgrade(engine)
    factory = session_factory(engine)
    started = time.perf_counter()
    if reseed:
        async with factory() as session:
            await seed(session, SeedPlan("bench", users=users, requests=requests, days=365))
    seeded = time.perf_counter() - started
    timings: dict[str, float] = {}
    page_timings: dict[str, float] = {}
    async with factory() as session:
        org = await org_by_slug(session, "bench")
        assert org is not None
        days = await session.scalar(select(func.count()).select_from(UsageDay))
        user_days = await session.scalar(select(func.count()).select_from(UsageUserDay))
        user_periods = await session.scalar(select(func.count()).select_from(UsageUserPeriod))
        for name, (period, gran, channel) in VIEWS.items():
            samples, pages = [], []
            for _ in range(runs):
                filters = Filters(org.id, period, gran, channel=channel)
                t0 = time.perf_counter()
                await cockpit.overview(session, filters)
                t1 = time.perf_counter()
                await footprint(session, filters)  # the page's other figures
                samples.append((t1 - t0) * 1000)
                pages.append((time.perf_counter() - t0) * 1000)
            timings[name] = statistics.median(samples)
            page_timings[name] = statistics.median(pages)
    await engine.dispose()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {
        "engine": url.split(":")[0],
        "requests": requests,
        "users": users,
        "seed_seconds": round(seeded, 1) if reseed else None,
        "rollup_rows": days,
        "user_day_rows": user_days,
        "user_period_rows": user_periods,
        "p50_ms": {k: round(v, 1) for k, v in timings.items()},
        "page_p50_ms": {k: round(v, 1) for k, v in page_timings.items()},
        "load": load,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--url", default="")
    # Seeding a million rows takes minutes (20 on a busy machine): time a database seeded
    # by an earlier run again, e.g. once the machine is quiet, after migrating it.
    parser.add_argument("--no-seed", action="store_true", help="time the --url database as is")
    args = parser.parse_args()
    url = args.url or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/cockpit.db"
    result = asyncio.run(main(url, args.requests, args.users, args.runs, reseed=not args.no_seed))
    RESULTS.mkdir(exist_ok=True)
    engine = "postgresql" if str(result["engine"]).startswith("postgresql") else "sqlite"
    (RESULTS / f"cockpit-{engine}.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# Cockpit: usage figures with many usage rows",
        "",
        f"Engine {result['engine']}, {result['requests']:,} usage rows, {result['users']} people, "
        f"365 days; rollup rows: {result['rollup_rows']:,} per-day, "
        f"{result['user_day_rows']:,} user-day, {result['user_period_rows']:,} user-week and "
        f"user-month. "
        + (
            f"Seeding took {result['seed_seconds']} s."
            if result["seed_seconds"] is not None
            else "Seeded by an earlier run (`--no-seed`)."
        ),
        f"Machine load: `{result['load']}` (shared 2-core machine).",
        "",
        "| view | p50 ms (`cockpit.overview`) | p50 ms (overview + footprint, the page) |",
        "|---|---|---|",
        *(
            f"| {k} | {v} | {result['page_p50_ms'][k]} |"  # type: ignore[index]
            for k, v in result["p50_ms"].items()  # type: ignore[attr-defined]
        ),
        "",
    ]
    (RESULTS / f"cockpit-{engine}.md").write_text("\n".join(lines))
    print("\n".join(lines))  # noqa: T201
