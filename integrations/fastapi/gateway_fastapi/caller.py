"""The verified caller: what one valid gateway assertion says about the request it came with.

Owns the typed `Caller` that the middleware builds from the assertion's claims and that the
dependencies hand to route handlers. Nothing here verifies anything; `verifier.py` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

Decision = Literal["allow", "shadow_deny"]


def _no_claims() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Caller:
    """The identity the gateway verified and signed for this request.

    A public route's assertion carries no identity: `subject` and `client_id` are `None` and
    `scopes` is empty (`anonymous` is true), yet it still proves the request came through the
    gateway. `decision` is `"shadow_deny"` when the gateway's policy denied the request but shadow
    mode forwarded it anyway; `reason` then holds the gateway's reason code.
    """

    subject: str | None
    client_id: str | None
    scopes: frozenset[str]
    issuer: str | None
    """The `iss` of the caller's own token (the assertion's `token_iss`), not the gateway's."""
    route: str
    """The gateway policy's matched route pattern, e.g. `/tenants/{tenant}/forecast`."""
    claims: Mapping[str, Any] = field(default_factory=_no_claims, hash=False)
    """Extra claims the gateway forwarded, keyed by claim name (e.g. `https://saasco/tenant`)."""
    decision: Decision = "allow"
    reason: str | None = None
    jti: str | None = None
    """The assertion's id. Not unique per request: the gateway may reuse an assertion for a few
    seconds for identical (token, method, path) requests."""

    @property
    def anonymous(self) -> bool:
        """True for a public route's assertion, which names no caller."""
        return self.subject is None

    @property
    def shadow_denied(self) -> bool:
        """True when the gateway's policy denied this request and only shadow mode let it pass."""
        return self.decision == "shadow_deny"

    def has_scope(self, *scopes: str) -> bool:
        """True when the gateway granted every one of `scopes`."""
        return all(scope in self.scopes for scope in scopes)

    def claim(self, name: str, default: Any = None) -> Any:
        """The forwarded claim `name` (e.g. `"https://saasco/tenant"`), or `default`."""
        return self.claims.get(name, default)


#: Where the middleware leaves the verified `Caller`: `scope["state"][CALLER_STATE_KEY]`, which
#: Starlette shows as `request.state.gateway_caller`.
CALLER_STATE_KEY = "gateway_caller"
