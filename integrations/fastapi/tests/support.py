"""Test support: gateway-like keys and assertions, a fixed clock, and the app under test.

Assertions are signed here exactly as the contract describes the gateway's (PyJWT, a JOSE header
with typ/alg/kid, claims bound to one method and path), so each test states only what it changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi import FastAPI, WebSocket
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from gateway_fastapi import (
    Caller,
    CurrentCaller,
    GatewayAssertion,
    GatewayOAuth2,
    from_path,
    install,
    jwk_thumbprint,
    require_claims,
    require_scope,
)

ISSUER = "https://gateway.saasco.internal/"
AUDIENCE = "saasco-backend"
NOW = 1_800_000_000
TENANT = "https://saasco/tenant"

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class Clock:
    """A settable Unix clock: tests move time instead of waiting for it."""

    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class GatewayKey:
    """One signing key of the gateway and its public JWK, kid = RFC 7638 thumbprint."""

    private: PrivateKey
    alg: str
    jwk: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        public = self.private.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        jwk.update(kid=jwk_thumbprint(jwk), alg=self.alg, use="sig")
        self.jwk = jwk

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    @classmethod
    def ed25519(cls) -> GatewayKey:
        return cls(ed25519.Ed25519PrivateKey.generate(), "EdDSA")

    @classmethod
    def p256(cls) -> GatewayKey:
        return cls(ec.generate_private_key(ec.SECP256R1()), "ES256")

    def sign(
        self,
        method: str = "GET",
        path: str = "/forecast",
        *,
        drop: tuple[str, ...] = (),
        header: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An assertion for `method` `path` with the gateway's usual claims, `claims` overriding
        them and `drop` removing some; `header` overrides JOSE header members (None removes one)."""
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": NOW,
            "exp": NOW + 60,
            "jti": "jti-1",
            "sub": "clientco@clients",
            "client_id": "clientco",
            "scope": "ingest:data read:forecast",
            "token_iss": "https://saasco.eu.auth0.com/",
            "claims": {TENANT: "acme"},
            "htm": method,
            "htp": path,
            "route": path,
        }
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        jose = {"typ": "gateway-assertion+jwt", "kid": self.kid}
        jose.update(header or {})
        for name in [name for name, value in jose.items() if value is None]:
            del jose[name]
        jose.setdefault("typ", "")  # PyJWT would add typ JWT; an empty one it leaves out
        return jwt.encode(body, self.private, algorithm=self.alg, headers=jose)


def jwks(*keys: GatewayKey) -> dict[str, Any]:
    return {"keys": [key.jwk for key in keys]}


def anonymous_claims() -> dict[str, Any]:
    """What a public route's assertion carries: no identity, no scope."""
    return {"scope": "", "claims": {}}


described = GatewayOAuth2(
    token_url="https://saasco.eu.auth0.com/oauth/token",
    scopes={
        "read:forecast": "Read the demand forecast",
        "ingest:data": "Upload sales data",
        "read:inventory": "Read reorder suggestions",
    },
    scheme_name="SaaSCoGateway",
)


def make_app(assertion: GatewayAssertion | None, *, handler: bool = True) -> FastAPI:
    """The app under test; `assertion` None leaves the middleware out."""
    app = FastAPI()
    if assertion is not None:
        install(app, assertion)
    elif handler:
        from gateway_fastapi import GatewayAuthError, gateway_auth_error_handler

        app.add_exception_handler(GatewayAuthError, gateway_auth_error_handler)

    def describe(caller: Caller) -> dict[str, Any]:
        return {
            "subject": caller.subject,
            "client_id": caller.client_id,
            "scopes": sorted(caller.scopes),
            "issuer": caller.issuer,
            "route": caller.route,
            "tenant": caller.claim(TENANT),
            "decision": caller.decision,
            "reason": caller.reason,
            "anonymous": caller.anonymous,
        }

    @app.get("/forecast")
    async def get_forecast(caller: Caller = require_scope("read:forecast")) -> dict[str, Any]:
        return describe(caller)

    @app.get("/inventory")
    async def get_inventory(
        caller: Caller = described.require_scope("read:inventory"),
    ) -> dict[str, Any]:
        return describe(caller)

    @app.post("/ingest")
    async def ingest(caller: Caller = described.require_scope("ingest:data")) -> dict[str, Any]:
        return describe(caller)

    @app.get("/both")
    async def both(
        caller: Caller = described.require_scope("read:forecast", "ingest:data"),
    ) -> dict[str, Any]:
        return describe(caller)

    @app.get(
        "/tenants/{tenant}/forecast",
        dependencies=[described.require_claims({TENANT: from_path("tenant")})],
    )
    async def tenant_forecast(
        tenant: str, caller: Caller = described.require_scope("read:forecast")
    ) -> dict[str, Any]:
        return describe(caller) | {"path_tenant": tenant}

    @app.get("/acme-only")
    async def acme_only(caller: Caller = require_claims({TENANT: "acme"})) -> dict[str, Any]:
        return describe(caller)

    @app.get("/public")
    async def public(caller: CurrentCaller) -> dict[str, Any]:
        return describe(caller)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        caller: Caller = websocket.state.gateway_caller
        await websocket.send_json({"subject": caller.subject})
        await websocket.close()

    return app


def gateway(keys: dict[str, Any], clock: Clock | None = None, **options: Any) -> GatewayAssertion:
    return GatewayAssertion(
        issuer=ISSUER, audience=AUDIENCE, jwks=keys, clock=clock or Clock(), **options
    )
