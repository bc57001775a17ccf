"""The gateway's public keys: parsing its JWKS and keeping it current.

Owns the only state the package keeps between requests, the cached key set, in one of three
sources: a JWKS given directly (`StaticKeySet`), a file `gateway assertion-jwks` wrote
(`FileKeySet`, reloaded when the file changes), or the gateway's admin URL (`UrlKeySet`, fetched
lazily, refreshed when an unknown `kid` shows up, at most once per cool-down, within a bounded
timeout, without blocking the event loop).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

logger = logging.getLogger("gateway_fastapi")

#: The largest JWKS document a `UrlKeySet` reads; the gateway's holds two keys.
MAX_JWKS_BYTES = 256 * 1024


class JWKSError(ValueError):
    """A JWKS document that is not one the gateway publishes."""


@dataclass(frozen=True)
class VerificationKey:
    """One of the gateway's public keys, ready for PyJWT."""

    kid: str
    alg: str
    """`EdDSA` (Ed25519) or `ES256` (P-256): the only algorithm this key verifies."""
    key: Ed25519PublicKey | EllipticCurvePublicKey


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint (base64url SHA-256) of an OKP or EC public JWK."""
    kty = jwk.get("kty")
    members: tuple[str, ...]
    if kty == "OKP":
        members = ("crv", "kty", "x")
    elif kty == "EC":
        members = ("crv", "kty", "x", "y")
    else:
        raise JWKSError("only OKP and EC keys have a thumbprint here")
    canonical = json.dumps(
        {name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _parse_key(jwk: Mapping[str, Any]) -> VerificationKey | None:
    """One JWK as a verification key; None for a key this package does not use."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    members: tuple[str, ...]
    algorithm: type[OKPAlgorithm] | type[ECAlgorithm]
    if kty == "OKP" and crv == "Ed25519":
        alg, members, algorithm = "EdDSA", ("kty", "crv", "x"), OKPAlgorithm
    elif kty == "EC" and crv == "P-256":
        alg, members, algorithm = "ES256", ("kty", "crv", "x", "y"), ECAlgorithm
    else:
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and "verify" not in key_ops:
        return None
    if jwk.get("alg", alg) != alg:
        raise JWKSError(f"a {kty}/{crv} key must have alg {alg}")
    if any(not isinstance(jwk.get(name), str) for name in members):
        raise JWKSError(f"a {kty} key needs string members {', '.join(members)}")
    # Only the public members: a JWKS that leaked a private "d" must not make PyJWT hold it.
    public = {name: jwk[name] for name in members}
    try:
        key = algorithm.from_jwk(json.dumps(public))
    except Exception as exc:  # PyJWT raises InvalidKeyError, cryptography ValueError
        raise JWKSError(f"an unusable {kty} key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey | EllipticCurvePublicKey):
        raise JWKSError(f"an unusable {kty} key")
    kid = jwk.get("kid", jwk_thumbprint(public))
    if not isinstance(kid, str) or not kid:
        raise JWKSError("kid must be a non-empty string")
    return VerificationKey(kid=kid, alg=alg, key=key)


def parse_jwks(document: Any) -> dict[str, VerificationKey]:
    """The usable keys of a JWKS (`{"keys": [...]}`) by `kid`.

    Keeps Ed25519 (OKP) and P-256 (EC) signature keys and skips other key types; a key without
    `kid` is filed under its RFC 7638 thumbprint, which is what the gateway uses as `kid`.
    Raises `JWKSError` for anything malformed, a repeated `kid`, or no usable key at all.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JWKSError('a JWKS is a JSON object with a "keys" array')
    keys: dict[str, VerificationKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, Mapping):
            raise JWKSError("every entry of keys must be a JSON object")
        key = _parse_key(jwk)
        if key is None:
            continue
        if key.kid in keys:
            raise JWKSError(f"kid {key.kid} appears twice")
        keys[key.kid] = key
    if not keys:
        raise JWKSError("no Ed25519 or P-256 signature key in the JWKS")
    return keys


class KeySet(Protocol):
    """Where the verifier looks a `kid` up."""

    async def get(self, kid: str) -> VerificationKey | None:
        """The key with this `kid`, or None when the gateway does not publish it."""
        ...


class StaticKeySet:
    """A JWKS given directly (a dict, e.g. from a secret store)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = parse_jwks(jwks)

    async def get(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)


class FileKeySet:
    """A JWKS file (as `gateway assertion-jwks --config F` writes it), reloaded when it changes.

    Loaded at construction, so a missing or malformed file fails at start. Each lookup costs one
    `stat`; when the file's mtime, size or inode changed it is read again. A change that does not
    parse (e.g. a half-written file: replace it by rename to avoid that) is logged and the keys
    already loaded stay in force until the file changes again.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            signature = self._signature()
        except OSError as exc:
            raise JWKSError(f"cannot read the JWKS file {self.path}: {exc}") from None
        self._keys = self._load()
        self._signature_seen: tuple[int, int, int] | None = signature

    def _signature(self) -> tuple[int, int, int]:
        stat = self.path.stat()
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _load(self) -> dict[str, VerificationKey]:
        try:
            document = json.loads(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            raise JWKSError(f"cannot read the JWKS file {self.path}: {exc}") from None
        return parse_jwks(document)

    def _reload_if_changed(self) -> None:
        try:
            signature = self._signature()
        except OSError as exc:
            if self._signature_seen is not None:
                logger.warning("JWKS file %s: %s; keeping the keys loaded", self.path, exc)
                self._signature_seen = None
            return
        if signature == self._signature_seen:
            return
        self._signature_seen = signature
        try:
            self._keys = self._load()
        except JWKSError as exc:
            logger.warning("JWKS file %s changed but %s; keeping the keys loaded", self.path, exc)
            return
        logger.info("JWKS file %s reloaded: kids %s", self.path, sorted(self._keys))

    async def get(self, kid: str) -> VerificationKey | None:
        self._reload_if_changed()
        return self._keys.get(kid)


class UrlKeySet:
    """The gateway's JWKS at its admin URL (`http://<admin>/.well-known/jwks.json`).

    Fetched on first use, then again when a `kid` is not in the cached set or the cache is older
    than `max_age`, but never more than once per `refetch_cooldown` (so a flood of made-up `kid`s
    costs the gateway one request per cool-down). A fetch is bounded by `timeout` in total; while
    one runs, other requests wait for it rather than starting their own. A failed fetch is logged
    and the cached keys stay in force.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        refetch_cooldown: float = 10.0,
        max_age: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("jwks_url must be an http:// or https:// URL")
        if timeout <= 0 or refetch_cooldown < 0 or max_age <= 0:
            raise ValueError("timeout and max_age must be positive, refetch_cooldown not negative")
        self.url = url
        self.timeout = timeout
        self.refetch_cooldown = refetch_cooldown
        self.max_age = max_age
        self._monotonic = monotonic
        self._transport = transport
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._attempts = 0
        # One lock per event loop: asyncio locks belong to the loop that first waits on them.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.refetch_cooldown

    def _stale(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.max_age

    async def get(self, kid: str) -> VerificationKey | None:
        now = self._monotonic()
        if kid in self._keys and not self._stale(now):
            return self._keys[kid]
        lock = self._lock()
        # A fetch under way is waited for whatever the cool-down: its answer may hold the kid.
        if lock.locked() or self._may_fetch(now):
            attempts = self._attempts
            async with lock:
                if self._attempts == attempts:  # no fetch completed while we waited
                    await self.refresh()
        return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetches the JWKS now (whatever the cool-down); on failure keeps the cached keys."""
        self._attempted_at = self._monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                keys = parse_jwks(json.loads(await self._fetch()))
        except TimeoutError:
            logger.warning(
                "JWKS %s: no answer within %ss; keeping the cached keys", self.url, self.timeout
            )
            return
        except (httpx.HTTPError, JWKSError, ValueError) as exc:
            logger.warning("JWKS %s: %s; keeping the cached keys", self.url, exc)
            return
        finally:
            self._attempts += 1
        self._keys = keys
        self._fetched_at = self._monotonic()
        logger.info("JWKS %s fetched: kids %s", self.url, sorted(keys))

    async def _fetch(self) -> bytes:
        # trust_env=False: an HTTP(S)_PROXY meant for outbound traffic must not stand between
        # this backend and the gateway's keys. Pass a `transport` for TLS settings.
        async with httpx.AsyncClient(
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,
            transport=self._transport,
        ) as client:
            async with client.stream(
                "GET", self.url, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code != 200:
                    raise JWKSError(f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JWKSError(f"the JWKS is larger than {MAX_JWKS_BYTES} bytes")
                return bytes(body)
