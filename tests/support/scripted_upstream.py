"""An in-process chat model speaking the OpenAI protocol (streamed SSE chunks) on loopback.

The chat's tests that are not about the model's wits use it: it answers at once and
predictably, and a test steers it with words in the question:
- `[slow]`: a long answer with a pause before each word, the first time a model is asked
  the question (to stop or scroll mid-answer; a retry is answered at once);
- `[wait]`: a long pause before the first word, the first time a question is asked (Stop
  before anything is written; trying again is answered at once);
- `[die]`: a few words, then the connection is cut as a crashed upstream would;
- `[dead]`: the connection is cut before the first word, twice (the gateway's own second
  try fails too), the first time a question is asked; asking again is answered;
- `[leak]`: the answer starts by repeating the system message it was given;
- `[code]`: the answer holds a fenced code block, then a paragraph with a web link.
Title requests (the one-line system prompt of `chat.titles`) get a title back; relevance
checks (`retrieval.relevance`) get "non" when the question holds `[unrelated]`, else "oui".
Translation requests (`translation.service`) get each numbered line back marked with the
target language, `⟦English⟧ text`, except lines holding `[skip]`, which are left out; a
request holding `[lent]` is answered after a second (to stop a worker mid-document), one
holding `[bloqué]` after 30 seconds (a model call the worker must give up). Every
translation request's lines are kept, for tests to count them: `GET /_scripted/translations`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

TITLE = "Titre proposé par le modèle"
CHECK_MARKERS = ("Tu vérifies si un passage", "You check whether a passage")
WAITED = web.AppKey("waited", set[str])
TRANSLATIONS = web.AppKey("translations", list[str])


TRANSLATE_MARKER = "Translate each numbered line into "
CODE = (
    "\n\n```python\nprime = 450  # euros, pour un agent à temps plein\nprint(prime)\n```\n\n"
    "Le détail est sur [service-public.fr](https://www.service-public.fr/particuliers/vosdroits/F530)."
)


def _translated(instruction: str, lines: str) -> str:
    language = instruction.removeprefix(TRANSLATE_MARKER).split(".", 1)[0]
    out = []
    for line in lines.splitlines():
        number, _, text = line.partition("] ")
        if "[skip]" not in text:
            out.append(f"{number}] ⟦{language}⟧ {text}")
    return "\n".join(out)


def _chunk(body: dict[str, Any], text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    data = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": body.get("model"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _answer(messages: list[dict[str, Any]]) -> str:
    question = str(messages[-1].get("content", "")) if messages else ""
    system = str(messages[0].get("content", "")) if messages else ""
    if "[leak]" in question:
        return f"{system} Voici la réponse demandée [1]."
    words = " ".join(question.split()[-12:])
    body = f"Voici une réponse détaillée à votre question : {words}"
    if "[slow]" in question:
        body += "".join(
            f"\n\n{n}. Un paragraphe de plus, pour que la page défile." for n in range(1, 25)
        )
    if "[code]" in question:
        body += CODE
    return f"{body} Fin de la réponse [1]."


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    messages = body.get("messages", [])
    question = str(messages[-1].get("content", "")) if messages else ""
    is_title = bool(messages) and "titre" in str(messages[0].get("content", "")).lower()
    is_title = is_title or "title" in str(messages[0].get("content", "")).lower()[:40]
    text = TITLE if is_title and len(messages) == 2 else _answer(messages)
    if messages and str(messages[0].get("content", "")).startswith(CHECK_MARKERS):
        text = "Non." if "[unrelated]" in question else "Oui"
    if messages and str(messages[0].get("content", "")).startswith(TRANSLATE_MARKER):
        text = _translated(str(messages[0]["content"]), question)
        request.app[TRANSLATIONS].append(question)
        if "[lent]" in question:
            await asyncio.sleep(1.0)
        if "[bloqué]" in question:
            await asyncio.sleep(30.0)
    usage = {"prompt_tokens": 10, "completion_tokens": len(text.split()), "total_tokens": 20}
    if not body.get("stream"):
        return web.json_response(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        )
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    waited: set[str] = request.app[WAITED]
    if "[wait]" in question and question not in waited:
        waited.add(question)
        await asyncio.sleep(5)
    deaths = [f"dead{n}:{question}" for n in (1, 2)]
    if "[dead]" in question and (death := next((d for d in deaths if d not in waited), None)):
        waited.add(death)
        assert request.transport is not None
        request.transport.close()
        return response
    slow_key = f"slow:{body.get('model')}:{question}"
    slow = "[slow]" in question and slow_key not in waited
    waited.add(slow_key)
    words = text.split(" ")
    for index, word in enumerate(words):
        if "[die]" in question and index == 6:
            # A crash: the socket closes in the middle of the stream, no [DONE].
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(_chunk(body, word if index == 0 else " " + word))
        if slow:
            await asyncio.sleep(0.06)
    await response.write(_chunk(body, None, "stop"))
    final = orjson.dumps({"choices": [], "usage": usage})
    await response.write(b"data: " + final + b"\n\ndata: [DONE]\n\n")
    await response.write_eof()
    return response


async def _translations(request: web.Request) -> web.Response:
    return web.json_response(request.app[TRANSLATIONS])


async def _models(_request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "scripted", "object": "model"}]})


@contextlib.asynccontextmanager
async def scripted_upstream() -> AsyncIterator[str]:
    """Serve the scripted model on a free loopback port; yields its `/v1` base URL."""
    app = web.Application()
    app[WAITED] = set()
    app[TRANSLATIONS] = []
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/_scripted/translations", _translations)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        await runner.cleanup()
