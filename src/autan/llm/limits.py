"""What a model accepts, checked before a request is forwarded to one of its replicas.

A replica that receives what it cannot handle may fail with a 500 (llama.cpp does, for an
image sent to a text-only model) or stay busy for minutes (an embedding server given a
megabyte of text). Both hurt everyone who shares the model, so requests are checked here
against what the models file declares (`capabilities`, input limits) and refused with a 400
that names the offending field. Only cheap, structural checks: no tokenizer runs here, so
lengths are bounded in characters, with a margin (see `ModelConfig.input_chars`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from autan.llm.config import ModelConfig
from autan.llm.errors import InputTooLong, InvalidNumber, UnsupportedInput

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# OpenAI's rule for function names; llama.cpp fails with a 500 on some others (a number).
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Content part types of the chat API, with the capability each needs (None: any chat model).
PART_CAPABILITY: dict[str, str | None] = {
    "text": None,
    "refusal": None,
    "image_url": "vision",
    "input_audio": "audio",
    "file": "files",
}
TOOLS = "tools"


def check_json_numbers(value: Any, path: str = "") -> None:
    """Refuse integers beyond 64 bits and floats that are not finite, anywhere in `value`.

    Model servers (and orjson, which re-encodes the request) cannot read them.
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
            raise InvalidNumber(
                "{where}: integers must fit in 64 bits.",
                param=where,
                values={"where": where or "value"},
            )
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidNumber(
                "{where}: numbers must be finite.", param=where, values={"where": where or "value"}
            )


def _has(config: ModelConfig, capability: str) -> bool:
    # A model that declares no capabilities was not described: its replicas judge alone.
    return not config.capabilities or capability in config.capabilities


def _unsupported(config: ModelConfig, what: str, param: str) -> UnsupportedInput:
    return UnsupportedInput(
        "The model `{model}` does not accept {what}.",
        param=param,
        values={"model": config.id, "what": what},
    )


def _check_parts(config: ModelConfig, index: int, content: Any) -> int:
    """Check a message's content parts; the number of text characters they hold."""
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return 0
    chars = 0
    for j, part in enumerate(content):
        param = f"messages[{index}].content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str) or kind not in PART_CAPABILITY:
            known = ", ".join(sorted(PART_CAPABILITY))
            raise UnsupportedInput(
                "Unknown content part type {kind}; expected one of: {known}.",
                param=f"{param}.type",
                values={"kind": repr(kind), "known": known},
            )
        capability = PART_CAPABILITY[kind]
        if capability is not None and not _has(config, capability):
            raise _unsupported(config, f"`{kind}` content ({capability})", f"{param}.type")
        text = part.get(kind) if kind in ("text", "refusal") else None
        if isinstance(text, str):
            chars += len(text)
    return chars


def _check_name(name: Any, param: str) -> None:
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        raise UnsupportedInput(
            "Function names must be 1 to 64 letters, digits, underscores or dashes.",
            param=param,
        )


def _function_names(items: Iterable[Any], param: str) -> Iterable[tuple[Any, str]]:
    for i, item in enumerate(items):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            raise UnsupportedInput("Each tool must be a function.", param=f"{param}[{i}]")
        yield function.get("name"), f"{param}[{i}].function.name"


def _check_tools(config: ModelConfig, payload: dict[str, Any]) -> None:
    for field in ("tools", "tool_choice", "functions", "function_call"):
        if payload.get(field) is not None and not _has(config, TOOLS):
            raise _unsupported(config, "tools", field)
    tools = payload.get("tools")
    if isinstance(tools, list):
        for name, param in _function_names(tools, "tools"):
            _check_name(name, param)
    choice = payload.get("tool_choice")
    if isinstance(choice, dict):
        function = choice.get("function")
        _check_name(function.get("name") if isinstance(function, dict) else None, "tool_choice")


def check_chat(config: ModelConfig, payload: dict[str, Any]) -> None:
    """Refuse a chat request the model cannot take: unknown or unsupported content, bad
    tools, a prompt or an answer longer than the model's window."""
    check_json_numbers(payload)
    _check_tools(config, payload)
    chars = 0
    for i, message in enumerate(payload.get("messages") or ()):
        chars += _check_parts(config, i, message.get("content"))
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for name, param in _function_names(calls, f"messages[{i}].tool_calls"):
                _check_name(name, param)
    limit = config.input_chars
    if chars > limit:
        raise InputTooLong(
            "The messages are too long for the model `{model}`: {chars} characters for at "
            "most {limit} ({tokens} tokens).",
            param="messages",
            values={
                "model": config.id,
                "chars": chars,
                "limit": limit,
                "tokens": config.input_tokens,
            },
        )
    for field in ("max_completion_tokens", "max_tokens"):
        asked = payload.get(field)
        if isinstance(asked, int) and asked > config.context_length:
            raise InputTooLong(
                "`{field}` is {asked}, beyond the context of the model `{model}` "
                "({tokens} tokens).",
                param=field,
                values={
                    "field": field,
                    "asked": asked,
                    "model": config.id,
                    "tokens": config.context_length,
                },
            )


def check_embeddings(config: ModelConfig, items: Sequence[str | Sequence[int]]) -> int:
    """Refuse inputs longer than the model reads; the number of characters to embed."""
    per_input, tokens = config.input_chars, config.input_tokens
    total = 0
    for i, item in enumerate(items):
        if isinstance(item, str) and len(item) > per_input:
            raise InputTooLong(
                "input[{index}] is too long for the model `{model}`: {chars} characters for at "
                "most {limit} ({tokens} tokens). Split it into shorter passages.",
                param="input",
                values={
                    "index": i,
                    "model": config.id,
                    "chars": len(item),
                    "limit": per_input,
                    "tokens": tokens,
                },
            )
        if not isinstance(item, str) and len(item) > tokens:
            raise InputTooLong(
                "input[{index}] is too long for the model `{model}`: {count} tokens for at "
                "most {tokens}.",
                param="input",
                values={"index": i, "model": config.id, "count": len(item), "tokens": tokens},
            )
        # A token id stands for a few characters; count it as the margin does.
        total += len(item) if isinstance(item, str) else len(item) * config.chars_per_token
    if total > config.request_chars:
        raise InputTooLong(
            "The inputs are too long together for the model `{model}`: {chars} characters for "
            "at most {limit}. Send them in several requests.",
            param="input",
            values={"model": config.id, "chars": total, "limit": config.request_chars},
        )
    return total
