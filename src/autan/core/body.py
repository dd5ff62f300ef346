"""JSON request bodies parsed and validated in one pass by pydantic's Rust parser.

On the hot model routes this replaces FastAPI's body parameter (stdlib `json` then
validation, plus a layer of dependency solving), which cost more than the relay itself.
Errors still surface as `RequestValidationError`, so clients see the same 400 answers.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_REF = "#/components/schemas/{model}"
_BODY_MODELS: list[type[BaseModel]] = []


async def parse_body(request: Request, model: type[M]) -> M:
    """Validate the request's JSON body as `model`."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting `model` as the route's JSON body."""
    if model not in _BODY_MODELS:
        _BODY_MODELS.append(model)
    ref = {"$ref": _REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def document_body_models(app: FastAPI) -> None:
    """Add the models named by `json_body` to the app's OpenAPI components."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in _BODY_MODELS:
                definition = model.model_json_schema(ref_template=_REF)
                schemas.update(definition.pop("$defs", {}))
                schemas[model.__name__] = definition
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
