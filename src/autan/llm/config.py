"""The models file: which chat and embedding models Autan offers and where their replicas are."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from autan.llm.errors import ModelsFileError


class ModelType(StrEnum):
    CHAT = "chat"
    EMBEDDING = "embedding"
    # Scores passages against a query (`/rerank`: TEI-style servers, vLLM, Infinity).
    RERANK = "rerank"


class ReplicaConfig(BaseModel):
    """One OpenAI-compatible server that serves the model."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Base URL of the OpenAI API, e.g. http://vllm-1:8000/v1")
    api_key: SecretStr | None = None
    name: str | None = Field(None, description="Name shown in health and usage (default: host).")
    upstream_model: str | None = Field(
        None, description="Model name the replica expects (default: the model's)."
    )
    max_concurrent: int | None = Field(
        None, ge=1, description="Requests sent to this replica at once (default: the model's)."
    )


class ParameterRange(BaseModel):
    """A parameter count known only within bounds (billions), as EcoLogits records some."""

    model_config = ConfigDict(extra="forbid")

    min: float = Field(gt=0, description="Fewest parameters, in billions.")
    max: float = Field(gt=0, description="Most parameters, in billions.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class ModelFootprint(BaseModel):
    """What EcoLogits needs to estimate the energy and CO2 of one answer of the model."""

    model_config = ConfigDict(extra="forbid")

    total_parameters: float | ParameterRange = Field(
        description="Parameters of the model, in billions (e.g. 7.2, or {min: 70, max: 120})."
    )
    active_parameters: float | ParameterRange | None = Field(
        None,
        description="Parameters used per token, in billions, for mixtures of experts "
        "(default: all of them).",
    )
    zone: str = Field(
        "FRA",
        pattern=r"^[A-Z]{3}$|^WOR$",
        description="Where the model runs: ISO 3166-1 alpha-3 code of the electricity mix "
        "(FRA, DEU, SWE, USA...), or WOR for the world average.",
    )
    datacenter_pue: float = Field(
        1.2, ge=1.0, description="Power usage effectiveness of the data centre (1.2 by default)."
    )
    datacenter_wue: float = Field(
        0.5, ge=0.0, description="Water usage effectiveness of the data centre, in L/kWh."
    )


class ModelConfig(BaseModel):
    """A model offered to users, served by one or more replicas."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:/-]+$")
    type: ModelType = ModelType.CHAT
    display_name: str = ""
    description: str = Field("", description="One line for users: 'Petit modèle, rapide'.")
    upstream_model: str | None = Field(None, description="Model name sent to replicas.")
    context_length: int = Field(4096, ge=1)
    dimensions: int | None = Field(None, description="Embedding size, for embedding models.")
    capabilities: list[str] = Field(
        default_factory=list,
        description="What the model accepts beyond text: `vision` (image parts), `audio` "
        "(input_audio parts), `files` (file parts), `tools` (tools, tool_choice). Requests "
        "asking for another are refused with a 400 before reaching a replica; an empty list "
        "means undeclared, and the replicas judge alone.",
    )
    max_input_tokens: int | None = Field(
        None,
        ge=1,
        description="Longest input the model reads, in tokens: a chat prompt, or one "
        "embedding input (default: context_length).",
    )
    chars_per_token: int = Field(
        8,
        ge=1,
        description="Characters counted per token when a token limit is checked on text "
        "without a tokenizer: a generous bound, so that no input that fits is refused.",
    )
    max_input_chars: int | None = Field(
        None,
        ge=1,
        description="Longest input forwarded, in characters: a chat prompt's text, or one "
        "embedding input (default: max_input_tokens × chars_per_token).",
    )
    max_request_chars: int | None = Field(
        None,
        ge=1,
        description="Characters of all the inputs of one embedding request together "
        "(default: 16 × max_input_chars): bounds how long one request holds a replica.",
    )
    max_concurrent: int = Field(64, ge=1, description="Default per-replica concurrency cap.")
    max_concurrent_per_org: int | None = Field(
        None,
        ge=1,
        description="Requests one organisation may have in flight on this model at once, "
        "over all replicas (default: no cap); its further requests wait in the queue, so "
        "that the other slots stay free for other organisations.",
    )
    footprint: ModelFootprint | None = Field(
        None,
        description="Parameter counts and hosting zone, for the energy and CO2 of each "
        "answer (chat models; none shown without it).",
    )
    replicas: list[ReplicaConfig] = Field(min_length=1)

    @property
    def upstream_name(self) -> str:
        return self.upstream_model or self.id

    @property
    def input_tokens(self) -> int:
        """The longest input in tokens."""
        return self.max_input_tokens or self.context_length

    @property
    def input_chars(self) -> int:
        """The longest input in characters."""
        return self.max_input_chars or self.input_tokens * self.chars_per_token

    @property
    def request_chars(self) -> int:
        """The characters of one embedding request, all inputs together."""
        return self.max_request_chars or 16 * self.input_chars


class ModelsConfig(BaseModel):
    """The whole models file."""

    model_config = ConfigDict(extra="forbid")

    models: list[ModelConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        seen: set[str] = set()
        for model in self.models:
            if model.id in seen:
                raise ValueError(f"model id {model.id!r} is declared twice")
            seen.add(model.id)
        return self


def load_models_file(path: Path) -> ModelsConfig:
    """Read and validate a YAML or TOML models file, with errors that name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelsFileError(f"cannot read models file {path}: {exc.strerror}") from exc
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ModelsFileError(f"models file {path} is not valid: {exc}") from exc
    try:
        return ModelsConfig.model_validate(raw)
    except ValidationError as exc:
        raise ModelsFileError(f"models file {path} is not valid:\n{exc}") from exc


def dump_models_file(config: ModelsConfig, path: Path) -> None:
    """Write a models file (YAML), e.g. the one describing the embedded servers."""
    data = config.model_dump(mode="json", exclude_none=True)
    # SecretStr dumps as a mask; the file must carry the real key.
    for model_data, model in zip(data["models"], config.models, strict=True):
        for replica_data, replica in zip(model_data["replicas"], model.replicas, strict=True):
            if replica.api_key is not None:
                replica_data["api_key"] = replica.api_key.get_secret_value()
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
