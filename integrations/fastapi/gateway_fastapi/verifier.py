"""Verifying one gateway assertion against the request it arrived with.

Owns the configuration (`GatewayAssertion`: issuer, audience, key source, header, leeway, paths
that skip verification) and the checks, in order: the compact JWS and its JOSE header (`typ`,
`alg` EdDSA or ES256 only, `kid`), the signature, then the claims (`iss`, `aud`, `exp`, `iat`,
lifetime, and the request binding `htm`/`htp`). Every refusal is an `AssertionRejected` whose
description says what was wrong without repeating anything from the assertion.
"""

from __future__ import annotations

import binascii
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import jwt
from jwt.utils import base64url_decode

from .caller import Caller, Decision
from .keys import FileKeySet, KeySet, StaticKeySet, UrlKeySet

ASSERTION_TYPE = "gateway-assertion+jwt"
ALGORITHMS = ("EdDSA", "ES256")
#: The longest lifetime (`exp - iat`) the gateway may give an assertion, in seconds.
MAX_LIFETIME = 300
DEFAULT_HEADER = "X-Auth-Assertion"

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_DECISIONS: Mapping[Any, Decision] = {None: "allow", "allow": "allow", "shadow_deny": "shadow_deny"}


class AssertionRejected(Exception):
    """An assertion that does not prove this request came through the gateway."""

    def __init__(self, description: str, error: str = "invalid_assertion") -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise AssertionRejected(f"{name} is not a string")
    return value


