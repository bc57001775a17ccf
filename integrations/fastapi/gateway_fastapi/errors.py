"""Refusals in the gateway's JSON shape: `{"error": ..., "error_description": ...}`.

Owns `GatewayAuthError`, the `HTTPException` the dependencies raise, and the exception handler
that renders it as that top-level JSON object (FastAPI's default handler would nest the text
under `detail`). `install()` registers the handler; without it FastAPI still answers with the
right status code, as `{"detail": "<error_description>"}`.
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NO_STORE = {"Cache-Control": "no-store"}


def error_body(error: str, description: str) -> bytes:
    """The JSON body of a refusal, byte for byte the shape the gateway itself answers with."""
    return json.dumps({"error": error, "error_description": description}).encode("utf-8")


class GatewayAuthError(HTTPException):
    """A 401 or 403 with an OAuth-style `error` code and a description that echoes no secret."""

    def __init__(self, status_code: int, error: str, description: str) -> None:
        super().__init__(status_code=status_code, detail=description, headers=NO_STORE)
        self.error = error
        self.error_description = description


def unauthenticated(description: str, error: str = "invalid_assertion") -> GatewayAuthError:
    """401: no verified caller where the endpoint needs one."""
    return GatewayAuthError(401, error, description)


def insufficient_scope(description: str) -> GatewayAuthError:
    """403: the caller lacks a scope the endpoint requires."""
    return GatewayAuthError(403, "insufficient_scope", description)


def access_denied(description: str) -> GatewayAuthError:
    """403: the caller's claims do not satisfy the endpoint's conditions."""
    return GatewayAuthError(403, "access_denied", description)


async def gateway_auth_error_handler(request: Request, exc: Exception) -> Response:
    """Renders a `GatewayAuthError` as `{"error", "error_description"}` (register for it)."""
    assert isinstance(exc, GatewayAuthError)
    return JSONResponse(
        {"error": exc.error, "error_description": exc.error_description},
        status_code=exc.status_code,
        headers=exc.headers,
    )
