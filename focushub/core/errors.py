"""One error type for the whole server and the single JSON shape it takes on the wire.

Every failure a client can cause leaves as
``{"error": {"code": "...", "message": "...", "details": ...}}`` with the HTTP
status that means it. Database errors raised by constraints, RLS and our own
``RAISE`` statements are translated here too, so services rarely need to catch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request

from focushub.core import observability

log = logging.getLogger("focushub.errors")


class AppError(Exception):
    """A failure with a stable machine-readable ``code`` and the HTTP status it maps to."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details


class BadRequest(AppError):
    status_code, code = 400, "bad_request"


class Unauthorized(AppError):
    status_code, code = 401, "unauthorized"


class Forbidden(AppError):
    status_code, code = 403, "forbidden"


class NotFound(AppError):
    status_code, code = 404, "not_found"


class Conflict(AppError):
    status_code, code = 409, "conflict"


class PayloadTooLarge(AppError):
    status_code, code = 413, "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code, code = 415, "unsupported_media_type"


class ValidationFailed(AppError):
    status_code, code = 422, "validation_error"


class TooManyRequests(AppError):
    status_code, code = 429, "rate_limited"


# Our SQL raises with ERRCODE 'P0001' and a message "code: human text"; these are
# the codes the server knows how to present.
_RAISED_CODES: dict[str, int] = {
    "not_found": 404,
    "forbidden": 403,
    "conflict": 409,
    "validation_error": 422,
    "invalid_token": 401,
    "token_reused": 401,
    "inactive_user": 403,
    "rate_limited": 429,
    "session_ended": 401,
    "idempotency_key_reused": 409,
}

