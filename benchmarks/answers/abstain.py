"""Abstention signals on the answer benchmark's development split (never on test).

One pass over the dev cases records, for each: the answer with the current grounding prompt,
the reply of the relevance check (`autan.retrieval.relevance`, a separate yes/no call of two
or three tokens) with its time, and the e5 cosine similarity of the question and the passage
(the semantic part of retrieval's score). The signals are then compared offline:

- `answer only`: the model's answer as is (the current chat);
- `check`: the fixed "not in the documents" sentence when the check says no;
- `score >= t`: the sentence when the cosine is below t (several t);
- `check or score`, `check and score`: both signals combined.

    .venv/bin/python -m benchmarks.answers.abstain --model PATH.gguf --questions 30 \
        --abstentions 15

Appends its table to benchmarks/results/answers-tuning.md and writes answers-abstain.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.settings import EmbeddedSettings
from autan.retrieval.relevance import CHECK_TOKENS, NOT_IN_DOCUMENTS, check_messages, says_no
from benchmarks.answers.data import Case, abstention_cases, load_cases
from benchmarks.answers.run import RESULTS, hit_for, messages_for, score, summarise
from benchmarks.answers.tune import answer

THRESHOLDS = (0.80, 0.82, 0.84, 0.86)


async def _check(http: aiohttp.ClientSession, url: str, case: Case) -> tuple[str, float]:
    payload = {
        "model": "tune",
        "messages": check_messages(case.question, [hit_for(case)], "fr"),
        "temperature": 0,
        "max_tokens": CHECK_TOKENS,
    }
    started = time.perf_counter()
    async with http.post(f"{url}/chat/completions", json=payload) as response:
        response.raise_for_status()
        body = await response.json()
    return str(body["choices"][0]["message"]["content"] or ""), time.perf_counter() - started


async def _cosine(http: aiohttp.ClientSession, url: str, case: Case) -> float:
    vectors = []
    for text, kind in ((case.question, "query"), (case.paragraph, "passage")):
        body = {"input": [text], "input_type": kind}
        async with http.post(f"{url}/embeddings", json=body) as response:
            response.raise_for_status()
            vectors.append((await response.json())["data"][0]["embedding"])
    a, b = vectors
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return float(dot) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def _interleaved(answerable: list[Case], unanswerable: list[Case]) -> list[Case]:
    """Both kinds mixed, so that a run cut by its time budget still measures both."""
    ratio = max(1, len(answerable) // max(1, len(unanswerable)))
    cases: list[Case] = []
    rest = list(unanswerable)
    for index, case in enumerate(answerable):
        cases.append(case)
        if index % ratio == ratio - 1 and rest:
            cases.append(rest.pop(0))
    return cases + rest


def _previous_answers() -> dict[str, str]:
    """The current prompt's answers to the same dev cases, from `tune.py`'s run (greedy)."""
    path = RESULTS / "answers-tuning.json"
    if not path.is_file():
        return {}
    rows = json.loads(path.read_text(encoding="utf-8")).get("current", {}).get("rows", [])
    return {str(row["id"]): str(row["answer"]) for row in rows}


async def collect(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every signal of every dev case (until the time budget is spent)."""
    answerable = load_cases("dev", args.questions)
    cases = _interleaved(answerable, abstention_cases(answerable, args.abstentions))
    # Greedy answers do not change between runs: reuse them, the check is what is new.
    known = _previous_answers()
    settings = EmbeddedSettings(
        chat_model_path=Path(args.model),
        chat_model_id="tune",
        parallel=1,
        context_length=2048,
        threads=args.threads,
        start_timeout=300,
        health_interval=60,
        health_timeout=300,
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="answers-abstain-") as data_dir:
        models = EmbeddedModels(settings, Path(data_dir))
        config = models.start()
        urls = {m.id: m.replicas[0].url for m in config.models}
        chat, embeddings = urls["tune"], urls[settings.embedding_model_id]
        deadline = time.monotonic() + args.budget
        try:
            connector = aiohttp.TCPConnector(force_close=True)
            timeout = aiohttp.ClientTimeout(total=None)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
                for n, case in enumerate(cases, 1):
                    reply, seconds = await _check(http, chat, case)
                    text = known.get(case.id) or await answer(http, chat, messages_for(case))
                    cosine = await _cosine(http, embeddings, case)
                    rows.append(
                        {"case": case, "answer": text, "check": reply}
                        | {"check_seconds": seconds, "cosine": cosine}
                    )
                    print(f"{n}/{len(cases)} {case.answerable} {reply!r} {cosine:.3f}", flush=True)
                    if time.monotonic() > deadline:
                        print(f"time budget spent after {n} cases", flush=True)
                        break
        finally:
            models.stop()
    return rows


