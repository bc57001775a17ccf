"""The ASGI middleware that lets a request reach the app only with a valid gateway assertion.

Owns the request side of verification: finding the one assertion header, binding it to the
request's method and path as received (`raw_path`), answering refusals itself (401 JSON, before
the app sees the request), and leaving the verified `Caller` in `scope["state"]` for the
dependencies. Pure ASGI, so it costs one header scan and never wraps or buffers the body.

- `http`: verified; refusals are 401 `{"error": "missing_assertion" | "invalid_assertion",
  "error_description": ...}` with `Cache-Control: no-store` and no `WWW-Authenticate`.
- `websocket`: verified the same way, as the `GET` of the handshake. A refusal is the same 401
  JSON response where the server supports the `websocket.http.response` extension, otherwise a
  close (code 1008) before accepting, which servers turn into a 403.
- `lifespan` and any other scope type: passed through untouched.
- Paths in `GatewayAssertion.exempt_paths` (exact match on `scope["path"]`): passed through
  without a caller, so `require_scope` there answers 401.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from .caller import CALLER_STATE_KEY
from .errors import GatewayAuthError, error_body, gateway_auth_error_handler
from .verifier import AssertionRejected, GatewayAssertion

logger = logging.getLogger("gateway_fastapi")


class GatewayAssertionMiddleware:
    """Verifies the gateway's assertion on every HTTP and WebSocket request.

    `app.add_middleware(GatewayAssertionMiddleware, assertion=GatewayAssertion(...))`, or
    `install(app, assertion)` which also registers the JSON error handler.
    """

    def __init__(self, app: ASGIApp, assertion: GatewayAssertion) -> None:
        self.app = app
        self.assertion = assertion

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state.pop(CALLER_STATE_KEY, None)
        if scope["path"] in self.assertion.exempt_paths:
            await self.app(scope, receive, send)
            return
        try:
            state[CALLER_STATE_KEY] = await self._verify(scope)
        except AssertionRejected as rejected:
            await self._refuse(scope, receive, send, rejected)
            return
        await self.app(scope, receive, send)

    async def _verify(self, scope: Scope) -> Any:
        name = self.assertion.header_key
        values = [value for key, value in scope["headers"] if key.lower() == name]
        header = self.assertion.header
        if not values:
            raise AssertionRejected(
                f"no {header} header: this API is only reachable through the gateway",
                error="missing_assertion",
            )
        if len(values) > 1:
            raise AssertionRejected(f"more than one {header} header")
        try:
            token = values[0].decode("ascii").strip()
        except UnicodeDecodeError:
            raise AssertionRejected(f"the {header} header is not ASCII") from None
        if not token:
            raise AssertionRejected(f"the {header} header is empty", error="missing_assertion")
        method = scope["method"] if scope["type"] == "http" else "GET"
        raw_path = scope.get("raw_path")
        if raw_path is not None:
            # The request line's path exactly as received; servers leave the query out, but
            # strip one in case (a path cannot contain a literal "?").
            path = raw_path.decode("latin-1").partition("?")[0]
            return await self.assertion.verify(token, method=method, path=path)
        # Without raw_path only the decoded path is known: compare it with htp decoded the
        # same way (uvicorn and Starlette decode with unquote too).
        return await self.assertion.verify(
            token, method=method, path=scope["path"], path_decoder=unquote
        )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, rejected: AssertionRejected
    ) -> None:
        logger.debug("refused %s %s: %s", scope["type"], scope["path"], rejected.description)
        body = error_body(rejected.error, rejected.description)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"cache-control", b"no-store"),
        ]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client left before the handshake completed
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": 401, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": rejected.error})


def install(app: FastAPI, assertion: GatewayAssertion | None = None) -> GatewayAssertion:
    """Adds the middleware and the JSON error handler to `app`; returns the configuration.

    Without `assertion`, reads it from the environment (`GatewayAssertion.from_env()`). Call it
    before the app starts, like `app.add_middleware`.
    """
    if assertion is None:
        assertion = GatewayAssertion.from_env()
    app.add_middleware(GatewayAssertionMiddleware, assertion=assertion)
    app.add_exception_handler(GatewayAuthError, gateway_auth_error_handler)
    return assertion
