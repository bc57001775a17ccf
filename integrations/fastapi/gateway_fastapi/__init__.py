"""Verifies the gateway's signed identity assertion in a FastAPI backend.

The gateway signs, per forwarded request, who the caller is and which request it authorised
(method and path). `install(app, GatewayAssertion(...))` adds the middleware that refuses (401)
any request without a valid assertion bound to it; `require_scope`, `require_claims` and
`current_caller` hand handlers the verified `Caller`.
"""

from .caller import CALLER_STATE_KEY, Caller, Decision
from .dependencies import (
    ClaimCondition,
    CurrentCaller,
    GatewayOAuth2,
    PathParam,
    current_caller,
    default_scheme,
    from_path,
    require_claims,
    require_scope,
)
from .errors import GatewayAuthError, gateway_auth_error_handler
from .keys import (
    FileKeySet,
    JWKSError,
    KeySet,
    StaticKeySet,
    UrlKeySet,
    VerificationKey,
    jwk_thumbprint,
    parse_jwks,
)
from .middleware import GatewayAssertionMiddleware, install
from .verifier import AssertionRejected, GatewayAssertion

__all__ = [
    "CALLER_STATE_KEY",
    "AssertionRejected",
    "Caller",
    "ClaimCondition",
    "CurrentCaller",
    "Decision",
    "FileKeySet",
    "GatewayAssertion",
    "GatewayAssertionMiddleware",
    "GatewayAuthError",
    "GatewayOAuth2",
    "JWKSError",
    "KeySet",
    "PathParam",
    "StaticKeySet",
    "UrlKeySet",
    "VerificationKey",
    "current_caller",
    "default_scheme",
    "from_path",
    "gateway_auth_error_handler",
    "install",
    "jwk_thumbprint",
    "parse_jwks",
    "require_claims",
    "require_scope",
]