def _required_str(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None:
        raise AssertionRejected(f"the assertion has no {name}")
    if not isinstance(value, str):
        raise AssertionRejected(f"{name} is not a string")
    return value


def _jose_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS (three base64url segments), not yet trusted."""
    segments = token.split(".")
    if len(segments) != 3 or not all(segments[:2]):
        raise AssertionRejected("the assertion is not a compact JWS")
    try:
        header = json.loads(base64url_decode(segments[0]))
    except (ValueError, binascii.Error):
        header = None
    if not isinstance(header, dict):
        raise AssertionRejected("the assertion is not a compact JWS")
    return header


def _seconds(name: str, value: str) -> float:
    text = value.strip().removesuffix("s")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds (e.g. 5 or 5s)") from None


class GatewayAssertion:
    """How this backend verifies the gateway's `X-Auth-Assertion`.

    `issuer` and `audience` must equal the gateway's `[forward.assertion]` values. Give exactly
    one key source: `jwks_url` (the admin listener's `/.well-known/jwks.json`), `jwks_file` (the
    output of `gateway assertion-jwks`), `jwks` (the JWKS as a dict), or a ready `key_set`.
    `leeway` (seconds) absorbs clock skew on `exp` and `iat`. Requests whose path is in
    `exempt_paths` (exact match on the decoded path, e.g. `/healthz`) skip verification and
    reach the app without a caller. `clock` returns the current Unix time (for tests).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks_file: str | os.PathLike[str] | None = None,
        jwks: Mapping[str, Any] | None = None,
        key_set: KeySet | None = None,
        header: str = DEFAULT_HEADER,
        leeway: float = 5.0,
        exempt_paths: Iterable[str] = (),
        fetch_timeout: float = 2.0,
        refetch_cooldown: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(issuer, str) or not issuer:
            raise ValueError("issuer is required: the gateway's [forward.assertion] issuer")
        if not isinstance(audience, str) or not audience:
            raise ValueError("audience is required: the gateway's [forward.assertion] audience")
        if not _HEADER_NAME.match(header):
            raise ValueError("header must be an HTTP header name")
        if not 0 <= leeway <= 60:
            raise ValueError("leeway must be between 0 and 60 seconds")
        sources = [s for s in (jwks_url, jwks_file, jwks, key_set) if s is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of jwks_url, jwks_file, jwks or key_set")
        if key_set is None:
            if jwks_url is not None:
                key_set = UrlKeySet(
                    jwks_url, timeout=fetch_timeout, refetch_cooldown=refetch_cooldown
                )
            elif jwks_file is not None:
                key_set = FileKeySet(jwks_file)
            else:
                assert jwks is not None
                key_set = StaticKeySet(jwks)
        exempt = frozenset(exempt_paths)
        if any(not path.startswith("/") for path in exempt):
            raise ValueError("exempt_paths are paths, each starting with /")
        self.issuer = issuer
        self.audience = audience
        self.key_set = key_set
        self.header = header
        self.header_key = header.lower().encode("latin-1")
        self.leeway = float(leeway)
        self.exempt_paths = exempt
        self._clock = clock
        self._jws = jwt.PyJWS(algorithms=list(ALGORITHMS))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "GATEWAY_ASSERTION_"
    ) -> GatewayAssertion:
        """Builds the configuration from environment variables (`prefix` + name):

        - `ISSUER`, `AUDIENCE`: required;
        - `JWKS_URL` or `JWKS_FILE`: exactly one;
        - `HEADER` (default `X-Auth-Assertion`), `LEEWAY` (seconds, default 5),
          `EXEMPT_PATHS` (comma- or space-separated, default none),
          `FETCH_TIMEOUT` (seconds, default 2), `REFETCH_COOLDOWN` (seconds, default 10).
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(prefix + name, "").strip()
            return value or None

        def required(name: str) -> str:
            value = get(name)
            if value is None:
                raise ValueError(f"{prefix}{name} is not set")
            return value

        url, path = get("JWKS_URL"), get("JWKS_FILE")
        if (url is None) == (path is None):
            raise ValueError(f"set exactly one of {prefix}JWKS_URL and {prefix}JWKS_FILE")
        options: dict[str, Any] = {}
        for name, option in (
            ("LEEWAY", "leeway"),
            ("FETCH_TIMEOUT", "fetch_timeout"),
            ("REFETCH_COOLDOWN", "refetch_cooldown"),
        ):
            value = get(name)
            if value is not None:
                options[option] = _seconds(prefix + name, value)
        header = get("HEADER")
        if header is not None:
            options["header"] = header
        exempt = get("EXEMPT_PATHS")
        if exempt is not None:
            options["exempt_paths"] = exempt.replace(",", " ").split()
        return cls(
            issuer=required("ISSUER"),
            audience=required("AUDIENCE"),
            jwks_url=url,
            jwks_file=path,
            **options,
        )

    async def verify(
        self,
        token: str,
        *,
        method: str,
        path: str,
        path_decoder: Callable[[str], str] | None = None,
    ) -> Caller:
        """The caller a valid assertion names, or `AssertionRejected`.

        `method` is the request's method and `path` the path of its request line exactly as
        received (escapes included, no query), which the assertion's `htm` and `htp` must equal.
        With `path_decoder`, `path` is a decoded path instead and is compared with
        `path_decoder(htp)` (for servers that give no `raw_path`).
        """
        header = _jose_header(token)
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower().removeprefix("application/") != ASSERTION_TYPE:
            raise AssertionRejected(f"the assertion's typ is not {ASSERTION_TYPE}")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AssertionRejected("the assertion's alg is not EdDSA or ES256")
        if "crit" in header:
            raise AssertionRejected("the assertion has critical header parameters")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AssertionRejected("the assertion has no kid")
        key = await self.key_set.get(kid)
        if key is None:
            raise AssertionRejected("the assertion's kid is not in the gateway's key set")
        if key.alg != alg:
            raise AssertionRejected("the assertion's alg does not match its key")
        try:
            signed = self._jws.decode_complete(token, key=key.key, algorithms=[alg])
        except jwt.InvalidSignatureError:
            raise AssertionRejected("the assertion's signature does not verify") from None
        except jwt.PyJWTError:
            raise AssertionRejected("the assertion is not a compact JWS") from None
        try:
            claims = json.loads(signed["payload"])
        except ValueError:
            claims = None
        if not isinstance(claims, dict):
            raise AssertionRejected("the assertion's payload is not a JSON object")
        return self._caller(claims, method=method, path=path, path_decoder=path_decoder)

    def _caller(
        self,
        claims: dict[str, Any],
        *,
        method: str,
        path: str,
        path_decoder: Callable[[str], str] | None,
    ) -> Caller:
        if claims.get("iss") != self.issuer:
            raise AssertionRejected("the assertion's iss is not the configured gateway issuer")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise AssertionRejected("the assertion's aud does not include this backend")

        now = self._clock()
        exp, iat = claims.get("exp"), claims.get("iat")
        if exp is None:
            raise AssertionRejected("the assertion has no exp")
        if not _is_number(exp):
            raise AssertionRejected("exp is not a number")
        if iat is None:
            raise AssertionRejected("the assertion has no iat")
        if not _is_number(iat):
            raise AssertionRejected("iat is not a number")
        if now > exp + self.leeway:
            raise AssertionRejected("the assertion has expired")
        if iat > now + self.leeway:
            raise AssertionRejected("the assertion's iat is in the future")
        if not 0 <= exp - iat <= MAX_LIFETIME:
            raise AssertionRejected(f"the assertion's lifetime is not within 0..{MAX_LIFETIME} s")
        nbf = claims.get("nbf")
        if nbf is not None and (not _is_number(nbf) or nbf > now + self.leeway):
            raise AssertionRejected("the assertion is not valid yet (nbf)")

        if claims.get("htm") != method:
            raise AssertionRejected("the assertion was issued for another method (htm)")
        htp = claims.get("htp")
        if not isinstance(htp, str) or (path_decoder(htp) if path_decoder else htp) != path:
            raise AssertionRejected("the assertion was issued for another path (htp)")

        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise AssertionRejected("scope is not a string")
        extra = claims.get("claims", {})
        if not isinstance(extra, dict):
            raise AssertionRejected("claims is not a JSON object")
        decision = claims.get("decision")
        if not (decision is None or isinstance(decision, str)) or decision not in _DECISIONS:
            raise AssertionRejected("the assertion's decision is not allow or shadow_deny")
        return Caller(
            subject=_optional_str(claims, "sub"),
            client_id=_optional_str(claims, "client_id"),
            scopes=frozenset(scope.split()),
            issuer=_optional_str(claims, "token_iss"),
            route=_required_str(claims, "route"),
            claims=MappingProxyType(extra),
            decision=_DECISIONS[decision],
            reason=_optional_str(claims, "reason"),
            jti=_optional_str(claims, "jti"),
        )
