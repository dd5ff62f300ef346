"""One place that turns errors into HTTP answers: OpenAI's error shape for the API.

The web UI may add a page renderer (`install(app, html_page=...)`): it sees every error
answer and replaces it with an HTML page for the requests that come from its pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from autan.core.db import database_busy, database_unreachable
from autan.core.errors import AutanError, ErrorKind
from autan.core.responses import JSONBytesResponse

log = structlog.get_logger(__name__)

STATUS_OF_KIND: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 400,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.OVERLOADED: 503,
    ErrorKind.UPSTREAM: 502,
    ErrorKind.UNAVAILABLE: 503,
}

_TYPE_OF_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(
    message: str, type_: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    *,
    type_: str | None = None,
    param: str | None = None,
    code: str | None = None,
    retry_after: float | None = None,
) -> JSONBytesResponse:
    """An error answer in OpenAI's shape, with Retry-After when given."""
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    body = error_body(
        message, type_ or _TYPE_OF_STATUS.get(status, "server_error"), param=param, code=code
    )
    return JSONBytesResponse(body, status_code=status, headers=headers)


async def _autan_error(_request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, AutanError)
    return error_response(
        STATUS_OF_KIND[exc.kind],
        exc.message,
        type_=exc.kind.value,
        param=exc.param,
        code=exc.code,
        retry_after=exc.retry_after,
    )


def _describe(error: dict[str, Any]) -> tuple[str, str | None]:
    location = [str(part) for part in error.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    message = str(error.get("msg", "invalid value"))
    return (f"{param}: {message}" if param else message), param


async def _validation_error(_request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    message, param = _describe(errors[0]) if errors else ("Invalid request.", None)
    if len(errors) > 1:
        more = len(errors) - 1
        message += f" (and {more} more problem{'' if more == 1 else 's'})"
    return error_response(400, message, param=param, code="invalid_request")


async def _http_error(_request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    response = error_response(exc.status_code, str(exc.detail))
    response.headers.update(headers)
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONBytesResponse:
    if database_unreachable(exc):
        # A database restart is an outage to wait out, not a bug: a plain 503 the client
        # may retry, and one log line rather than a traceback per request.
        log.warning("database_unreachable", path=request.url.path, error=repr(exc))
        return error_response(
            503,
            "The service is temporarily unavailable. Please try again in a moment.",
            type_=ErrorKind.UNAVAILABLE.value,
            code="database_unavailable",
            retry_after=5,
        )
    if database_busy(exc):
        # Every connection of the pool stayed in use for its whole timeout: overloaded, so
        # a fast refusal the client retries, not a request left waiting on a queue.
        log.warning("database_busy", path=request.url.path)
        return error_response(
            503,
            "The service is busy. Please try again in a moment.",
            type_=ErrorKind.OVERLOADED.value,
            code="database_busy",
            retry_after=2,
        )
    log.exception("unhandled_error", path=request.url.path, exc_info=exc)
    return error_response(
        500, "Something went wrong on our side. Please try again.", type_="server_error"
    )


HtmlPage = Callable[[Request, Exception, int], Response | None]
"""Given a request, its error and the API's status, an HTML page or None (keep the JSON)."""

_Handler = Callable[[Request, Exception], Awaitable[Response]]


def _with_pages(handler: _Handler, html_page: HtmlPage | None) -> _Handler:
    if html_page is None:
        return handler

    async def handle(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        page = html_page(request, exc, response.status_code)
        return response if page is None else page

    return handle


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_DOCUMENTED_ERRORS = {
    400: "The request is not valid (a parameter, the body, or a value out of bounds).",
    401: "No API key or session, or one that is no longer valid.",
    403: "Signed in, but not allowed to do this.",
    404: "Not found, or not visible to the caller.",
    409: "Conflicts with the current state (a duplicate name, a used code).",
    413: "The body or the file is too large.",
    429: "A quota or a rate limit is reached; see Retry-After.",
    500: "An unexpected failure on the server.",
    502: "The model server answered with an error.",
    503: "The service or the model is overloaded or unavailable; see Retry-After.",
}


def document_errors(app: FastAPI) -> None:
    """Declare the error answers (OpenAI's shape) on every operation of the app's OpenAPI.

    Validation fails with 400, not FastAPI's 422, so the 422 it documents is replaced; a
    client (and the schema tests) can then rely on the declared statuses.
    """
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["ErrorResponse"] = _ERROR_SCHEMA
            ref = {"$ref": "#/components/schemas/ErrorResponse"}
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)
                    for status, description in _DOCUMENTED_ERRORS.items():
                        responses.setdefault(
                            str(status),
                            {
                                "description": description,
                                "content": {"application/json": {"schema": ref}},
                            },
                        )
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI, html_page: HtmlPage | None = None) -> None:
    """Register the error handlers on an application, and document them in its OpenAPI."""
    document_errors(app)
    app.add_exception_handler(AutanError, _with_pages(_autan_error, html_page))
    app.add_exception_handler(RequestValidationError, _with_pages(_validation_error, html_page))
    app.add_exception_handler(StarletteHTTPException, _with_pages(_http_error, html_page))
    # The database's refusals get handlers of their own: Starlette hands the catch-all
    # `Exception` handler's errors back to the server after answering, and uvicorn then
    # closes the connection, so under load every "busy, retry" 503 also reset a keep-alive
    # connection that the client had reason to reuse.
    for database_error in (PoolTimeout, DBAPIError, OSError):
        app.add_exception_handler(database_error, _with_pages(_unexpected_error, html_page))
    app.add_exception_handler(Exception, _with_pages(_unexpected_error, html_page))
