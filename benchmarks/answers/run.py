"""Answer benchmark: PIAF questions answered by an embedded model through Autan's prompts.

Each case is sent exactly as a chat turn grounded in one document reaches the model: Autan's
system prompt (chat/prompting.py), then the grounding instruction and the numbered source
(retrieval/grounding.py, the function the chat page and `/v1/chat/completions` use), to the
llama.cpp server that Autan's embedded supervisor starts for the GGUF file given. Greedy
decoding (temperature 0) so that reruns agree.

    .venv/bin/python -m benchmarks.answers.run --model PATH.gguf --name NAME \
        --split test --questions 300 --abstentions 60 [--resume]

Writes benchmarks/results/answers-<name>-<split>.json; `report.py` builds answers.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import py3langid

from autan.chat.prompting import system_prompt
from autan.llm.client import ChatMessage
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.settings import EmbeddedSettings
from autan.retrieval.grounding import grounded_messages
from autan.retrieval.search import SearchHit
from benchmarks.answers.conditions import conditions
from benchmarks.answers.data import Case, Split, abstention_cases, load_cases
from benchmarks.answers.scoring import abstains, contains_gold, leaks_prompt, token_f1

RESULTS = Path(__file__).resolve().parents[1] / "results"


def hit_for(case: Case) -> SearchHit:
    """The case's paragraph as the one passage retrieval found."""
    return SearchHit(
        chunk_id=1,
        document_id=uuid.UUID(int=1),
        collection_id=None,
        document_name=case.paragraph_title,
        content=case.paragraph,
        page=None,
        pages="",
        headings="",
        position=0,
        score=1.0,
        method="hybrid",
    )


def messages_for(case: Case) -> list[ChatMessage]:
    """The messages a grounded chat turn sends for this case."""
    turn: list[ChatMessage] = [
        {"role": "system", "content": system_prompt("fr")},
        {"role": "user", "content": case.question},
    ]
    return grounded_messages(turn, [hit_for(case)], "fr")


async def ask(
    http: aiohttp.ClientSession, base_url: str, case: Case, max_tokens: int
) -> dict[str, Any]:
    """Stream one answer; the text, time to first token and llama.cpp's own timings."""
    payload = {
        "model": "bench",
        "messages": messages_for(case),
        "stream": True,
        "temperature": 0,
        "max_tokens": max_tokens,
    }
    started = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    timings: dict[str, Any] = {}
    async with http.post(f"{base_url}/chat/completions", json=payload) as response:
        response.raise_for_status()
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            timings = chunk.get("timings") or timings
            for choice in chunk.get("choices", []):
                text = (choice.get("delta") or {}).get("content")
                if text:
                    if first is None:
                        first = time.perf_counter() - started
                    parts.append(text)
    return {
        "answer": "".join(parts),
        "ttft": first,
        "seconds": time.perf_counter() - started,
        "prompt_tokens": timings.get("prompt_n"),
        "prompt_per_second": timings.get("prompt_per_second"),
        "predicted_tokens": timings.get("predicted_n"),
        "predicted_per_second": timings.get("predicted_per_second"),
    }


