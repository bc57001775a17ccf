"""FastAPI dependencies that hand route handlers the verified caller and re-check its grants.

Owns `require_scope`, `require_claims` and `current_caller`, and the OAuth2 security scheme
(`GatewayOAuth2`) they are declared through, so that `/openapi.json` lists each operation's
scopes: `paths[p][m].security == [{"GatewayAssertion": ["read:forecast"]}]`, with the scopes'
descriptions under `components.securitySchemes.GatewayAssertion.flows.clientCredentials`.

They read the `Caller` the middleware left in `request.state`; none of them verifies a token.
Refusals are `GatewayAuthError`s: 401 without a verified caller, 403 `insufficient_scope` or
`access_denied` otherwise.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Security
from fastapi.openapi.models import OAuthFlowClientCredentials
from fastapi.openapi.models import OAuthFlows as OAuthFlowsModel
from fastapi.security import OAuth2, SecurityScopes
from starlette.requests import HTTPConnection

from .caller import CALLER_STATE_KEY, Caller
from .errors import access_denied, insufficient_scope, unauthenticated

DEFAULT_SCHEME_NAME = "GatewayAssertion"
DEFAULT_TOKEN_URL = "/oauth/token"
DEFAULT_DESCRIPTION = (
    "Callers authenticate to the gateway with an OAuth2 access token (client credentials); "
    "the gateway verifies it and forwards a signed assertion of the granted scopes, which "
    "this API verifies."
)


@dataclass(frozen=True)
class PathParam:
    """In `require_claims`: the claim must equal this path parameter of the request."""

    name: str


def from_path(name: str) -> PathParam:
    """`require_claims({"https://saasco/tenant": from_path("tenant")})`."""
    return PathParam(name)


ClaimCondition = str | int | float | bool | PathParam
"""What a claim must equal: a JSON literal (same type and value) or a path parameter."""


async def current_caller(connection: HTTPConnection) -> Caller:
    """The verified caller, possibly anonymous (a public route's); 401 when there is none.

    There is none when the middleware is not installed or the path is exempt from verification.
    """
    caller = connection.scope.get("state", {}).get(CALLER_STATE_KEY)
    if not isinstance(caller, Caller):
        raise unauthenticated(
            "no verified gateway assertion for this request", error="missing_assertion"
        )
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]
"""`caller: CurrentCaller` in a handler's signature: the verified, possibly anonymous caller."""


class GatewayOAuth2(OAuth2):
    """The gateway's OAuth2 client-credentials scheme, as this API's OpenAPI document shows it.

    As a dependency it yields the verified, identified `Caller` (401 for none or an anonymous
    one) instead of reading an `Authorization` header: the gateway already checked the token.
    `token_url` is where callers get tokens (the IdP's), `scopes` the scope descriptions listed
    in OpenAPI. When `scopes` is given, `require_scope` refuses to declare a scope it does not
    list, which catches typos at import time.
    """

    def __init__(
        self,
        *,
        token_url: str = DEFAULT_TOKEN_URL,
        scopes: Mapping[str, str] | None = None,
        scheme_name: str = DEFAULT_SCHEME_NAME,
        description: str | None = DEFAULT_DESCRIPTION,
    ) -> None:
        flows = OAuthFlowsModel(
            clientCredentials=OAuthFlowClientCredentials(
                tokenUrl=token_url, scopes=dict(scopes or {})
            )
        )
        super().__init__(
            flows=flows, scheme_name=scheme_name, description=description, auto_error=True
        )
        self.declared_scopes = None if scopes is None else frozenset(scopes)

        async def scoped_caller(
            security_scopes: SecurityScopes, caller: Annotated[Caller, Depends(self)]
        ) -> Caller:
            missing = [scope for scope in security_scopes.scopes if scope not in caller.scopes]
            if missing:
                raise insufficient_scope(f"missing scope {' '.join(missing)}")
            return caller

        self._scoped_caller = scoped_caller

    async def __call__(self, connection: HTTPConnection) -> Caller:  # type: ignore[override]
        caller = await current_caller(connection)
        if caller.anonymous:
            raise unauthenticated(
                "the gateway's assertion names no caller (a public route's) "
                "and this endpoint needs one"
            )
        return caller

    def require_scope(self, *scopes: str) -> Any:
        """A dependency yielding the caller if the gateway granted every one of `scopes`.

        `async def get_forecast(caller: Caller = scheme.require_scope("read:forecast"))`.
        401 without an identified caller, 403 `insufficient_scope` naming the missing scopes.
        """
        for scope in scopes:
            if not isinstance(scope, str) or not scope or any(c.isspace() for c in scope):
                raise ValueError("a scope is a non-empty string without spaces")
            if self.declared_scopes is not None and scope not in self.declared_scopes:
                raise ValueError(f"scope {scope} is not among {self.scheme_name}'s scopes")
        return Security(self._scoped_caller, scopes=list(scopes))

    def require_claims(self, conditions: Mapping[str, ClaimCondition], /) -> Any:
        """A dependency yielding the caller if each forwarded claim equals its condition.

        `conditions` maps a claim name to a literal (equal in type and value) or to
        `from_path("param")` (equal to that path parameter). 401 without an identified caller,
        403 `access_denied` naming the first claim that is missing or differs, never its value.
        """
        checks = dict(conditions)
        if not checks:
            raise ValueError("require_claims needs at least one condition")
        for name, expected in checks.items():
            if not isinstance(name, str) or not name:
                raise ValueError("a claim name is a non-empty string")
            if not isinstance(expected, ClaimCondition):
                raise ValueError(f"claim {name}: a condition is a JSON literal or from_path()")

        async def claims_caller(
            connection: HTTPConnection, caller: Annotated[Caller, Depends(self)]
        ) -> Caller:
            for name, expected in checks.items():
                if name not in caller.claims:
                    raise access_denied(f"claim {name} is missing")
                if isinstance(expected, PathParam):
                    if expected.name not in connection.path_params:
                        raise LookupError(
                            f"require_claims: the route has no path parameter {expected.name}"
                        )
                    wanted: Any = connection.path_params[expected.name]
                    source = f"the path parameter {expected.name}"
                else:
                    wanted, source = expected, "the required value"
                actual = caller.claims[name]
                if type(actual) is not type(wanted) or actual != wanted:
                    raise access_denied(f"claim {name} does not match {source}")
            return caller

        return Depends(claims_caller)


default_scheme = GatewayOAuth2()
"""The scheme behind the module-level `require_scope` and `require_claims`: named
`GatewayAssertion`, token URL `/oauth/token`, no scope descriptions. Make your own
`GatewayOAuth2(token_url=..., scopes={...})` to describe the scopes in OpenAPI."""


def require_scope(*scopes: str, scheme: GatewayOAuth2 = default_scheme) -> Any:
    """`async def get_forecast(caller: Caller = require_scope("read:forecast"))`.

    The caller if the gateway granted every one of `scopes`; see `GatewayOAuth2.require_scope`.
    """
    return scheme.require_scope(*scopes)


def require_claims(
    conditions: Mapping[str, ClaimCondition], /, *, scheme: GatewayOAuth2 = default_scheme
) -> Any:
    """`caller: Caller = require_claims({"https://saasco/tenant": from_path("tenant")})`.

    The caller if each forwarded claim equals its condition; see `GatewayOAuth2.require_claims`.
    """
    return scheme.require_claims(conditions)
