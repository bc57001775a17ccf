"""The FastAPI backend of the last benchmark row, in two variants served by uvicorn.

- `pyjwt_app`: the app verifies the bearer token itself, as a FastAPI tutorial would have it:
  a dependency that finds the key in the issuer's JWKS by `kid` (PyJWKClient, keys cached) and
  calls `jwt.decode` with RS256, issuer, audience and required exp on every request, then checks
  the `read:forecast` scope. This is what the gateway replaces.
- `plain_app`: the same endpoint with no verification, meant to sit behind the gateway; it reads
  the identity the gateway forwards (`X-Auth-Subject`).

Everything is `async def`: the work is CPU-bound and short, so both variants skip the thread
pool hop that plain `def` dependencies take; neither variant is handicapped.

Configured by environment: BENCH_ISSUER, BENCH_AUDIENCE, BENCH_JWKS_URL.
Run: uvicorn fastapi_bench:pyjwt_app  (or :plain_app) --app-dir bench --workers 1
"""

from __future__ import annotations

import os

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException

ISSUER = os.environ.get("BENCH_ISSUER", "http://127.0.0.1:8001/")
AUDIENCE = os.environ.get("BENCH_AUDIENCE", "https://clientco/api")
JWKS_URL = os.environ.get("BENCH_JWKS_URL", ISSUER + ".well-known/jwks.json")
REQUIRED_SCOPE = "read:forecast"

FORECAST = {"forecast": [120, 131, 128], "unit": "pallets"}

_jwks = jwt.PyJWKClient(JWKS_URL, cache_keys=True)


def _unauthorized(description: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail={"error": "invalid_token", "error_description": description},
        headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
    )


async def verified_claims(authorization: str | None = Header(default=None)) -> dict:
    """Verifies `Authorization: Bearer <jwt>` (RFC 6750 §2.1) and returns its claims."""
    if authorization is None:
        raise HTTPException(status_code=401, detail={"error": "missing_token"},
                            headers={"WWW-Authenticate": 'Bearer realm="api"'})
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("not a bearer token")
    try:
        key = _jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=30,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.PyJWTError as error:
        raise _unauthorized(type(error).__name__) from None


async def require_forecast_scope(claims: dict = Depends(verified_claims)) -> dict:
    granted = set(claims.get("scope", "").split()) | set(claims.get("permissions", []))
    if REQUIRED_SCOPE not in granted:
        raise HTTPException(
            status_code=403,
            detail={"error": "insufficient_scope"},
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{REQUIRED_SCOPE}"'},
        )
    return claims


pyjwt_app = FastAPI(title="forecast (verifies tokens itself)")


@pyjwt_app.get("/forecast")
async def forecast_verified(claims: dict = Depends(require_forecast_scope)) -> dict:
    return {**FORECAST, "subject": claims.get("sub")}


plain_app = FastAPI(title="forecast (behind the gateway)")


@plain_app.get("/forecast")
async def forecast_plain(x_auth_subject: str | None = Header(default=None)) -> dict:
    return {**FORECAST, "subject": x_auth_subject}