_CONSTRAINT_MESSAGES: dict[str, tuple[str, str]] = {
    "users_email_key": ("email_taken", "An account with this email already exists"),
    "users_email_lower_key": ("email_taken", "An account with this email already exists"),
    "users_username_key": ("username_taken", "This username is taken"),
    "reports_one_open_per_reporter": ("already_reported",
                                      "You already reported this; it is waiting for review"),
    "chat_room_participants_room_id_user_id_key": ("already_participant",
                                                   "This person is in the room already"),
    "chat_messages_file_id_key": ("attachment_already_sent",
                                  "This attachment was sent already; upload the file again"),
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape. ``request_id`` names the request in the server's logs."""
    return {"error": {"code": code, "message": message, "details": details,
                      "request_id": observability.request_id.get()}}


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state is None and orig is not None and orig.__cause__ is not None:
        state = getattr(orig.__cause__, "sqlstate", None)
    return state


def _db_message(exc: DBAPIError) -> tuple[str, str | None]:
    cause = exc.orig.__cause__ if exc.orig is not None else None
    message = getattr(cause, "message", None) or str(exc.orig)
    constraint = getattr(cause, "constraint_name", None)
    return message, constraint


def database_unavailable() -> AppError:
    return AppError("The database is unavailable; try again shortly",
                    code="database_unavailable", status_code=503,
                    details={"retry_after_seconds": 5})


def storage_unavailable() -> AppError:
    """The object store (files, avatars, exports) cannot be reached: 503 with Retry-After,
    as for the database. The adapter's own exception is mapped to it where the app is put
    together (``install_error_handlers(app, unavailable=…)``): this module imports no adapter."""
    return AppError("File storage is unavailable; try again shortly",
                    code="storage_unavailable", status_code=503,
                    details={"retry_after_seconds": 5})


def translate_db_error(exc: DBAPIError) -> AppError | None:
    """Map a database error caused by the request to an :class:`AppError`; None if it is ours.
    A lost or refused connection (the database restarting) is 503 with Retry-After."""
    state = _sqlstate(exc)
    lost = exc.connection_invalidated or isinstance(exc.orig, OSError) or isinstance(
        getattr(exc.orig, "__cause__", None), OSError | asyncpg.ConnectionDoesNotExistError
        | asyncpg.CannotConnectNowError | asyncpg.ConnectionFailureError)
    message, constraint = _db_message(exc)
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return _translate(state, message, constraint, cause, lost)


def translate_driver_error(exc: BaseException) -> AppError | None:
    """:func:`translate_db_error` for an error of asyncpg itself (the direct transactions of
    ``core.db``), or an ``OSError`` of connecting to the database."""
    lost = isinstance(exc, OSError | asyncpg.ConnectionDoesNotExistError
                      | asyncpg.CannotConnectNowError | asyncpg.ConnectionFailureError)
    state = getattr(exc, "sqlstate", None)
    message = getattr(exc, "message", None) or str(exc)
    return _translate(state, message, getattr(exc, "constraint_name", None), exc, lost)


def _translate(state: str | None, message: str, constraint: str | None, cause: Any,
               lost: bool) -> AppError | None:
    if lost or (state or "").startswith("08") or state in ("57P01", "57P02", "57P03"):
        return database_unavailable()
    if isinstance(cause, asyncpg.exceptions.DataError):
        # Raised by asyncpg before the query is sent: a parameter it cannot encode
        # (an integer beyond bigint, say). Always the caller's value.
        log.info("a value the database driver cannot send: %s", message)
        return ValidationFailed("A value is out of range")
    return translate_sql_error(state, message, constraint)


def translate_sql_error(state: str | None, message: str, constraint: str | None) -> AppError | None:
    """Map an error PostgreSQL reported (SQLSTATE, message, constraint) to an
    :class:`AppError`; None if it is ours. Also for errors a SQL function caught and
    returned (a failed item of a group commit). What the database said (its message,
    constraint names, values) goes to the log, never into the error a client reads."""
    if state == "P0001" and ":" in message:
        code, _, text = message.partition(":")
        code = code.strip()
        if code in _RAISED_CODES:
            return AppError(text.strip(), code=code, status_code=_RAISED_CODES[code])
    if state == "23505":
        log.info("refused by the database: %s (constraint %s)", message, constraint)
        code, text = _CONSTRAINT_MESSAGES.get(constraint or "", ("conflict", "Already exists"))
        return Conflict(text, code=code)
    if state == "23503":
        log.info("refused by the database: %s (constraint %s)", message, constraint)
        return NotFound("A referenced row does not exist")
    # Includes 22021/22P05 (NUL or unencodable characters) and 54000 (e.g. a value too
    # large for an index): all caused by the submitted data.
    if state in ("23514", "23502", "22001", "22003", "22007", "22008", "22P02", "22023",
                 "22021", "22P05", "54000"):
        log.info("refused by the database: %s (constraint %s)", message, constraint)
        return ValidationFailed("The database rejected a value")
    if state == "42501":
        # Insufficient privilege or an RLS WITH CHECK failure: the caller tried to
        # write something their role may not write.
        return Forbidden("You may not change this")
    if state == "40001" or state == "40P01":
        return Conflict("Concurrent update; retry", code="retry")
    return None


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable")
    message: str = Field(description="For people")
    details: Any = Field(default=None, description="Depends on the code")
    request_id: str | None = Field(default=None, description="Names the request in the logs")


class ErrorRead(BaseModel):
    """The one error shape of every response with status 400 or more."""

    error: ErrorDetail


_STATUS_TEXT = {
    400: "Malformed request", 401: "Not signed in, or the token is invalid, expired or ended",
    403: "Not allowed", 404: "Not found, or not visible to the caller",
    409: "Conflicts with the current state", 413: "Body or file too large, or over quota",
    415: "Unsupported body or file type", 422: "Invalid input", 429: "Too many requests (Retry-After)",
    500: "Server error", 503: "Database or file storage unavailable (Retry-After)",
}
# Added to every operation of the API in the OpenAPI document (focushub/app.py).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorRead, "description": text} for status, text in _STATUS_TEXT.items()
}

MAX_REPORTED_ERRORS = 20


def _short(part: Any) -> Any:
    return part[:100] if isinstance(part, str) else part


def response_headers(exc: AppError) -> dict[str, str] | None:
    """The headers HTTP asks of an error: ``Retry-After`` for a 429 or 503 whose details say
    when (``retry_after_seconds``), ``Content-Range: bytes */size`` for a 416 (RFC 9110)."""
    if not isinstance(exc.details, dict):
        return None
    if exc.status_code in (429, 503):
        seconds = exc.details.get("retry_after_seconds")
        if seconds is not None:
            return {"Retry-After": str(int(seconds))}
    if exc.status_code == 416 and isinstance(exc.details.get("size"), int):
        return {"Content-Range": f"bytes */{exc.details['size']}"}
    return None