async def cosine_of(http: aiohttp.ClientSession, url: str, question: str, passage: str) -> float:
    """The e5 cosine of a question and a passage, as dense retrieval computes it."""
    vectors = []
    for text, kind in ((question, "query"), (passage, "passage")):
        body = {"input": [text], "input_type": kind}
        async with http.post(f"{url}/embeddings", json=body) as response:
            response.raise_for_status()
            vectors.append((await response.json())["data"][0]["embedding"])
    a, b = vectors
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return float(dot) / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def score(case: Case, result: dict[str, Any]) -> dict[str, Any]:
    """The case's scores beside its answer."""
    answer = result["answer"]
    lang, _ = py3langid.classify(answer) if answer.strip() else ("", 0.0)
    return {
        **asdict(case),
        **result,
        "contains_gold": contains_gold(answer, case.golds) if case.answerable else None,
        "f1": token_f1(answer, case.golds) if case.answerable else None,
        "abstains": abstains(answer),
        "french": lang == "fr",
        "leak": leaks_prompt(answer),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one run."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    return {
        "questions": len(answerable),
        "abstention_cases": len(unanswerable),
        "contains_gold": _mean([float(r["contains_gold"]) for r in answerable]),
        "f1": _mean([r["f1"] for r in answerable]),
        "false_abstention": _mean([float(r["abstains"]) for r in answerable]),
        "abstention": _mean([float(r["abstains"]) for r in unanswerable]),
        "french": _mean([float(r["french"]) for r in rows]),
        "leaks": sum(1 for r in rows if r["leak"]),
        "decode_tokens_per_s": _median(
            [r["predicted_per_second"] for r in rows if r["predicted_per_second"]]
        ),
        "prompt_tokens_per_s": _median(
            [r["prompt_per_second"] for r in rows if r["prompt_per_second"]]
        ),
        "ttft_median_s": _median([r["ttft"] for r in rows if r["ttft"] is not None]),
        "prompt_tokens_median": _median([r["prompt_tokens"] for r in rows if r["prompt_tokens"]]),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the model, answer every case, score and summarise."""
    answerable = load_cases(args.split, args.questions)
    unanswerable = abstention_cases(answerable, args.abstentions)
    # Interleaved, so that a run cut by its time budget still measures both kinds.
    ratio = max(1, len(answerable) // max(1, len(unanswerable)))
    cases: list[Case] = []
    for index, case in enumerate(answerable):
        cases.append(case)
        if index % ratio == ratio - 1 and unanswerable:
            cases.append(unanswerable.pop(0))
    cases += unanswerable
    settings = EmbeddedSettings(
        chat_model_path=Path(args.model),
        chat_model_id="bench",
        parallel=1,
        context_length=args.context,
        threads=args.threads,
        start_timeout=300,
        # A busy shared machine may keep llama.cpp's HTTP thread waiting: never restart the
        # server mid-benchmark for a slow health check.
        health_interval=60,
        health_timeout=300,
    )
    load_before: tuple[float, ...] = os.getloadavg()
    rows: list[dict[str, Any]] = []
    if args.resume:
        rows = _resumed(_output(args), cases)
        done = {r["id"] for r in rows}
        cases = [c for c in cases if c.id not in done]
        print(f"{args.name}: resuming after {len(rows)} cases, {len(cases)} to go", flush=True)
    args.resumed_cases = len(rows)
    with tempfile.TemporaryDirectory(prefix="answers-bench-") as data_dir:
        data_dir = args.logs or data_dir
        models = EmbeddedModels(settings, Path(data_dir))
        config = models.start()
        urls = {m.id: m.replicas[0].url for m in config.models}
        base_url, embeddings = urls["bench"], urls[settings.embedding_model_id]
        try:
            # llama.cpp closes a kept-alive connection after a streamed answer: one per request.
            connector = aiohttp.TCPConnector(force_close=True)
            timeout = aiohttp.ClientTimeout(total=None)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
                deadline = time.monotonic() + args.budget
                for n, case in enumerate(cases, 1):
                    row = score(case, await ask(http, base_url, case, args.max_tokens))
                    row["cosine"] = await cosine_of(http, embeddings, case.question, case.paragraph)
                    rows.append(row)
                    # Written after every case, so that a run stopped early loses nothing.
                    _write(args, _result(args, rows, load_before))
                    if n % 10 == 0:
                        print(f"{args.name}: {len(rows)} done, {n}/{len(cases)}", flush=True)
                    if time.monotonic() > deadline:
                        print(f"{args.name}: time budget spent after {n} cases", flush=True)
                        break
        finally:
            models.stop()
    return _result(args, rows, load_before)


def _resumed(out: Path, cases: list[Case]) -> list[dict[str, Any]]:
    """The rows of an earlier run of the same cases (its per-case JSON).

    Only rows whose case is still planned are kept, so a resumed run never mixes in cases of
    another split or size. The prompt must not have changed meanwhile (the caller's promise).
    """
    if not out.is_file():
        return []
    earlier = json.loads(out.read_text(encoding="utf-8"))
    planned = {c.id for c in cases}
    return [r for r in earlier.get("rows", []) if r["id"] in planned]


def _result(
    args: argparse.Namespace, rows: list[dict[str, Any]], load_before: tuple[float, ...]
) -> dict[str, Any]:
    summary = summarise(rows)
    return {
        "name": args.name,
        "model_file": Path(args.model).name,
        "split": args.split,
        **conditions(load_before),
        # Cases kept from an earlier run (--resume): their speed is that run's machine load.
        "resumed_cases": getattr(args, "resumed_cases", 0),
        "summary": summary,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="GGUF file")
    parser.add_argument("--name", required=True, help="row name in the results")
    parser.add_argument("--split", choices=["dev", "test"], default="test")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--abstentions", type=int, default=60)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the cases already in this run's JSON and answer only the others",
    )
    parser.add_argument("--logs", default=None, help="keep the model server logs here")
    parser.add_argument(
        "--budget", type=float, default=float("inf"), help="stop after this many seconds"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args))
    _write(args, result)
    print(json.dumps(result["summary"], indent=1))


def _output(args: argparse.Namespace) -> Path:
    split: Split = args.split
    return RESULTS / f"answers-{args.name}-{split}.json"


def _write(args: argparse.Namespace, result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    out = _output(args)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
