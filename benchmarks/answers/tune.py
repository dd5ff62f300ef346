"""Grounding prompt tuning on the answer benchmark's development split (never on test).

Each variant is a way of writing the grounding instruction (in the system message) and,
optionally, a reminder placed right after the question, where small models weigh it most.
Every variant answers the same dev cases with the same greedy model; the table compares
contains-gold, token F1, abstention on unanswerable cases and false abstention.

    .venv/bin/python -m benchmarks.answers.tune --model PATH.gguf --questions 30 --abstentions 15

Writes benchmarks/results/answers-tuning.md (+ .json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from autan.chat.prompting import system_prompt
from autan.llm.client import ChatMessage
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.settings import EmbeddedSettings
from autan.retrieval import grounding
from benchmarks.answers.data import Case, abstention_cases, load_cases
from benchmarks.answers.run import RESULTS, hit_for, score, summarise

_CURRENT = grounding.INSTRUCTIONS["fr"]
_SENTENCE = "Les documents fournis ne contiennent pas cette information."


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of asking for grounded answers."""

    name: str
    instruction: str
    reminder: str = ""


VARIANTS = (
    Variant("current", _CURRENT),
    Variant(
        "exact-sentence",
        "Réponds uniquement à partir des sources numérotées ci-dessous. Cite chaque "
        "information avec le numéro de sa source entre crochets, par exemple [1]. "
        f"Si les sources ne contiennent pas la réponse, réponds seulement : « {_SENTENCE} » "
        "N'invente rien. Réponds en français si la question est en français.",
    ),
    Variant(
        "exact-sentence+reminder",
        "Réponds uniquement à partir des sources numérotées ci-dessous. Cite chaque "
        "information avec le numéro de sa source entre crochets, par exemple [1]. "
        f"Si les sources ne contiennent pas la réponse, réponds seulement : « {_SENTENCE} » "
        "N'invente rien. Réponds en français si la question est en français.",
        "(Vérifie d'abord que les sources répondent à cette question. Sinon, réponds "
        f"seulement : « {_SENTENCE} »)",
    ),
    Variant(
        "reminder+brief",
        "Réponds uniquement à partir des sources numérotées ci-dessous, brièvement, en "
        "reprenant les mots de la source, et cite-la entre crochets, par exemple [1]. "
        f"Si les sources ne contiennent pas la réponse, réponds seulement : « {_SENTENCE} » "
        "N'invente rien. Réponds en français si la question est en français.",
        "(Vérifie d'abord que les sources répondent à cette question. Sinon, réponds "
        f"seulement : « {_SENTENCE} »)",
    ),
)


def messages_for(case: Case, variant: Variant) -> list[ChatMessage]:
    """The messages of a grounded chat turn, written the variant's way."""
    system = f"{system_prompt('fr')}\n\n{variant.instruction}"
    question = f"{grounding.format_sources([hit_for(case)], 'fr')}\n\nQuestion : {case.question}"
    if variant.reminder:
        question += f"\n\n{variant.reminder}"
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


async def answer(http: aiohttp.ClientSession, url: str, messages: list[ChatMessage]) -> str:
    """One greedy answer (streamed, as the chat reads it)."""
    payload = {
        "model": "tune",
        "messages": messages,
        "temperature": 0,
        "max_tokens": 96,
        "stream": True,
    }
    parts: list[str] = []
    async with http.post(f"{url}/chat/completions", json=payload) as response:
        response.raise_for_status()
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[5:]).get("choices", []):
                parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every variant over the same dev cases."""
    answerable = load_cases("dev", args.questions)
    cases = answerable + abstention_cases(answerable, args.abstentions)
    settings = EmbeddedSettings(
        chat_model_path=Path(args.model),
        chat_model_id="tune",
        embedding_enabled=False,
        parallel=1,
        context_length=2048,
        threads=args.threads,
        start_timeout=300,
        health_interval=60,
        health_timeout=300,
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="answers-tune-") as data_dir:
        models = EmbeddedModels(settings, Path(data_dir))
        url = models.start().models[0].replicas[0].url
        try:
            connector = aiohttp.TCPConnector(force_close=True)
            timeout = aiohttp.ClientTimeout(total=None)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
                for variant in VARIANTS:
                    rows = []
                    for n, case in enumerate(cases, 1):
                        text = await answer(http, url, messages_for(case, variant))
                        if n % 10 == 0:
                            print(f"{variant.name}: {n}/{len(cases)}", flush=True)
                        rows.append(
                            score(case, {"answer": text, "ttft": None, "seconds": None})
                            | {"prompt_per_second": None, "predicted_per_second": None}
                            | {"prompt_tokens": None}
                        )
                    results[variant.name] = {"summary": summarise(rows), "rows": rows}
                    print(variant.name, json.dumps(results[variant.name]["summary"]), flush=True)
        finally:
            models.stop()
    return results


def table(results: dict[str, Any]) -> str:
    """The comparison as Markdown."""
    lines = [
        "| variant | questions | contains-gold | token F1 | false abstention | "
        "abstention (n) | French |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        s = result["summary"]
        lines.append(
            f"| {name} | {s['questions']} | {s['contains_gold']:.2f} | {s['f1']:.2f} | "
            f"{s['false_abstention']:.2f} | {s['abstention']:.2f} ({s['abstention_cases']}) | "
            f"{s['french']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="GGUF file")
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--abstentions", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    body = table(results)
    print(body)
    header = (
        f"# Grounding prompt tuning (dev split) — {datetime.now(UTC):%Y-%m-%d}, "
        f"{os.cpu_count()} cores, model {Path(args.model).name}, greedy\n\n"
        "Variants are defined in `benchmarks/answers/tune.py`; the chosen one is in "
        "`src/autan/retrieval/grounding.py`, and its test-split figures in `answers.md`.\n\n"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "answers-tuning.md").write_text(header + body + "\n", encoding="utf-8")
    (RESULTS / "answers-tuning.json").write_text(
        json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