def _unavailable_handler(to_error: Callable[[], AppError]) -> Callable[..., Any]:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        err = to_error()
        log.warning("%s: %s", err.code, exc)
        return JSONResponse(error_body(err.code, err.message, err.details), err.status_code,
                            headers=response_headers(err))

    return handler


def as_app_error(exc: Exception) -> AppError | None:
    """The :class:`AppError` a client should see for ``exc``; None for our own bugs."""
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, DBAPIError):
        return translate_db_error(exc)
    return None


@contextmanager
def naming(**codes: str) -> Iterator[None]:
    """Within it, an error the database raised with a generic code (``RAISE 'not_found: …'``
    in a SQL function, a missing referenced row, a policy's refusal) leaves with the specific
    code given for it, as the service's own errors have: ``naming(not_found="answer_not_found")``
    tells the client which of the things it named is not there. Status, message and details
    stay the database's; any other error passes unchanged."""
    try:
        yield
    except (AppError, DBAPIError) as exc:
        err = as_app_error(exc)
        if err is None or err.code not in codes:
            raise
        raise AppError(err.message, code=codes[err.code], status_code=err.status_code,
                       details=err.details) from None


def install_error_handlers(
        app: FastAPI, *,
        unavailable: Mapping[type[Exception], Callable[[], AppError]] | None = None) -> None:
    """The handlers that give every error the one shape. ``unavailable``: exceptions of
    adapters that mean an outside service is away, each with the (503) error it answers."""
    for kind, to_error in (unavailable or {}).items():
        app.add_exception_handler(kind, _unavailable_handler(to_error))

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status_code,
                            headers=response_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        # Never more than MAX_REPORTED_ERRORS, and never the input echoed back: a body with
        # 60,000 unknown keys must not become a 5 MB answer.
        details: list[dict[str, Any]] = [
            {"loc": [_short(part) for part in err.get("loc", ())], "msg": err.get("msg"),
             "type": err.get("type")}
            for err in errors[:MAX_REPORTED_ERRORS]
        ]
        if len(errors) > MAX_REPORTED_ERRORS:
            details.append({"loc": [], "msg": f"{len(errors) - MAX_REPORTED_ERRORS} more errors "
                            "not shown", "type": "truncated"})
        # A body that is not JSON at all is a malformed request, not a validation failure.
        if any(d["type"] == "json_invalid" for d in details):
            return JSONResponse(
                error_body("malformed_json", "The request body is not valid JSON", details), 400
            )
        return JSONResponse(
            error_body("validation_error", "The request is invalid", details), 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        return JSONResponse(
            error_body(codes.get(exc.status_code, "http_error"), str(exc.detail)),
            exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(DBAPIError)
    async def _db(request: Request, exc: DBAPIError) -> JSONResponse:
        err = translate_db_error(exc)
        if err is None:
            log.exception("database error", exc_info=exc)
            return JSONResponse(error_body("internal_error", "Internal server error"), 500)
        if err.status_code == 503:
            log.warning("database unavailable: %s", exc.orig)
            return JSONResponse(error_body(err.code, err.message, err.details), 503,
                                headers=response_headers(err))
        # What the database said (constraint names, its own messages) is in the log only.
        return JSONResponse(error_body(err.code, err.message, err.details), err.status_code)

    @app.exception_handler(ConnectionError)
    async def _unreachable(_: Request, exc: ConnectionError) -> JSONResponse:
        # Connecting to the database failed (refused, reset): it is restarting or gone.
        log.warning("database unreachable: %s", exc)
        err = database_unavailable()
        return JSONResponse(error_body(err.code, err.message, err.details), 503,
                            headers=response_headers(err))

    @app.exception_handler(ClientDisconnect)
    async def _gone(_: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client left in the middle of its request body (an upload, say): nothing was
        # done, and nobody is there to read an answer.
        log.info("client disconnected before sending its whole request")
        return JSONResponse(error_body("client_disconnected", "The request body was cut off"), 400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Called by the outermost middleware, after the request's context was reset: the
        # request id comes back from the scope, for the log line and for the client.
        rid = request.scope.get(observability.REQUEST_ID_SCOPE_KEY)
        token = observability.request_id.set(rid)
        try:
            log.exception("unhandled error", exc_info=exc)
            body = error_body("internal_error", "Internal server error")
        finally:
            observability.request_id.reset(token)
        return JSONResponse(body, 500, headers={"x-request-id": rid} if rid else None)
