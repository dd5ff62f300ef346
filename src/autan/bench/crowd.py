"""The planner's people, stepped through the ramp, in one process or spread over several.

One Python process reads about 30,000 streamed tokens a second before its own CPU becomes
the limit (`planner CPU %`), which 2,000 people talking to a 50 tokens/s model exceed. With
`client_processes` > 1, the people are dealt round-robin to child processes that obey the
parent step by step (sign in the newcomers, run the step, report), so every step still
starts and stops together and its figures are summed.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import random
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import uvloop

from autan.bench.load import (
    Account,
    Failure,
    LoadPlan,
    Refused,
    SimulatedUser,
    StepStats,
    attachment_text,
    format_row,
)

Progress = Callable[[str], None]


class Crowd:
    """Some of the people of a plan (those of the given indexes), in this process."""

    def __init__(self, plan: LoadPlan, people: Sequence[tuple[int, Account]]) -> None:
        self.plan = plan
        self._people = people
        self._robin = itertools.cycle(plan.urls)
        self._attachment = attachment_text()
        # No pool limit: every simulated person may have a request in flight at once.
        self._connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        self.users: list[SimulatedUser] = []

    def _user(self, index: int, account: Account) -> SimulatedUser:
        share = self.plan.attach_share
        # Exactly the share asked, spread evenly over the ramp's people.
        attaches = int((index + 1) * share) > int(index * share)
        return SimulatedUser(
            account,
            self._connector,
            lambda: next(self._robin),
            self.plan,
            self._attachment if attaches else None,
            random.Random(self.plan.seed * 1_000_003 + index),
        )

    async def sign_in(self, step_users: int, stats: StepStats) -> None:
        """Sign in those of the first `step_users` people not signed in yet, a few at a time."""
        newcomers = [
            self._user(index, account)
            for index, account in self._people[len(self.users) :]
            if index < step_users
        ]
        self.users.extend(newcomers)
        gate = asyncio.Semaphore(self.plan.sign_in_concurrency)

        async def one(user: SimulatedUser) -> None:
            async with gate:
                try:
                    await user.sign_in(stats)
                except Refused:
                    stats.error("sign-in refused (503)")
                except Failure as exc:
                    stats.error(exc.kind)
                except TimeoutError:
                    stats.error("sign-in timeout")
                except aiohttp.ClientError as exc:
                    stats.error(f"sign-in connection: {type(exc).__name__}")

        await asyncio.gather(*(one(u) for u in newcomers))
        stats.requests = 0  # sign-ins are not part of the step's throughput

    async def run(self, stats: StepStats) -> None:
        """Everyone signed in talks for the step's duration; turns under way then finish."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        started, cpu = loop.time(), time.process_time()
        # Those whose sign-in failed stay out (the failure is counted in its step).
        tasks = [asyncio.create_task(u.live(stats, stop)) for u in self.users if u.signed_in]
        await asyncio.sleep(self.plan.step_seconds)
        stop.set()
        await asyncio.gather(*tasks)
        stats.seconds = loop.time() - started
        stats.client_cpu = time.process_time() - cpu

    async def close(self) -> None:
        await asyncio.gather(*(u.close() for u in self.users), return_exceptions=True)
        await self._connector.close()


async def run_plan(
    plan: LoadPlan, accounts: Sequence[Account], progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Run every step of the ramp; one summary row per step."""
    if len(accounts) < plan.steps[-1]:
        raise ValueError(f"{plan.steps[-1]} users needed, {len(accounts)} accounts given")
    say = progress or (lambda _line: None)
    people = list(enumerate(accounts[: plan.steps[-1]]))
    count = max(1, plan.client_processes)
    local = Crowd(plan, people[::count])
    children = [_Child(plan, people[i::count]) for i in range(1, count)]
    rows: list[dict[str, Any]] = []
    try:
        for step_users in plan.steps:
            stats = StepStats(users=step_users)
            say(f"step of {step_users} users: signing in the newcomers")
            for child in children:
                child.send("sign_in", step_users)
            await local.sign_in(step_users, stats)
            for child in children:
                stats.merge(await child.receive())
            stats.requests = 0
            say(f"step of {step_users} users: running for {plan.step_seconds:g} s")
            for child in children:
                child.send("run", step_users)
            await local.run(stats)
            for child in children:
                stats.merge(await child.receive())
            rows.append(stats.summary(plan.upstream_ttft_ms))
            say(format_row(rows[-1]))
    finally:
        await local.close()
        for child in children:
            child.stop()
    return rows


class _Child:
    """A planner process holding some of the people, driven over a pipe."""

    def __init__(self, plan: LoadPlan, people: Sequence[tuple[int, Account]]) -> None:
        # spawn, not fork: the parent runs an event loop and open sockets.
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(
            target=_child_main, args=(theirs, plan, list(people)), daemon=True
        )
        self._process.start()
        theirs.close()

    def send(self, command: str, step_users: int) -> None:
        self._pipe.send((command, step_users))

    async def receive(self) -> StepStats:
        stats: StepStats = await asyncio.to_thread(self._pipe.recv)
        return stats

    def stop(self) -> None:
        if self._process.is_alive():
            self._pipe.send(("stop", 0))
            self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._pipe.close()


def _child_main(pipe: Connection, plan: LoadPlan, people: list[tuple[int, Account]]) -> None:
    uvloop.run(_child(pipe, plan, people))


async def _child(pipe: Connection, plan: LoadPlan, people: list[tuple[int, Account]]) -> None:
    crowd = Crowd(plan, people)
    try:
        while True:
            command, step_users = await asyncio.to_thread(pipe.recv)
            if command == "stop":
                return
            stats = StepStats(users=step_users)
            if command == "sign_in":
                await crowd.sign_in(step_users, stats)
            else:
                await crowd.run(stats)
            pipe.send(stats)
    finally:
        await crowd.close()
