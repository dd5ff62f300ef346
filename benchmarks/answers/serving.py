"""Embedded serving overhead: the same llama.cpp server called directly and through Autan.

An in-process Autan (temporary SQLite, its embedded models as `autan serve` starts them:
the default chat model unless `--model` names a GGUF) summarises PIAF paragraphs, each
grounding the request as `run.py` grounds a question, twice: once streamed straight from
the llama.cpp server Autan supervises, once streamed through Autan's `/v1/chat/completions`
with an API key (auth, quota accounting, model policy, usage rows, the gateway's relay).
The two calls alternate, so that a change of machine load touches both alike. Greedy
decoding; only a call number at the head of the prompt differs (it defeats llama.cpp's
prompt cache, which would favour the second call).

Measured by the client, on what a caller sees: time to the first token, and decoding speed
from the first token to the last (completion tokens from the final usage event).

    .venv/bin/python -m benchmarks.answers.serving [--model PATH.gguf] [--cases 12]

Writes benchmarks/results/serving.json and serving.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from autan.services import Services
from autan.settings import Settings
from benchmarks.answers.conditions import conditions
from benchmarks.answers.data import load_cases
from benchmarks.answers.end_to_end import person, running
from benchmarks.answers.run import messages_for

RESULTS = Path(__file__).resolve().parents[1] / "results"
SUMMARY_REQUEST = "Résume ce document en détail, en plusieurs paragraphes."


async def stream(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, float]:
    """One streamed answer as its caller sees it: first token, last token, tokens."""
    started = time.perf_counter()
    first = last = None
    tokens = 0
    async with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            for choice in chunk.get("choices", []):
                if (choice.get("delta") or {}).get("content"):
                    now = time.perf_counter() - started
                    first = now if first is None else first
                    last = now
    if first is None or last is None or tokens < 2:
        raise RuntimeError(f"{url}: no answer to measure ({tokens} tokens)")
    return {
        "ttft_s": first,
        "total_s": time.perf_counter() - started,
        "tokens": tokens,
        # The first token's time is the prompt's; decoding is every token after it.
        "decode_tokens_per_s": (tokens - 1) / (last - first),
    }


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def table(result: dict[str, Any]) -> str:
    """The results as Markdown."""
    direct, autan = result["direct"], result["autan"]
    ratio = _median(autan, "decode_tokens_per_s") / _median(direct, "decode_tokens_per_s")
    lines = [
        f"# Embedded serving overhead — {result['date']}, {result['machine']}",
        "",
        "`python -m benchmarks.answers.serving` "
        f"({result['model']}, {len(direct)} PIAF dev paragraphs grounding the request "
        f'"{SUMMARY_REQUEST}", greedy, '
        f"{result['max_tokens']} tokens at most, {result['threads']} threads; calls alternate "
        "between the two paths). Load before "
        f"{result['load_before'][0]:.2f}, after {result['load_after'][0]:.2f}.",
        "",
        "| path | answers | tokens, median | TTFT median | decode tok/s median "
        "| decode tok/s min–max | total s median |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in (("llama.cpp, direct", direct), ("through Autan `/v1`", autan)):
        speeds = [r["decode_tokens_per_s"] for r in rows]
        lines.append(
            f"| {name} | {len(rows)} | {_median(rows, 'tokens'):.0f} "
            f"| {_median(rows, 'ttft_s'):.2f} s | {statistics.median(speeds):.1f} "
            f"| {min(speeds):.1f}–{max(speeds):.1f} | {_median(rows, 'total_s'):.2f} |"
        )
    ttft_added = (_median(autan, "ttft_s") - _median(direct, "ttft_s")) * 1000
    paired = statistics.median(
        a["decode_tokens_per_s"] / d["decode_tokens_per_s"]
        for a, d in zip(autan, direct, strict=True)
    )
    lines += [
        "",
        f"**Decoding through Autan: {ratio:.1%} of direct** (medians; the median of each "
        f"question's own ratio: {paired:.1%}; target ≥ 95 %). First token {ttft_added:+.0f} "
        "ms.",
        "",
    ]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start Autan with its embedded models and measure both paths, alternating."""
    cases = load_cases("dev", args.cases)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        embedded: dict[str, Any] = {"threads": args.threads, "parallel": 1, "start_timeout": 300}
        if args.model:
            embedded["chat_model_path"] = Path(args.model)
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=f"sqlite+aiosqlite:///{tmp}/autan.db",
            embedded=embedded,
            quotas={"enabled": False},
        )
        settings.ensure_data_dir()
        _me, key, _slug = await person(settings)
        async with running(settings) as (base_url, app):
            services: Services = app.state.services
            model = services.models.chat_models()[0]
            replica = services.gateway.pools[model].config.replicas[0].url
            upstream_model = services.gateway.pools[model].config.upstream_name
            direct: list[dict[str, float]] = []
            through: list[dict[str, float]] = []
            # llama.cpp closes a kept-alive connection after a streamed answer: one per call,
            # on both paths alike.
            fresh = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(timeout=600, limits=fresh) as client:
                for n, case in enumerate(cases):
                    # Long answers: the decoding window, not its two ends, decides the speed.
                    messages = messages_for(replace(case, question=SUMMARY_REQUEST))
                    body: dict[str, Any] = {
                        "stream": True,
                        "stream_options": {"include_usage": True},
                        "temperature": 0,
                        "max_tokens": args.max_tokens,
                    }
                    calls = [
                        (direct, f"{replica}/chat/completions", upstream_model, {}),
                        (
                            through,
                            f"{base_url}/v1/chat/completions",
                            model,
                            {"Authorization": f"Bearer {key}"},
                        ),
                    ]
                    if n % 2:  # each path goes first half of the time
                        calls.reverse()
                    for turn, (rows, url, name, headers) in enumerate(calls):
                        # A call number at the head of the prompt: llama.cpp reuses the cached
                        # prompt of an identical earlier call, which would favour the second.
                        marked = [
                            {
                                **messages[0],
                                "content": f"(appel {2 * n + turn}) {messages[0]['content']}",
                            },
                            *messages[1:],
                        ]
                        sent = {**body, "messages": marked, "model": name}
                        rows.append(await stream(client, url, sent, headers))
                    print(f"{n + 1}/{len(cases)}", flush=True)
    return {
        **conditions(load_before),
        "model": model,
        "threads": args.threads or os.cpu_count(),
        "max_tokens": args.max_tokens,
        "direct": direct,
        "autan": through,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="GGUF file (default: Autan's default)")
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    markdown = table(result)
    (RESULTS / "serving.md").write_text(markdown, encoding="utf-8")
    print(markdown)


if __name__ == "__main__":
    main()
