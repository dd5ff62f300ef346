"""`autan bench load`: simulated staff on the real user path, one step of a ramp at a time.

Each simulated person signs in with a password (`POST /auth/login`, session cookie and CSRF
token), accepts the usage charter if asked, opens the chat page, writes a question to
`POST /chat/turn` and reads the streamed answer to its end, then reads the conversation back
(the answer must be stored), thinks, and asks again. Some attach a file first, so their
answers go through the search of an attached document. Users stay signed in from one step
to the next; only the new ones sign in before a step starts, outside its measurement.

What counts (per step): a turn succeeds when its stream ends with a complete answer, or when
Autan refuses it at once because the model is saturated (an HTTP 503 with Retry-After, or
the `model_overloaded` error event of a stream already open): that is the admission control
working, counted apart. A timeout, a broken or incomplete stream, any other 5xx or error
event is an error, counted by kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson

# Error events that mean "the model is saturated, come back later": admission control.
REFUSAL_CODES: Final = frozenset({"model_overloaded", "model_unavailable", "service_busy"})
QUESTIONS: Final = (
    "Quelles pièces faut-il fournir pour renouveler une carte d'identité ?",
    "Rédige un courriel pour annoncer la fermeture du service le 14 juillet.",
    "Résume en trois points la procédure de passation d'un marché public.",
    "Comment calculer les congés d'un agent à temps partiel ?",
    "Propose un plan pour une note sur la sobriété énergétique des bâtiments.",
)
ATTACHED_QUESTION: Final = "Que dit le document joint sur les délais de traitement ?"
_VERSION = re.compile(r'name="version" value="(\d+)"')


@dataclass(frozen=True, slots=True)
class Account:
    """One person's credentials."""

    email: str
    password: str


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """What the planner does: where, how many people per step, and how they behave."""

    urls: tuple[str, ...]
    steps: tuple[int, ...]
    step_seconds: float = 60.0
    think_seconds: float = 5.0
    attach_share: float = 0.1
    turns_per_conversation: int = 3
    timeout: float = 60.0
    upstream_ttft_ms: float = 0.0
    model: str | None = None
    sign_in_concurrency: int = 16
    seed: int = 0
    client_processes: int = 1