def _scored(rows: list[dict[str, Any]], abstain: Callable[[dict[str, Any]], bool]) -> Any:
    scored = []
    for row in rows:
        text = NOT_IN_DOCUMENTS["fr"] if abstain(row) else row["answer"]
        result = {"answer": text, "ttft": None, "seconds": None, "prompt_tokens": None}
        scored.append(
            score(row["case"], result) | {"prompt_per_second": None, "predicted_per_second": None}
        )
    return summarise(scored)


def _low(threshold: float) -> Callable[[dict[str, Any]], bool]:
    def low(row: dict[str, Any]) -> bool:
        return bool(row["cosine"] < threshold)

    return low


Rule = Callable[[dict[str, Any]], bool]


def _either(a: Rule, b: Rule) -> Rule:
    return lambda row: a(row) or b(row)


def _both(a: Rule, b: Rule) -> Rule:
    return lambda row: a(row) and b(row)


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary of each way of deciding to abstain."""

    def no(row: dict[str, Any]) -> bool:
        return says_no(row["check"])

    rules: dict[str, Callable[[dict[str, Any]], bool]] = {
        "answer only": lambda row: False,
        "check": no,
    }
    for t in THRESHOLDS:
        low = _low(t)
        rules[f"score >= {t}"] = low
        rules[f"check or score >= {t}"] = _either(no, low)
        rules[f"check and score >= {t}"] = _both(no, low)
    return {name: _scored(rows, rule) for name, rule in rules.items()}


def table(summaries: dict[str, Any]) -> str:
    """The comparison as Markdown."""
    lines = [
        "| rule | questions | contains-gold | token F1 | false abstention | abstention (n) |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in summaries.items():
        lines.append(
            f"| {name} | {s['questions']} | {s['contains_gold']:.2f} | {s['f1']:.2f} | "
            f"{s['false_abstention']:.2f} | {s['abstention']:.2f} ({s['abstention_cases']}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="GGUF file")
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--abstentions", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--budget", type=float, default=float("inf"), help="seconds at most")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = asyncio.run(collect(args))
    dump = [
        {k: v for k, v in row.items() if k != "case"}
        | {"id": row["case"].id}
        | {"answerable": row["case"].answerable}
        for row in rows
    ]
    (RESULTS / "answers-abstain.json").write_text(
        json.dumps({"rows": dump}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    summaries = compare(rows)
    seconds = sorted(row["check_seconds"] for row in rows)
    body = table(summaries)
    print(body)
    note = (
        f"\n\n## Abstention signals (dev split) — {datetime.now(UTC):%Y-%m-%d}, "
        f"{os.cpu_count()} cores, model {Path(args.model).name}, greedy\n\n"
        "`python -m benchmarks.answers.abstain`: the relevance check (a separate yes/no call, "
        f"{CHECK_TOKENS} tokens at most), the e5 cosine of question and passage as a score "
        "threshold, and both combined.\n\n"
        f"{body}\n\nRelevance check time (added before the first token): median "
        f"{seconds[len(seconds) // 2]:.2f} s, max {seconds[-1]:.2f} s; load average "
        f"{load[0]:.1f} before, {os.getloadavg()[0]:.1f} after "
        f"(`{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}`).\n"
    )
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "answers-tuning.md").open("a", encoding="utf-8") as out:
        out.write(note)


if __name__ == "__main__":
    main()