@dataclass(slots=True)
class StepStats:
    """What happened during one step of the ramp."""

    users: int
    seconds: float = 0.0
    requests: int = 0
    turns: int = 0
    complete: int = 0
    refused: int = 0
    tokens: int = 0
    attached: int = 0
    client_cpu: float = 0.0
    grounded: int = 0
    ttft_ms: list[float] = field(default_factory=list)
    refusal_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def merge(self, other: StepStats) -> None:
        """Add the figures of another planner process, which ran the same step alongside."""
        self.seconds = max(self.seconds, other.seconds)
        self.client_cpu += other.client_cpu
        for name in ("requests", "turns", "complete", "refused", "tokens", "attached", "grounded"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ttft_ms += other.ttft_ms
        self.refusal_ms += other.refusal_ms
        self.errors += other.errors

    def error(self, kind: str) -> None:
        """Count one failed turn (or sign-in, attachment) of this kind."""
        self.errors[kind] += 1

    def summary(self, upstream_ttft_ms: float) -> dict[str, Any]:
        """The step's figures, as one row of the table."""
        added = sorted(t - upstream_ttft_ms for t in self.ttft_ms)
        seconds = self.seconds or 1.0
        done = self.complete + self.refused
        return {
            "users": self.users,
            "turns": self.turns,
            "success_pct": round(100.0 * done / self.turns, 2) if self.turns else 0.0,
            "complete": self.complete,
            "refused_503": self.refused,
            "errors": sum(self.errors.values()),
            "ttft_added_p50_ms": round(statistics.median(added), 1) if added else None,
            "ttft_added_p95_ms": round(_percentile(added, 0.95), 1) if added else None,
            "requests_per_s": round(self.requests / seconds, 2),
            "tokens_per_s": round(self.tokens / seconds, 1),
            "errors_by_kind": dict(self.errors.most_common()),
            # Near 100 % per planner process, the planner itself is the limit: add processes.
            "planner_cpu_pct": round(100.0 * self.client_cpu / seconds, 1),
            # A refusal must be fast to count as admission control rather than a hang.
            "refusal_p95_ms": round(_percentile(sorted(self.refusal_ms), 0.95), 1)
            if self.refusal_ms
            else None,
            "files_attached": self.attached,
            "answers_with_sources": self.grounded,
        }


def _percentile(ordered: Sequence[float], q: float) -> float:
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return ordered[index]


class Refused(Exception):
    """Autan's admission control turned the request away (503 with Retry-After)."""


def refused(response: aiohttp.ClientResponse) -> bool:
    """Whether an answer is a refusal by admission control rather than a failure."""
    return response.status == 503 and "Retry-After" in response.headers


class Failure(Exception):
    """A step of the user path that went wrong, with the kind it is counted under."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def read_users_file(path: Path) -> list[Account]:
    """Accounts from a file of `email password` lines (blank lines and # comments skipped)."""
    accounts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"{path}: expected 'email password' on each line, got {line!r}")
        accounts.append(Account(parts[0], parts[1]))
    return accounts


def parse_ramp(users: int, ramp: str | None, steps: int = 1) -> tuple[int, ...]:
    """The people of each step: `--ramp 50,200` (then `users` last), or `steps` equal steps."""
    if ramp:
        counts = [int(part) for part in ramp.split(",") if part.strip()]
        if counts and counts[-1] < users:
            counts.append(users)
    else:
        if steps < 1:
            raise ValueError("--steps must be at least 1")
        counts = [max(1, round(users * (i + 1) / steps)) for i in range(steps)]
    if not counts or counts[0] < 1 or any(a >= b for a, b in itertools.pairwise(counts)):
        raise ValueError("the steps of --ramp must be positive and increasing")
    if counts[-1] > users:
        raise ValueError("a step of --ramp has more people than --users")
    return tuple(counts)


async def read_events(
    chunks: AsyncIterable[bytes],
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Named Server-Sent Events of a response body's chunks, as (name, parsed data).

    It reads whatever bytes have arrived and splits them into events itself: at thousands of
    streams, aiohttp's line-by-line iteration would make the planner the bottleneck.
    """
    pending = b""
    async for chunk in chunks:
        pending = (pending + chunk).replace(b"\r\n", b"\n")
        *blocks, pending = pending.split(b"\n\n")
        for block in blocks:
            name, data = "message", b""
            for line in block.split(b"\n"):
                if line.startswith(b"event:"):
                    name = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    data += line[5:].strip()
            if data:
                yield name, orjson.loads(data)


class SimulatedUser:
    """One person of the staff, in their own cookie jar, on the shared connector."""

    def __init__(
        self,
        account: Account,
        connector: aiohttp.BaseConnector,
        next_url: Callable[[], str],
        plan: LoadPlan,
        attachment: bytes | None,
        rng: random.Random,
    ) -> None:
        self.account = account
        self.plan = plan
        self._next_url = next_url
        self._attachment = attachment
        self._rng = rng
        # unsafe=True: the jar otherwise drops cookies set by an IP address such as 127.0.0.1.
        self.http = aiohttp.ClientSession(
            connector=connector,
            connector_owner=False,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            timeout=aiohttp.ClientTimeout(total=plan.timeout),
        )
        self.csrf = ""
        self.signed_in = False
        self.conversation: str | None = None
        self.turns_here = 0
        self.attach_pending = attachment is not None

    async def close(self) -> None:
        await self.http.close()

    async def _page(self, path: str, stats: StepStats) -> str:
        stats.requests += 1
        async with self.http.get(self._next_url() + path) as response:
            text = await response.text()
            if refused(response):
                raise Refused()
            if response.status != 200:
                raise Failure(f"page HTTP {response.status}")
            if response.url.path == "/charter":
                text = await self._accept_charter(text, path, stats)
            return text

    async def _accept_charter(self, page: str, path: str, stats: StepStats) -> str:
        version = _VERSION.search(page)
        if version is None:
            raise Failure("charter page unreadable")
        form = {"csrf_token": self.csrf, "version": version.group(1), "accept": "on", "next": path}
        stats.requests += 1
        async with self.http.post(self._next_url() + "/charter", data=form) as response:
            text = await response.text()
            if refused(response):
                raise Refused()
            if response.status != 200 or response.url.path == "/charter":
                raise Failure(f"charter HTTP {response.status}")
            return text

    async def sign_in(self, stats: StepStats) -> None:
        """Sign in with the password and open the chat page (accepting the charter if asked)."""
        stats.requests += 1
        body = {"email": self.account.email, "password": self.account.password}
        async with self.http.post(self._next_url() + "/auth/login", json=body) as response:
            if response.status != 200:
                await response.read()
                raise Failure(f"sign-in HTTP {response.status}")
            self.csrf = (await response.json())["csrf_token"]
        await self._page("/", stats)
        self.signed_in = True

    async def _attach(self, stats: StepStats) -> None:
        """Attach the file to a new conversation and wait until it is searchable."""
        assert self._attachment is not None
        form = aiohttp.FormData()
        form.add_field("file", self._attachment, filename="note.md", content_type="text/markdown")
        if self.plan.model:
            form.add_field("model", self.plan.model)
        headers = {"X-CSRF-Token": self.csrf}
        stats.requests += 1
        url = self._next_url() + "/chat/attachments"
        async with self.http.post(url, data=form, headers=headers) as response:
            if response.status != 201:
                await response.read()
                if refused(response):
                    raise Refused()
                raise Failure(f"attachment HTTP {response.status}")
            created = await response.json()
        self.conversation, self.turns_here = created["conversation_id"], 0
        document = created["document"]
        deadline = time.monotonic() + self.plan.timeout
        while document["status"] != "ready":
            if document["status"] == "failed":
                raise Failure("attachment not readable")
            if time.monotonic() > deadline:
                raise Failure("attachment timeout")
            await asyncio.sleep(0.5)
            stats.requests += 1
            status_url = f"{self._next_url()}/chat/attachments/{document['id']}"
            async with self.http.get(status_url) as response:
                if refused(response):
                    raise Refused()
                if response.status != 200:
                    raise Failure(f"attachment HTTP {response.status}")
                document = await response.json()
        stats.attached += 1

    async def turn(self, stats: StepStats) -> None:
        """One question and its streamed answer; counts it in `stats` however it ends."""
        stats.turns += 1
        answered = False
        try:
            if self.conversation is None or self.turns_here >= self.plan.turns_per_conversation:
                self.conversation, self.turns_here = None, 0
                if self.attach_pending:
                    self.attach_pending = False
                    await self._attach(stats)
                else:
                    await self._page("/", stats)
            attached = self.conversation is not None and self.turns_here == 0
            question = ATTACHED_QUESTION if attached else self._rng.choice(QUESTIONS)
            message_id = await self._ask(question, stats)
            if message_id is None:
                return
            answered = True
            self.turns_here += 1
            if self.turns_here >= self.plan.turns_per_conversation:
                page = await self._page(f"/c/{self.conversation}", stats)
                if f'data-id="{message_id}"' not in page:
                    raise Failure("answer not stored")
        except Refused:
            # The read-back of an answer already complete may be refused: the turn succeeded,
            # and counting it twice would push the success rate above 100 %.
            if not answered:
                stats.refused += 1
        except Failure as exc:
            if answered:  # e.g. an answer streamed to its end but not stored: not a success
                stats.complete -= 1
            stats.error(exc.kind)
        except TimeoutError:
            stats.error("timeout")
        except aiohttp.ClientError as exc:
            stats.error(f"connection: {type(exc).__name__}")

    async def _ask(self, question: str, stats: StepStats) -> str | None:
        """Send the question; the stored answer's id once complete, None when refused."""
        body = {"action": "send", "content": question, "conversation_id": self.conversation}
        if self.plan.model:
            body["model"] = self.plan.model
        headers = {"X-CSRF-Token": self.csrf, "Accept": "text/event-stream"}
        stats.requests += 1
        started = time.perf_counter()
        async with self.http.post(
            self._next_url() + "/chat/turn", json=body, headers=headers
        ) as response:
            if refused(response):
                await response.read()
                stats.refused += 1
                stats.refusal_ms.append((time.perf_counter() - started) * 1000.0)
                return None
            if response.status != 200:
                await response.read()
                raise Failure(f"turn HTTP {response.status}")
            first_token, message_id = True, None
            async for name, data in read_events(response.content.iter_any()):
                if name == "conversation":
                    self.conversation = data["id"]
                elif name == "sources":
                    stats.grounded += bool(data.get("sources"))
                elif name == "delta":
                    if first_token:
                        stats.ttft_ms.append((time.perf_counter() - started) * 1000.0)
                        first_token = False
                    stats.tokens += len(str(data.get("text", "")).split())
                elif name == "error":
                    if data.get("code") in REFUSAL_CODES:
                        stats.refused += 1
                        stats.refusal_ms.append((time.perf_counter() - started) * 1000.0)
                        return None
                    raise Failure(f"stream error: {data.get('code')}")
                elif name == "done":
                    if data.get("status") != "complete":
                        raise Failure(f"answer {data.get('status')}")
                    message_id = str(data["message_id"])
            # The stream must end (title included) for the turn to be complete.
            if message_id is None:
                raise Failure("incomplete stream")
            stats.complete += 1
            return message_id

    async def live(self, stats: StepStats, stop: asyncio.Event) -> None:
        """Think, ask, read; again until told to stop (the turn under way finishes)."""
        while not stop.is_set():
            pause = self.plan.think_seconds * self._rng.uniform(0.5, 1.5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            if stop.is_set():
                return
            await self.turn(stats)


def attachment_text(kilobytes: int = 12) -> bytes:
    """A note long enough that the answer searches it rather than reading it whole."""
    paragraph = (
        "## Délais de traitement\n\nLe service instruit les demandes dans un délai de {n} "
        "jours ouvrés à compter de la réception d'un dossier complet. Les pièces manquantes "
        "suspendent ce délai, qui reprend à la réception des compléments demandés.\n\n"
    )
    parts, size, n = ["# Note de service\n\n"], 0, 1
    while size < kilobytes * 1024:
        parts.append(paragraph.format(n=10 + n % 50))
        size += len(parts[-1])
        n += 1
    return "".join(parts).encode()


COLUMNS: Final = (
    ("users", "users"),
    ("turns", "turns"),
    ("success_pct", "success %"),
    ("complete", "complete"),
    ("refused_503", "refused (503)"),
    ("errors", "errors"),
    ("ttft_added_p50_ms", "TTFT added p50 ms"),
    ("ttft_added_p95_ms", "TTFT added p95 ms"),
    ("requests_per_s", "requests/s"),
    ("tokens_per_s", "tokens/s"),
    ("planner_cpu_pct", "planner CPU %"),
    ("errors_by_kind", "errors by kind"),
)


def _cell(key: str, value: Any) -> str:
    if key == "errors_by_kind":
        return ", ".join(f"{kind}: {n}" for kind, n in value.items()) or "-"
    return "-" if value is None else str(value)


def format_row(row: dict[str, Any]) -> str:
    """One row of the Markdown table."""
    return "| " + " | ".join(_cell(key, row[key]) for key, _ in COLUMNS) + " |"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The ramp as a Markdown table, one row per step."""
    header = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    return "\n".join([header, rule, *(format_row(r) for r in rows)])
